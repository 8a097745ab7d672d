"""Both ends of the dispute escalation label window (review of 2026-12-06, F5).

features/disputes.py labels a case at origin t with its escalations in [t, t + h): an
escalation exactly at t is the label of t (not a feature: features see only events
before t), and one exactly at t + h belongs to the next window. Origins are local
midnights, so date-only escalation records land exactly on these edges. Before these
tests, flipping ``e.event_us >= oc.origin_us`` to ``>`` (the escalation at t then falls in
neither features nor label, and the case is dropped at the next origin as already
escalated: it disappears) or ``< origin + h`` to ``<=`` passed every test.
"""

from __future__ import annotations

import pandas as pd

from features.disputes import DisputeCaseParams, build_dispute_case_features

TZ = "Asia/Shanghai"
H = 30


def midnight(day: str) -> pd.Timestamp:
    """A local midnight, as origins and date-only records are, in UTC."""
    return pd.Timestamp(day, tz=TZ).tz_convert("UTC")


T = midnight("2021-03-01")
ORIGINS = [T, T + pd.Timedelta(days=7)]


def _case(escalated_at: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    disputes = pd.DataFrame(
        {
            "record_id": ["a"],
            "opened_at": [midnight("2021-02-01")],
            "category": ["debt"],
            "cell_x": [0],
            "cell_y": [0],
            "party_ids": ["p1"],
        }
    )
    events = pd.DataFrame(
        {
            "dispute_id": ["a", "a"],
            "event_at": [midnight("2021-02-10"), escalated_at],
            "event_type": ["mediation_failed", "escalated_petition"],
        }
    )
    return disputes, events


def _labels(escalated_at: pd.Timestamp, **params: bool) -> dict[pd.Timestamp, tuple[int, ...]]:
    d, e = _case(escalated_at)
    f = build_dispute_case_features(
        d, e, ORIGINS, DisputeCaseParams(tz=TZ, horizon_days=H, **params)
    )
    cols = ["label_escalation", "label_escalation_count"]
    if "already_escalated" in f:
        cols.append("already_escalated")
    return {pd.Timestamp(r["origin"]): tuple(int(r[c]) for c in cols) for _, r in f.iterrows()}


def test_an_escalation_exactly_at_the_origin_is_that_origins_label() -> None:
    # labelled at t (not lost): the case is then out at t + 7 d, already escalated
    assert _labels(T) == {T: (1, 1)}
    # and no feature at t saw it (features look strictly before t)
    assert _labels(T, include_escalated=True) == {T: (1, 1, 0), ORIGINS[1]: (0, 0, 1)}


def test_an_escalation_exactly_at_origin_plus_horizon_is_the_next_windows() -> None:
    at = T + pd.Timedelta(days=H)
    # outside [t, t + 30 d); inside [t + 7 d, t + 37 d): one window labels it, once
    assert _labels(at) == {T: (0, 0), ORIGINS[1]: (1, 1)}


def test_an_escalation_just_before_origin_plus_horizon_is_labelled_at_both() -> None:
    at = T + pd.Timedelta(days=H) - pd.Timedelta(microseconds=1)
    assert _labels(at) == {T: (1, 1), ORIGINS[1]: (1, 1)}
