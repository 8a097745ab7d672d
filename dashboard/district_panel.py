"""Per-district panel of the models page (issue 17.4): where do the warnings go?

Forecasts send patrols, patrols record more incidents, and those records train the next
forecast (docs/benchmarks-models.md, "What the forecasts do to the data"). This panel
puts, per district (county), side by side:

* the share of the published incident warnings,
* the share of recorded incidents over the weeks before the forecast origin (the lake),
* the share of the population (residents of the management grid cells),
* the champion's calibration per district: mean predicted probability vs the observed
  rate of its backtest rows (``calibration_by_admin`` of its ``metrics.json``, from
  communities summed up to their county).

A district whose warnings share runs far above its recorded-incident share (or whose
records run far above its population share while calibration drifts) is where the
feedback loop may be concentrating attention. The pure functions below build the
tables; :func:`render` draws them (Streamlit).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

RECENT_WEEKS = 8
TEXT: dict[str, dict[str, str]] = {
    "dp_title": {
        "zh": "各区县：预警、记录事件与人口",
        "en": "Per district: warnings, records, people",
    },
    "dp_intro": {
        "zh": "当前预警占比、预测起点前 {weeks} 周记录事件占比、常住人口占比，及服役模型回测中的"
        "分区县校准（平均预测概率对比实际发生率）。预警占比远高于记录或人口占比的区县，"
        "可能是巡逻—记录—再训练的反馈回路在集中注意力。",
        "en": "Share of the current warnings, of the incidents recorded in the {weeks} weeks "
        "before the forecast origin and of the residents, with the champion's calibration per "
        "district in its backtest (mean predicted probability vs observed rate). A district "
        "whose warnings share runs far above its records or population share may be where "
        "the patrol-record-retrain feedback loop concentrates attention.",
    },
    "dp_no_data": {
        "zh": "暂无区县数据（湖中无区划或事件）。",
        "en": "No district data yet (no admin units or incidents in the lake).",
    },
    "dp_no_calibration": {
        "zh": "服役模型未记录分区县校准。",
        "en": "The champion logged no per-district calibration.",
    },
    "dp_warnings": {"zh": "预警占比", "en": "warnings share"},
    "dp_incidents": {"zh": "记录事件占比", "en": "recorded-incident share"},
    "dp_population": {"zh": "人口占比", "en": "population share"},
    "dp_share": {"zh": "占比", "en": "share"},
    "dp_district": {"zh": "区县", "en": "district"},
    "dp_predicted": {"zh": "平均预测概率", "en": "mean predicted p"},
    "dp_observed": {"zh": "实际发生率", "en": "observed rate"},
    "dp_gap": {"zh": "预测-实际", "en": "predicted - observed"},
}


def t(key: str, lang: str, **kwargs: Any) -> str:
    """This panel's words in ``lang`` ('zh' or 'en')."""
    entry = TEXT[key]
    return entry.get(lang, entry["en"]).format(**kwargs)


def panel_domains() -> list[str]:
    """The hotspot domains whose records are incidents (the panel's subject)."""
    from riskwarn import domains

    return [
        d.name
        for d in domains.DOMAINS.values()
        if d.family == "hotspot" and d.event_table == "incidents"
    ]


def county_of(codes: pd.Series, lookup: pd.DataFrame) -> pd.Series:
    """County code of each admin code (``lookup``: ``record_id``, ``county_code`` from
    :func:`riskwarn.serving_frames.admin_lookup`); unknown codes give NA."""
    m = lookup.drop_duplicates("record_id").set_index("record_id")["county_code"]
    return codes.astype(str).map(m)


def district_shares(
    warnings: pd.DataFrame, incidents: pd.DataFrame, population: pd.DataFrame
) -> pd.DataFrame:
    """Per county: warnings, recorded incidents, population and their shares.

    ``warnings``: ``county_code`` per warning; ``incidents``: ``county_code`` per record;
    ``population``: ``county_code``, ``population``. Rows without a county are left out of
    every share (and counted under ``unplaced`` in ``attrs``).
    """
    parts = {
        "warnings": warnings["county_code"].dropna().value_counts(),
        "incidents": incidents["county_code"].dropna().value_counts(),
        "population": population.dropna(subset=["county_code"])
        .groupby("county_code")["population"]
        .sum(),
    }
    out = pd.DataFrame(parts).fillna(0.0)
    out.index.name = "county_code"
    for col in parts:
        total = out[col].sum()
        out[f"{col}_share"] = out[col] / total if total > 0 else float("nan")
    out = out.reset_index().sort_values("county_code", ignore_index=True)
    out.attrs["unplaced"] = {
        "warnings": int(warnings["county_code"].isna().sum()),
        "incidents": int(incidents["county_code"].isna().sum()),
    }
    return out


def district_calibration(rows: list[dict[str, Any]], lookup: pd.DataFrame) -> pd.DataFrame:
    """Per county: rows, mean predicted probability and observed rate, from the champion's
    ``calibration_by_admin`` rows (``admin_code``, ``n``, ``mean_probability``,
    ``base_rate``) weighted by their row counts; ``gap`` = predicted - observed."""
    cols = ["county_code", "n", "mean_probability", "observed_rate", "gap"]
    if not rows:
        return pd.DataFrame(columns=cols)
    f = pd.DataFrame(rows)
    if not {"admin_code", "n", "mean_probability", "base_rate"} <= set(f.columns):
        return pd.DataFrame(columns=cols)
    f["county_code"] = county_of(f["admin_code"], lookup)
    # a code that is itself a county (or unknown to the lake) stays as it is
    f["county_code"] = f["county_code"].fillna(f["admin_code"].astype(str))
    f["p_sum"] = f["mean_probability"] * f["n"]
    f["y_sum"] = f["base_rate"] * f["n"]
    g = f.groupby("county_code", as_index=False)[["n", "p_sum", "y_sum"]].sum()
    g["mean_probability"] = g["p_sum"] / g["n"]
    g["observed_rate"] = g["y_sum"] / g["n"]
    g["gap"] = g["mean_probability"] - g["observed_rate"]
    return g[cols]


def long_shares(shares: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """Shares in long form for a grouped bar chart: county, measure (named), share."""
    keep = ["warnings_share", "incidents_share", "population_share"]
    long = shares.melt(
        id_vars="county_code", value_vars=keep, var_name="measure", value_name="share"
    )
    long["measure"] = long["measure"].map(names)
    return long


def table_formats(columns: list[str], lang: str) -> dict[str, Callable[[Any], str]]:
    """How the table's number ``columns`` (headers in ``lang``) read: shares and rates as
    percentages, the calibration gap in percentage points, in the page's language."""
    from dashboard.i18n import fmt_pct, fmt_points

    def pct(v: Any) -> str:
        return fmt_pct(v, lang)

    def points(v: Any) -> str:
        return "—" if v is None or pd.isna(v) else fmt_points(float(v), lang)

    return {c: points if c == t("dp_gap", lang) else pct for c in columns}


def _lake_inputs(lake_dir: str, origin: pd.Timestamp | None) -> tuple[pd.DataFrame, ...]:
    from riskwarn.lake import read_table
    from riskwarn.serving_frames import admin_lookup

    lake = Path(lake_dir)
    units = read_table(lake, "admin_units", columns=["record_id", "level", "parent_id"])
    lookup = (
        admin_lookup(units)
        if not units.empty
        else pd.DataFrame(columns=["record_id", "township_code", "county_code"])
    )
    end = origin if origin is not None else pd.Timestamp.now(tz="UTC")
    start = end - pd.Timedelta(weeks=RECENT_WEEKS)
    inc = read_table(lake, "incidents", columns=["admin_code"], start=start, end=end)
    inc = (
        pd.DataFrame({"county_code": county_of(inc["admin_code"], lookup)})
        if len(inc)
        else (pd.DataFrame({"county_code": pd.Series(dtype=object)}))
    )
    grid = read_table(lake, "grid_cells", columns=["admin_id", "population"])
    pop = (
        pd.DataFrame(
            {"county_code": county_of(grid["admin_id"], lookup), "population": grid["population"]}
        )
        if len(grid)
        else pd.DataFrame({"county_code": pd.Series(dtype=object), "population": []})
    )
    return lookup, inc, pop


def render(
    st: Any, ctx: Any, domain: str, metrics: dict[str, Any] | None, refusal: str | None = None
) -> None:
    """The panel for the incident hotspot domain (the models page calls it). ``refusal``:
    scoring refuses the champion over its training data end
    (:func:`dashboard.verdicts.serving_refusal`), said first; no calibration is shown."""
    import altair as alt

    from dashboard import queries, shell
    from dashboard.i18n import place_name

    lg = ctx.lang
    st.markdown(f"**{t('dp_title', lg)}**")
    st.caption(t("dp_intro", lg, weeks=RECENT_WEEKS))
    if refusal is not None:  # the champion is not the live model: said, not shown as served
        st.warning(refusal, icon=":material/block:")
    run = queries.published_run(ctx.snapshot, domain)
    origin = pd.Timestamp(run["origin"]) if run else None
    if origin is not None and origin.tzinfo is None:
        origin = origin.tz_localize("UTC")
    try:
        lookup, inc, pop = _lake_inputs(ctx.lake_dir, origin)
    except Exception as exc:  # no lake yet: say so instead of failing the page
        st.info(t("dp_no_data", lg) + f" ({type(exc).__name__})")
        return
    warns = queries.warnings(ctx.snapshot, domain=domain)
    shares = district_shares(warns, inc, pop)
    if shares.empty:
        st.info(t("dp_no_data", lg))
        return
    names = queries.unit_names(ctx.lake_dir)
    shares["district"] = [place_name(names.get(str(c), str(c)), lg) for c in shares["county_code"]]
    measures = {
        "warnings_share": t("dp_warnings", lg),
        "incidents_share": t("dp_incidents", lg),
        "population_share": t("dp_population", lg),
    }
    long = long_shares(shares, measures).merge(
        shares[["county_code", "district"]], on="county_code"
    )
    st.altair_chart(
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("district:N", title=None),
            xOffset="measure:N",
            y=alt.Y("share:Q", title=t("dp_share", lg), axis=alt.Axis(format="%")),
            color=alt.Color("measure:N", title=None),
            tooltip=[
                alt.Tooltip("district:N", title=t("dp_district", lg)),
                alt.Tooltip("measure:N", title=" "),
                alt.Tooltip("share:Q", format=".1%", title=t("dp_share", lg)),
            ],
        )
        .properties(height=260),
        width="stretch",
    )
    cal = district_calibration((metrics or {}).get("calibration_by_admin") or [], lookup)
    table = shares[["district", "warnings_share", "incidents_share", "population_share"]]
    if not cal.empty:
        cal = cal.assign(
            district=[place_name(names.get(str(c), str(c)), lg) for c in cal["county_code"]]
        )
        table = table.merge(
            cal[["district", "mean_probability", "observed_rate", "gap"]], on="district", how="left"
        )
    shown = table.rename(
        columns={
            "district": t("dp_district", lg),
            **measures,
            "mean_probability": t("dp_predicted", lg),
            "observed_rate": t("dp_observed", lg),
            "gap": t("dp_gap", lg),
        }
    )
    shell.grid(
        shown,
        style=lambda s: s.format(table_formats(list(shown.columns[1:]), lg)),
        hide_index=True,
        width="stretch",
    )
    if cal.empty and refusal is None:
        st.caption(t("dp_no_calibration", lg))


def render_for_page(st: Any, ctx: Any, tracking_uri: str) -> None:
    """The panel under the models page's tabs, for the first incident hotspot domain (the
    champion's per-district calibration when one is registered)."""
    from dashboard import queries

    names = panel_domains()
    if not names:
        return
    domain = names[0]
    from dashboard.verdicts import serving_refusal

    serving = queries.serving_model(tracking_uri, ctx.store_url, domain)
    # what scoring serves: not a champion it refuses over its training data end (the
    # models page's words, then no calibration of it: it is not the live model)
    refusal = serving_refusal(serving, domain, ctx.lang, ctx.tz)
    champ = serving["champion"] if serving["served"] and refusal is None else None
    metrics = queries.run_json(tracking_uri, champ["run_id"], "metrics.json") if champ else None
    st.divider()
    render(st, ctx, domain, metrics, refusal)
