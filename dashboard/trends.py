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


def week_picks(origins: Iterable[Any], *, weeks: int | None = None) -> dict[int, pd.Timestamp]:
    """``{k: origin}``: the newest origin (k = 0), then for each k = 1 .. ``weeks`` - 1 the
    origin nearest to ``newest - 7k days`` within :data:`WEEK_TOLERANCE` (a tie: the
    older one); a week with no origin that near is left out. ``weeks`` None: as far back
    as ``origins`` go."""
    stamps = sorted({pd.Timestamp(o) for o in origins})
    if not stamps:
        return {}
    latest = stamps[-1]
    last_k = weeks - 1 if weeks is not None else int((latest - stamps[0] + WEEK_TOLERANCE) / WEEK)
    picks = {0: latest}
    for k in range(1, last_k + 1):
        target = latest - k * WEEK
        near = [o for o in stamps if abs(o - target) <= WEEK_TOLERANCE and o < picks[max(picks)]]
        if near:
            picks[k] = min(near, key=lambda o: (abs(o - target), o))
    return picks


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
