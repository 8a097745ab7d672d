"""Geohazard features: site x hour / site x day from sensors, and city-wide daily rain.

Site features (``build_site_features``) use rain gauges, displacement sensors and sensor
health around each monitored site; a reading covering ``[observed_at, observed_at +
interval_s)`` becomes visible once it ends, and is binned into the time step in which it
ends, so an origin never sees a reading that ends after it. Derived per-reading
quantities (velocity, tangent angle, Fukuzono fit, spikes) use only that reading and
earlier ones and are attached to origins with an as-of join. The per-reading work runs on
flat NumPy arrays sorted once by sensor and time (one pandas rolling-kernel call covers all
sensors), and ``build_site_features_multi`` shares it between several origin sets (site x
hour and site x day from one pass over the readings).

City-wide features (``build_citywide_rain_features``) serve the Hong Kong case: one
gauge, daily totals. Like NASA's LHASA they are a nowcast: rain up to the end of the
forecast day may be used; landslide records of that day and later may not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api.indexers import BaseIndexer
from scipy.signal import lfilter
from scipy.spatial import cKDTree

from riskwarn.contracts import HAZARD_TYPES

SITE_KEYS = ["origin", "site_id"]
CAINE = (14.82, -0.39)  # I = a * D^b, I in mm/h, D in h
GUZZETTI = (2.20, -0.44)
_NS_PER_H = 3_600_000_000_000


@dataclass(frozen=True)
class SiteFeatureParams:
    """Parameters of the site x origin table."""

    step_hours: int = 1  # 1 = site x hour, 24 = site x day
    tz: str = "Asia/Shanghai"  # daily steps are local days
    horizon_hours: int = 24
    rain_windows_hours: tuple[int, ...] = (1, 3, 6, 24, 72, 168, 360)
    api_k: float = 0.85  # daily decay of the antecedent precipitation index
    api_days: int = 30  # its window: what the nowcast reads (35 days) always covers it
    id_durations_hours: tuple[int, ...] = (1, 3, 6, 24, 72)
    percentile_min_history_days: int = 365
    velocity_window_days: float = 1.0
    fukuzono_points: int = 5
    spike_window: int = 11
    spike_mad_factor: float = 6.0
    drift_sigma: float = 4.0
    drift_recent_days: float = 7.0  # recent window whose median is tested ...
    drift_reference_days: float = 30.0  # ... against the spread of this window just before it
    drift_min_readings: int = 10  # in the reference window (3 in the recent one), else no flag
    dead_after_hours: float = 24.0
    label_radius_m: float = 0.0  # also count unassigned events within this distance of the site


def _bin_index(ts: pd.Series | pd.DatetimeIndex, step_hours: int, tz: str) -> np.ndarray:
    """Index of the step containing each time (local days for daily steps, UTC hours otherwise)."""
    idx = pd.DatetimeIndex(ts)
    if step_hours % 24 == 0:
        idx = idx.tz_convert(tz).tz_localize(None)
    else:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return np.floor_divide(idx.as_unit("ns").asi8, step_hours * _NS_PER_H)


def _origin_bins(origins: pd.DatetimeIndex, step_hours: int, tz: str) -> np.ndarray:
    b = _bin_index(origins, step_hours, tz)
    back = _bin_index(origins - pd.Timedelta(1, "ns"), step_hours, tz)
    if (b == back).any():
        raise ValueError(
            f"origins must fall on {step_hours}-hour step boundaries ({tz} days for daily steps)"
        )
    return b


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


def _site_gauges(sites: pd.DataFrame, sensors: pd.DataFrame) -> pd.Series:
    """Rain gauge for each site: its own gauge, else the nearest rain gauge (by lon/lat)."""
    gauges = sensors[sensors["sensor_type"] == "rain_gauge"].sort_values("record_id")
    own = (
        gauges.dropna(subset=["site_id"])
        .drop_duplicates("site_id")
        .set_index("site_id")["record_id"]
    )
    out = sites["record_id"].map(own).astype(object)
    located = gauges.dropna(subset=["lon", "lat"])
    miss = out.isna() & sites["lon"].notna() & sites["lat"].notna()
    if miss.any() and len(located):
        lat0 = np.deg2rad(float(sites["lat"].mean()))
        gxy = np.c_[located["lon"].to_numpy() * np.cos(lat0), located["lat"].to_numpy()]
        sxy = np.c_[
            sites.loc[miss, "lon"].to_numpy() * np.cos(lat0), sites.loc[miss, "lat"].to_numpy()
        ]
        _, nearest = cKDTree(gxy).query(sxy)
        out.loc[miss] = located["record_id"].to_numpy()[nearest]
    return pd.Series(out.to_numpy(), index=sites["record_id"].to_numpy())


def _window_sums(cum: np.ndarray, o_idx: np.ndarray, n_steps: int) -> np.ndarray:
    return cum[:, o_idx] - cum[:, np.maximum(o_idx - n_steps, 0)]


def _rain_features(
    rain: np.ndarray, o_idx: np.ndarray, params: SiteFeatureParams
) -> dict[str, np.ndarray]:
    """Rain features per gauge (rows) and origin (columns) from a gauges x steps rain matrix."""
    step = params.step_hours
    cum = np.zeros((rain.shape[0], rain.shape[1] + 1))
    np.cumsum(np.nan_to_num(rain), axis=1, out=cum[:, 1:])
    out: dict[str, np.ndarray] = {}
    sums: dict[int, np.ndarray] = {}
    for w in params.rain_windows_hours:
        if w % step:
            continue
        sums[w] = _window_sums(cum, o_idx, w // step)
        out[f"rain_{w}h_mm" if w < 168 or w % 24 else f"rain_{w // 24}d_mm"] = sums[w]
    # a finite window (0.85 ** 30 = 0.008): a site's index then depends only on the rain
    # of the last ``api_days``, which serving reads, not on how far back the record goes
    k_step = params.api_k ** (step / 24.0)
    taps = k_step ** np.arange(params.api_days * 24 // step)
    api = lfilter(taps, [1.0], np.nan_to_num(rain), axis=1)
    out["api_mm"] = np.where(o_idx > 0, api[:, np.maximum(o_idx - 1, 0)], 0.0)
    if 24 % step == 0:
        day = 24 // step
        eff = np.zeros((rain.shape[0], len(o_idx)))
        for i in range(4):
            eff += params.api_k**i * (
                cum[:, np.maximum(o_idx - i * day, 0)]
                - cum[:, np.maximum(o_idx - (i + 1) * day, 0)]
            )
        out["effective_rain_3d_mm"] = eff
        # 24 h totals ending at every step, ranked against the gauge's own earlier values
        roll24 = (
            cum[:, day:] - cum[:, :-day]
        )  # roll24[:, j] = rain of steps j .. j+day-1, ends at step j+day
        rank = np.full((rain.shape[0], len(o_idx)), np.nan)
        ratio = np.full_like(rank, np.nan)
        min_p = max(params.percentile_min_history_days * 24 // step, 1)
        for g in range(rain.shape[0]):
            s = pd.Series(roll24[g])
            pct = s.expanding(min_periods=min_p).rank(pct=True).to_numpy()
            p99 = s.expanding(min_periods=min_p).quantile(0.99).shift(day).to_numpy()
            j = o_idx - day  # the 24 h ending at the origin
            ok = j >= 0
            rank[g, ok] = pct[j[ok]]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio[g, ok] = roll24[g, j[ok]] / np.maximum(p99[j[ok]], 1.0)
        out["rain_24h_pct_rank"] = rank
        out["rain_24h_vs_p99"] = ratio
    for name, (a, b) in (("caine_exceedance", CAINE), ("guzzetti_exceedance", GUZZETTI)):
        best = np.zeros((rain.shape[0], len(o_idx)))
        for dur in params.id_durations_hours:
            if dur % step:
                continue
            r = sums.get(dur, _window_sums(cum, o_idx, dur // step))
            best = np.maximum(best, (r / dur) / (a * dur**b))
        out[name] = best
    return out


class _WindowBounds(BaseIndexer):
    """Fixed window bounds for pandas ``rolling``: row i aggregates rows start[i] .. end[i] - 1.

    Lets one pandas kernel call cover every sensor at once (windows never cross a sensor),
    with the same arithmetic as a per-sensor ``groupby().rolling()``.
    """

    def __init__(self, start: np.ndarray, end: np.ndarray) -> None:
        super().__init__()
        self.bounds = (start.astype(np.int64), end.astype(np.int64))

    def get_window_bounds(
        self,
        num_values: int = 0,
        min_periods: int | None = None,
        center: bool | None = None,
        closed: str | None = None,
        step: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.bounds


def _rolling(values: np.ndarray, start: np.ndarray, end: np.ndarray, min_periods: int) -> Any:
    return pd.Series(values).rolling(_WindowBounds(start, end), min_periods=min_periods)


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
    if not _is_sorted([s, end], strict=True):  # one reading per (sensor, end): the largest value
        o = np.lexsort((value, end, s))
        s, end, value = s[o], end[o], value[o]
        keep = np.r_[(s[1:] != s[:-1]) | (end[1:] != end[:-1]), True]
        s, end, value = s[keep], end[keep], value[keep]
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
    with np.errstate(divide="ignore", invalid="ignore"):
        velocity = (value - d_prev) / step
        v_prev = np.where(ok, velocity[prev], np.nan)
        acceleration = (velocity - v_prev) / step
        # steady-stage velocity: mean creep rate over everything measured up to this reading
        steady = np.where(
            span > 0, (value - value[first]) / np.where(span > 0, span, np.nan), np.nan
        )
        v0 = np.abs(steady)
        tangent = np.degrees(np.arctan(velocity / np.where(v0 > 0, v0, np.nan)))
        iv = 1.0 / np.where(velocity > 0, velocity, np.nan)
    hours = _fukuzono_hours(end, iv, first, params.fukuzono_points)
    cols = {
        "velocity_mm_per_day": velocity,
        "acceleration_mm_per_day2": acceleration,
        "steady_velocity_mm_per_day": steady,
        "tangent_angle_deg": tangent,
        "inverse_velocity_day_per_mm": iv,
        # beyond ten years the line is flat: not converging
        "fukuzono_hours_to_failure": np.where((hours > 0) & (hours < 24 * 3650), hours, np.nan),
    }
    return _SensorTable(s, end, cols)


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

    sum_t, sum_y = np.zeros(len(end)), np.zeros(len(end))
    for k in range(n):
        t, y = lagged(k)
        sum_t += t
        sum_y += y
    mt, my = sum_t / n, sum_y / n
    var, cov = np.zeros(len(end)), np.zeros(len(end))
    for k in range(n):  # second pass on centred values: no cancellation
        t, y = lagged(k)
        var += (t - mt) ** 2
        cov += (t - mt) * (y - my)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = cov / np.where(var > 0, var, np.nan)
        t_fail = mt - my / np.where(slope < 0, slope, np.nan)  # days after the reading
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
    """Spike flag (robust trailing median/MAD of the previous ``spike_window`` readings) and
    drift flag (:func:`_drift`) of readings sorted by sensor, quantity, end."""
    starts, stops = _runs([s, q])
    first = np.repeat(starts, stops - starts)
    i = np.arange(len(v))
    lo = np.maximum(first, i - params.spike_window)
    med = _rolling(v, lo, i, 3).median().to_numpy()
    mad = np.abs(v - med)
    mad_ref = _rolling(mad, lo, i, 3).median().to_numpy()
    tol = params.spike_mad_factor * 1.4826 * np.nan_to_num(mad_ref, nan=0.0) + 1e-6 * np.maximum(
        np.abs(v), 1.0
    )
    spike = (np.abs(v - med) > tol) & ~np.isnan(med)
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
    m_recent = _rolling(v, lo_recent, i + 1, 3).median().to_numpy()
    ref = _rolling(v, lo_ref, lo_recent, p.drift_min_readings)
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


class _SharedReadings:
    """The per-reading work, done once for all origin sets: de-duplicated arrays, usable rain,
    sensor health, and (per parameter values) displacement kinematics and spike/drift flags."""

    def __init__(self, readings: pd.DataFrame, last_origin_ns: int) -> None:
        # a reading that ends after the last origin is never visible
        rd, _ = _reading_arrays(readings, visible_by=last_origin_ns)
        self.readings = rd
        rain = (rd.quantity == rd.code_of("rain_mm")) & ~np.isnan(rd.value) & rd.usable
        self.rain = rd.take(np.flatnonzero(rain))
        self.health = _health_table(rd)
        self._disp: dict[tuple[float, int], _SensorTable] = {}
        self._flags: dict[tuple[int, float, float, float, float, int], _SensorTable] = {}

    def displacement(self, p: SiteFeatureParams) -> _SensorTable:
        key = (p.velocity_window_days, p.fukuzono_points)
        if key not in self._disp:
            self._disp[key] = _displacement_table(self.readings, p)
        return self._disp[key]

    def flags(self, p: SiteFeatureParams) -> _SensorTable:
        key = (
            p.spike_window,
            p.spike_mad_factor,
            p.drift_sigma,
            p.drift_recent_days,
            p.drift_reference_days,
            p.drift_min_readings,
        )
        if key not in self._flags:
            self._flags[key] = _flag_table(self.readings, p)
        return self._flags[key]


def _utc_origins(origins: Sequence[pd.Timestamp] | pd.DatetimeIndex) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(sorted(set(pd.DatetimeIndex(origins))))
    if len(idx) == 0 and idx.tz is None:
        idx = idx.tz_localize("UTC")
    return idx.tz_convert("UTC").as_unit("ns")


def build_site_features(
    readings: pd.DataFrame,
    sensors: pd.DataFrame,
    sites: pd.DataFrame,
    hazard_events: pd.DataFrame,
    origins: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    params: SiteFeatureParams | None = None,
    crs: str = "EPSG:3857",
) -> pd.DataFrame:
    """Site x origin features and labels (one row per requested origin and site).

    ``readings``: ``sensor_id``, ``observed_at``, ``interval_s``, ``quantity``, ``value``,
    ``quality``. ``sensors``: ``record_id``, ``site_id``, ``sensor_type``, ``lon``, ``lat``.
    ``sites``: ``record_id``, ``hazard_type``, ``lon``, ``lat``, ``slope_class``,
    ``people_threatened``. ``hazard_events``: ``occurred_at``, ``site_id`` (+ ``lon``,
    ``lat`` for ``label_radius_m``). Labels: ``label_count``/``label_any`` of hazard events
    at the site in [origin, origin + horizon_hours).
    """
    (frame,) = build_site_features_multi(
        readings, sensors, sites, hazard_events, [(origins, params)], crs=crs
    )
    return frame


def build_site_features_multi(
    readings: pd.DataFrame,
    sensors: pd.DataFrame,
    sites: pd.DataFrame,
    hazard_events: pd.DataFrame,
    origin_sets: Sequence[
        tuple[Sequence[pd.Timestamp] | pd.DatetimeIndex, SiteFeatureParams | None]
    ],
    crs: str = "EPSG:3857",
) -> list[pd.DataFrame]:
    """:func:`build_site_features` for several (origins, params) sets, e.g. site x hour and
    site x day, in one pass: the per-reading work (de-duplication, displacement kinematics,
    spike and drift flags, sensor health) is done once and as-of joined to each set.

    Returns one frame per set, each equal to ``build_site_features`` of that set alone.
    """
    sets = [(_utc_origins(o), p or SiteFeatureParams()) for o, p in origin_sets]
    ends = [int(idx.asi8.max()) for idx, _ in sets if len(idx)]
    shared = _SharedReadings(readings, max(ends)) if ends else None
    return [_site_frame(shared, sensors, sites, hazard_events, idx, p, crs) for idx, p in sets]


def _site_frame(
    shared: _SharedReadings | None,
    sensors: pd.DataFrame,
    sites: pd.DataFrame,
    hazard_events: pd.DataFrame,
    idx: pd.DatetimeIndex,
    params: SiteFeatureParams,
    crs: str,
) -> pd.DataFrame:
    step = params.step_hours
    sites = sites.sort_values("record_id").reset_index(drop=True)
    site_ids = sites["record_id"].astype(str).to_numpy(dtype=object)
    n_s, n_o = len(site_ids), len(idx)
    keys = pd.DataFrame(
        {"origin": np.repeat(idx.to_numpy(), n_s), "site_id": np.tile(site_ids, n_o)}
    )
    keys["origin"] = (
        pd.DatetimeIndex(keys["origin"]).tz_localize("UTC")
        if n_o and keys["origin"].dt.tz is None
        else keys["origin"]
    )
    out = keys.copy()
    if n_o == 0 or shared is None:
        return out
    o_bins = _origin_bins(idx, step, params.tz)
    # --- rain
    gauge_of_site = _site_gauges(sites, sensors)
    gauges = sorted(set(gauge_of_site.dropna()))
    if gauges:
        rain = shared.rain
        codes = shared.readings.codes_of(np.asarray(gauges, dtype=object))
        row_of = np.full(len(shared.readings.sensor_ids) + 1, -1, dtype=np.int64)
        row_of[codes[codes >= 0]] = np.flatnonzero(codes >= 0)
        gpos = row_of[rain.sensor]
        sel = gpos >= 0
        ends = pd.DatetimeIndex((rain.end[sel] - 1).astype("M8[ns]")).tz_localize("UTC")
        end_bin = _bin_index(ends, step, params.tz)
        b0 = min(int(end_bin.min()) if len(end_bin) else int(o_bins.min()), int(o_bins.min()) - 1)
        nb = int(o_bins.max()) - b0 + 1
        keep = end_bin < b0 + nb
        flat = gpos[sel][keep] * nb + (end_bin[keep] - b0)
        mat = np.bincount(flat, weights=rain.value[sel][keep], minlength=len(gauges) * nb).reshape(
            len(gauges), nb
        )
        feats = _rain_features(mat, (o_bins - b0).astype(np.int64), params)
        gp = pd.Index(gauges).get_indexer(gauge_of_site.reindex(site_ids).to_numpy())
        for name, arr in feats.items():
            vals = np.where(gp[:, None] >= 0, arr[np.maximum(gp, 0), :], np.nan)
            out[name] = vals.T.ravel().astype(np.float32)
    # --- displacement (max over the site's displacement sensors)
    out = out.merge(_displacement_at(shared, sensors, idx, params), on=SITE_KEYS, how="left")
    # --- sensor health
    out = out.merge(_health_at(shared, sensors, idx, params), on=SITE_KEYS, how="left")
    # --- static attributes
    static = pd.DataFrame({"site_id": site_ids})
    static["slope_class"] = (
        sites["slope_class"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    )
    static["people_threatened"] = (
        sites["people_threatened"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    )
    for ht in HAZARD_TYPES:
        static[f"hazard_type_{ht}"] = (sites["hazard_type"] == ht).to_numpy(dtype=float)
    out = out.merge(static, on="site_id", how="left")
    # --- labels
    out = out.merge(
        _site_labels(hazard_events, sites, idx, params, crs), on=["origin", "site_id"], how="left"
    )
    feat_cols = [c for c in out.columns if c not in SITE_KEYS and not c.startswith("label_")]
    out[feat_cols] = out[feat_cols].astype(np.float32)
    out["site_id"] = out["site_id"].astype(str)
    return out.sort_values(SITE_KEYS).reset_index(drop=True)


def _sensor_grid(
    idx: pd.DatetimeIndex, sensor_ids: np.ndarray, site_of: np.ndarray
) -> pd.DataFrame:
    """origin x sensor keys, sensor-major, with each sensor's site."""
    n_o = len(idx)
    return pd.DataFrame(
        {
            "origin": idx[np.tile(np.arange(n_o), len(sensor_ids))],
            "sensor_id": np.repeat(sensor_ids, n_o),
            "site_id": np.repeat(site_of, n_o),
        }
    )


def _displacement_at(
    shared: _SharedReadings, sensors: pd.DataFrame, idx: pd.DatetimeIndex, params: SiteFeatureParams
) -> pd.DataFrame:
    """Displacement features per site and origin: each sensor's last reading before the origin,
    max (min for inverse velocity, Fukuzono time and age) over the site's sensors."""
    table = shared.displacement(params)
    codes = np.unique(table.sensor)
    sensor_site = sensors.set_index("record_id")["site_id"].dropna().astype(str).astype(object)
    ids = shared.readings.sensor_ids[codes]
    got = _sensor_grid(idx, ids, pd.Series(ids).map(sensor_site).to_numpy(dtype=object))
    pos = table.asof(codes, idx.asi8).ravel()
    for name in _DISPLACEMENT_AGG:
        got[name] = table.at(name, pos)
    age_ns = np.tile(idx.asi8, len(codes)) - np.where(pos >= 0, table.at("end", pos, 0), 0)
    got["displacement_age_days"] = np.where(
        pos >= 0, _seconds(age_ns.astype(np.int64)) / 86400.0, np.nan
    )
    return (
        got.groupby(SITE_KEYS)
        .agg(
            **{c: (c, how) for c, how in _DISPLACEMENT_AGG.items()},
            displacement_age_days=("displacement_age_days", "min"),
        )
        .reset_index()
    )


def _health_at(
    shared: _SharedReadings, sensors: pd.DataFrame, idx: pd.DatetimeIndex, params: SiteFeatureParams
) -> pd.DataFrame:
    """Share of expected readings missing (24 h, 7 d), spikes (7 d), drift and dead-sensor flags per site."""
    site_sensors = sensors.dropna(subset=["site_id"])
    ids = site_sensors["record_id"].astype(str).to_numpy(dtype=object)
    codes = shared.readings.codes_of(ids)
    res = _sensor_grid(idx, ids, site_sensors["site_id"].astype(str).to_numpy(dtype=object))
    origin = np.tile(idx.asi8, len(ids))
    health = shared.health
    last = health.asof(codes, idx.asi8).ravel()
    dead_ns = pd.Timedelta(hours=params.dead_after_hours).as_unit("ns").value
    res["dead"] = (last < 0) | (origin - health.at("end", last, 0).astype(np.int64) > dead_ns)
    spacing = _spacing_s(health, last)
    with np.errstate(invalid="ignore"):
        interval_h = np.where(spacing > 0, spacing, 3600) / 3600.0
    n_now = health.at("n_valid", last, 0.0)
    for hours in (24, 168):
        before = health.asof(codes, idx.asi8 - hours * _NS_PER_H).ravel()
        n_win = n_now - health.at("n_valid", before, 0.0)
        expected = hours / interval_h
        share = np.clip(1.0 - n_win / np.maximum(expected, 1e-9), 0.0, 1.0)
        # a window shorter than the sensor's spacing cannot tell a gap from the schedule
        res[f"share_missing_{hours}h"] = np.where(expected >= 1.0, share, np.nan)
    flags = shared.flags(params)
    week = 7 * 24 * _NS_PER_H
    now = flags.asof(codes, idx.asi8).ravel()
    then = flags.asof(codes, idx.asi8 - week).ravel()
    res["spikes_removed_7d"] = flags.at("n_spikes", now, 0.0) - flags.at("n_spikes", then, 0.0)
    recent = (now >= 0) & (origin - flags.at("end", now, 0).astype(np.int64) <= week)
    res["drift_flag"] = ((flags.at("drift", now, 0.0) > 0) & recent).astype(float)
    return (
        res.groupby(SITE_KEYS)
        .agg(
            share_missing_24h=("share_missing_24h", "mean"),
            share_missing_168h=("share_missing_168h", "mean"),
            spikes_removed_7d=("spikes_removed_7d", "sum"),
            drift_flag=("drift_flag", "max"),
            dead_sensor_flag=("dead", "max"),
        )
        .reset_index()
        .astype({"dead_sensor_flag": float})
    )


def _site_labels(
    events: pd.DataFrame,
    sites: pd.DataFrame,
    idx: pd.DatetimeIndex,
    params: SiteFeatureParams,
    crs: str,
) -> pd.DataFrame:
    ev = events.dropna(subset=["occurred_at"])
    site_of = (
        ev["site_id"].astype(object).where(ev["site_id"].notna(), None)
        if "site_id" in ev
        else pd.Series(None, index=ev.index, dtype=object)
    )
    pairs = pd.DataFrame(
        {
            "site_id": site_of.to_numpy(dtype=object),
            "t": pd.to_datetime(ev["occurred_at"], utc=True).to_numpy(),
        }
    ).dropna()
    pairs["site_id"] = pairs["site_id"].astype(str).astype(object)
    if params.label_radius_m > 0 and len(ev):
        from riskwarn.geo import project

        loose = ev[site_of.isna().to_numpy()].dropna(subset=["lon", "lat"])
        sx, sy = project(sites["lon"], sites["lat"], crs)
        ex, ey = project(loose["lon"], loose["lat"], crs)
        ok = np.isfinite(sx)
        tree = cKDTree(np.c_[sx[ok], sy[ok]])
        hits = tree.query_ball_point(np.c_[ex, ey], params.label_radius_m)
        ids = sites["record_id"].astype(str).to_numpy()[ok]
        lens = np.array([len(h) for h in hits], dtype=int)
        if lens.sum():
            near = pd.DataFrame(
                {
                    "site_id": ids[np.concatenate([np.asarray(h, dtype=int) for h in hits])],
                    "t": np.repeat(loose["occurred_at"].to_numpy(), lens),
                }
            )
            pairs = pd.concat([pairs, near], ignore_index=True)
    horizon = pd.Timedelta(hours=params.horizon_hours)
    grid = pd.DataFrame({"site_id": sites["record_id"].astype(str).astype(object)}).merge(
        pd.DataFrame({"origin": idx}), how="cross"
    )
    if pairs.empty:
        grid["label_count"] = 0
    else:
        pairs["t"] = pd.to_datetime(pairs["t"], utc=True)
        m = grid.merge(pairs, on="site_id", how="left")
        m["hit"] = (m["t"] >= m["origin"]) & (m["t"] < m["origin"] + horizon)
        grid = (
            m.groupby(["origin", "site_id"], as_index=False)["hit"]
            .sum()
            .rename(columns={"hit": "label_count"})
        )
    grid["label_count"] = grid["label_count"].astype("int32")
    grid["label_any"] = (grid["label_count"] > 0).astype("int8")
    return grid


# ----------------------------------------------------------------------------- city-wide (Hong Kong)


def daily_rain_from_readings(
    readings: pd.DataFrame, tz: str, sensor_id: str | None = None
) -> pd.DataFrame:
    """Daily totals (``date`` = local calendar day of the reading's start, ``rain_mm``) of rain readings.

    A day with no valid reading is NaN (unavailable), not 0.
    """
    r = readings[
        (readings["quantity"] == "rain_mm") & (readings["quality"].fillna("good") != "missing")
    ]
    if sensor_id is not None:
        r = r[r["sensor_id"] == sensor_id]
    day = pd.DatetimeIndex(r["observed_at"]).tz_convert(tz).tz_localize(None).normalize()
    out = (
        r.assign(date=day).groupby("date")["value"].sum(min_count=1).rename("rain_mm").reset_index()
    )
    return out


@dataclass(frozen=True)
class CitywideRainParams:
    """Parameters of the city-wide daily table."""

    tz: str = "Asia/Hong_Kong"
    api_k: float = 0.85
    major_threshold: int = 10
    percentile_min_history_days: int = 365
    landslide_lookbacks_days: tuple[int, ...] = (1, 7, 30)
    id_durations_days: tuple[int, ...] = (1, 2, 3)


def build_citywide_rain_features(
    rain_daily: pd.DataFrame,
    landslides: pd.DataFrame,
    dates: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    params: CitywideRainParams | None = None,
) -> pd.DataFrame:
    """One row per requested local ``date``: city-wide rain (nowcast) and landslide history, labels.

    ``rain_daily``: ``date`` (local calendar day) and ``rain_mm`` (NaN = unavailable).
    ``landslides``: ``occurred_at`` (UTC) and optional ``reported_at``. Features for day D
    use rain of days <= D and landslides known before D's local midnight; labels count
    landslides on day D (``label_count``, ``label_any``, ``label_major`` for >= major_threshold).
    """
    params = params or CitywideRainParams()
    want = (
        pd.DatetimeIndex(pd.to_datetime(list(dates)))
        .tz_localize(None)
        .normalize()
        .unique()
        .sort_values()
    )
    if len(want) == 0:
        return pd.DataFrame({"date": pd.DatetimeIndex([])})
    rd = rain_daily.assign(
        date=pd.to_datetime(rain_daily["date"]).dt.tz_localize(None).dt.normalize()
    )
    rd = rd.dropna(subset=["date"])
    rd = rd.groupby("date")["rain_mm"].sum(min_count=1)
    start = min(rd.index.min() if len(rd) else want.min(), want.min())
    days = pd.date_range(start, want.max(), freq="D")
    r = rd.reindex(days)  # days after want.max() never enter
    r0 = r.fillna(0.0)
    out = pd.DataFrame(index=days)
    out["rain_day_mm"] = r
    out["rain_missing"] = r.isna().astype(float)
    out["rain_2d_antecedent_mm"] = r0.shift(1, fill_value=0) + r0.shift(2, fill_value=0)
    for n in (3, 7, 15):
        out[f"rain_{n}d_mm"] = r0.rolling(n, min_periods=1).sum()
    out["api_mm"] = lfilter([1.0], [1.0, -params.api_k], r0.to_numpy())
    out["effective_rain_3d_mm"] = sum(params.api_k**i * r0.shift(i, fill_value=0) for i in range(4))
    hist = r.expanding(min_periods=params.percentile_min_history_days)
    out["rain_day_pct_rank"] = hist.rank(pct=True)
    p99 = r.shift(1).expanding(min_periods=params.percentile_min_history_days).quantile(0.99)
    out["rain_day_vs_p99"] = r / p99.clip(lower=1.0)
    for name, (a, b) in (("caine_exceedance", CAINE), ("guzzetti_exceedance", GUZZETTI)):
        best = pd.Series(0.0, index=days)
        for nd in params.id_durations_days:
            dur = 24.0 * nd
            best = np.maximum(best, (r0.rolling(nd, min_periods=1).sum() / dur) / (a * dur**b))
        out[name] = best
    # landslide history (known before local midnight of D) and labels (occurring on D)
    ls = landslides.dropna(subset=["occurred_at"])
    occ_day = (
        pd.DatetimeIndex(ls["occurred_at"]).tz_convert(params.tz).tz_localize(None).normalize()
    )
    known = pd.Series(occ_day, index=ls.index)
    if "reported_at" in ls:
        rep = (
            pd.DatetimeIndex(ls["reported_at"]).tz_convert(params.tz).tz_localize(None).normalize()
        )
        known = pd.Series(np.where(pd.isna(rep), occ_day, np.maximum(occ_day, rep)), index=ls.index)
    counts = pd.Series(1, index=occ_day).groupby(level=0).sum().reindex(days, fill_value=0)
    label = counts.copy()
    # a record reported late counts in the lookback windows only from its report day on
    cum_occ = counts.cumsum()
    late = known.to_numpy() > occ_day.to_numpy()
    lo_pos = days.get_indexer(occ_day[late])
    hi_pos = days.get_indexer(
        pd.DatetimeIndex(np.minimum(known.to_numpy()[late], days.max().to_datetime64()))
    )
    for n in params.landslide_lookbacks_days:
        base = (cum_occ.shift(1, fill_value=0) - cum_occ.shift(n + 1, fill_value=0)).to_numpy(float)
        # a record reported late is invisible on days occ < d <= report day (and only matters
        # while d <= occ + n): subtract it there with a difference array (+1 / -1, cumsum)
        end = np.minimum(hi_pos, lo_pos + n)
        ok = (lo_pos >= 0) & (end >= lo_pos + 1)
        diff = np.zeros(len(days) + 2)
        np.add.at(diff, lo_pos[ok] + 1, 1.0)
        np.add.at(diff, end[ok] + 1, -1.0)
        base -= np.cumsum(diff)[: len(days)]
        out[f"landslides_{n}d"] = base
    out["cal_month"] = days.month.astype(float)
    out["cal_day_of_year"] = days.dayofyear.astype(float)
    out["label_count"] = label.astype("int32")
    out["label_any"] = (label > 0).astype("int8")
    out["label_major"] = (label >= params.major_threshold).astype("int8")
    out = out.loc[want].rename_axis("date").reset_index()
    feat = [c for c in out.columns if c != "date" and not c.startswith("label_")]
    out[feat] = out[feat].astype(np.float32)
    return out


def build_landslide_cell_features(
    landslides: pd.DataFrame,
    cells: pd.DataFrame,
    origins: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    rain_daily: pd.DataFrame,
    tz: str = "Asia/Hong_Kong",
    horizon_days: int = 1,
    rain_params: CitywideRainParams | None = None,
) -> pd.DataFrame:
    """Cell x day landslide table (Hong Kong case): cell history features plus the city-wide
    rain of the origin's local day (a nowcast: rain to the end of the day, slides before it).

    ``landslides`` carry ``cell_x``/``cell_y`` (see ``cells.assign_cells``); the cell part is
    :func:`features.incidents.build_cell_features`, the rain part
    :func:`build_citywide_rain_features` (its landslide counts and labels are dropped, the
    cell table has its own).
    """
    from features.incidents import CellFeatureParams, build_cell_features

    ev = landslides.assign(category_group="landslide")
    params = CellFeatureParams(tz=tz, horizon_days=horizon_days, groups=(), holiday_country="HK")
    frame = build_cell_features(ev, cells, origins, params)
    day = pd.DatetimeIndex(frame["origin"]).tz_convert(tz).tz_localize(None).normalize()
    rain_params = rain_params or CitywideRainParams(tz=tz)
    city = build_citywide_rain_features(rain_daily, landslides.head(0), day.unique(), rain_params)
    keep = [
        c
        for c in city.columns
        if c.startswith(("rain_", "api_", "effective_", "caine_", "guzzetti_"))
    ]
    city = city[["date", *keep]].rename(columns={c: f"city_{c}" for c in keep})
    out = frame.assign(date=day).merge(city, on="date", how="left").drop(columns="date")
    labels = [c for c in out.columns if c.startswith("label_")]
    return out[[c for c in out.columns if c not in labels] + labels]
