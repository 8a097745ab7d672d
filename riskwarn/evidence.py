"""The evidence of a hotspot cell's or dispute case's warning: the facts the panel checks.

Built at scoring from the scoring frame itself (the rows the model scored at the
origin, :func:`riskwarn.serving_frames.scoring_frame`), never recomputed from the lake
later: what a warning shows is what the model saw. Until 2026-12-06 a cell's or case's
evidence was only the model's name ("Model: ... version 1"); the figures the model
weighed were only in its sentence.

* a dispute case: its category and its facts known at the origin (days open,
  mediations, failed mediations, days since the last mediation, parties, earlier
  disputes and escalations of its parties, disputes and escalations nearby), counts
  only: no name, phone or ID number reaches the scoring frame;
* a cell: its events in the weeks before the origin (``events_before``: 1-7, 8-14, ...
  days before, from the frame's ``count_<n>d`` for n in :data:`WINDOWS` that it has: the
  served incidents frame has 7, 28 and 91, so 1-7, 8-28 and 29-91 days) and per
  category (``events_by_category_<n>d``, the longest window of at most 28 days the
  frame has).

The model's top inputs are not repeated here: its explanation sentence among the
warning's reasons names each with its value ("Higher risk mainly because: the dispute
has been open 14 days; ..."), and a case's facts hold them again. Warnings scored on
2026-12-06 before this carry them as ``top_inputs`` too (a case's three times on its
page: reason, facts, that table); the dashboard leaves that table out
(:func:`dashboard.views.evidence_frames`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

CASE_FACTS = (
    "age_days",
    "n_mediations",
    "n_failed_mediations",
    "days_since_last_mediation",
    "n_parties",
    "party_prior_disputes",
    "party_prior_escalations",
)
"""Scoring-frame columns of a case shown as its facts (catalogued features: the dashboard
words them), then its ``nearby_*`` columns."""
NEARBY = re.compile(r"nearby_(disputes|escalations)_\d+d")
WINDOWS = (7, 14, 21, 28, 91)  # count_<n>d columns making the table of periods
CATEGORY_COUNT = re.compile(r"count_([a-z_]+?)_(\d+)d")


def _number(value: Any) -> int | float | None:
    """A frame value as JSON: a whole number as int, else rounded to 2 decimals; None
    for a missing one."""
    if value is None or isinstance(value, str):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(x) or math.isinf(x):
        return None
    return int(x) if x == int(x) else round(x, 2)


def period_words(start: int, end: int) -> dict[str, str]:
    """Days ``start``-``end`` before the origin, in English and Chinese."""
    return {"en": f"{start}–{end} days before", "zh": f"此前第 {start}–{end} 天"}


def week_rows(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Events per period before the origin from the ``count_<n>d`` values of ``row``
    (the windows of :data:`WINDOWS` the frame has, differenced: 1-7, 8-28, ... days)."""
    out: list[dict[str, Any]] = []
    previous: int = 0
    before: int | float = 0
    for n in WINDOWS:
        value = _number(row.get(f"count_{n}d"))
        if value is None:
            continue
        out.append({"period": period_words(previous + 1, n), "events": value - before})
        previous, before = n, value
    return out


def category_rows(
    row: Mapping[str, Any], columns: Iterable[str]
) -> tuple[int, list[dict[str, Any]]]:
    """(window, rows): events per category in the longest window of at most 28 days the
    frame has (``count_<category>_<n>d``), categories with at least one, most first."""
    by_window: dict[int, list[tuple[str, str]]] = {}
    for col in columns:
        m = CATEGORY_COUNT.fullmatch(col)
        if m and int(m.group(2)) <= 28:
            by_window.setdefault(int(m.group(2)), []).append((m.group(1), col))
    if not by_window:
        return 0, []
    n = max(by_window)
    rows: list[dict[str, Any]] = []
    for group, col in by_window[n]:
        value = _number(row.get(col))
        if value:
            rows.append({"category": group, "events": value})
    rows.sort(key=lambda r: (-r["events"], r["category"]))
    return n, rows


def case_facts(row: Mapping[str, Any], columns: Iterable[str]) -> dict[str, Any]:
    """A case's facts known at the origin (counts and its category; no personal data)."""
    cols = list(columns)
    facts: dict[str, Any] = {}
    category = next(
        (c.removeprefix("category_") for c in cols if c.startswith("category_") and row.get(c)),
        None,
    )
    if category:
        facts["category"] = category
    for col in [*CASE_FACTS, *sorted(c for c in cols if NEARBY.fullmatch(c))]:
        if col in cols and (value := _number(row.get(col))) is not None:
            facts[col] = value
    return facts


def unit_evidence(unit: str, frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Evidence per unit of ``frame`` (the scoring frame's rows of the warned units; a
    case frame has ``age_days``, a cell frame ``count_<n>d``): see the module."""
    out: dict[str, dict[str, Any]] = {}
    columns = list(frame.columns)
    for row in frame.to_dict("records"):
        uid = str(row["unit_id"])
        ev: dict[str, Any] = {}
        if unit == "case":
            ev.update(case_facts(row, columns))
        else:
            weeks = week_rows(row)
            if weeks:
                ev["events_before"] = weeks
            n, cats = category_rows(row, columns)
            if cats:
                ev[f"events_by_category_{n}d"] = cats
        out[uid] = ev
    return out
