"""Civil disputes by community (村/社区): the communities ranked by the disputes-where
rule served by community (:data:`features.communities.SERVED`), beside the disputes
cell map, whose top cells hold few of the disputes in its own backtest: disputes are
registered where people live, rarely twice in one 250 m cell, so a cell's past says little, while a community's
share of the city's disputes is stable (docs/benchmarks-models.md, "Civil disputes by
community"). Read from the serving store, as the scoring DAG published it for the disputes
run's origin (:func:`dashboard.queries.community_ranking`, ``riskwarn.pipeline.
publish_communities``): nothing is computed at page load. Without a ranking published
for the week the panel says so (and which week has the newest), never an older week's
ranking as this week's."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import queries, shell
from dashboard.i18n import fmt_date, fmt_int, place_name, t

TOP_SHARE = 0.05  # the top 5 % of the communities, the share the backtest judges


def community_table(ranked: pd.DataFrame, names: dict[str, str], lang: str) -> pd.DataFrame:
    """The top :data:`TOP_SHARE` of ``ranked`` (the published ranking, by rank:
    :func:`dashboard.queries.community_ranking`; a ``name`` column, if any, names the
    communities, else ``names``) as a display frame in ``lang``: rank, community,
    township, county, expected disputes of the week, disputes in the last 4 and 52
    weeks. The places' names as every page writes them (``i18n.place_name``): Chinese
    on Chinese pages, the official English form or pinyin on English ones ("大桥社区" ->
    "Daqiao Community")."""
    from models.metrics import n_flagged  # the backtest's count of the top k %

    top = ranked.sort_values("rank", kind="stable").head(n_flagged(len(ranked), TOP_SHARE))
    own = top["name"] if "name" in top else pd.Series([None] * len(top), index=top.index)

    def name(code: Any) -> str:
        if not (isinstance(code, str) and code):
            return "—"
        return place_name(names.get(code, code), lang)

    return pd.DataFrame(
        {
            t("comm_rank", lang): top["rank"].astype(int).to_numpy(),
            t("comm_community", lang): [
                place_name(n, lang) if isinstance(n, str) and n else name(str(c))
                for n, c in zip(own, top["admin_code"], strict=True)
            ],
            t("comm_township", lang): [name(c) for c in top["township_code"]],
            t("comm_county", lang): [name(c) for c in top["county_code"]],
            t("comm_expected", lang): [f"{v:.2f}" for v in top["expected"]],
            t("comm_last_4w", lang): [_count(v, lang) for v in top["n_28d"]],
            t("comm_last_52w", lang): [_count(v, lang) for v in top["n_364d"]],
        }
    )


def method_name(method: str, lang: str) -> str:
    """The stored method (``community_runs.method``) as the page names it in ``lang``
    (the method itself when it has no text)."""
    key = f"comm_method_{method}"
    text = t(key, lang)
    return method if text == key else text


def _count(value: Any, lang: str) -> str:
    return "—" if pd.isna(value) else fmt_int(int(value), lang)


def show(ctx: Any, origin: Any) -> None:
    """The ranking published for the week from ``origin`` (the disputes forecast's
    published origin), named by the rule that ranked it; a notice when none was
    published for that week."""
    lg = ctx.lang
    start = pd.Timestamp(origin)
    run, ranked = queries.community_ranking(ctx.store_url, start.isoformat())
    if run is None or ranked.empty:
        latest = queries.latest_community_origin(ctx.store_url)
        units = queries.admin_units(ctx.lake_dir)
        if latest is None and not (units["level"] == "community").any():
            return  # a city without communities: nothing to rank, nothing to say
        st.markdown(f"**{t('comm_title', lg)}**")
        key = "comm_none" if latest is None else "comm_none_latest"
        st.info(
            t(
                key,
                lg,
                start=fmt_date(start, lg, ctx.tz),
                latest=fmt_date(latest, lg, ctx.tz) if latest is not None else "",
            )
        )
        return
    names = queries.unit_names(ctx.lake_dir)
    table = community_table(ranked, names, lg)
    st.markdown(f"**{t('comm_title', lg)}**")
    st.caption(
        t(
            "comm_caption",
            lg,
            n=fmt_int(len(table), lg),
            total=fmt_int(len(ranked), lg),
            start=fmt_date(start, lg, ctx.tz),
        )
    )
    st.caption(
        t(
            "comm_method",
            lg,
            method=method_name(str(run["method"]), lg),
            version=str(run["method_version"]),
            written=fmt_date(run["created_at"], lg, ctx.tz),
        )
    )
    shell.grid(table, hide_index=True, width="stretch", height=min(38 + 35 * len(table), 420))
