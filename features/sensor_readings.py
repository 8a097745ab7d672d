"""Per-reading sensor work of the site features: de-duplication, kinematics, flags, health.

Readings become flat NumPy arrays sorted once by sensor and time (:class:`_Readings`); a
reading covering ``[observed_at, observed_at + interval_s)`` becomes visible once it ends.
Per-reading quantities use only that reading and earlier ones, and are kept in
:class:`_SensorTable` for as-of joins to origins (:mod:`features.geohazard`):

* displacement kinematics (:func:`_displacement_table`): velocity, acceleration, steady
  creep rate, improved tangent angle, inverse velocity and the Fukuzono time to failure,
  all from :mod:`riskwarn.sensor_physics`;
* spike and drift flags (:func:`_flag_table`) and the sensor-health counts
  (:func:`_health_table`).

:class:`_SharedReadings` does this work once for several origin sets. One pandas
rolling-kernel call covers all sensors (:class:`riskwarn.sensor_physics.WindowBounds`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from riskwarn import sensor_physics as phys

_NS_PER_H = 3_600_000_000_000


@dataclass(frozen=True)
class SiteFeatureParams:
    """Parameters of the site x origin table."""

    step_hours: int = 1  # 1 = site x hour, 24 = site x day
    tz: str = "Asia/Shanghai"  # daily steps are local days
    horizon_hours: int = 24
    rain_windows_hours: tuple[int, ...] = (1, 3, 6, 24, 72, 168, 360)
    api_k: float = 0.85  # daily decay of the antecedent precipitation index
    api_days: int = 30  # its window: within what serving reads (reading_lookbacks)
    id_durations_hours: tuple[int, ...] = (1, 3, 6, 24, 72)
    percentile_min_history_days: int = 365
    velocity_window_days: float = 1.0
    fukuzono_points: int = 5
    spike_window: int = 11
    # the spike window's readings are also those of the last ``spike_lookback_days`` only
    # (its median, and the median deviation it is scaled by, each over that many days), so
    # a rarely read sensor's spikes at an origin do not depend on readings serving does not
    # read (:func:`reading_lookbacks`)
    spike_lookback_days: float = 14.0
    spike_mad_factor: float = 6.0
    drift_sigma: float = 4.0
    drift_recent_days: float = 7.0  # recent window whose median is tested ...
    drift_reference_days: float = 30.0  # ... against the spread of this window just before it
    drift_min_readings: int = 10  # in the reference window (3 in the recent one), else no flag
    # a sensor silent for longer is dead at the origin: ``dead_sensor_flag``, and its
    # velocity, acceleration, inverse velocity and Fukuzono time are missing (its last
    # values describe the time it died, not now: docs/design.md)
    dead_after_hours: float = 24.0
    # the look-back of the displacement kinematics: at an origin a sensor's velocity,
    # acceleration, inverse velocity and Fukuzono time count only when every reading they
    # are computed from started within this many days before it (else missing), so
    # training (every reading) and serving (``riskwarn.serving_frames``, which reads the
    # ``serving_lookback_days`` before the origin, at least this) see the same value, and a sensor silent for longer has
    # no current velocity
    kinematics_lookback_days: float = 35.0
    label_radius_m: float = 0.0  # also count unassigned events within this distance of the site


# the sensor-health windows of the site table (:func:`features.geohazard._health_at`):
# ``share_missing_{h}h`` over each of these hours, and the hours a sensor's last reading
# may be old for its spikes (``spikes_removed_7d``) and drift flag (``drift_flag``) to count
HEALTH_WINDOWS_HOURS = (24, 168)
FLAG_WINDOW_HOURS = 168


def reading_lookbacks(p: SiteFeatureParams) -> list[tuple[float, str]]:
    """How many days before an origin each of the site table's inputs reads readings
    (days, what), from ``p``: every window the table's non-history-dependent columns use,
    so that serving, which reads only the last ``serving_lookback_days``
    (:func:`riskwarn.serving_frames.serving_read_floor`), computes what training does.
    A new window of the site features belongs here. Not listed: the history-dependent
    columns (``rain_24h_pct_rank``, ``rain_24h_vs_p99``, the steady velocity and tangent
    angle), which are left out of the model because they read the whole record."""
    flag_days = FLAG_WINDOW_HOURS / 24
    drift = flag_days + p.drift_recent_days + p.drift_reference_days
    spikes = flag_days + 2 * p.spike_lookback_days
    rain = max((*p.rain_windows_hours, *p.id_durations_hours), default=0) / 24
    return [
        (
            float(p.kinematics_lookback_days),
            f"the kinematics look-back (SiteFeatureParams.kinematics_lookback_days, "
            f"{p.kinematics_lookback_days:g} days)",
        ),
        (
            float(p.dead_after_hours) / 24,
            f"the dead-sensor time (dead_after_hours, {p.dead_after_hours:g} h)",
        ),
        (
            drift,
            f"the drift flag (a last reading up to {flag_days:g} days old, its "
            f"drift_recent_days {p.drift_recent_days:g} and drift_reference_days "
            f"{p.drift_reference_days:g}: {drift:g} days)",
        ),
        (
            spikes,
            f"the spikes of the last {flag_days:g} days (their median and median deviation "
            f"each over spike_lookback_days {p.spike_lookback_days:g}: {spikes:g} days)",
        ),
        (max(HEALTH_WINDOWS_HOURS) / 24, "the missing-readings windows"),
        (float(p.api_days), f"the antecedent precipitation index (api_days, {p.api_days:g})"),
        (rain, f"the rain windows ({rain:g} days)"),
    ]


@runtime_checkable
class ReadingSource(Protocol):
    """Where the site features read sensor readings from, a batch of sensors at a time."""

    def read(self, sensor_ids: Sequence[str]) -> pd.DataFrame:
        """The readings of these sensors (``sensor_id``, ``observed_at``, ``interval_s``,
        ``quantity``, ``value``, ``quality``), in the order the whole table has them."""
        ...


@dataclass(frozen=True)
class FrameReadings:
    """A :class:`ReadingSource` over readings already in memory (serving, tests)."""

    frame: pd.DataFrame

    def read(self, sensor_ids: Sequence[str]) -> pd.DataFrame:
        col = self.frame["sensor_id"]
        wanted = set(map(str, sensor_ids))
        mask = col.notna().to_numpy() & col.astype(str).isin(wanted).to_numpy()
        return self.frame if mask.all() else self.frame[mask]


def as_reading_source(readings: pd.DataFrame | ReadingSource) -> ReadingSource:
    """``readings`` as a :class:`ReadingSource` (a frame is wrapped in :class:`FrameReadings`)."""
    return FrameReadings(readings) if isinstance(readings, pd.DataFrame) else readings


def _sorted_codes(col: pd.Series, as_str: bool) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 = missing) that sort like the column, and the label of each code.

    ``as_str``: order by the labels as text (ids); else as pandas sorts the column
    (categoricals by their category order).
    """
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy().astype(np.int64)
        cats = col.cat.categories
        if not as_str:
            return codes, np.asarray(cats, dtype=object)
        labels, inv = np.unique(np.asarray(cats.astype(str), dtype=object), return_inverse=True)
        return np.where(codes >= 0, inv.ravel()[np.maximum(codes, 0)], -1), labels
    values = col.astype(str) if as_str else col
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _float_array(col: pd.Series) -> np.ndarray:
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _seconds(ns: np.ndarray) -> np.ndarray:
    """Nanoseconds as seconds, with pandas' own ``total_seconds`` arithmetic."""
    return np.asarray(pd.TimedeltaIndex(ns.astype("m8[ns]")).total_seconds(), dtype=float)


def _dedupe_order(
    s: np.ndarray, q: np.ndarray, obs: np.ndarray, interval: np.ndarray, value: np.ndarray
) -> np.ndarray:
    """Row positions of the de-duplicated readings, sorted by sensor, quantity and start time.

    Among rows with the same (sensor, quantity, start) the last after a stable sort by
    interval and value (missing first) wins, i.e. the longest interval, then the largest value.
    """
    order = np.lexsort((obs, q, s))
    so, qo, oo = s[order], q[order], obs[order]
    same = (so[1:] == so[:-1]) & (qo[1:] == qo[:-1]) & (oo[1:] == oo[:-1])
    if not same.any():
        return order
    starts = np.r_[True, ~same]
    in_run = np.r_[same, False] | np.r_[False, same]
    run = np.cumsum(starts)
    sub = np.flatnonzero(in_run)
    iv, vv = interval[order[sub]], value[order[sub]]
    iv_ok, vv_ok = ~np.isnan(iv), ~np.isnan(vv)
    k = np.lexsort(
        (np.where(vv_ok, vv, 0.0), vv_ok, np.where(iv_ok, iv, 0.0), iv_ok, run[sub])
    )  # stable: equal rows keep their input order
    ks = sub[k]
    last = np.r_[run[ks][1:] != run[ks][:-1], True]
    out = order.copy()
    out[np.flatnonzero(in_run & starts)] = order[ks[last]]
    return out[~in_run | starts]


@dataclass(frozen=True)
class _Readings:
    """De-duplicated readings as flat arrays, in (sensor, quantity, start time) order.

    Sensors are integer codes into ``sensor_ids`` (sorted text ids); ``end`` is when a
    reading becomes visible (ns since the epoch, UTC): start + interval, or 1 ns after an
    instantaneous reading, so a reading taken exactly at an origin is not visible at it.
    """

    sensor_ids: np.ndarray
    sensor: np.ndarray
    quantity: np.ndarray  # -1 = missing
    quantity_labels: np.ndarray
    end: np.ndarray
    interval_s: np.ndarray  # float, NaN = missing
    value: np.ndarray
    usable: np.ndarray  # quality is not "missing"

    def code_of(self, quantity: str) -> int:
        hit = np.flatnonzero(self.quantity_labels == quantity)
        return int(hit[0]) if len(hit) else -2

    def codes_of(self, sensor_ids: pd.Series | np.ndarray) -> np.ndarray:
        """Sensor code of each id (-1 = no readings)."""
        ids = np.asarray(pd.Series(sensor_ids, dtype=object).astype(str), dtype=object)
        if len(self.sensor_ids) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.sensor_ids, ids), len(self.sensor_ids) - 1)
        return np.where(self.sensor_ids[pos] == ids, pos, -1)

    def take(self, rows: np.ndarray) -> _Readings:
        return _Readings(
            self.sensor_ids,
            self.sensor[rows],
            self.quantity[rows],
            self.quantity_labels,
            self.end[rows],
            self.interval_s[rows],
            self.value[rows],
            self.usable[rows],
        )


def _reading_arrays(
    readings: pd.DataFrame, visible_by: int | None = None
) -> tuple[_Readings, np.ndarray]:
    """De-duplicated readings and their row positions in ``readings``.

    Rows without sensor or start time are dropped, and with ``visible_by`` (ns) readings
    that end after it (after de-duplication, so the winner of a duplicate decides).
    """
    ok = readings["sensor_id"].notna().to_numpy() & readings["observed_at"].notna().to_numpy()
    r = readings[ok] if not ok.all() else readings
    s, ids = _sorted_codes(r["sensor_id"], as_str=True)
    q, q_labels = _sorted_codes(r["quantity"], as_str=False)
    obs = pd.DatetimeIndex(pd.to_datetime(r["observed_at"], utc=True)).as_unit("ns").asi8
    interval = _float_array(r["interval_s"])
    value = _float_array(r["value"])
    pos = _dedupe_order(s, q, obs, interval, value)
    whole_s = np.nan_to_num(interval, nan=0.0).astype(np.int64)
    end = obs + np.where(whole_s > 0, whole_s * 1_000_000_000, 1)
    if visible_by is not None:
        pos = pos[end[pos] <= visible_by]
    usable = ~(r["quality"] == "missing").to_numpy(dtype=bool, na_value=False)
    arrays = _Readings(
        ids, s[pos], q[pos], q_labels, end[pos], interval[pos], value[pos], usable[pos]
    )
    return arrays, np.flatnonzero(ok)[pos]


def dedupe_readings(readings: pd.DataFrame) -> pd.DataFrame:
    """One reading per (sensor, quantity, start time); among duplicates the longest interval,
    then the largest value wins (a deterministic rule, so the result does not depend on row
    order). Sorted by sensor, quantity and start time; rows without sensor or time dropped."""
    _, rows = _reading_arrays(readings)
    out = readings.iloc[rows].astype({"sensor_id": str})
    return out.reset_index(drop=True)


def _runs(keys: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop positions of the runs of equal keys (arrays sorted by those keys)."""
    n = len(keys[0])
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    change = np.zeros(n - 1, dtype=bool)
    for k in keys:
        change |= k[1:] != k[:-1]
    starts = np.r_[0, np.flatnonzero(change) + 1]
    return starts, np.r_[starts[1:], n]


def _search_runs(
    starts: np.ndarray,
    stops: np.ndarray,
    keys: np.ndarray,
    probes: np.ndarray,
    side: Literal["left", "right"],
) -> np.ndarray:
    """For each row, the position of ``probes[i]`` among the ``keys`` of its own run (absolute)."""
    out = np.empty(len(keys), dtype=np.int64)
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):  # one search per sensor
        out[a:b] = a + np.searchsorted(keys[a:b], probes[a:b], side=side)
    return out


def _is_sorted(keys: Sequence[np.ndarray], strict: bool = False) -> bool:
    """Whether rows are in lexicographic order of ``keys`` (the first key most significant)."""
    if len(keys[0]) < 2:
        return True
    later, tie = np.zeros(len(keys[0]) - 1, bool), np.ones(len(keys[0]) - 1, bool)
    for k in keys:
        later |= tie & (k[1:] > k[:-1])
        tie &= k[1:] == k[:-1]
    return bool((later | (tie & (not strict))).all())


@dataclass(frozen=True)
class _SensorTable:
    """Per-reading values sorted by sensor code, then ``end``, for as-of joins to origins."""

    sensor: np.ndarray
    end: np.ndarray
    cols: dict[str, np.ndarray]

    def asof(self, codes: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Position of each sensor's last row with ``end <= time`` (codes x times; -1 = none)."""
        lo = np.searchsorted(self.sensor, codes, side="left")
        hi = np.searchsorted(self.sensor, codes, side="right")
        out = np.full((len(codes), len(times)), -1, dtype=np.int64)
        for k, (a, b) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
            if b > a and codes[k] >= 0:
                p = a + np.searchsorted(self.end[a:b], times, side="right") - 1
                out[k] = np.where(p >= a, p, -1)
        return out

    def at(self, name: str, pos: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """Column ``name`` (or ``end``) at positions ``pos``, ``fill`` where -1."""
        col = self.cols[name] if name != "end" else self.end
        if len(col) == 0:
            return np.full(pos.shape, fill)
        return np.where(pos >= 0, col[np.maximum(pos, 0)], fill)


def _per_sensor_cumsum(sensor: np.ndarray, flag: np.ndarray) -> np.ndarray:
    c = np.cumsum(flag, dtype=np.int64)
    starts, stops = _runs([sensor])
    base = np.repeat(c[starts] - flag[starts], stops - starts)
    return c - base


def _displacement_table(rd: _Readings, params: SiteFeatureParams) -> _SensorTable:
    """Velocity, acceleration, tangent angle, inverse velocity and Fukuzono fit at each reading."""
    m = (rd.quantity == rd.code_of("displacement_mm")) & ~np.isnan(rd.value)
    s, end, value = rd.sensor[m], rd.end[m], rd.value[m]
    o_sel: np.ndarray | None = None
    if not _is_sorted([s, end], strict=True):  # one reading per (sensor, end): the largest value
        o = np.lexsort((value, end, s))
        s, end, value = s[o], end[o], value[o]
        keep = np.r_[(s[1:] != s[:-1]) | (end[1:] != end[:-1]), True]
        s, end, value = s[keep], end[keep], value[keep]
        o_sel = o[keep]
    starts, stops = _runs([s])
    first = np.repeat(starts, stops - starts)
    day = float(24 * _NS_PER_H)
    win = pd.Timedelta(days=params.velocity_window_days).as_unit("ns").value
    prev = _search_runs(starts, stops, end, end - win, "right") - 1
    ok = prev >= first
    prev = np.where(ok, prev, 0)
    step = np.where(ok, (end - end[prev]).astype(float) / day, np.nan)  # days, exact
    d_prev = np.where(ok, value[prev], np.nan)
    span = (end - end[first]).astype(float) / day
    velocity = phys.velocity(value, d_prev, step)
    # the start of the earliest reading each value is computed from (its look-back)
    interval = rd.interval_s[m]
    if o_sel is not None:
        interval = interval[o_sel]
    whole_s = np.nan_to_num(interval, nan=0.0).astype(np.int64)
    start = end - np.where(whole_s > 0, whole_s * 1_000_000_000, 1)
    v_from = np.where(ok, np.minimum(start, start[prev]), start)
    a_from = np.where(ok, np.minimum(v_from, v_from[prev]), v_from)
    f_from = v_from.copy()
    idx = np.arange(len(end))
    for k in range(1, max(params.fukuzono_points, 1)):
        j = idx - k
        f_from = np.where(j >= first, np.minimum(f_from, v_from[np.maximum(j, 0)]), f_from)
    v_prev = np.where(ok, velocity[prev], np.nan)
    acceleration = phys.acceleration(velocity, v_prev, step)
    # steady-stage velocity: mean creep rate over everything measured up to this reading
    steady = np.where(
        span > 0, phys.velocity(value, value[first], np.where(span > 0, span, np.nan)), np.nan
    )
    tangent = phys.tangent_angle_deg(velocity, np.abs(steady))
    iv = phys.inverse_velocity(velocity)
    hours = _fukuzono_hours(end, iv, first, params.fukuzono_points)
    cols = {
        "velocity_mm_per_day": velocity,
        "acceleration_mm_per_day2": acceleration,
        "steady_velocity_mm_per_day": steady,
        "tangent_angle_deg": tangent,
        "inverse_velocity_day_per_mm": iv,
        # beyond ten years the line is flat: not converging
        "fukuzono_hours_to_failure": np.where((hours > 0) & (hours < 24 * 3650), hours, np.nan),
        # where each value's readings start (ns): :func:`kinematics_from`
        "velocity_from": v_from,
        "acceleration_from": a_from,
        "fukuzono_from": f_from,
    }
    return _SensorTable(s, end, cols)


# the column of :func:`_displacement_table` holding where each bounded kinematic value's
# readings start (``SiteFeatureParams.kinematics_lookback_days``); the steady velocity and
# the tangent angle built on it use every earlier reading (history-dependent, not inputs)
KINEMATICS_FROM = {
    "velocity_mm_per_day": "velocity_from",
    "inverse_velocity_day_per_mm": "velocity_from",
    "acceleration_mm_per_day2": "acceleration_from",
    "fukuzono_hours_to_failure": "fukuzono_from",
}


def _fukuzono_hours(end: np.ndarray, iv: np.ndarray, first: np.ndarray, n: int) -> np.ndarray:
    """Fukuzono: least-squares line through the last ``n`` (t, 1/v) points of each reading
    (NaN unless all ``n`` are the sensor's and finite), extrapolated to 1/v = 0; hours from
    the reading to that time (NaN unless the line falls).

    Time is taken relative to the reading itself (exact integer nanoseconds), and the fit
    is done in centred form, so the result does not depend on the absolute date.
    """
    i = np.arange(len(end))
    day = float(24 * _NS_PER_H)

    def lagged(k: int) -> tuple[np.ndarray, np.ndarray]:
        """(t, 1/v) of the reading k places back (NaN when it is another sensor's)."""
        j = i - k
        ok = j >= first
        jj = np.where(ok, j, i)
        t = np.where(ok, (end[jj] - end).astype(float) / day, np.nan)
        return t, np.where(ok, iv[jj], np.nan)

    mt, my, slope, _ = phys.inverse_velocity_line(lagged, n)
    t_fail = phys.failure_time(mt, my, slope)  # days after the reading
    return t_fail * 24.0


def _flag_table(rd: _Readings, params: SiteFeatureParams) -> _SensorTable:
    """Per non-rain reading: spike and drift flags (never for displacement, whose trend is
    the signal), with ``n_spikes`` counted per sensor in time order."""
    m = (rd.quantity != rd.code_of("rain_mm")) & ~np.isnan(rd.value)
    s, q, end, v = rd.sensor[m], rd.quantity[m], rd.end[m], rd.value[m]
    if not _is_sorted([s, q, end]):
        o = np.lexsort((end, q, s))
        s, q, end, v = s[o], q[o], end[o], v[o]
    spike, drift = np.zeros(len(v), dtype=bool), np.zeros(len(v), dtype=bool)
    rows = np.flatnonzero(
        (q >= 0) & (q != rd.code_of("displacement_mm"))
    )  # whole (sensor, quantity) runs
    if len(rows):
        spike[rows], drift[rows] = _spikes_and_drift(s[rows], q[rows], end[rows], v[rows], params)
    if not _is_sorted([s, end]):
        o = np.lexsort((end, s))
        s, end, spike, drift = s[o], end[o], spike[o], drift[o]
    return _SensorTable(s, end, {"n_spikes": _per_sensor_cumsum(s, spike), "drift": drift})


def _spikes_and_drift(
    s: np.ndarray, q: np.ndarray, end: np.ndarray, v: np.ndarray, params: SiteFeatureParams
) -> tuple[np.ndarray, np.ndarray]:
    """Spike flag (robust trailing median/MAD of the previous ``spike_window`` readings, of
    those in the ``spike_lookback_days`` before the reading) and drift flag (:func:`_drift`) of readings sorted by sensor, quantity, end."""
    starts, stops = _runs([s, q])
    first = np.repeat(starts, stops - starts)
    i = np.arange(len(v))
    days = round(params.spike_lookback_days * 24 * _NS_PER_H)
    since = _search_runs(starts, stops, end, end - days, "right")
    lo = np.maximum(np.maximum(first, i - params.spike_window), since)
    med = phys.rolling_over(v, lo, i, 3).median().to_numpy()
    mad = np.abs(v - med)
    mad_ref = phys.rolling_over(mad, lo, i, 3).median().to_numpy()
    scale = phys.MAD_TO_SD * np.nan_to_num(mad_ref, nan=0.0)
    floor = 1e-6 * np.maximum(np.abs(v), 1.0)
    spike = phys.is_spike(v - med, scale, params.spike_mad_factor, floor) & ~np.isnan(med)
    return spike, _drift(starts, stops, end, v, params)


def _drift(
    starts: np.ndarray, stops: np.ndarray, end: np.ndarray, v: np.ndarray, p: SiteFeatureParams
) -> np.ndarray:
    """Drift flag at each reading (runs of one sensor and quantity, sorted by ``end``): the
    median of the recent window (``end - drift_recent_days``, ``end``] lies more than
    ``drift_sigma`` standard deviations of the reference window (the ``drift_reference_days``
    just before the recent one) from the reference median. The windows do not overlap, so a
    level shift is not diluted into the spread it is compared with. Only this reading and
    earlier ones are used."""
    day = 24 * _NS_PER_H
    i = np.arange(len(v))
    recent = round(p.drift_recent_days * day)
    reference = round(p.drift_reference_days * day)
    lo_recent = _search_runs(starts, stops, end, end - recent, "right")
    lo_ref = _search_runs(starts, stops, end, end - recent - reference, "right")
    m_recent = phys.rolling_over(v, lo_recent, i + 1, 3).median().to_numpy()
    ref = phys.rolling_over(v, lo_ref, lo_recent, p.drift_min_readings)
    m_ref = ref.median().to_numpy()
    sd_ref = ref.std().to_numpy()
    with np.errstate(invalid="ignore"):
        return np.abs(m_recent - m_ref) > p.drift_sigma * np.where(sd_ref > 0, sd_ref, np.inf)


def _health_table(rd: _Readings) -> _SensorTable:
    """Per reading (all quantities): valid readings of the sensor so far, and its interval."""
    s, end = rd.sensor, rd.end
    o = None if _is_sorted([s, end]) else np.lexsort((end, s))
    if o is not None:
        s, end = s[o], end[o]
    value, usable, interval = (
        (a if o is None else a[o]) for a in (rd.value, rd.usable, rd.interval_s)
    )
    n_valid = _per_sensor_cumsum(s, ~np.isnan(value) & usable)
    return _SensorTable(s, end, {"n_valid": n_valid, "interval_s": interval})


def _spacing_s(health: _SensorTable, pos: np.ndarray) -> np.ndarray:
    """Expected spacing at rows ``pos`` (NaN where -1): the reading's own interval, or for
    instantaneous readings the gap to the sensor's previous reading."""
    if len(health.end) == 0:
        return np.full(pos.shape, np.nan)
    here = np.maximum(pos, 0)
    before = np.maximum(here - 1, 0)
    has_prev = (pos > 0) & (health.sensor[before] == health.sensor[here])
    gap_ns = np.where(has_prev, health.end[here] - health.end[before], 0)
    gap = np.where(has_prev, _seconds(gap_ns), np.nan)
    interval = health.cols["interval_s"][here]
    with np.errstate(invalid="ignore"):
        return np.where(pos >= 0, np.where(interval > 0, interval, gap), np.nan)


_DISPLACEMENT_AGG = {
    "velocity_mm_per_day": "max",
    "acceleration_mm_per_day2": "max",
    "steady_velocity_mm_per_day": "max",
    "tangent_angle_deg": "max",
    "inverse_velocity_day_per_mm": "min",
    "fukuzono_hours_to_failure": "min",
}


def displacement_intervals_days(rd: _Readings) -> pd.Series:
    """Median interval (days) between consecutive displacement readings of each sensor, by
    sensor id (sensors with fewer than two readings left out)."""
    m = (rd.quantity == rd.code_of("displacement_mm")) & ~np.isnan(rd.value)
    s, end = rd.sensor[m], rd.end[m]
    if not _is_sorted([s, end]):
        o = np.lexsort((end, s))
        s, end = s[o], end[o]
    pair = (s[1:] == s[:-1]) & (end[1:] != end[:-1])
    gaps = (end[1:] - end[:-1])[pair] / float(24 * _NS_PER_H)
    med = pd.Series(gaps, dtype=float).groupby(s[1:][pair]).median()
    med.index = pd.Index(rd.sensor_ids[med.index.to_numpy(np.int64)].astype(str), name="sensor_id")
    return med


def lookback_warning(
    intervals: pd.Series, lookback_days: float, dead_after_hours: float = float("inf")
) -> str | None:
    """What to tell the operator when some displacement sensors report so rarely that
    their kinematics cannot be computed (a city whose surveys are monthly); None when every
    sensor fits. Two settings can be too short for them: ``lookback_days``
    (``SiteFeatureParams.kinematics_lookback_days``), when a sensor's median reading
    interval x 2 exceeds it (at an origin the reading before the latest one, up to two
    intervals old, is out of reach), and ``dead_after_hours``
    (``SiteFeatureParams.dead_after_hours``), when the interval exceeds it (between two
    surveys the sensor counts as dead, and a dead sensor's kinematics are missing).
    ``intervals``: :func:`displacement_intervals_days`."""
    lookback = float(lookback_days)
    dead_days = float(dead_after_hours) / 24
    short = intervals[(intervals * 2 > lookback) | (intervals > dead_days)].sort_values()
    if short.empty:
        return None
    widest = float(short.iloc[-1])
    names = ", ".join(short.index[::-1][:3]) + (", ..." if len(short) > 3 else "")
    raise_: list[str] = []
    if widest * 2 > lookback:
        raise_.append(
            f"SiteFeatureParams.kinematics_lookback_days (now {lookback:g} days) to at least "
            f"{np.ceil(2 * widest):.0f} days (two intervals; {np.ceil(3 * widest):.0f} for "
            "the acceleration at every origin), and the serving read with it (the "
            "serving_lookback_days setting, RISKWARN_SERVING_LOOKBACK_DAYS, 44 days by "
            "default: what the nowcast, daily site scoring and the stream's site model "
            "read), so that training and serving compute the same values"
        )
    if widest > dead_days:
        raise_.append(
            f"SiteFeatureParams.dead_after_hours (now {float(dead_after_hours):g} h) above "
            f"the interval, e.g. {np.ceil(widest * 24 * 1.25):.0f} h (a sensor silent for "
            "longer counts as dead and its kinematics are missing)"
        )
    return (
        f"{len(short)} of {len(intervals)} displacement sensors ({names}) report only every "
        f"{widest:.1f} days (median interval), too rarely for the kinematics look-back of "
        f"{lookback:g} days or the dead-sensor time of {float(dead_after_hours):g} h: their "
        "velocity, acceleration, inverse velocity and Fukuzono time are missing at some or "
        "all origins. Raise " + "; and ".join(raise_)
    )


class _SharedReadings:
    """The per-reading work, done once for all origin sets: de-duplicated arrays, usable rain,
    sensor health, and (per parameter values) displacement kinematics and spike/drift flags."""

    def __init__(self, readings: pd.DataFrame, last_origin_ns: int) -> None:
        # a reading that ends after the last origin is never visible
        rd, _ = _reading_arrays(readings, visible_by=last_origin_ns)
        self.readings = rd
        self.intervals = displacement_intervals_days(rd)
        rain = (rd.quantity == rd.code_of("rain_mm")) & ~np.isnan(rd.value) & rd.usable
        self.rain = rd.take(np.flatnonzero(rain))
        self.health = _health_table(rd)
        self._disp: dict[tuple[float, int], _SensorTable] = {}
        self._flags: dict[tuple[int, float, float, float, float, float, int], _SensorTable] = {}

    def displacement(self, p: SiteFeatureParams) -> _SensorTable:
        key = (p.velocity_window_days, p.fukuzono_points)
        if key not in self._disp:
            self._disp[key] = _displacement_table(self.readings, p)
        return self._disp[key]

    def flags(self, p: SiteFeatureParams) -> _SensorTable:
        key = (
            p.spike_window,
            p.spike_lookback_days,
            p.spike_mad_factor,
            p.drift_sigma,
            p.drift_recent_days,
            p.drift_reference_days,
            p.drift_min_readings,
        )
        if key not in self._flags:
            self._flags[key] = _flag_table(self.readings, p)
        return self._flags[key]
