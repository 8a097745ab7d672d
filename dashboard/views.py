"""Shared display pieces: place names in plain words, level badges, charts.

Pure helpers (frames in, frames/strings/chart specs out) used by the pages.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

from dashboard import address
from dashboard.i18n import LEVEL_HEX, LEVELS, TEXT, level_label, place_name, t
from dashboard.metric_words import metric_order
from dashboard.verdicts import method_name, promoted_automatically

PERSONAL_KEY_HINTS = ("name", "phone", "mobile", "id_number", "idcard", "id_card", "address")


def place_words(county_code: Any, township_code: Any, names: Mapping[str, str], lang: str) -> str:
    """``'桐城市 文昌街道'`` / ``'Tongcheng City, Wenchang'`` from admin codes."""
    parts = []
    for code in (county_code, township_code):
        if code is None or (not isinstance(code, str) and pd.isna(code)):
            continue
        parts.append(place_name(names.get(str(code), str(code)), lang))
    if not parts:  # a unit outside every admin area (a cell beyond the boundaries)
        return t("place_unknown", lang)
    return (" " if lang == "zh" else ", ").join(parts)


def badge(level: str | None, lang: str) -> str:
    """HTML badge of a warning level in its colour."""
    colour = LEVEL_HEX.get(level or "none", "#999")
    text_colour = "#222" if level == "yellow" else "#fff"
    return (
        f'<span class="rw-badge" style="background:{colour};color:{text_colour}">'
        f"{level_label(level, lang)}</span>"
    )


def warning_counts(warnings: pd.DataFrame, names: Mapping[str, str], lang: str) -> pd.DataFrame:
    """Count of warnings per county and level (long form with display labels)."""
    if warnings.empty:
        return pd.DataFrame(columns=["county", "level", "level_label", "count"])
    w = warnings.assign(level_now=warnings["effective_level"])
    counts = w.groupby(["county_code", "level_now"], dropna=False).size().reset_index(name="count")
    counts["county"] = [place_words(c, None, names, lang) for c in counts["county_code"]]
    counts["level"] = counts["level_now"]
    counts["level_label"] = [level_label(v, lang) for v in counts["level"]]
    return counts[["county", "level", "level_label", "count"]]


def effective_level(warnings: pd.DataFrame) -> pd.DataFrame:
    """Adds ``effective_level``: the reviewed level where adjusted, else the model's level;
    dismissed warnings are dropped (they are no longer in force)."""
    if warnings.empty:
        return warnings.assign(effective_level=pd.Series(dtype=object))
    w = warnings[warnings["state"] != "dismissed"].copy()
    reviewed = w["reviewed_level"] if "reviewed_level" in w else pd.Series(None, index=w.index)
    w["effective_level"] = reviewed.where(reviewed.notna(), w["level"])
    return w


def counts_chart(counts: pd.DataFrame, lang: str) -> alt.Chart:
    """Stacked horizontal bars: warnings per county coloured by level."""
    order = [level_label(v, lang) for v in LEVELS]
    return (
        alt.Chart(counts)
        .mark_bar()
        .encode(
            y=alt.Y("county:N", title=None, sort="-x"),
            x=alt.X("sum(count):Q", title=t("count", lang)),
            color=alt.Color(
                "level_label:N",
                title=t("level", lang),
                scale=alt.Scale(domain=order, range=[LEVEL_HEX[v] for v in LEVELS]),
                sort=order,
            ),
            order=alt.Order("level_rank:Q", sort="descending"),
            tooltip=[
                alt.Tooltip("county:N", title=t("county", lang)),
                alt.Tooltip("level_label:N", title=t("level", lang)),
                alt.Tooltip("count:Q", title=t("count", lang)),
            ],
        )
        .transform_calculate(level_rank="indexof(" + str(order) + ", datum.level_label)")
        .properties(height=alt.Step(22))
    )


# One colour per domain, whatever the language (Altair's default follows the labels'
# order, which differs between zh and en); not the warning levels' blue/yellow/orange/red.
# legend labels of the weekly chart are drawn whole ("This week's forecast, adjusted" was
# cut at Vega-Lite's default 160 px, 2026-12-07 screenshot)
LEGEND_LABEL_PX = 400
DOMAIN_PALETTE = ("#4c78a8", "#54a24b", "#b279a2", "#9d755d", "#72b7b2", "#79706e")


def domain_colour(domain: str) -> str:
    """The fixed colour of ``domain`` in charts (grey for an unknown one)."""
    from riskwarn import domains

    names = list(domains.names())
    return DOMAIN_PALETTE[names.index(domain) % len(DOMAIN_PALETTE)] if domain in names else "#999"


def observed_series(
    observed: pd.DataFrame,
    expected: float | None,
    lang: str,
    tz: str,
    ratio: float | None = None,
) -> pd.DataFrame:
    """The points of one domain's "is it rising" chart: each observed week (``units``
    with at least one event, ``events``), then this week's forecast (``expected``: the
    run's sum of probabilities, the units expected to see one; None: no forecast point).
    Columns ``week`` (the week's first local day, as the axis writes it), ``value``,
    ``events`` (NaN for the forecast), ``kind`` (``observed`` / ``forecast``) and
    ``kind_label`` in the page language; the observed week before the forecast appears a
    second time as ``forecast`` so the dashed forecast line starts from it.

    ``ratio`` (the backtest's observed / expected events, ``model_plots.
    observed_over_expected``): the forecast point is ``expected * ratio``, labelled "this
    week's forecast, adjusted" — a model that over-predicts (incidents 0.88, disputes
    0.59 in the demo) otherwise drew a rise above every observed week."""
    from dashboard.i18n import fmt_day

    cols = ["week", "value", "events", "kind", "kind_label", "order"]
    if observed.empty:
        return pd.DataFrame(columns=cols)
    obs = observed.sort_values("week_start")
    rows = [
        (fmt_day(w.week_start, lang, tz), float(w.units), float(w.events), "observed", i)
        for i, w in enumerate(obs.itertuples())
    ]
    if expected is not None and pd.notna(expected):
        last = rows[-1]
        rows.append((last[0], last[1], last[2], "forecast", last[4]))
        nxt = fmt_day(obs["week_end"].iloc[-1], lang, tz)
        point = float(expected) * (ratio if ratio is not None else 1.0)
        rows.append((nxt, point, float("nan"), "forecast", len(obs)))
    out = pd.DataFrame(rows, columns=["week", "value", "events", "kind", "order"])
    adjusted = "_adjusted" if ratio is not None else ""
    out["kind_label"] = [
        t(f"observed_kind_{k}{adjusted if k == 'forecast' else ''}", lang) for k in out["kind"]
    ]
    return out[cols]


def forecast_off_observed(series: pd.DataFrame) -> bool:
    """Whether the forecast point is outside the range observed in the window by more
    than a fifth (under 0.8 x the fewest or over 1.25 x the most units a week): a real
    change, or a model whose probabilities do not match what keeps happening. The chart
    alone would read as a rise or a fall. (The demo's disputes once showed 2 cells
    expected beside 35 to 48 observed a week: the weeks counted the cells of first
    events, which no forecast covers; counted like the forecast, 0 to 6.)"""
    obs = series.loc[series["kind"] == "observed", "value"]
    fc = series.loc[series["kind"] == "forecast", "value"]
    if obs.empty or fc.empty or obs.min() <= 0:
        return False
    point = float(fc.iloc[-1])
    return point < 0.8 * float(obs.min()) or point > 1.25 * float(obs.max())


def observed_y_domain(values: Any) -> tuple[float, float, bool]:
    """The y axis of an "is it rising" chart: ``(low, high, from_zero)``. From 0 when the
    smallest value is under 40 % of the largest (the zero then costs little room and
    shows the size of a change honestly); otherwise from a round number just below the
    smallest, so weeks of 290-330 cells are not squeezed against the top of a 0-330 axis
    with two labels (review of 6 Dec 2026) — the axis title then says where it starts."""
    v = pd.to_numeric(pd.Series(list(values)), errors="coerce").dropna()
    if v.empty:
        return 0.0, 1.0, True
    lo, hi = float(v.min()), float(v.max())
    if hi <= 0 or lo < 0.4 * hi:
        return 0.0, max(hi, 1.0), True
    raw = max((hi - lo) / 4, 1.0)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    low = math.floor(lo / step) * step
    if low >= lo:
        low -= step
    high = math.ceil(hi / step) * step
    if high <= hi:
        high += step
    return float(low), float(high), False


def observed_ticks(low: float, high: float) -> list[int]:
    """Whole-number ticks of an "is it rising" axis: a round step (1, 2, 5 x 10^k) giving
    3 to 5 of them from ``low``, the last at or above ``high`` (the civil disputes' 0-6
    axis showed the ticks "0" and "6" alone, review revA)."""
    raw = max((high - low) / 4, 1.0)
    mag = 10 ** math.floor(math.log10(raw))
    step = int(next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw))
    first = int(math.ceil(low / step) * step)
    ticks = list(range(first, int(math.floor(high / step) * step) + 1, step))
    if not ticks or ticks[-1] < high:
        ticks.append((ticks[-1] if ticks else first) + step)
    return ticks


def observed_axis_note(series: pd.DataFrame, lang: str) -> str | None:
    """The caption under an "is it rising" chart whose y axis does not start at 0
    (:func:`observed_y_domain`): "The y axis starts at 260, not 0." (None from 0). In the
    axis title, "cells (axis from 260)" was cut at 390 px (review revA)."""
    low, _, from_zero = observed_y_domain(series["value"])
    return None if from_zero else t("observed_y_from", lang, low=f"{low:,.0f}")


def observed_chart(series: pd.DataFrame, lang: str, y_title: str, colour: str) -> alt.Chart:
    """One domain's weeks: observed (solid line, filled points), then this week's
    forecast (dashed line to a hollow point); its own y axis (:func:`observed_y_domain`:
    from 0 unless that squeezes the weeks at the top, then said in a caption under the
    chart, :func:`observed_axis_note`; whole-number ticks, :func:`observed_ticks`), so a
    domain with a few events a week is not flattened against one with hundreds. The
    weeks' axis keeps a step of room at both ends: the hollow forecast point was cut at
    the right edge at 390 px."""
    low, high, from_zero = observed_y_domain(series["value"])
    if from_zero:  # whole-number ticks up to a round top: "0" and "6" alone said little
        high = observed_ticks(low, high)[-1]
    kinds = [k for k in ("observed", "forecast") if (series["kind"] == k).any()]
    # no forecast: not in the legend; its label as the series gives it (adjusted or not)
    order = [str(series.loc[series["kind"] == k, "kind_label"].iloc[0]) for k in kinds]
    weeks = list(dict.fromkeys(series.sort_values("order")["week"]))
    base = alt.Chart(series).encode(
        x=alt.X(
            "week:N",
            title=None,
            sort=weeks,
            scale=alt.Scale(padding=1),
            axis=alt.Axis(labelAngle=0, labelOverlap=True),
        ),
        y=alt.Y(
            "value:Q",
            title=y_title,
            scale=alt.Scale(domain=[low, high], zero=from_zero, nice=False),
            axis=alt.Axis(values=observed_ticks(low, high), format=",d"),
        ),
        strokeDash=alt.StrokeDash(
            "kind_label:N",
            title=None,
            scale=alt.Scale(domain=order, range=[[1, 0], [5, 4]][: len(order)]),
            legend=alt.Legend(orient="top", labelLimit=LEGEND_LABEL_PX),
        ),
        tooltip=[
            alt.Tooltip("kind_label:N", title=t("observed_kind", lang)),
            alt.Tooltip("week:N", title=t("observed_week", lang)),
            alt.Tooltip("value:Q", format=",.1f", title=y_title),
            alt.Tooltip("events:Q", format=",.0f", title=t("observed_events", lang)),
        ],
    )
    line = base.mark_line(color=colour)
    points = base.transform_filter(alt.datum.kind == "observed").mark_point(
        filled=True, color=colour, size=30
    )
    forecast = (
        base.transform_filter(
            (alt.datum.kind == "forecast") & (alt.datum.order == int(series["order"].max()))
        )
        .mark_point(filled=False, color=colour, size=90, strokeWidth=2)
        .encode(
            strokeDash=alt.value([1, 0])  # a whole ring, not the dashed line's pattern
        )
    )
    return (line + points + forecast).properties(height=170)


def scrub_personal(value: Any) -> Any:
    """Drop keys that look like personal data from JSON-like evidence (defence in depth)."""
    if isinstance(value, dict):
        return {
            k: scrub_personal(v)
            for k, v in value.items()
            if not any(h in str(k).lower() for h in PERSONAL_KEY_HINTS)
        }
    if isinstance(value, list):
        return [scrub_personal(v) for v in value]
    return value


def evidence_frames(evidence: Any) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Split warning evidence into scalar facts (a bilingual ``{"en": ..., "zh": ...}`` text
    is one fact) and tables (lists of records). A ``top_inputs`` table (the model's top
    inputs, stored by warnings scored on 2026-12-06 before riskwarn.evidence stopped
    writing it) is left out: the model's explanation among the reasons names them with
    their values, and a dispute case's facts hold them too (a case's page listed them
    three times)."""
    facts: dict[str, Any] = {}
    tables: dict[str, pd.DataFrame] = {}
    ev = scrub_personal(evidence or {})
    if not isinstance(ev, dict):
        return {"evidence": ev}, {}
    for key, value in ev.items():
        if key == "top_inputs":
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables[key] = pd.DataFrame(value)
        elif isinstance(value, dict) and set(value) == {"en", "zh"}:
            facts[key] = value  # a bilingual text, worded per language (review.evidence_value)
        elif isinstance(value, dict):
            facts.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            facts[key] = value
    return facts, tables


def place_history_series(hist: pd.DataFrame, lang: str, tz: str) -> tuple[pd.DataFrame, str]:
    """The "history of this place" chart's points (``when``, ``value``) and what ``value``
    is (``"probability"`` or ``"score"``).

    Origins are labelled by day, or by day and time when the place has several origins a
    local day (the hourly site nowcast: 11:00, 12:00 and 13:00 all read "1 Jul"). The
    model's probability where it gave one (origins without are left out, not drawn as 0%);
    a place the model never scored (sensor rules only: no probability) plots the served
    score instead (the sensor level / 4), never an axis of "0.000000%"."""
    from dashboard.i18n import fmt_datetime, fmt_day, to_local

    days = [to_local(o, tz).date() for o in hist["origin"]]  # type: ignore[union-attr]
    hourly = len(set(days)) < len(days)
    when = [fmt_datetime(o, lang, tz) if hourly else fmt_day(o, lang, tz) for o in hist["origin"]]
    prob = pd.to_numeric(hist["probability"], errors="coerce")
    kind = "probability" if prob.notna().any() else "score"
    value = prob if kind == "probability" else pd.to_numeric(hist["score"], errors="coerce")
    out = pd.DataFrame({"when": when, "value": value.to_numpy()})
    return out.loc[out["value"].notna()].reset_index(drop=True), kind


def evidence_fact_label(key: str, value: Any, lang: str) -> str:
    """A catalogued numeric evidence fact in plain words of ``lang`` (``rain_3d_mm`` 72.0 ->
    "近 3 天降雨 72.0 毫米"); other facts keep their key."""
    from features.catalog import describe, lookup

    if isinstance(value, bool) or not isinstance(value, int | float) or lookup(key) is None:
        return key
    return describe(key, float(value), lang)


def reason_text(reason: Any, lang: str) -> str:
    """One reason in ``lang``: a bilingual ``{"en": ..., "zh": ...}`` item gives the chosen
    language, else the other one; a plain string (legacy) is shown as it is. A raw
    ``feature = value`` factor stored by scoring before the one wording path
    ("lr_smooth_hl1y_s2 = 27.2608") is shown in the catalogue's words
    (:func:`features.catalog.reword_raw`): reasons are stored as text, so a warning
    scored earlier would show it until re-scored; the record is not changed."""
    from features.catalog import reword_raw

    if isinstance(reason, dict):
        other = "en" if lang == "zh" else "zh"
        for key in (lang, other, "text", "sentence"):
            value = reason.get(key)
            if isinstance(value, str) and value:
                return reword_raw(value, key if key in ("en", "zh") else "en")
        return str(reason)
    return reword_raw(str(reason), "en")


def reason_lines(reasons: Any, lang: str = "zh") -> list[str]:
    """Explanation sentences of a warning (or a case) in ``lang`` as a list of strings."""
    if reasons is None:
        return []
    if isinstance(reasons, str | dict):
        return [reason_text(reasons, lang)]
    return [reason_text(r, lang) for r in reasons]


ALARM_OUTCOME = re.compile(r"(?P<to>\S+) (?P<status>[a-z-]+)(?: \((?P<n>\d+) attempts?\))?")


def alarm_log_caption(alarms: pd.DataFrame, lang: str) -> str:
    """The alarm log's caption (riskwarn.stream.alarm_log): how many changes were sent
    and how many red ones nobody acknowledged; changes never sent (every delivery
    expired: the warning was no longer in force, a replay) are neither, counted apart;
    changes cancelled by review (the panel dismissed their warning or set it below their
    level) are counted apart too."""
    from dashboard.i18n import fmt_int, t_count

    expired = alarms["expired"].astype(bool)
    n_open = int(
        ((alarms["to_level"] == "red") & alarms["acknowledged_by"].isna() & ~expired).sum()
    )
    # one and none are said in words in English ("The one ... change", "No ... change")
    note = t_count("alarm_log_note", lang, int((~expired).sum()), open=fmt_int(n_open, lang))
    # cancelled by review: said apart (the panel stopped them), not as expired
    cancelled = alarms["cancelled"].astype(bool) if "cancelled" in alarms else expired & False
    if (expired & ~cancelled).any():
        n_expired = int((expired & ~cancelled).sum())
        note += t_count("alarm_log_note_expired", lang, n_expired)
        # changes not paged (status unpaged), by why: ended or below orange before the
        # officer heard of the warning, or back at the level last sent to them
        sent = alarms["sent"].astype(str)
        parts = []
        for why, pattern in (
            ("ended", r" unpaged(?![-\w])"),
            ("below", r" unpaged-below\b"),
            ("unchanged", r" unpaged-unchanged\b"),
        ):
            n = int(sent.str.contains(pattern).sum())
            if n:
                parts.append(t(f"alarm_unpaged_{why}", lang, n=fmt_int(n, lang)))
        if parts:
            joined = ("；" if lang == "zh" else "; ").join(parts)
            note += t("alarm_log_note_unpaged", lang, parts=joined)
    if cancelled.any():
        note += t_count("alarm_log_note_cancelled", lang, int(cancelled.sum()))
    return note


def alarm_log_failed(alarms: pd.DataFrame, lang: str) -> str | None:
    """What the page says in red above the alarm log when some change's delivery
    ``failed`` and is tried again (its contact not reached after every retry;
    riskwarn.stream.alarm_log's ``failed``, the rows ``Store.failed_deliveries`` holds:
    what ``riskwarn stream --status`` counts): how many, each as ``site · level ·
    channel:contact``, and what the service does about it; None when none. A failure
    not tried again (``failed-acknowledged``, ``-ended``, ``-stopped``, ``-superseded``)
    is said in its row only."""
    from dashboard.i18n import t_count

    if "failed" not in alarms:
        return None
    failed = alarms.loc[alarms["failed"].fillna(False).astype(bool)]
    if failed.empty:
        return None
    sep = "；" if lang == "zh" else "; "
    what = sep.join(
        f"{r.unit_id} · {level_label(r.to_level, lang)} · "
        + ("、" if lang == "zh" else ", ").join(
            m["to"]
            for m in (ALARM_OUTCOME.fullmatch(x) for x in str(r.sent).split(", "))
            if m is not None and m["status"] == "failed"
        )
        for r in failed.itertuples(index=False)
    )
    return t_count("alarm_log_failed", lang, len(failed), what=what)


def never_sent_refusal(what: str, statuses: Any, lang: str) -> str:
    """Why acknowledging ``what`` was refused, in ``lang``: it was never sent, for the
    statuses of its deliveries (``NeverSentError.statuses``: ``{key: [status, ...]}``;
    expired, superseded, unpaged, cancelled), each said once; expired if none is known
    (the store's own default)."""
    from riskwarn.paging_texts import never_sent_why

    seen = [s for each in dict(statuses or {}).values() for s in each]
    known = [s for s in seen if f"alarm_never_sent_{s}" in TEXT] or ["expired"]
    return t("alarm_ack_never_sent", lang, what=what, why=never_sent_why(known, lang))


def refused_meaning(published: bool, lang: str) -> str:
    """What a refused champion means for a domain (the models page), as `riskwarn score`
    says it (riskwarn.commands.score.served_note): its last published run stays served,
    or, with none ``published``, nothing is served for it."""
    return t("vd_refused_meaning" if published else "vd_refused_meaning_unpublished", lang)


def alarm_outcome(text: str, lang: str) -> str:
    """The alarm log's outcome cell (``email:duty-1 sent, webhook:duty-1 retrying (2
    attempts)``, riskwarn.stream.alarm_log) in the page's language: the channel:contact
    ids stay, the status words and attempt counts are translated (in English too: the
    statuses ``superseded`` and ``unpaged`` are said in words, ``failed`` as ``FAILED (not
    reached)``)."""
    if not isinstance(text, str):
        return text
    out = []
    for item in text.split(", "):
        m = ALARM_OUTCOME.fullmatch(item)
        status = "" if m is None else m["status"]
        said = status.startswith(("superseded", "unpaged", "failed")) or status.endswith(
            "-maybe-sent"
        )
        if m is None or (lang == "en" and not said):
            out.append(item)  # English: as the log writes it ("1 attempt", "2 attempts")
            continue
        words = t(f"alarm_status_{m['status']}", lang)
        tries = t("alarm_attempts", lang, n=m["n"]) if m["n"] else ""
        out.append(f"{m['to']} {words}{tries}")
    return ("，" if lang == "zh" else ", ").join(out)


def alarm_people(alarms: pd.DataFrame, role: str, lang: str) -> pd.DataFrame:
    """The alarm log's staff columns as ``role`` may see them (review of 2026-12-06):
    who acknowledged a change (a dashboard user's name: personal data of staff) is shown
    to the roles that acknowledge alarms themselves (reviewer, admin: they may need to
    reach a colleague who signed for one), and to the others (leader, data scientist) as
    "acknowledged (duty staff)". The contacts a change went to are contact ids, duty
    labels by design (configs/contacts.example.yaml), shown to every role; a phone or
    ID number in one of them or in a user name (an id chosen badly) is masked for all
    (:func:`dashboard.text.shown_reason`). Unacknowledged rows stay empty (NaN)."""
    from dashboard.auth import can_review
    from dashboard.text import shown_reason

    out = alarms.copy()
    acked = out["acknowledged_by"].notna()
    if can_review(role):
        names = [shown_reason(v, lang) for v in out.loc[acked, "acknowledged_by"]]
    else:
        names = [t("alarm_acked_by_staff", lang)] * int(acked.sum())
    out["acknowledged_by"] = out["acknowledged_by"].astype(object)
    out.loc[acked, "acknowledged_by"] = names
    if "sent" in out:
        out["sent"] = [v if not isinstance(v, str) else shown_reason(v, lang) for v in out["sent"]]
    return out


def fmt_time(ts: Any, lang: str, tz: str) -> str:
    """A time in the display zone (re-exported for pages)."""
    from dashboard.i18n import fmt_datetime

    return fmt_datetime(ts, lang, tz)


TREND_PRIORITY = ("intensifying", "emerging", "persistent", "diminishing")


def top_places(warnings: pd.DataFrame, labels: pd.DataFrame, n: int = 6) -> pd.DataFrame:
    """Townships to watch: highest level, then number of warnings, then probability.

    ``warnings`` needs ``unit_id``, ``county_code``, ``township_code``, ``effective_level``,
    ``probability``; ``labels`` is :func:`dashboard.trends.classify_hotspots`.
    Returns ``county_code``, ``township_code``, ``level``, ``n_warnings``, ``max_probability``
    and ``trend`` (the most pressing label among the place's warned cells, or None).
    """
    cols = ["county_code", "township_code", "level", "n_warnings", "max_probability", "trend"]
    if warnings.empty:
        return pd.DataFrame(columns=cols)
    rank = {"blue": 1, "yellow": 2, "orange": 3, "red": 4}
    label_of = dict(zip(labels["unit_id"], labels["label"], strict=True))
    w = warnings.assign(
        _rank=warnings["effective_level"].map(rank),
        _trend=warnings["unit_id"].map(
            lambda u: TREND_PRIORITY.index(label_of[u]) if u in label_of else len(TREND_PRIORITY)
        ),
    )
    g = w.groupby(["county_code", "township_code"], dropna=False).agg(
        _rank=("_rank", "max"),
        n_warnings=("unit_id", "size"),
        max_probability=("probability", "max"),
        _trend=("_trend", "min"),
    )
    g = g.sort_values(["_rank", "n_warnings", "max_probability"], ascending=False).head(n)
    g["level"] = g["_rank"].map({v: k for k, v in rank.items()})
    g["trend"] = [TREND_PRIORITY[i] if i < len(TREND_PRIORITY) else None for i in g["_trend"]]
    return g.reset_index()[cols]


def red_off_the_maps(warnings: pd.DataFrame, map_domains: Sequence[str]) -> pd.DataFrame:
    """The red warnings (effective level) of domains with no hotspot map on the overview
    (e.g. a dispute case's): counted in its "Red warnings" figure, so listed there too,
    most probable first, for a leader to find."""
    if warnings.empty:
        return warnings
    red = warnings[
        (warnings["effective_level"] == "red") & ~warnings["domain"].isin(list(map_domains))
    ]
    return red.sort_values("probability", ascending=False)


def red_by_domain(warnings: pd.DataFrame, lang: str) -> str:
    """``'Civil disputes 1 · Dispute escalation 1'``: the red count split by domain."""
    if warnings.empty:
        return ""
    red = warnings[warnings["effective_level"] == "red"]
    counts = red.groupby("domain").size()
    from dashboard.i18n import fmt_int

    return " · ".join(
        f"{t(f'domain_{d}', lang)} {fmt_int(int(n), lang)}" for d, n in counts.items()
    )


def place_line(p: Any, place: str, lang: str) -> str:
    """One line of "Places to watch" (HTML; ``p`` a row of :func:`top_places`, ``place``
    its name): level count, highest probability and, only when the place has one, its
    hotspot trend; nothing about the trend when there is too little history (the line
    ended "· —" before)."""
    from dashboard.i18n import fmt_int, fmt_pct

    line = t(
        "top_place_line",
        lang,
        place=html.escape(place),
        n=fmt_int(p.n_warnings, lang),
        prob=fmt_pct(p.max_probability, lang),
    )
    if isinstance(p.trend, str) and p.trend:
        line += " · " + html.escape(t(f"trend_{p.trend}", lang))
    return line


def metrics_table(metrics: Mapping[str, float]) -> pd.DataFrame:
    """A run's MLflow metrics as one row per metric and one column per method.

    Keys ``methods.<method>.<metric>`` go to ``<method>``'s column (the metric name may
    itself hold dots: ``pai_at_0.05_ci_lo``); every other key (paired differences,
    counts, timings) goes, whole, to the ``run`` column.
    """
    rows = []
    for key, value in metrics.items():
        method, _, metric = key.removeprefix("methods.").partition(".")
        if not key.startswith("methods.") or not metric:
            method, metric = "run", key
        rows.append({"metric": metric, "method": method, "value": value})
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    wide = frame.pivot_table(index="metric", columns="method", values="value", aggfunc="first")
    columns = sorted(c for c in wide.columns if c != "run")
    wide = wide.loc[sorted(wide.index, key=metric_order)]  # headline metrics first
    return wide[columns + (["run"] if "run" in wide.columns else [])]


def metrics_display(wide: pd.DataFrame) -> pd.DataFrame:
    """:func:`metrics_table` as the text a reader sees: three decimals, whole counts
    (``events*``, ``n_*``) without decimals, and "—" where a method has no such metric.

    Text, not a Styler: Streamlit's browser table draws its own grey "None" for a missing
    value whatever a Styler's ``na_rep`` says (seen in a real-browser screenshot)."""

    def cell(metric: str, value: object) -> str:
        if value is None or pd.isna(value):  # type: ignore[arg-type]
            return "—"
        number = float(value)  # type: ignore[arg-type]
        whole = metric.startswith(("events", "n_")) and number.is_integer()
        return f"{number:,.0f}" if whole else f"{number:.3f}"

    return pd.DataFrame(
        {col: [cell(str(m), v) for m, v in wide[col].items()] for col in wide.columns},
        index=wide.index,
    )


_HIT_AT = re.compile(r"^methods\.([^.]+)\.hit_rate_at_([0-9]*\.?[0-9]+)$")


def hit_rate_points(metrics: Mapping[str, float], lang: str) -> pd.DataFrame:
    """Every method's logged hit rate at each share of area flagged (``methods.<m>.
    hit_rate_at_<share>``, what training's plots/hit_rate_curve.png draws) as rows: the
    method in words, the share in %, the hit rate."""
    rows = [
        {"method": method_name(m.group(1), lang), "area": float(m.group(2)) * 100, "hit": v}
        for key, v in metrics.items()
        if (m := _HIT_AT.match(key))
    ]
    return pd.DataFrame(rows, columns=["method", "area", "hit"]).sort_values(["method", "area"])


def hit_rate_chart(points: pd.DataFrame, lang: str) -> alt.Chart:
    """:func:`hit_rate_points` as a line per method, titles in the reader's language."""
    area, hit, who = t("plot_area_flagged", lang), t("plot_hit_rate", lang), t("plot_method", lang)
    return (
        alt.Chart(points)
        .mark_line(point=True)
        .encode(
            x=alt.X("area:Q", title=area),
            y=alt.Y("hit:Q", title=hit, axis=alt.Axis(format="%")),
            color=alt.Color("method:N", title=who),
            tooltip=[
                alt.Tooltip("method:N", title=who),
                alt.Tooltip("area:Q", title=area, format=".0f"),
                alt.Tooltip("hit:Q", title=hit, format=".1%"),
            ],
        )
        .properties(height=320)
    )


def picked_warnings(warnings: pd.DataFrame, picked: Mapping[str, Any] | None) -> pd.DataFrame:
    """The warnings of what was clicked on a map: a warned cell (or site), or a township.

    ``picked`` is :func:`dashboard.map_panel.clicked`'s dict (``unit_id`` of a
    square or site, ``warning_ids`` of an area's dispute cases, or ``record_id`` of a
    township fill); ``warnings`` those in force.
    Ranked by level, then probability.
    """
    if picked is None or warnings.empty:
        return warnings.iloc[0:0]
    if picked.get("warning_ids"):  # a marker of several dispute cases in one area
        ids = str(picked["warning_ids"]).split(",")
        hit = warnings[warnings["warning_id"].astype(str).isin(ids)]
    elif picked.get("unit_id") is not None:
        hit = warnings[warnings["unit_id"].astype(str) == str(picked["unit_id"])]
    elif picked.get("record_id") is not None:
        code = str(picked["record_id"])
        hit = warnings[
            (warnings["township_code"].astype(str) == code)
            | (warnings["county_code"].astype(str) == code)
        ]
    else:
        return warnings.iloc[0:0]
    rank = hit["effective_level"].map({"blue": 1, "yellow": 2, "orange": 3, "red": 4})
    return (
        hit.assign(_r=rank)
        .sort_values(["_r", "probability"], ascending=False, kind="stable")
        .drop(columns="_r")
    )


def first_reason(reasons: Any, lang: str) -> str:
    """The first explanation sentence of a warning in ``lang`` (empty if none)."""
    lines = reason_lines(reasons, lang)
    return lines[0] if lines else ""


FOCUS_PARAM = "warning"  # pages/warnings.py?warning=<warning_id>: open that warning


URL_WARNING = "rv_url_warning"  # session key: the warning this session last saw in the URL

# pages/warnings.py?level=red&domains=a,b: open the queue filtered to those (the
# overview's "and n more" under its red warnings off the maps)
LEVEL_PARAM, DOMAINS_PARAM = "level", "domains"


def filters_link(level: str, domains: Sequence[str]) -> dict[str, str]:
    """The query parameters opening the review page's queue filtered to warnings at
    ``level`` (in force) of ``domains`` (:func:`focus_filters` reads them)."""
    return {LEVEL_PARAM: level, DOMAINS_PARAM: ",".join(sorted(set(domains)))}


def focus_filters(known: Sequence[str], query_params: Any, session_state: Any, visit: int) -> None:
    """Set the review page's filters from the URL (:func:`filters_link`) on the first run
    of visit ``visit`` of the page (``shell.count_visit``: the link followed, a reload,
    back/forward; :mod:`dashboard.address`), then drop the parameters on every run (the
    filters are the session's; the reviewer may change them, and an echo of the link's
    address, a click sent before the dropped parameters reached the browser, neither
    sets them again nor puts them back in the address): the level filter to ``level``,
    the domain filter to the one domain named or to the set of them (one choice of the
    domain filter, shown as their names joined), the county and state filters to all.
    Unknown levels or domains are ignored."""
    level = query_params.get(LEVEL_PARAM)
    named = query_params.get(DOMAINS_PARAM)
    for param in (LEVEL_PARAM, DOMAINS_PARAM):
        address.follow(query_params, param, None)
    if not address.read_once(session_state, "filters", visit):
        return
    if level is None and named is None:
        return
    session_state["rv_flevel__value"] = level if level in LEVELS else None
    picked = tuple(sorted({d for d in str(named or "").split(",") if d in set(known)}))
    session_state["rv_domain__value"] = picked[0] if len(picked) == 1 else (picked or None)
    session_state["rv_county__value"] = None
    session_state["rv_state__value"] = None


def focus_warning(
    warnings: pd.DataFrame, query_params: Any, session_state: Any, visit: int
) -> str | None:
    """Open the warning named in the URL (``?warning=<id>``: the maps' links, a reload, a
    copied link) on the review page: its domain and county become the filters and it
    becomes the chosen warning (through the ``<key>__value`` choices that ``shell.select``
    carries over). The URL is read once per visit of the page (``visit``,
    ``shell.count_visit``: a new number each time the session arrives on the page from
    another one, starts, or goes back/forward; :mod:`dashboard.address`): within a visit
    the page's address changes only by :func:`keep_warning_in_url`, and a browser whose
    address still lagged such a change (the next click sent before the new address
    arrived, on a loaded machine) had it reopen the warning chosen before (CI
    2026-12-07: picked in English, Chinese at once, the Chinese picker on the earlier
    warning). A warning already chosen is not opened again, so the reviewer's filters
    are kept; the parameter itself stays (:func:`keep_warning_in_url` makes it follow
    the chosen warning). Returns the warning id, or None when the URL names no new,
    known warning (an unknown one is removed)."""
    if not address.read_once(session_state, FOCUS_PARAM, visit):
        return None
    wid = query_params.get(FOCUS_PARAM)
    if wid is None or wid == session_state.get(URL_WARNING):
        return None
    hit = warnings[warnings["warning_id"] == wid]
    if hit.empty:
        del query_params[FOCUS_PARAM]
        return None
    session_state[URL_WARNING] = wid
    row = hit.iloc[0]
    session_state["rv_domain__value"] = row["domain"]
    session_state["rv_county__value"] = row["county_code"]
    session_state["rv_state__value"] = None
    session_state["rv_flevel__value"] = None
    session_state["rv_pick__value"] = wid
    return str(wid)


def keep_warning_in_url(wid: str | None, query_params: Any, session_state: Any) -> None:
    """The chosen warning in the URL (``?warning=<id>``) while it is chosen, so a reload or
    a copied link opens it again; no parameter when none is chosen."""
    address.follow(query_params, FOCUS_PARAM, wid)
    if wid is None:
        session_state.pop(URL_WARNING, None)
    else:
        session_state[URL_WARNING] = wid


def fmt_duration(seconds: float | None, lang: str) -> str:
    """``'3 分 12 秒'`` / ``'3 min 12 s'`` (hours when longer); ``'—'`` when unknown."""
    if seconds is None or pd.isna(seconds):
        return "—"
    total = max(round(float(seconds)), 0)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    if lang == "zh":
        parts = [f"{h} 小时" if h else "", f"{m} 分" if (m or h) else "", f"{s} 秒"]
    else:
        parts = [f"{h} h" if h else "", f"{m} min" if (m or h) else "", f"{s} s"]
    return " ".join(p for p in parts if p)


# "none": the served run scored the site and raised nothing (below every threshold);
# "expired": its warning of that run is no longer in force; "stale": the run is out of
# date (queries.staleness); "not_scored": the run has no score for the site
SITE_WHY = (
    "model",
    "sensor_rule",
    "sensor_health",
    "held",
    "rules_only",
    "review",
    "none",
    "expired",
    "stale",
    "not_scored",
)


def site_why(
    level: str | None,
    probability: Any,
    evidence: Any,
    hold_at: tuple[float, ...],
    reviewed_level: str | None = None,
    reasons: Any = None,
) -> tuple[str, dict[str, Any]]:
    """Why a monitored site is at its level: the model, a sensor rule or a sensor fault.

    The nowcast's level is the higher of the model's (its probability through the domain's
    thresholds, with hysteresis: at most the number of ``hold_at`` thresholds the
    probability reaches) and the sensor rules'; a site whose sensors all fail gets at
    least blue. So the model explains the level when it alone reaches it; otherwise a
    fault explains a blue level of a site with a sensor-health flag, and a displacement
    rule explains the rest (its numbers from the evidence). A nowcast that recorded what
    each source said (``model_level``, ``model_threshold``, ``rules_level``:
    :func:`riskwarn.nowcast.level_sources`; the model's levels may be its own training
    thresholds, not the domain's ``hold_at``) is read from that instead: the model, the
    rule, the hold (``held``) or else the fault that raised the level. A sensor fault
    beside another source is kept as a note (``faults``), never as the reason. Returns
    the kind (one of :data:`SITE_WHY`) and the facts to word it (``probability``,
    ``threshold``, ``level``; ``sensor``, ``tangent_angle_deg``, ``velocity_mm_per_day``;
    ``steps``; ``faults``: sensor id -> status; ``raised``: the fault set the level;
    ``within_noise``: the rule's velocity was inside the sensor's noise, so the angle gave
    at most blue, from the sensor's evidence or, in warnings written before it was
    recorded there, the rule's stored reason (``reasons``)).
    """
    if reviewed_level:
        return "review", {"level": reviewed_level}
    if not level or level == "none":
        return "none", {}
    ranks = {"blue": 1, "yellow": 2, "orange": 3, "red": 4}
    rank = ranks.get(level, 0)
    ev = evidence if isinstance(evidence, dict) else {}
    sensors = [s for s in ev.get("sensors") or [] if isinstance(s, dict)]
    faults = {
        str(s.get("sensor_id")): str(s.get("status"))
        for s in sensors
        if s.get("status") not in (None, "ok")
    }
    # a fault beside the source that set the level is a note, not the reason
    note = {"faults": faults} if faults else {}
    moving = [s for s in sensors if s.get("tangent_angle_deg") is not None]
    rule: dict[str, Any] = {}
    if moving:
        top = max(moving, key=lambda s: float(s["tangent_angle_deg"]))
        rule = {
            "sensor": top.get("sensor_id"),
            "tangent_angle_deg": float(top["tangent_angle_deg"]),
            "velocity_mm_per_day": top.get("velocity_mm_per_day"),
        }
        if _within_noise(top, reasons):
            rule["within_noise"] = True
            if top.get("noise_floor_mm_per_day") is not None:  # recorded since 6 Dec 2026
                rule["noise_floor_mm_per_day"] = float(top["noise_floor_mm_per_day"])
    p = pd.to_numeric(probability, errors="coerce")
    if pd.isna(p):
        return "rules_only", {}
    if "model_level" in ev:  # the nowcast recorded what each source said (level_sources)
        if ranks.get(str(ev.get("model_level")), 0) >= rank:
            return "model", {
                "probability": float(p),
                "threshold": ev.get("model_threshold"),
                "level": ev.get("model_level"),
                **note,
            }
        if ranks.get(str(ev.get("rules_level")), 0) >= rank:
            return "sensor_rule", {**rule, **note}
        if ev.get("held_steps_below"):
            return "held", {"steps": int(ev["held_steps_below"]), **note}
        return "sensor_health", {"faults": faults, "raised": True}
    if sum(float(p) >= h for h in hold_at) >= rank:
        return "model", {"probability": float(p), **note}
    if ev.get("sensor_health") and rank == 1:
        return "sensor_health", {"faults": faults}
    if not moving:
        return "sensor_health" if faults else "sensor_rule", {"faults": faults}
    return "sensor_rule", {**rule, **note}


def _within_noise(sensor: Mapping[str, Any], reasons: Any) -> bool:
    """Whether a sensor rule's velocity was inside the sensor's noise (the yellow noise
    gate of :mod:`riskwarn.sensor_rules`: the angle then gives at most blue): the sensor's
    ``within_noise`` evidence, else the gate's sentence in the stored reasons (warnings
    written before the evidence recorded it)."""
    from riskwarn.sensor_rules import NOISE_GATE_TEXT

    if "within_noise" in sensor:
        return bool(sensor["within_noise"])
    head = NOISE_GATE_TEXT[0].split(" (")[0]  # "velocity within the sensor's noise"
    items = reasons if isinstance(reasons, list | tuple) else [reasons]
    for item in items:
        en = item.get("en") if isinstance(item, Mapping) else item
        if isinstance(en, str) and head in en:
            return True
    return False


def split_stale(frame: pd.DataFrame, week_start: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Warnings in force at their domain's own time (``queries.in_force``) split into
    those still valid in the week shown (``week_start``: the overview's "Week of") and the
    stale ones, whose validity ended before it (a domain whose data stopped earlier, e.g.
    geohazard warnings valid until 1 Sep 2023 under the week of 1 Jan 2024): those do not
    count as active in that week. Without a week (None), none is stale."""
    start = pd.to_datetime(week_start, utc=True, errors="coerce")
    if frame.empty or pd.isna(start):
        return frame, frame.iloc[0:0]
    ended = pd.to_datetime(frame["valid_to"], utc=True) <= start
    return frame.loc[~ended].reset_index(drop=True), frame.loc[ended].reset_index(drop=True)


def stale_words(stale: pd.DataFrame, lang: str, tz: str) -> str | None:
    """The stale warnings (:func:`split_stale`) in one line per domain: how many, and when
    the newest of them ended; None when there are none."""
    from dashboard.i18n import fmt_date

    if stale.empty:
        return None
    sep = "；" if lang == "zh" else "; "
    parts = []
    for domain, g in stale.groupby("domain", sort=True):
        end = pd.to_datetime(g["valid_to"], utc=True).max()
        parts.append(
            t(
                "kpi_stale_part",
                lang,
                n=len(g),
                domain=t(f"domain_{domain}", lang),
                at=fmt_date(end, lang, tz),
            )
        )
    return t("kpi_stale", lang, parts=sep.join(parts))


def lead_words(warning: Mapping[str, Any], lang: str) -> str:
    """A warning's ``lead_time_hours`` in words: "lead time" only when it is one (an
    inverse-velocity time to failure), "horizon" when it is the forecast horizon the
    warning covers (riskwarn.warnings.build_warnings stores the horizon there otherwise:
    ``valid_to - valid_from``); DOMAIN.md's lead time is the hours from the first warning
    to the event, which a horizon is not. Both in the reasons' words: whole days in days
    (:func:`dashboard.i18n.fmt_span`)."""
    from dashboard.i18n import fmt_span

    h = pd.to_numeric(warning.get("lead_time_hours"), errors="coerce")
    start = pd.to_datetime(warning.get("valid_from"), utc=True, errors="coerce")
    end = pd.to_datetime(warning.get("valid_to"), utc=True, errors="coerce")
    span = (end - start).total_seconds() / 3600 if not (pd.isna(start) or pd.isna(end)) else None
    if not pd.isna(h) and span is not None and abs(float(h) - span) < 1e-6:
        return t("horizon_time", lang, h=fmt_span(float(h), lang))
    return t("lead_time", lang, h=fmt_span(None if pd.isna(h) else float(h), lang))


def calibration_caveat(gate: Mapping[str, Any] | None, lang: str) -> str | None:
    """What a leader must read beside a percentage of a model whose gate's calibration
    check failed (``gate``: its ``gate.json``; DOMAIN.md: uncalibrated scores shown as
    percentages mislead): a ranking, not a probability, with the check's ECE and bound.
    None when the check passed, was not judged, or the gate cannot be read."""
    for c in (gate or {}).get("checks", []) or []:
        if not isinstance(c, Mapping) or c.get("check") != "calibration":
            continue
        if c.get("ok", True) or c.get("judged", True) is False:
            return None
        ece, bound = (
            pd.to_numeric(c.get("ece"), errors="coerce"),
            pd.to_numeric(c.get("bound"), errors="coerce"),
        )
        if pd.isna(ece) or pd.isna(bound):
            return t("kpi_uncalibrated_plain", lang)
        return t("kpi_uncalibrated", lang, ece=f"{float(ece):.4f}", bound=f"{float(bound):.4f}")
    return None


def probability_note(kind: str, threshold: Any, level: Any, lang: str) -> str | None:
    """What to read beside a site's probability where its level is shown, so a low
    probability next to a high level needs no other column: the model's own threshold of
    the level it set ("Orange (II) from 0.65%"; ``kind`` "model" with the ``threshold``
    and ``level`` its warning's evidence recorded, :func:`site_why`), or the source that
    set the level instead (a sensor rule, a fault, the hold, a reviewer, the real-time
    sensors). None for a site without a warning, or an older warning whose model
    threshold was not recorded."""
    from dashboard.i18n import fmt_pct

    if kind == "model":
        th = pd.to_numeric(threshold, errors="coerce")
        if pd.isna(th) or not isinstance(level, str) or not level:
            return None
        return t("prob_from", lang, level=level_label(level, lang), threshold=fmt_pct(th, lang, 2))
    if kind in ("sensor_rule", "sensor_health", "held", "review", "stream"):
        return t(f"prob_set_by_{kind}", lang)
    return None


def site_why_words(kind: str, facts: Mapping[str, Any], lang: str) -> str:
    """:func:`site_why` in plain words of ``lang``."""
    from dashboard.i18n import fmt_pct

    sep = "、" if lang == "zh" else ", "
    faults = facts.get("faults") or {}
    items = sep.join(f"{sid} {t(f'fault_{st}', lang)}" for sid, st in faults.items())
    fault_words = t("why_sensor_health", lang, faults=items or "—")
    # the source that set the level first; a sensor fault beside it as a note
    also = t("why_also", lang, note=fault_words) if faults else ""
    if kind == "model":
        p = fmt_pct(facts.get("probability"), lang, 2)
        th, lv = facts.get("threshold"), facts.get("level")
        if th is not None and lv:
            words = t(
                "why_model_threshold",
                lang,
                p=p,
                threshold=fmt_pct(float(th), lang, 2),
                level=level_label(str(lv), lang),
            )
        else:
            words = t("why_model", lang, p=p)
        return words + also
    if kind == "sensor_rule" and "tangent_angle_deg" in facts:
        v = facts.get("velocity_mm_per_day")
        floor = facts.get("noise_floor_mm_per_day")
        key = "why_sensor_rule"
        if facts.get("within_noise"):  # with its noise floor when the evidence has it
            key = "why_sensor_rule_noise" if floor is None else "why_sensor_rule_noise_floor"
        return (
            t(
                key,
                lang,
                angle=f"{facts['tangent_angle_deg']:.0f}",
                v="—" if v is None else f"{float(v):.1f}",
                floor="—" if floor is None else f"{float(floor):.1f}",
                sensor=facts.get("sensor") or "?",
            )
            + also
        )
    if kind == "held":
        return t("why_held", lang, n=facts.get("steps", "?")) + also
    if kind == "sensor_health" and facts.get("raised"):
        return t("why_sensor_fault_level", lang, faults=items or "—")
    if kind in ("sensor_health", "sensor_rule"):
        return fault_words
    if kind == "review":
        return t("why_review", lang, level=level_label(facts.get("level"), lang))
    if kind in ("expired", "stale"):
        return t(f"why_{kind}", lang, at=facts.get("at") or "—")
    return t(f"why_{kind}", lang)


def recorded_words(serving: Mapping[str, Any], lang: str) -> str:
    """riskwarn's recorded champion beside MLflow's alias, in words (``serving``:
    :func:`dashboard.model_reads.serving_model`)."""
    recorded = serving.get("recorded")
    if recorded is None:
        return t("champ_recorded_none", lang)
    if str(recorded) == str(serving.get("alias")):
        return t("champ_recorded_same", lang)
    return t("champ_recorded_v", lang, v=recorded)


def refused_words(serving: Mapping[str, Any], lang: str) -> str:
    """The champion alias scoring refuses: what MLflow and riskwarn's record each say and
    that no model is served."""
    return t(
        "champ_refused", lang, alias=serving.get("alias"), recorded=recorded_words(serving, lang)
    )


def serving_note(
    run_version: str,
    serving: Mapping[str, Any],
    lang: str,
    domain: str | None = None,
    tz: str = "UTC",
) -> str | None:
    """What the next scoring run would serve, when it is not the model behind a published
    map (``run_version``): a refused alias (MLflow and riskwarn's record disagree), a
    champion scoring refuses at every origin over its training data end (why and the fix:
    :func:`dashboard.verdicts.serving_refusal`, the models page's words), or another
    version served since; None when it is the same, or no champion is set."""
    from dashboard.verdicts import serving_refusal

    if serving.get("alias") is None:
        return None
    if not serving.get("served"):
        return t(
            "model_note_refused",
            lang,
            alias=serving.get("alias"),
            recorded=recorded_words(serving, lang),
        )
    named = domain or str((serving.get("champion") or {}).get("name", "")).removeprefix("riskwarn-")
    refusal = serving_refusal(serving, named, lang, tz)
    if refusal is not None:
        return t("model_note_data_end", lang, v=serving.get("version"), why=refusal)
    if str(serving.get("version")) != str(run_version):
        return t("model_note_next", lang, v=serving.get("version"))
    return None


def model_note(
    version: str,
    promotion: Mapping[str, Any] | None,
    lang: str,
    gate: Mapping[str, Any] | None = None,
) -> str:
    """One line for leaders on the model behind a map: version and whether it passed its
    gate, from the audit entry of its promotion (``forced_over_gate`` = it failed it); a run
    without a model version says so instead of "version —". With its ``gate.json``
    (``gate``) a version that failed against the sensor rules (a site domain: the gate's
    ``beats sensor_rules``) adds that the levels follow the sensor rules (serving issues
    the higher of the model's level and the rules', riskwarn.warnings.
    combine_geohazard_levels)."""
    note = _model_note(version, promotion, lang)
    if version in ("", "—", "None", "nan") or not worse_than_rules(gate):
        return note
    return note + " " + t("model_note_rules", lang)


def worse_than_rules(gate: Mapping[str, Any] | None) -> bool:
    """Whether a gate's judged failures include the comparison with the sensor rules."""
    from dashboard.verdicts import judged_failures

    return any(
        "sensor_rules" in (str(c.get("against") or ""), str(c.get("baseline") or ""))
        for c in judged_failures(gate)
    )


def _model_note(version: str, promotion: Mapping[str, Any] | None, lang: str) -> str:
    if version in ("", "—", "None", "nan"):
        return t("model_note_unversioned", lang)
    details = dict((promotion or {}).get("details") or {})
    actor = md_text(" ".join(str((promotion or {}).get("actor") or "").split()))  # Markdown
    if details.get("forced_over_gate"):
        # the record's gate is the version's tag when it moved: fail, not_judged (the gate
        # ran but could compute no comparison), or None (never judged)
        gate = details.get("gate", "fail")
        key = (
            "model_note_forced"
            if gate == "fail"
            else "model_note_not_judged"
            if gate == "not_judged"
            else "model_note_unjudged"
        )
        return t(key, lang, v=version, actor=actor)
    if promoted_automatically(promotion):
        return t("model_note_passed", lang, v=version)
    if actor:
        return t("model_note_manual", lang, v=version, actor=actor)
    return t("model_note_plain", lang, v=version)


def md_text(text: str) -> str:
    """Data text safe inside ``st.markdown`` (no links, HTML or emphasis from the data)."""
    from dashboard.text import md_escape

    return md_escape(text)


def md_line(text: str) -> str:
    """Data text on one line, safe inside ``st.markdown`` or a label (no links, images,
    HTML or emphasis from the data; line breaks become spaces)."""
    from dashboard.text import md_line as line

    return line(text)


def unscored_cases(run: Mapping[str, Any] | None) -> list[str] | None:
    """The open dispute cases a published run did not score because they had already
    escalated (its ``unscored["already_escalated"]``, sorted ids); None when the run did not
    record them (written before migration 0012) or there is no run."""
    got = (run or {}).get("unscored")
    if isinstance(got, str):  # a JSON column read back as text by some drivers
        import json

        got = json.loads(got)
    if not isinstance(got, dict) or not isinstance(got.get("already_escalated"), list):
        return None
    return sorted(str(u) for u in got["already_escalated"])


def case_rows(
    cases: pd.DataFrame, warned: pd.DataFrame, names: Mapping[str, str], lang: str
) -> pd.DataFrame:
    """Dispute cases (published forecasts, riskiest first) with ``level`` (in force; None
    once dismissed or without warning), ``state_label`` (the review state in words),
    ``place``, ``explanation_lines`` (the forecast's own explanation, else its warning's
    reasons, else a sentence saying that the scoring run kept none) and
    ``explanation_text`` (one line). ``warned``: warnings by ``unit_id``."""
    from dashboard.i18n import t

    def of(unit: Any, col: str) -> Any:
        return warned.at[unit, col] if unit in warned.index and col in warned.columns else None

    out = cases.sort_values("probability", ascending=False).reset_index(drop=True)
    lines = []
    for unit, own in zip(out["unit_id"], out["explanation"], strict=True):
        got = reason_lines(own, lang) if own is not None and len(own or []) else []
        got = got or reason_lines(of(unit, "reasons"), lang)
        lines.append(got or [t("case_no_explanation", lang)])  # never silently empty
    states = [of(u, "state") for u in out["unit_id"]]
    sep = "；" if lang == "zh" else "; "
    return out.assign(
        level=[of(u, "effective_level") for u in out["unit_id"]],
        state_label=[t(f"state_{s}", lang) if s else t("case_state_none", lang) for s in states],
        place=[
            place_words(c, tw, names, lang)
            for c, tw in zip(out["county_code"], out["township_code"], strict=True)
        ],
        explanation_lines=lines,
        explanation_text=[sep.join(x) for x in lines],
    )


def quarantine_reason(code: str, lang: str) -> str:
    """A quarantine reason code (``impossible_date:occurred_at``) as words of ``lang``: the
    reason translated (unknown codes: "other"); the source's field name is not shown."""
    head = code.partition(":")[0]
    key = f"qr_{head}"
    return t(key, lang) if t(key, lang) != key else t("qr_other", lang)


def mlflow_urls(ui: str, champ: Mapping[str, Any]) -> tuple[str, str]:
    """The MLflow UI pages of a champion's training run and of its model version (the UI's
    hash routes; tests/test_dashboard_mlflow_link.py opens both on a live server)."""
    ui = ui.rstrip("/")
    run = f"{ui}/#/experiments/{champ['experiment_id']}/runs/{champ['run_id']}"
    return run, f"{ui}/#/models/{champ['name']}/versions/{champ['version']}"


def mlflow_links(ui: str, champ: Mapping[str, Any], lang: str, ui_down: bool) -> str:
    """The models page's Markdown links to a champion's run and version in the MLflow UI
    (:func:`mlflow_urls`); when the UI does not answer (``ui_down``:
    :func:`dashboard.model_reads.mlflow_ui_down`), beside them that the tracking server
    is not running and how to start it: after ``make demo`` the links opened nothing and
    the page never said why."""
    run, version = mlflow_urls(ui, champ)
    links = f"[{t('mlflow_run', lang)}]({run}) · [{t('mlflow_version', lang)}]({version})"
    if not ui_down:
        return links
    return links + (" " if lang == "en" else "") + t("mlflow_ui_down", lang, ui=ui.rstrip("/"))


_RANKS = {"blue": 1, "yellow": 2, "orange": 3, "red": 4}


def _rule_words(level: str, ev: Mapping[str, Any], lead_h: Any, lang: str, rules: Any) -> str:
    """The sensor rule that gave ``level``: the measured value beside the configured
    threshold it reached (the tangent angle's band, else the inverse-velocity failure
    forecast), the sensor named; without a value, that the rule set it."""
    word = t(f"level_word_{level}", lang)
    band = {
        "blue": rules.attention_deg,
        "yellow": rules.yellow_deg,
        "orange": rules.orange_deg,
        "red": rules.red_deg,
    }[level]
    moving = [
        s
        for s in ev.get("sensors") or []
        if isinstance(s, dict) and s.get("tangent_angle_deg") is not None
    ]
    top = max(moving, key=lambda s: float(s["tangent_angle_deg"])) if moving else None
    sensor = str(top.get("sensor_id")) if top else "?"
    if top is not None and float(top["tangent_angle_deg"]) >= band:
        return t(
            "src_rule_angle",
            lang,
            sensor=sensor,
            value=f"{float(top['tangent_angle_deg']):.1f}",
            level=word,
            threshold=f"{band:.0f}",
        )
    fail = {"orange": rules.orange_failure_hours, "red": rules.red_failure_hours}.get(level)
    h = pd.to_numeric(lead_h, errors="coerce")
    if fail is not None and not pd.isna(h) and float(h) <= fail:
        return t(
            "src_rule_failure",
            lang,
            sensor=sensor,
            value=f"{float(h):.0f}",
            level=word,
            threshold=f"{fail:.0f}",
        )
    return t("src_rule_plain", lang)


def warning_reason_lines(warning: Mapping[str, Any], lang: str, rules: Any = None) -> list[str]:
    """A warning's reasons on the review page in ``lang``, the source that set its level
    first, as the site list's "why" (:func:`site_why`).

    A warning whose evidence records what each source said
    (:func:`riskwarn.nowcast.level_sources`: ``model_level``, ``model_threshold``,
    ``rules_level``, ``held_steps_below``) opens with the source of its published level:
    the model (its probability and the threshold it met), a sensor rule (the measured
    value and the rule's threshold from ``rules``, default the nowcast's
    ``NOWCAST_RULES``), the hold, or a sensor fault; the stored model-probability reason,
    which named the combined level, says what the model alone gave instead. Any other
    warning reads its stored reasons as before (:func:`reason_lines`)."""
    from dashboard.i18n import fmt_pct, fmt_span
    from riskwarn.sensor_rules import NOWCAST_RULES

    rules = rules or NOWCAST_RULES
    stored = warning.get("reasons")
    ev = warning.get("evidence")
    level = str(warning.get("level") or "")
    if not isinstance(ev, dict) or "model_level" not in ev or level not in _RANKS:
        return reason_lines(stored, lang)
    rank = _RANKS[level]
    label = level_label(level, lang)
    p = pd.to_numeric(warning.get("probability"), errors="coerce")
    model = ev.get("model_level")
    if not pd.isna(p) and _RANKS.get(str(model), 0) >= rank:
        th = ev.get("model_threshold")
        source = t(
            "src_model",
            lang,
            p=fmt_pct(float(p), lang, 2),
            level=t(f"level_word_{model}", lang),
            threshold=fmt_pct(float(th), lang, 2) if th is not None else "—",
        )
    elif _RANKS.get(str(ev.get("rules_level")), 0) >= rank:
        source = _rule_words(level, ev, warning.get("lead_time_hours"), lang, rules)
    elif ev.get("held_steps_below"):
        source = t("src_held", lang, n=int(ev["held_steps_below"]))
    else:
        faults = [
            f"{s.get('sensor_id')} {t('fault_' + str(s.get('status')), lang)}"
            for s in ev.get("sensors") or []
            if isinstance(s, dict) and s.get("status") not in (None, "ok")
        ]
        source = t("src_fault", lang, faults=("、" if lang == "zh" else ", ").join(faults) or "—")
    lines = [t("src_first", lang, level=label, source=source)]
    items = list(stored) if isinstance(stored, list) else ([] if stored is None else [stored])
    if (
        items
        and isinstance(items[0], dict)
        and str(items[0].get("en", "")).startswith("Model probability ")
    ):
        # the horizon as the reason words it: hours, or whole days (warnings.horizon_words)
        horizon = re.search(r"next (\d+) (h|days?)\b", str(items[0]["en"]))
        lines.append(
            t(
                "src_model_alone",
                lang,
                p=fmt_pct(float(p), lang, 2) if not pd.isna(p) else "—",
                h=fmt_span(
                    int(horizon.group(1)) * (1 if horizon.group(2) == "h" else 24)
                    if horizon
                    else None,
                    lang,
                ),
                level=level_label(str(model), lang) if model else t("src_model_none", lang),
            )
        )
        items = items[1:]
    return lines + reason_lines(items, lang)


def decided_before(active: pd.DataFrame, earlier: pd.DataFrame | None) -> int:
    """How many warnings of ``active`` awaiting review (``new``) the panel decided on an
    earlier run at the same or higher level (a row of ``Store.earlier_decisions`` whose
    level did not rise since): the overview's "Awaiting review" says them apart from the
    truly new. None of them is decided by this: each still awaits its own decision."""
    if active.empty or earlier is None or earlier.empty:
        return 0
    steady = set(earlier.loc[~earlier["level_rose"].astype(bool), "warning_id"].astype(str))
    awaiting = active.loc[active["state"] == "new", "warning_id"].astype(str)
    return int(awaiting.isin(steady).sum())
