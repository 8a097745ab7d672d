"""Geohazard features: site x hour / site x day from sensors, and city-wide daily rain.

Site features (``build_site_features``) use rain gauges, displacement sensors and sensor
health around each monitored site; a reading covering ``[observed_at, observed_at +
interval_s)`` becomes visible once it ends, and is binned into the time step in which it
ends, so an origin never sees a reading that ends after it. Derived per-reading
quantities (velocity, tangent angle, Fukuzono fit, spikes) use only that reading and
earlier ones and are attached to origins with an as-of join.

City-wide features (``build_citywide_rain_features``) serve the Hong Kong case: one
gauge, daily totals. Like NASA's LHASA they are a nowcast: rain up to the end of the
forecast day may be used; landslide records of that day and later may not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
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
    id_durations_hours: tuple[int, ...] = (1, 3, 6, 24, 72)
    percentile_min_history_days: int = 365
    velocity_window_days: float = 1.0
    fukuzono_points: int = 5
    spike_window: int = 11
    spike_mad_factor: float = 6.0
    drift_sigma: float = 4.0
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


def _reading_end(readings: pd.DataFrame) -> pd.Series:
    """When a reading is complete: start + interval; instantaneous readings 1 ns after they are taken,
    so that a reading taken exactly at an origin is not visible at it (strictly before t)."""
    interval = pd.to_timedelta(readings["interval_s"].fillna(0).astype("int64"), unit="s")
    start = pd.to_datetime(readings["observed_at"], utc=True).dt.as_unit("ns")
    return start + interval.where(interval > pd.Timedelta(0), pd.Timedelta(1, "ns"))


def dedupe_readings(readings: pd.DataFrame) -> pd.DataFrame:
    """One reading per (sensor, quantity, start time); among duplicates the largest value wins
    (a deterministic rule, so the result does not depend on row order)."""
    r = readings.astype({"sensor_id": str})
    r = r.sort_values(
        ["sensor_id", "quantity", "observed_at", "interval_s", "value"],
        kind="stable",
        na_position="first",
    )
    return r.drop_duplicates(["sensor_id", "quantity", "observed_at"], keep="last").reset_index(
        drop=True
    )


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
    k_step = params.api_k ** (step / 24.0)
    api = lfilter([1.0], [1.0, -k_step], np.nan_to_num(rain), axis=1)
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


def _displacement_per_reading(readings: pd.DataFrame, params: SiteFeatureParams) -> pd.DataFrame:
    """Velocity, acceleration, tangent angle, inverse velocity and Fukuzono fit at each reading."""
    disp = readings[(readings["quantity"] == "displacement_mm") & readings["value"].notna()].copy()
    if disp.empty:
        return pd.DataFrame(
            columns=[
                "sensor_id",
                "end",
                "velocity_mm_per_day",
                "acceleration_mm_per_day2",
                "steady_velocity_mm_per_day",
                "tangent_angle_deg",
                "inverse_velocity_day_per_mm",
                "fukuzono_hours_to_failure",
            ]
        )
    disp["end"] = _reading_end(disp)
    disp = disp.sort_values(["end", "sensor_id", "value"]).drop_duplicates(
        ["sensor_id", "end"], keep="last"
    )
    disp["t_days"] = pd.DatetimeIndex(disp["end"]).as_unit("ns").asi8 / (24 * _NS_PER_H)
    win = params.velocity_window_days
    prev = disp[["sensor_id", "end", "t_days", "value"]].rename(
        columns={"t_days": "t_prev", "value": "d_prev", "end": "end_prev"}
    )
    probe = disp[["sensor_id", "end"]].assign(probe=disp["end"] - pd.Timedelta(days=win))
    m = pd.merge_asof(
        probe.sort_values("probe"),
        prev.sort_values("end_prev"),
        left_on="probe",
        right_on="end_prev",
        by="sensor_id",
        direction="backward",
    )
    disp = disp.merge(
        m[["sensor_id", "end", "end_prev", "t_prev", "d_prev"]], on=["sensor_id", "end"], how="left"
    )
    disp["velocity_mm_per_day"] = (disp["value"] - disp["d_prev"]) / (
        disp["t_days"] - disp["t_prev"]
    )
    vprev = disp[["sensor_id", "end", "velocity_mm_per_day"]].rename(
        columns={"end": "end_prev", "velocity_mm_per_day": "v_prev"}
    )
    disp = disp.merge(vprev, on=["sensor_id", "end_prev"], how="left")
    disp["acceleration_mm_per_day2"] = (disp["velocity_mm_per_day"] - disp["v_prev"]) / (
        disp["t_days"] - disp["t_prev"]
    )
    disp = disp.sort_values(["sensor_id", "end"]).reset_index(drop=True)
    g = disp.groupby("sensor_id", sort=False)
    first_t = g["t_days"].transform("first")
    first_d = g["value"].transform("first")
    span = disp["t_days"] - first_t
    # steady-stage velocity: mean creep rate over everything measured up to this reading
    disp["steady_velocity_mm_per_day"] = np.where(
        span > 0, (disp["value"] - first_d) / span.where(span > 0), np.nan
    )
    v0 = disp["steady_velocity_mm_per_day"].abs()
    with np.errstate(divide="ignore", invalid="ignore"):
        disp["tangent_angle_deg"] = np.degrees(
            np.arctan(disp["velocity_mm_per_day"] / v0.where(v0 > 0))
        )
        iv = 1.0 / disp["velocity_mm_per_day"].where(disp["velocity_mm_per_day"] > 0)
    disp["inverse_velocity_day_per_mm"] = iv
    # Fukuzono: least-squares line through the last n (t, 1/v) points, extrapolated to 1/v = 0
    n = params.fukuzono_points
    t = disp["t_days"]
    parts = pd.DataFrame(
        {"t": t, "y": iv, "ty": t * iv, "tt": t * t, "sensor_id": disp["sensor_id"]}
    )
    roll = (
        parts.groupby("sensor_id", sort=False)[["t", "y", "ty", "tt"]]
        .rolling(n, min_periods=n)
        .mean()
    )
    roll = roll.reset_index(level=0, drop=True).sort_index()
    var = roll["tt"] - roll["t"] ** 2
    slope = (roll["ty"] - roll["t"] * roll["y"]) / var.where(var > 0)
    intercept = roll["y"] - slope * roll["t"]
    t_fail = -intercept / slope.where(slope < 0)
    hours = (t_fail - t) * 24.0
    # beyond ten years the line is flat: not converging
    disp["fukuzono_hours_to_failure"] = hours.where((hours > 0) & (hours < 24 * 3650))
    return disp[
        [
            "sensor_id",
            "end",
            "velocity_mm_per_day",
            "acceleration_mm_per_day2",
            "steady_velocity_mm_per_day",
            "tangent_angle_deg",
            "inverse_velocity_day_per_mm",
            "fukuzono_hours_to_failure",
        ]
    ]


def _flag_spikes(readings: pd.DataFrame, params: SiteFeatureParams) -> pd.DataFrame:
    """Per reading: spike flag (robust trailing median/MAD) and drift flag (7-day vs earlier 30-day level)."""
    r = readings[readings["value"].notna() & ~readings["quantity"].isin(["rain_mm"])].copy()
    r["end"] = _reading_end(r)
    r = r.sort_values(["sensor_id", "quantity", "end"]).reset_index(drop=True)
    g = r.groupby(["sensor_id", "quantity"], sort=False)["value"]
    w = params.spike_window
    med = g.transform(lambda s: s.shift(1).rolling(w, min_periods=3).median())
    mad = (r["value"] - med).abs()
    mad_ref = mad.groupby([r["sensor_id"], r["quantity"]]).transform(
        lambda s: s.shift(1).rolling(w, min_periods=3).median()
    )
    tol = params.spike_mad_factor * 1.4826 * mad_ref.fillna(0) + 1e-6 * r["value"].abs().clip(
        lower=1.0
    )
    r["spike"] = (
        ((r["value"] - med).abs() > tol) & med.notna() & (r["quantity"] != "displacement_mm")
    )
    # drift: the recent (7 d) median far outside the spread of the 30 days before it
    idx = r.set_index("end")
    gi = idx.groupby(["sensor_id", "quantity"], sort=False)["value"]
    m7 = gi.transform(lambda s: s.rolling("7D").median()).to_numpy()
    m30 = gi.transform(lambda s: s.rolling("30D").median()).to_numpy()
    sd30 = gi.transform(lambda s: s.rolling("30D", min_periods=10).std()).to_numpy()
    drift_ok = ~r["quantity"].isin(["displacement_mm"]).to_numpy()
    r["drift"] = drift_ok & (
        np.abs(m7 - m30) > params.drift_sigma * np.where(sd30 > 0, sd30, np.inf)
    )
    return r[["sensor_id", "end", "spike", "drift"]]


def _asof(origins: pd.DataFrame, right: pd.DataFrame, by: str) -> pd.DataFrame:
    """Last row of ``right`` (per ``by``) whose ``end`` is at or before each origin."""
    left = origins.sort_values("origin").astype({by: str})
    left["origin"] = left["origin"].dt.as_unit("ns")
    right = right.dropna(subset=["end"]).sort_values("end", kind="stable").astype({by: str})
    right["end"] = right["end"].dt.as_unit("ns")
    return pd.merge_asof(
        left,
        right,
        left_on="origin",
        right_on="end",
        by=by,
        direction="backward",
        allow_exact_matches=True,
    )


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
    params = params or SiteFeatureParams()
    step = params.step_hours
    idx = pd.DatetimeIndex(sorted(set(pd.DatetimeIndex(origins)))).tz_convert("UTC").as_unit("ns")
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
    if n_o == 0:
        return out
    o_bins = _origin_bins(idx, step, params.tz)
    readings = dedupe_readings(readings)
    # --- rain
    rain = readings[
        (readings["quantity"] == "rain_mm")
        & readings["value"].notna()
        & (readings["quality"].fillna("good") != "missing")
    ]
    gauge_of_site = _site_gauges(sites, sensors)
    gauges = sorted(set(gauge_of_site.dropna()))
    if gauges:
        rain = rain[rain["sensor_id"].isin(gauges)]
        end_bin = _bin_index(_reading_end(rain) - pd.Timedelta(1, "ns"), step, params.tz)
        b0 = min(int(end_bin.min()) if len(end_bin) else int(o_bins.min()), int(o_bins.min()) - 1)
        nb = int(o_bins.max()) - b0 + 1
        keep = end_bin < b0 + nb
        gpos = pd.Index(gauges).get_indexer(rain["sensor_id"][keep])
        mat = np.zeros((len(gauges), nb))
        np.add.at(mat, (gpos, end_bin[keep] - b0), rain["value"].to_numpy(float)[keep])
        feats = _rain_features(mat, (o_bins - b0).astype(np.int64), params)
        gp = pd.Index(gauges).get_indexer(gauge_of_site.reindex(site_ids).to_numpy())
        for name, arr in feats.items():
            vals = np.where(gp[:, None] >= 0, arr[np.maximum(gp, 0), :], np.nan)
            out[name] = vals.T.ravel().astype(np.float32)
    # --- displacement (max over the site's displacement sensors)
    sensor_site = sensors.set_index("record_id")["site_id"].dropna().astype(str).astype(object)
    disp = _displacement_per_reading(readings, params)
    dcols = [
        "velocity_mm_per_day",
        "acceleration_mm_per_day2",
        "steady_velocity_mm_per_day",
        "tangent_angle_deg",
        "inverse_velocity_day_per_mm",
        "fukuzono_hours_to_failure",
    ]
    if len(disp):
        disp["site_id"] = disp["sensor_id"].map(sensor_site)
        per_sensor = pd.DataFrame({"sensor_id": disp["sensor_id"].unique()})
        per_sensor["site_id"] = per_sensor["sensor_id"].map(sensor_site)
        grid = per_sensor.merge(pd.DataFrame({"origin": idx}), how="cross")
        got = _asof(grid, disp.drop(columns="site_id"), by="sensor_id")
        got["displacement_age_days"] = (got["origin"] - got["end"]).dt.total_seconds() / 86400.0
        agg = (
            got.groupby(["origin", "site_id"])
            .agg(
                velocity_mm_per_day=("velocity_mm_per_day", "max"),
                acceleration_mm_per_day2=("acceleration_mm_per_day2", "max"),
                steady_velocity_mm_per_day=("steady_velocity_mm_per_day", "max"),
                tangent_angle_deg=("tangent_angle_deg", "max"),
                inverse_velocity_day_per_mm=("inverse_velocity_day_per_mm", "min"),
                fukuzono_hours_to_failure=("fukuzono_hours_to_failure", "min"),
                displacement_age_days=("displacement_age_days", "min"),
            )
            .reset_index()
        )
        out = out.merge(agg, on=["origin", "site_id"], how="left")
    else:
        for c in [*dcols, "displacement_age_days"]:
            out[c] = np.nan
    # --- sensor health
    out = out.merge(_health(readings, sensors, idx, params), on=["origin", "site_id"], how="left")
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


def _health(
    readings: pd.DataFrame, sensors: pd.DataFrame, idx: pd.DatetimeIndex, params: SiteFeatureParams
) -> pd.DataFrame:
    """Share of expected readings missing (24 h, 7 d), spikes (7 d), drift and dead-sensor flags per site."""
    site_sensors = sensors.dropna(subset=["site_id"])[["record_id", "site_id"]].rename(
        columns={"record_id": "sensor_id"}
    )
    site_sensors = site_sensors.astype({"sensor_id": str, "site_id": str})
    grid = site_sensors.merge(pd.DataFrame({"origin": idx}), how="cross")
    r = readings.copy()
    r["end"] = _reading_end(r)
    r["valid"] = r["value"].notna() & (r["quality"].fillna("good") != "missing")
    r = r.sort_values(["sensor_id", "end"])
    r["n_valid"] = r.groupby("sensor_id")["valid"].cumsum()
    # expected spacing: the reading's own interval, or for instantaneous readings the gap to the previous one
    gap_s = r.groupby("sensor_id")["end"].diff().dt.total_seconds()
    r["spacing_s"] = r["interval_s"].where(r["interval_s"] > 0, gap_s)
    last = _asof(grid, r[["sensor_id", "end", "n_valid", "spacing_s"]], by="sensor_id")
    res = last[["origin", "site_id", "sensor_id"]].copy()
    res["dead"] = last["end"].isna() | (
        (last["origin"] - last["end"]) > pd.Timedelta(hours=params.dead_after_hours)
    )
    interval_h = last["spacing_s"].where(last["spacing_s"] > 0, 3600).fillna(3600) / 3600.0
    for hours in (24, 168):
        g2 = grid.copy()
        g2["origin_shift"] = g2["origin"] - pd.Timedelta(hours=hours)
        g2["origin_shift"] = g2["origin_shift"].dt.as_unit("ns")
        before = pd.merge_asof(
            g2.sort_values("origin_shift"),
            r[["sensor_id", "end", "n_valid"]].sort_values("end", kind="stable"),
            left_on="origin_shift",
            right_on="end",
            by="sensor_id",
            direction="backward",
        )
        before = before.set_index(["origin", "sensor_id"])["n_valid"]
        n_now = last.set_index(["origin", "sensor_id"])["n_valid"].fillna(0)
        n_win = n_now - before.reindex(n_now.index).fillna(0)
        expected = hours / interval_h.to_numpy()
        share = np.clip(1.0 - n_win.to_numpy() / np.maximum(expected, 1e-9), 0.0, 1.0)
        # a window shorter than the sensor's spacing cannot tell a gap from the schedule
        res[f"share_missing_{hours}h"] = np.where(expected >= 1.0, share, np.nan)
    flags = _flag_spikes(readings, params)
    if len(flags):
        flags = flags.sort_values(["sensor_id", "end"])
        flags["n_spikes"] = flags.groupby("sensor_id")["spike"].cumsum()
        now = _asof(grid, flags[["sensor_id", "end", "n_spikes", "drift"]], by="sensor_id")
        g2 = grid.copy()
        g2["origin"] = g2["origin"] - pd.Timedelta(days=7)
        then = _asof(g2, flags[["sensor_id", "end", "n_spikes"]], by="sensor_id")
        then["origin"] = then["origin"] + pd.Timedelta(days=7)
        now = now.merge(
            then[["origin", "sensor_id", "n_spikes"]],
            on=["origin", "sensor_id"],
            suffixes=("", "_then"),
        )
        now["spikes_removed_7d"] = now["n_spikes"].fillna(0) - now["n_spikes_then"].fillna(0)
        recent = (now["origin"] - now["end"]) <= pd.Timedelta(days=7)
        now["drift_flag"] = (now["drift"].astype("boolean").fillna(False) & recent).astype(float)
        res = res.merge(
            now[["origin", "sensor_id", "spikes_removed_7d", "drift_flag"]],
            on=["origin", "sensor_id"],
            how="left",
        )
    else:
        res["spikes_removed_7d"] = 0.0
        res["drift_flag"] = 0.0
    return (
        res.groupby(["origin", "site_id"])
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
    :func:`riskwarn.features.incidents.build_cell_features`, the rain part
    :func:`build_citywide_rain_features` (its landslide counts and labels are dropped, the
    cell table has its own).
    """
    from riskwarn.features.incidents import CellFeatureParams, build_cell_features

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
