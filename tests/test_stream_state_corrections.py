"""The stream's rules' state after corrections holds what the lake serves (helper
streamq, 2026-12-07).

The state keeps, per sensor, each hourly step's last reading and the last 48 h of
readings thinned to one per half interval (riskwarn/stream/state.py); the rules read
nothing else. A correction replaces the reading of its time where the state holds it; a
correction of a reading the state does not hold (neither a step's last reading nor a
kept recent one) changes nothing the rules read, as that reading itself did not: the
state built from the originals and then their corrections equals the state built from
the corrected readings. The case that did not hold: a reading corrected to no value
(``value`` null, accepted and stored: the lake then serves no value at that time and the
rules drop such a reading) was skipped by ``SensorStates.add``, and the state went on
holding the superseded value, as its step's sample too.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from testkit.stream_helpers import slope_readings

START = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=5)).floor("h")
SITES: dict[str, str | None] = {"G1": "H1", "G2": "H1"}


def _readings() -> pd.DataFrame:
    """G1: 10-minute readings over 5 days; G2: 1-minute readings over its last 3 hours
    (thinned by the state to one per 5 minutes)."""
    g1 = slope_readings("G1", start=START, steady_days=30, failure_after_days=5, step="10min")
    g2 = slope_readings("G2", start=START, steady_days=30, failure_after_days=5, step="1min")
    g2 = g2.loc[g2["observed_at"] >= g2["observed_at"].max() - pd.Timedelta(hours=3)]
    return pd.concat([g1, g2], ignore_index=True)


def _at(hours: float) -> pd.Timestamp:
    return START + pd.Timedelta(hours=hours)


# (sensor, time, corrected value): what each correction is to the state
CORRECTIONS = [
    ("G1", _at(110 + 50 / 60), math.nan),  # a step's last reading, in the last 48 h: null
    ("G1", _at(100 + 20 / 60), math.nan),  # a kept recent reading, not a step's last: null
    ("G1", _at(30 + 50 / 60), 9.0),  # a step's last reading, 3.5 days old
    ("G1", _at(30 + 20 / 60), 9.0),  # neither a step's last nor kept (over 48 h old)
    ("G2", _at(118 + 2 / 60), 9.0),  # thinned out: neither a step's last nor kept
]


def _state(frames: list[pd.DataFrame]) -> object:
    from riskwarn.stream.state import SensorStates

    st = SensorStates()
    for f in frames:
        st.add(f, SITES)
    return st


def _series(st: object, sid: str) -> dict[int, float]:
    t, v = st.series_of(sid, 2**62)  # type: ignore[attr-defined]
    return dict(zip(t.tolist(), v.tolist(), strict=True))


def test_the_state_after_corrections_is_the_state_of_the_corrected_readings() -> None:
    r = _readings()
    fixes = pd.DataFrame(
        [
            {
                **r.loc[(r["sensor_id"] == s) & (r["observed_at"] == at)].iloc[0].to_dict(),
                "value": v,
            }
            for s, at, v in CORRECTIONS
        ]
    )
    corrected = r.set_index(["sensor_id", "observed_at"])
    corrected.loc[list(zip(fixes["sensor_id"], fixes["observed_at"], strict=True)), "value"] = (
        fixes["value"].to_numpy()
    )
    corrected = corrected.reset_index()[r.columns]
    # the originals in hourly micro-batches, then each correction in a micro-batch of its own
    hourly = [g for _, g in r.groupby(r["observed_at"].dt.floor("h"))]
    after = _state(hourly + [fixes.iloc[[i]] for i in range(len(fixes))])
    direct = _state([g for _, g in corrected.groupby(corrected["observed_at"].dt.floor("h"))])
    for sid in ("G1", "G2"):
        got, want = _series(after, sid), _series(direct, sid)
        assert got == want, sid
    g1 = _series(after, "G1")
    for s, at, v in CORRECTIONS:
        if s == "G1" and math.isnan(v):  # before: the superseded value was still there
            assert at.value not in g1
    # the null step's sample is its step's reading 10 minutes earlier, as the rules
    # would sample the lake's readings
    earlier = _at(110 + 40 / 60)
    want_v = float(r.loc[(r["sensor_id"] == "G1") & (r["observed_at"] == earlier), "value"].iloc[0])
    assert g1[earlier.value] == want_v
    assert np.isfinite(list(g1.values())).all()


def test_a_step_older_than_the_recent_readings_corrected_to_null_has_no_sample() -> None:
    """Older than the kept 48 h the state does not hold the step's earlier readings: the
    step is left without a sample (the rules read one step fewer there) rather than with
    a value the lake no longer serves."""
    r = _readings()
    at = _at(30 + 50 / 60)
    fix = r.loc[(r["sensor_id"] == "G1") & (r["observed_at"] == at)].assign(value=math.nan)
    st = _state([r, fix])
    g1 = _series(st, "G1")
    assert at.value not in g1
    step_start = _at(30).value
    assert not [t for t in g1 if step_start <= t < _at(31).value]
