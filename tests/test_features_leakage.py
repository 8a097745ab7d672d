"""Property-based leakage tests for every feature builder (hypothesis).

For random records and a random origin t: adding, deleting or changing records at or
after t (or reported at or after t) never changes a feature at t; row keys are one per
requested unit and origin; input row order does not matter; labels never feed features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from features.calendar import local_midnights
from features.incidents import CellFeatureParams, build_cell_features, feature_columns

TZ = "Asia/Shanghai"
BASE = pd.Timestamp("2021-01-01", tz=TZ)
GROUPS = ("violent", "property")
PARAMS = CellFeatureParams(tz=TZ, horizon_days=7, groups=GROUPS, chunk_origins=3)
CELLS = pd.DataFrame({"cell_x": [0, 0, 1, 1, 2, 3], "cell_y": [0, 1, 0, 1, 2, 3]})
SETTINGS = settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


@st.composite
def incident_frames(draw: st.DrawFn, n_max: int = 25) -> pd.DataFrame:
    n = draw(st.integers(0, n_max))
    minutes = draw(st.lists(st.integers(0, 60 * 24 * 60), min_size=n, max_size=n))
    delays = draw(
        st.lists(st.one_of(st.none(), st.integers(0, 60 * 24 * 10)), min_size=n, max_size=n)
    )
    xs = draw(st.lists(st.integers(-1, 4), min_size=n, max_size=n))
    ys = draw(st.lists(st.integers(-1, 4), min_size=n, max_size=n))
    groups = draw(st.lists(st.sampled_from(GROUPS), min_size=n, max_size=n))
    occ = BASE.tz_convert("UTC") + pd.to_timedelta(np.array(minutes, dtype="int64"), unit="min")
    rep = [
        o + pd.Timedelta(minutes=d) if d is not None else pd.NaT
        for o, d in zip(occ, delays, strict=True)
    ]
    return pd.DataFrame(
        {
            "occurred_at": pd.DatetimeIndex(occ, tz="UTC") if n else pd.DatetimeIndex([], tz="UTC"),
            "reported_at": pd.to_datetime(pd.Series(rep, dtype="object"), utc=True)
            if n
            else pd.DatetimeIndex([], tz="UTC"),
            "cell_x": pd.array(xs, dtype="int64"),
            "cell_y": pd.array(ys, dtype="int64"),
            "category_group": groups,
        }
    )


def _features_at(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["origin", "cell_x", "cell_y", *feature_columns(frame)]].reset_index(drop=True)


@SETTINGS
@given(
    events=incident_frames(),
    future=incident_frames(),
    day=st.integers(1, 59),
    seed=st.integers(0, 2**16),
)
def test_incident_features_ignore_records_at_or_after_origin(events, future, day, seed):
    origin = local_midnights(BASE + pd.Timedelta(days=day), BASE + pd.Timedelta(days=day), 1, TZ)
    t = origin[0]
    base = build_cell_features(events, CELLS, origin, PARAMS)
    assert len(base) == len(CELLS)
    visible = (events["occurred_at"] < t) & (
        events["reported_at"].isna() | (events["reported_at"] < t)
    )
    # drop every record not yet known at t, then add records occurring or reported at/after t
    fut = future.copy()
    shift = pd.Timedelta(days=day)
    fut["occurred_at"] = fut["occurred_at"] + shift
    fut["reported_at"] = fut["reported_at"] + shift
    late_report = events[visible].head(3).copy()
    late_report["reported_at"] = t + pd.Timedelta(minutes=1)
    changed = pd.concat([events[visible], fut, late_report], ignore_index=True)
    changed = changed.sample(frac=1.0, random_state=seed)  # order must not matter
    after = build_cell_features(changed, CELLS, origin, PARAMS)
    base_f = _features_at(base)
    after_f = _features_at(after)
    # the late-reported copies are invisible at t, the future records too
    pd.testing.assert_frame_equal(base_f, after_f)


@SETTINGS
@given(events=incident_frames(), seed=st.integers(0, 2**16))
def test_incident_rows_keys_and_order_independence(events, seed):
    origins = local_midnights(BASE + pd.Timedelta(days=10), BASE + pd.Timedelta(days=40), 10, TZ)
    a = build_cell_features(events, CELLS, origins, PARAMS)
    b = build_cell_features(
        events.sample(frac=1.0, random_state=seed),
        CELLS.sample(frac=1.0, random_state=seed),
        origins[::-1],
        PARAMS,
    )
    assert len(a) == len(origins) * len(CELLS)
    assert not a.duplicated(["origin", "cell_x", "cell_y"]).any()
    pd.testing.assert_frame_equal(a, b)
    # incremental: building each origin alone gives the same rows
    parts = pd.concat(
        [
            build_cell_features(events, CELLS, origins[i : i + 1], PARAMS)
            for i in range(len(origins))
        ],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(a, parts)


@SETTINGS
@given(events=incident_frames(), future=incident_frames(), day=st.integers(1, 59))
def test_labels_never_feed_features(events, future, day):
    """Records inside the label window change label columns only."""
    origin = local_midnights(BASE + pd.Timedelta(days=day), BASE + pd.Timedelta(days=day), 1, TZ)
    fut = future.assign(
        occurred_at=origin[0] + (future["occurred_at"] - BASE) / 60, reported_at=pd.NaT
    )
    a = build_cell_features(events, CELLS, origin, PARAMS)
    b = build_cell_features(pd.concat([events, fut], ignore_index=True), CELLS, origin, PARAMS)
    pd.testing.assert_frame_equal(_features_at(a), _features_at(b))
    in_cells = fut.merge(CELLS, on=["cell_x", "cell_y"])
    assert b["label_count"].sum() - a["label_count"].sum() == len(in_cells)


# ------------------------------------------------------------------ disputes

from features.disputes import DisputeCaseParams, build_dispute_case_features  # noqa: E402

EVENT_TYPES = (
    "mediation_attempt",
    "mediation_failed",
    "mediation_succeeded",
    "escalated_petition",
    "escalated_violence",
    "escalated_litigation",
    "closed",
)
D0 = pd.Timestamp("2021-01-01", tz="UTC")


@st.composite
def dispute_sets(
    draw: st.DrawFn, prefix: str = "d", n_max: int = 12
) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = draw(st.integers(0, n_max))
    opened = draw(st.lists(st.integers(0, 120 * 24), min_size=n, max_size=n))
    cells = draw(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=n, max_size=n))
    parties = draw(
        st.lists(
            st.lists(st.sampled_from(["p1", "p2", "p3", "p4", "p5"]), min_size=1, max_size=2),
            min_size=n,
            max_size=n,
        )
    )
    ids = [f"{prefix}{i}" for i in range(n)]
    disputes = pd.DataFrame(
        {
            "record_id": pd.Series(ids, dtype=object),
            "opened_at": pd.DatetimeIndex(
                D0 + pd.to_timedelta(np.array(opened, dtype="int64"), unit="h")
            ),
            "category": "debt",
            "cell_x": [c[0] for c in cells],
            "cell_y": [c[1] for c in cells],
            "party_ids": [";".join(p) for p in parties],
        }
    )
    m = draw(st.integers(0, 3 * n)) if n else 0
    ev_d = draw(st.lists(st.integers(0, max(n - 1, 0)), min_size=m, max_size=m))
    ev_lag = draw(st.lists(st.integers(0, 60 * 24), min_size=m, max_size=m))
    ev_t = draw(st.lists(st.sampled_from(EVENT_TYPES), min_size=m, max_size=m))
    events = pd.DataFrame(
        {
            "dispute_id": pd.Series([ids[i] for i in ev_d], dtype=object),
            "event_at": pd.DatetimeIndex(
                [
                    disputes["opened_at"].iloc[i] + pd.Timedelta(hours=lag)
                    for i, lag in zip(ev_d, ev_lag, strict=True)
                ],
                tz="UTC",
            )
            if m
            else pd.DatetimeIndex([], tz="UTC"),
            "event_type": pd.Series(ev_t, dtype=object),
        }
    )
    return disputes, events


def _dispute_features(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[c for c in frame.columns if not c.startswith("label_")]].reset_index(drop=True)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(
    data=dispute_sets(),
    extra=dispute_sets(prefix="x"),
    hours=st.integers(1, 150 * 24),
    seed=st.integers(0, 99),
)
def test_dispute_features_ignore_records_at_or_after_origin(data, extra, hours, seed):
    disputes, events = data
    t = D0 + pd.Timedelta(hours=hours)
    params = DisputeCaseParams(include_escalated=True)
    base = build_dispute_case_features(disputes, events, [t], params)
    # remove everything at/after t, then add new future cases and future events on existing cases
    keep_d = disputes[disputes["opened_at"] < t]
    keep_e = events[(events["event_at"] < t) & events["dispute_id"].isin(keep_d["record_id"])]
    xd, xe = extra
    xd = xd.assign(opened_at=xd["opened_at"] + (t - D0))
    xe = xe.assign(event_at=xe["event_at"] + (t - D0))
    fut_on_old = pd.DataFrame(
        {
            "dispute_id": keep_d["record_id"].to_numpy(),
            "event_at": t + pd.Timedelta(minutes=5),
            "event_type": "escalated_petition",
        }
    )
    at_d, at_e = _records_at(keep_d, t)
    d2 = pd.concat([keep_d, xd, at_d], ignore_index=True).sample(frac=1.0, random_state=seed)
    e2 = pd.concat([keep_e, xe, fut_on_old, at_e], ignore_index=True).sample(
        frac=1.0, random_state=seed
    )
    after = build_dispute_case_features(d2, e2, [t], params)
    pd.testing.assert_frame_equal(_dispute_features(base), _dispute_features(after))
    assert not base.duplicated(["origin", "dispute_id"]).any()
    assert (after["label_escalation"] == 1).all()


def _records_at(disputes: pd.DataFrame, t: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Records exactly AT the origin ``t`` (known at t, not before it): an event of every
    type on each of ``disputes``, and a copy of each dispute opened at t in the same cell,
    with the same parties and every event type at t. A feature counting ``<=`` the origin
    instead of ``<`` sees them (events 5 minutes after it never told the two apart)."""
    twins = disputes.assign(
        record_id=("at_" + disputes["record_id"].astype(str)).astype(object), opened_at=t
    )
    ids = [*disputes["record_id"], *twins["record_id"]]
    events = pd.DataFrame(
        {
            "dispute_id": pd.Series([i for i in ids for _ in EVENT_TYPES], dtype=object),
            "event_at": pd.DatetimeIndex([t] * (len(ids) * len(EVENT_TYPES))),
            "event_type": pd.Series([e for _ in ids for e in EVENT_TYPES], dtype=object),
        }
    )
    return twins, events


def test_dispute_features_ignore_records_exactly_at_the_origin() -> None:
    """Every dispute feature, with records exactly at the origin: two open cases in
    neighbouring cells sharing a party, each with a mediation, a failed mediation and an
    escalation before the origin, then every event type at the origin on both, and new
    cases opened at the origin beside them with the same parties. Nothing changes."""
    t = D0 + pd.Timedelta(days=40)
    disputes = pd.DataFrame(
        {
            "record_id": pd.Series(["a", "b", "c"], dtype=object),
            "opened_at": pd.DatetimeIndex([D0, D0 + pd.Timedelta(days=15), D0]),
            "category": "debt",
            "cell_x": [1, 2, 1],
            "cell_y": [1, 1, 2],
            "party_ids": ["p1;p2", "p2", "p3;p1"],
        }
    )
    events = pd.DataFrame(
        {
            "dispute_id": pd.Series(["a", "a", "b", "b", "c"], dtype=object),
            "event_at": pd.DatetimeIndex(
                [D0 + pd.Timedelta(days=d) for d in (2, 5, 16, 19, 20)], tz="UTC"
            ),
            "event_type": pd.Series(
                [
                    "mediation_attempt",
                    "mediation_failed",
                    "mediation_succeeded",
                    "mediation_failed",
                    "escalated_petition",
                ],
                dtype=object,
            ),
        }
    )
    params = DisputeCaseParams(include_escalated=True)
    base = build_dispute_case_features(disputes, events, [t], params)
    at_d, at_e = _records_at(disputes, t)
    after = build_dispute_case_features(
        pd.concat([disputes, at_d], ignore_index=True),
        pd.concat([events, at_e], ignore_index=True),
        [t],
        params,
    )
    pd.testing.assert_frame_equal(_dispute_features(base), _dispute_features(after))
    # the example exercises every feature: each is non-zero somewhere
    feats = _dispute_features(base).drop(columns=["origin", "dispute_id", "cell_x", "cell_y"])
    for col in (
        "n_mediations",
        "n_failed_mediations",
        "days_since_last_mediation",
        "party_prior_disputes",
        "party_prior_escalations",
        "nearby_disputes_30d",
        "nearby_disputes_90d",
        "nearby_escalations_30d",
        "nearby_escalations_90d",
        "already_escalated",
    ):
        assert (feats[col].fillna(0) != 0).any(), col
    assert list(base["dispute_id"]) == ["a", "b", "c"]


# ------------------------------------------------------------------ geohazard

from features.geohazard import (  # noqa: E402
    CitywideRainParams,
    SiteFeatureParams,
    build_citywide_rain_features,
    build_site_features,
)

G0 = pd.Timestamp("2021-06-01", tz="UTC")
SENSORS = pd.DataFrame(
    {
        "record_id": ["g1", "d1", "d2", "m1"],
        "site_id": ["s1", "s1", "s2", "s2"],
        "sensor_type": ["rain_gauge", "gnss", "gnss", "soil_moisture"],
        "lon": [110.0, 110.0, 110.1, 110.1],
        "lat": [30.0, 30.0, 30.1, 30.1],
    }
)
SITES = pd.DataFrame(
    {
        "record_id": ["s1", "s2"],
        "hazard_type": ["landslide", "rockfall"],
        "lon": [110.0, 110.1],
        "lat": [30.0, 30.1],
        "slope_class": [3, 5],
        "people_threatened": [10, 20],
    }
)
QTY = {"g1": "rain_mm", "d1": "displacement_mm", "d2": "displacement_mm", "m1": "soil_moisture_pct"}


@st.composite
def reading_sets(draw: st.DrawFn, n_max: int = 60) -> pd.DataFrame:
    n = draw(st.integers(0, n_max))
    sensor = draw(st.lists(st.sampled_from(list(QTY)), min_size=n, max_size=n))
    hour = draw(st.lists(st.integers(0, 24 * 20), min_size=n, max_size=n))
    value = draw(st.lists(st.floats(0, 50, allow_nan=False), min_size=n, max_size=n))
    return pd.DataFrame(
        {
            "sensor_id": pd.Series(sensor, dtype=object),
            "observed_at": pd.DatetimeIndex(
                G0 + pd.to_timedelta(np.array(hour, dtype="int64"), unit="h")
            ),
            "interval_s": [3600 if QTY[s] == "rain_mm" else 0 for s in sensor],
            "quantity": pd.Series([QTY[s] for s in sensor], dtype=object),
            "value": value,
            "quality": "good",
        }
    )


def _geo_features(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[c for c in frame.columns if not c.startswith("label_")]].reset_index(drop=True)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(
    readings=reading_sets(),
    future=reading_sets(),
    hour=st.integers(1, 24 * 20),
    seed=st.integers(0, 99),
)
def test_site_features_ignore_readings_at_or_after_origin(readings, future, hour, seed):
    t = G0 + pd.Timedelta(hours=hour)
    params = SiteFeatureParams(
        step_hours=1, percentile_min_history_days=1, velocity_window_days=0.1
    )
    ev = pd.DataFrame({"occurred_at": [t + pd.Timedelta(hours=1)], "site_id": ["s1"]})
    base = build_site_features(readings, SENSORS, SITES, ev.head(0), [t], params)
    assert base["site_id"].tolist() == ["s1", "s2"]
    end = readings["observed_at"] + pd.to_timedelta(readings["interval_s"], unit="s")
    fut = future.assign(observed_at=future["observed_at"] + (t - G0))
    changed = pd.concat([readings[end <= t], fut], ignore_index=True).sample(
        frac=1.0, random_state=seed
    )
    after = build_site_features(changed, SENSORS, SITES, ev, [t], params)
    pd.testing.assert_frame_equal(_geo_features(base), _geo_features(after))
    assert after["label_count"].tolist() == [1, 0]


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(
    rain=st.lists(st.floats(0, 300, allow_nan=False), min_size=40, max_size=40),
    slides=st.lists(st.integers(0, 39), max_size=30),
    new_rain=st.floats(0, 300),
    day=st.integers(1, 38),
)
def test_citywide_features_ignore_later_days(rain, slides, new_rain, day):
    days = pd.date_range("2020-01-01", periods=40)
    tz = "Asia/Hong_Kong"
    rd = pd.DataFrame({"date": days, "rain_mm": rain})
    ls = pd.DataFrame(
        {"occurred_at": (days[slides] + pd.Timedelta(hours=12)).tz_localize(tz).tz_convert("UTC")}
    )
    params = CitywideRainParams(percentile_min_history_days=5)
    d = days[day]
    base = build_citywide_rain_features(rd, ls, [d], params)
    rd2 = rd.copy()
    rd2.loc[rd2["date"] > d, "rain_mm"] = new_rain
    ls2 = pd.concat(
        [
            ls[ls["occurred_at"] < d.tz_localize(tz).tz_convert("UTC")],
            pd.DataFrame(
                {"occurred_at": [(d + pd.Timedelta(hours=3)).tz_localize(tz).tz_convert("UTC")] * 2}
            ),
        ]
    )
    after = build_citywide_rain_features(rd2, ls2, [d], params)
    pd.testing.assert_frame_equal(_geo_features(base), _geo_features(after))
    assert after["label_count"].iloc[0] == 2


# ------------------------------------------------------------------ other sources (17.3)

from features.context import (  # noqa: E402
    ContextParams,
    build_context_features,
    call_context_points,
    dispute_context_points,
)

CTX = ContextParams(tz=TZ, windows_days=(7, 28))
CTX_CELLS = pd.DataFrame({"cell_x": [0, 1, 2, 3, 1], "cell_y": [0, 1, 2, 3, 2]})


def _context_at(disputes, events, calls, origin) -> pd.DataFrame:
    points = pd.concat(
        [dispute_context_points(disputes, events), call_context_points(calls)],
        ignore_index=True,
    )
    kinds = (
        "dispute_new",
        "dispute_failed",
        "dispute_escalated",
        "dispute_repeat",
        "calls_dispute",
    )
    return build_context_features(points, CTX_CELLS, origin, CTX, kinds)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(
    data=dispute_sets(),
    extra=dispute_sets(prefix="x"),
    calls=incident_frames(),
    future_calls=incident_frames(),
    day=st.integers(1, 120),
    seed=st.integers(0, 99),
)
def test_context_features_ignore_records_at_or_after_origin(
    data, extra, calls, future_calls, day, seed
):
    """Disputes, their events and calls for service at or after the origin (or reported at or
    after it) never change the ``ctx_*`` inputs; a future dispute never makes an earlier one
    a repeat-party dispute."""
    disputes, events = data
    origin = local_midnights(BASE + pd.Timedelta(days=day), BASE + pd.Timedelta(days=day), 1, TZ)
    t = origin[0]
    base = _context_at(disputes, events, calls, origin)
    assert len(base) == len(CTX_CELLS) and not base.duplicated(["origin", "cell_x", "cell_y"]).any()
    keep_d = disputes[disputes["opened_at"] < t]
    keep_e = events[(events["event_at"] < t) & events["dispute_id"].isin(keep_d["record_id"])]
    xd, xe = extra
    xd = xd.assign(opened_at=xd["opened_at"] + (t - D0))
    xe = xe.assign(event_at=xe["event_at"] + (t - D0))
    fut_on_old = pd.DataFrame(
        {
            "dispute_id": keep_d["record_id"].to_numpy(),
            "event_at": t + pd.Timedelta(minutes=5),
            "event_type": "mediation_failed",
        }
    )
    visible = (calls["occurred_at"] < t) & (
        calls["reported_at"].isna() | (calls["reported_at"] < t)
    )
    fut = future_calls.assign(
        occurred_at=future_calls["occurred_at"] + pd.Timedelta(days=day),
        reported_at=future_calls["reported_at"] + pd.Timedelta(days=day),
    )
    late = calls[visible].head(2).assign(reported_at=t + pd.Timedelta(minutes=1))
    d2 = pd.concat([keep_d, xd], ignore_index=True).sample(frac=1.0, random_state=seed)
    e2 = pd.concat([keep_e, xe, fut_on_old], ignore_index=True).sample(frac=1.0, random_state=seed)
    c2 = pd.concat([calls[visible], fut, late], ignore_index=True).sample(
        frac=1.0, random_state=seed
    )
    after = _context_at(d2, e2, c2, origin)
    pd.testing.assert_frame_equal(base.reset_index(drop=True), after.reset_index(drop=True))


def test_context_features_count_the_cell_and_its_ring() -> None:
    """One failed mediation two days before the origin in cell (1, 1): 1 in that cell's
    7- and 28-day counts, 1 in the ring counts of its neighbours, 0 further away."""
    disputes = pd.DataFrame(
        {
            "record_id": ["a", "b"],
            "opened_at": pd.to_datetime(["2021-01-01 09:00", "2021-01-20 09:00"], utc=True),
            "cell_x": [1, 3],
            "cell_y": [1, 3],
            "party_ids": ["p1;p2", "p2;p9"],
        }
    )
    events = pd.DataFrame(
        {
            "dispute_id": ["a"],
            "event_at": pd.to_datetime(["2021-01-28 03:00"], utc=True),
            "event_type": ["mediation_failed"],
        }
    )
    origin = local_midnights(pd.Timestamp("2021-01-31"), pd.Timestamp("2021-01-31"), 1, TZ)
    f = _context_at(
        disputes, events, pd.DataFrame(columns=["occurred_at", "cell_x", "cell_y"]), origin
    )
    f = f.set_index(["cell_x", "cell_y"])
    assert (
        f.loc[(1, 1), "ctx_dispute_failed_7d"] == 1
        and f.loc[(1, 1), "ctx_dispute_failed_7d_ring"] == 0
    )
    assert (
        f.loc[(0, 0), "ctx_dispute_failed_7d_ring"] == 1
        and f.loc[(1, 2), "ctx_dispute_failed_28d_ring"] == 1
    )
    assert f.loc[(3, 3), "ctx_dispute_failed_28d_ring"] == 0
    # b shares party p2 with the earlier a: a repeat-party dispute (pseudonyms only)
    assert (
        f.loc[(3, 3), "ctx_dispute_repeat_28d"] == 1
        and f.loc[(1, 1), "ctx_dispute_repeat_28d"] == 0
    )
    assert f.loc[(1, 1), "ctx_dispute_new_28d"] == 0  # opened 30 days before the origin


def test_case_context_counts_incidents_near_each_open_dispute() -> None:
    """Incidents near an open dispute (issue 17.3, incidents -> escalation): two cases in one
    cell get the same counts; an incident on the origin's own local day or later is not
    counted; a case without a cell gets zeros."""
    from features.context import join_case_context

    origin = local_midnights(pd.Timestamp("2021-03-10"), pd.Timestamp("2021-03-10"), 1, TZ)[0]
    table = pd.DataFrame(
        {
            "origin": [origin, origin, origin],
            "dispute_id": ["a", "b", "c"],
            "cell_x": pd.array([5, 5, None], dtype="Int64"),
            "cell_y": pd.array([5, 5, None], dtype="Int64"),
            "n_mediations": [0.0, 1.0, 2.0],
        }
    )
    at = pd.to_datetime(
        ["2021-03-08 10:00", "2021-02-20 10:00", "2021-03-09 10:00", "2021-03-10 10:00"]
    ).tz_localize(TZ)
    incidents = pd.DataFrame(
        {
            "occurred_at": at.tz_convert("UTC"),
            "reported_at": pd.NaT,
            "cell_x": [5, 5, 6, 5],  # the last one: on the origin's own day
            "cell_y": [5, 5, 4, 5],
        }
    )
    points = call_context_points(incidents, kind="incidents")
    out = join_case_context(table, points, CTX, ["incidents"]).set_index("dispute_id")
    assert len(out) == 3 and out.loc["b", "n_mediations"] == 1.0
    for case in ("a", "b"):
        assert out.loc[case, "ctx_incidents_7d"] == 1
        assert out.loc[case, "ctx_incidents_28d"] == 2
        assert out.loc[case, "ctx_incidents_7d_ring"] == 1
    assert (out.loc["c", [c for c in out.columns if c.startswith("ctx_")]] == 0).all()
