"""How each hotspot changed over recent weeks: emerging, intensifying, persistent, diminishing.

Pure functions: a forecast history frame in, one label per place out. A place is *hot*
in a week when its forecast rank is within ``top_n`` (rank 1 = riskiest) and, given a
``floor``, its probability reaches it (the dashboard passes the domain's blue raise
threshold: a place the model would not even put on watch is no hotspot, however it
ranks in a quiet week). Comparing the latest week with the ``weeks - 1`` weeks before
it:

* ``emerging``: hot now, hot in none of the earlier weeks;
* ``intensifying``: hot now and before, and its score rose by more than ``change``
  (relative to its mean score over the earlier weeks);
* ``diminishing``: hot before, and now either not hot or its score fell by more than
  ``change``;
* ``persistent``: hot now and before, score within ``change`` of before.

Places that were never hot in the window get no label. With a single week in the
window there is nothing to compare with: no place gets a label (every top place used to
be "emerging"); :func:`weeks_published` says how many weeks there are.

The weeks are *weekly-spaced origins* (:func:`weekly_origins`): the newest origin, the
one 7 days before it, 14 days, ... (each the origin nearest that day, within
:data:`WEEK_TOLERANCE`). Scoring runs daily (``score_and_warn``): comparing consecutive
origins compared today's 7-day forecast with yesterday's, six days of the same window,
and called "last week" what was one day old. With weekly origins (the demo, backfills)
every origin is picked, as before.

One rule for the whole overview: the weeks compared run back from the newest without a
hole. A week with no origin within :data:`WEEK_TOLERANCE` of it ends them, so the KPI's
"vs last week" arrow (:func:`week_before`) and the hotspot changes
(:func:`classify_hotspots`) always compare with the same forecast a week before, or
both with none (:func:`missing_week` says which day had no forecast). Before, a missed
week left the arrow out while the changes compared with the origin two weeks back.

Origins are instants (UTC; a naive one is read as UTC): the city's forecasts start at
local midnight (16:00 UTC), "7 days before" is 7 x 24 hours (no summer time in
Asia/Shanghai). The run id is the origin to the minute (``run_id_for``): a re-run of a
day replaces that run, so each origin has one forecast, by the model that scored it
last. Runs of several origins on one day: the newest is "now", and a week before takes
the one nearest the day (a tie: the older). A forecast a week before by another model
version (a retraining, a rollback) is still compared (the models are retrained weekly:
comparing only within a version would compare almost nothing); the page names the
versions when they differ (``dashboard/pages/overview.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

TREND_LABELS = ("emerging", "intensifying", "persistent", "diminishing")

WEEK = pd.Timedelta(days=7)
#: how far an origin may be from "k weeks before the newest" and still stand for that
#: week (under half a week: no origin stands for two weeks). Daily origins hit the day
#: exactly; a missed day or the switch from weekly to daily origins takes the nearest.
WEEK_TOLERANCE = pd.Timedelta(days=3)


def utc(ts: Any) -> pd.Timestamp:
    """An origin as a UTC instant (a naive one is UTC, as the store writes them)."""
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def week_picks(origins: Iterable[Any], *, weeks: int | None = None) -> dict[int, pd.Timestamp]:
    """``{k: origin}`` (UTC): the newest origin (k = 0), then for each k = 1 .. ``weeks`` - 1
    the origin nearest to ``newest - 7k days`` within :data:`WEEK_TOLERANCE` (a tie: the
    older one). The first week with no origin that near ends the picks: the weeks
    compared have no hole (a missed week used to drop the arrow's comparison while the
    hotspot changes compared with the week before it). ``weeks`` None: as far back as
    ``origins`` go."""
    stamps = sorted({utc(o) for o in origins})
    if not stamps:
        return {}
    latest = stamps[-1]
    last_k = weeks - 1 if weeks is not None else int((latest - stamps[0] + WEEK_TOLERANCE) / WEEK)
    picks = {0: latest}
    for k in range(1, last_k + 1):
        target = latest - k * WEEK
        near = [o for o in stamps if abs(o - target) <= WEEK_TOLERANCE and o < picks[k - 1]]
        if not near:
            break
        picks[k] = min(near, key=lambda o: (abs(o - target), o))
    return picks


def missing_week(origins: Iterable[Any]) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """Why there is no "week before" although older forecasts exist: ``(day, older)``,
    the instant a week before the newest origin, which no origin is within
    :data:`WEEK_TOLERANCE` of, and the newest origin older than that window. None when
    a week before has an origin, or when there is no origin that old (the history is
    short, not broken)."""
    picks = week_picks(origins, weeks=2)
    if not picks or 1 in picks:
        return None
    day = picks[0] - WEEK
    older = [o for o in {utc(o) for o in origins} if o < day - WEEK_TOLERANCE]
    return (day, max(older)) if older else None


def with_utc_origin(history: pd.DataFrame) -> pd.DataFrame:
    """``history`` with its ``origin`` as UTC instants (a frame of naive and aware
    origins, or naive ones, compares with :func:`week_picks`' picks)."""
    if history.empty:
        return history
    return history.assign(origin=[utc(o) for o in history["origin"]])


def weekly_origins(history: pd.DataFrame, *, weeks: int | None = None) -> list[pd.Timestamp]:
    """The weekly-spaced origins of ``history`` (:func:`week_picks`), oldest first."""
    if history.empty:
        return []
    return sorted(week_picks(history["origin"].unique(), weeks=weeks).values())


def weeks_published(history: pd.DataFrame, *, weeks: int = 4) -> int:
    """How many weekly-spaced origins of ``history`` :func:`classify_hotspots` compares
    (at most ``weeks``; daily origins of one week count once); fewer than 2: no change
    can be told."""
    return len(weekly_origins(history, weeks=weeks))


def classify_hotspots(
    history: pd.DataFrame,
    *,
    top_n: int = 20,
    weeks: int = 4,
    change: float = 0.15,
    floor: float | None = None,
) -> pd.DataFrame:
    """Label each place that was hot in the last ``weeks`` forecast origins.

    ``history`` needs ``unit_id``, ``origin``, ``score`` and ``rank`` (one row per place and
    origin), and ``probability`` with a ``floor`` (a place below it, or without a
    probability, is not hot that week). Returns ``unit_id``, ``label``, ``hot_weeks`` (number of hot weeks in the
    window), ``score_now``, ``score_before`` (mean over the earlier weeks, NaN if absent)
    and ``change_ratio`` (``score_now / score_before - 1``), sorted by label then score.
    """
    columns = ["unit_id", "label", "hot_weeks", "score_now", "score_before", "change_ratio"]
    if weeks_published(history, weeks=weeks) < 2:  # no earlier week: no change to tell
        return pd.DataFrame(columns=columns)
    history = with_utc_origin(history)
    origins = weekly_origins(history, weeks=weeks)
    recent = history[history["origin"].isin(origins)]
    if floor is not None:
        reaches = pd.to_numeric(recent["probability"], errors="coerce") >= floor
        recent = recent.assign(hot=(recent["rank"] <= top_n) & reaches)
    else:
        recent = recent.assign(hot=recent["rank"] <= top_n)
    latest = origins[-1]
    wide_score = recent.pivot_table(index="unit_id", columns="origin", values="score")
    wide_hot = recent.pivot_table(index="unit_id", columns="origin", values="hot", aggfunc="max")
    hot = wide_hot.reindex(columns=origins).fillna(False).astype(bool)
    scores = wide_score.reindex(index=hot.index, columns=origins)
    hot_now = hot[latest]
    earlier = [o for o in origins if o != latest]
    hot_before = hot[earlier].any(axis=1)
    score_now = scores[latest].fillna(0.0)
    score_before = scores[earlier].mean(axis=1)
    ratio = score_now / score_before.replace(0.0, np.nan) - 1.0

    label = pd.Series(pd.NA, index=hot.index, dtype="object")
    label[hot_now & ~hot_before] = "emerging"
    both = hot_now & hot_before
    label[both & (ratio > change)] = "intensifying"
    label[both & (ratio < -change)] = "diminishing"
    label[both & ratio.between(-change, change)] = "persistent"
    label[both & ratio.isna()] = "persistent"
    label[~hot_now & hot_before] = "diminishing"

    out = pd.DataFrame(
        {
            "label": label,
            "hot_weeks": hot.sum(axis=1).astype(int),
            "score_now": score_now,
            "score_before": score_before,
            "change_ratio": ratio,
        }
    ).dropna(subset=["label"])
    out["label"] = pd.Categorical(out["label"], categories=TREND_LABELS, ordered=True)
    out = out.rename_axis("unit_id").reset_index()
    out = out.sort_values(["label", "score_now"], ascending=[True, False], kind="stable")
    out["label"] = out["label"].astype(str)
    return out.reset_index(drop=True)[columns]


def weekly_summary(history: pd.DataFrame, *, top_n: int = 20) -> pd.DataFrame:
    """Per weekly-spaced origin (:func:`weekly_origins`): mean probability (or score) of
    the ``top_n`` riskiest places.

    Returns ``origin``, ``top_mean`` and ``weeks_back`` (0: the newest origin, 1: the one
    a week before it, ...; a week without an origin near it has no row) sorted by origin;
    "vs last week" is the row with ``weeks_back`` 1, not the day before.
    """
    if history.empty:
        return pd.DataFrame(columns=["origin", "top_mean", "weeks_back"])
    history = with_utc_origin(history)
    picks = week_picks(history["origin"].unique())
    back = {o: k for k, o in picks.items()}
    history = history[history["origin"].isin(list(back))]
    value = (
        "probability"
        if "probability" in history and history["probability"].notna().any()
        else "score"
    )
    top = history[history["rank"] <= top_n]
    out = top.groupby("origin", as_index=False)[value].mean().rename(columns={value: "top_mean"})
    out["weeks_back"] = [back[pd.Timestamp(o)] for o in out["origin"]]
    return out.sort_values("origin").reset_index(drop=True)


def week_before(summary: pd.DataFrame) -> pd.Series | None:
    """The row of :func:`weekly_summary` a week before its newest (``weeks_back`` 1), None
    when no origin is near enough (then there is no "vs last week")."""
    if summary.empty or "weeks_back" not in summary:
        return None
    rows = summary[summary["weeks_back"] == 1]
    return rows.iloc[0] if len(rows) else None
