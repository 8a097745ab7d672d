"""Geohazard site charts and data health from long-form sensor readings (pure functions).

* :func:`daily_site_series`: daily rain (mm/day), cumulative displacement (mm), velocity
  (mm/day) and the improved tangent angle (degrees): displacement is normalised by the
  steady-stage velocity ``v0`` (median daily velocity over the first ``steady_days``),
  ``T(t) = S(t) / v0`` and ``alpha = arctan(dT/dt)`` so a steady creep gives 45°.
  (kept for :func:`tangent_gap`'s reasons; the page's angle chart draws :func:`rule_angles`).
* :func:`sensor_displacement`: daily displacement per sensor, GNSS and crack meters.
* :func:`rule_angles` / :func:`angle_thresholds`: the improved tangent angle and its four
  bands exactly as the nowcast's sensor rules compute them (``NOWCAST_RULES``).
* :func:`rain_state`: whether the site has a rain gauge (its own or the nearest) at all.
* :func:`health_time` / :func:`sensor_health`: sensors online (the nowcast's dead-sensor
  rule, at the nowcast's origin / the lake's data time), gaps and spikes per sensor.
* :func:`series_state` / :func:`tangent_gap`: whether a chart would be empty or a flat zero
  line (whose axis collapses to "0.000000"), and why a tangent angle is undefined, so the
  page can say so in words instead of drawing a blank chart.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from riskwarn import sensor_physics as phys
from riskwarn import sensor_rules as rw
from riskwarn.sensor_rules import HealthRules

DISPLACEMENT_QUANTITIES = ("displacement_mm", "crack_width_mm")  # GNSS and crack meters
STEADY_DAYS = 30  # days at the start of the series that set the steady-stage velocity v0


def local_day(observed_at: pd.Series, tz: str) -> pd.Series:
    """The start of each time's calendar day in ``tz`` (the city's display zone), as a
    UTC time: the page labels a day by its local date, so the day must be bucketed
    there too (bucketing by the UTC day put 00:00-08:00 Shanghai time on the day
    before the one its label names; review S13)."""
    local = pd.to_datetime(observed_at, utc=True).dt.tz_convert(tz)
    return local.dt.normalize().dt.tz_convert("UTC")


def _local_days(first: pd.Timestamp, last: pd.Timestamp, tz: str) -> pd.DatetimeIndex:
    """Every local calendar day from ``first`` to ``last`` (UTC starts of local days),
    built on dates so a daylight-saving day (23 or 25 hours) is one day."""
    dates = pd.date_range(
        first.tz_convert(tz).tz_localize(None), last.tz_convert(tz).tz_localize(None), freq="D"
    )
    return dates.tz_localize(tz).tz_convert("UTC").rename("day")


def daily_site_series(
    readings: pd.DataFrame,
    *,
    steady_days: int = STEADY_DAYS,
    smooth_days: int = 5,
    tz: str = "UTC",
) -> pd.DataFrame:
    """Daily series of one site: ``day``, ``rain_mm``, ``displacement_mm``,
    ``velocity_mm_per_day`` (trailing ``smooth_days`` mean of daily steps),
    ``tangent_angle_deg``.

    ``readings`` is long form (``observed_at`` UTC, ``quantity``, ``value``). Days are
    calendar days in ``tz`` (the page passes the city's display zone); ``day`` is the
    start of that local day as a UTC time. Rain is summed per day (mean over gauges);
    displacement is the last value of the day, averaged over displacement sensors.
    """
    cols = ["day", "rain_mm", "displacement_mm", "velocity_mm_per_day", "tangent_angle_deg"]
    if readings.empty:
        return pd.DataFrame(columns=cols)
    r = readings.dropna(subset=["value"]).copy()
    r["day"] = local_day(r["observed_at"], tz)
    rain = (
        r[r["quantity"] == "rain_mm"]
        .groupby(["sensor_id", "day"])["value"]
        .sum()
        .groupby("day")
        .mean()
        .rename("rain_mm")
    )
    disp = (
        r[r["quantity"] == "displacement_mm"]
        .sort_values("observed_at")
        .groupby(["sensor_id", "day"])["value"]
        .last()
        .groupby("day")
        .mean()
        .rename("displacement_mm")
    )
    out = pd.concat([rain, disp], axis=1).sort_index()
    if out.empty:
        return pd.DataFrame(columns=cols)
    full = _local_days(out.index.min(), out.index.max(), tz)
    out = out.reindex(full)
    # a day without any gauge reading is unknown (a silent gauge), never 0 mm
    out["rain_mm"] = out["rain_mm"] if rain.size else np.nan
    out["displacement_mm"] = out["displacement_mm"].interpolate(limit_area="inside")
    # velocity over a centred window of smooth_days: GNSS noise (±2-3 mm) swamps daily steps
    d = out["displacement_mm"]
    # only on days with a displacement: a trailing mean running on past the last reading
    # drew a climb to the last day's step alone (the demo site: 7.4 -> 20 mm/day over four
    # days without a reading)
    out["velocity_mm_per_day"] = (
        phys.velocity(d, d.shift(1), 1.0)
        .rolling(smooth_days, min_periods=1)
        .mean()
        .where(d.notna())
    )
    v = out["velocity_mm_per_day"]
    steady = v.iloc[: max(steady_days, 2)].median()
    if pd.notna(steady) and steady > 0:
        out["tangent_angle_deg"] = phys.tangent_angle_deg(v.to_numpy(float), steady)
    else:
        out["tangent_angle_deg"] = np.nan
    return out.reset_index()[cols]


def axis_domain(values: pd.Series, pad: float = 0.1) -> list[float]:
    """A y-axis domain holding every value of ``values`` with ``pad`` of its span to
    spare above (and below a negative minimum), so the largest value is drawn inside the
    plot, never on its top edge where it reads as clipped. Zero is always included."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    lo, hi = (min(0.0, float(v.min())), max(0.0, float(v.max()))) if len(v) else (0.0, 1.0)
    span = (hi - lo) or 1.0
    return [lo - pad * span if lo < 0 else lo, hi + pad * span]


def sensor_displacement(readings: pd.DataFrame, *, tz: str = "UTC") -> pd.DataFrame:
    """Daily cumulative displacement per displacement sensor, GNSS (``displacement_mm``)
    and crack meters (``crack_width_mm``) alike: ``day`` (start of the calendar day in
    ``tz``, as a UTC time), ``sensor_id``, ``displacement_mm`` (the day's last value)."""
    cols = ["day", "sensor_id", "displacement_mm"]
    r = readings.loc[readings["quantity"].isin(DISPLACEMENT_QUANTITIES)].dropna(subset=["value"])
    if r.empty:
        return pd.DataFrame(columns=cols)
    r = r.assign(day=local_day(r["observed_at"], tz)).sort_values("observed_at", kind="stable")
    out = r.groupby(["sensor_id", "day"], as_index=False)["value"].last()
    return out.rename(columns={"value": "displacement_mm"})[cols]


def rule_angles(
    readings: pd.DataFrame, rules: rw.SensorRules = rw.NOWCAST_RULES, step: str = "1h"
) -> pd.DataFrame:
    """The improved tangent angle the nowcast's sensor rules compute
    (:func:`riskwarn.sensor_rules.displacement_kinematics` with ``rules``, at each
    ``step`` end, from the readings before it: the rules' step convention,
    :func:`riskwarn.sensor_rules.rule_times_ns`, as issued) for every displacement sensor (GNSS and
    crack meters): ``at`` (UTC), ``sensor_id``, ``tangent_angle_deg``, and the velocity it
    divides (``velocity_mm_per_day``, over the last ``smooth_steps`` steps) with that
    velocity's noise floor (``noise_floor_mm_per_day``, the yellow noise gate's)."""
    cols = ["at", "sensor_id", "tangent_angle_deg", "velocity_mm_per_day", "noise_floor_mm_per_day"]
    r = readings.loc[readings["quantity"].isin(DISPLACEMENT_QUANTITIES)].dropna(subset=["value"])
    parts = []
    for sid, g in r.groupby("sensor_id"):
        series = pd.Series(
            g["value"].to_numpy(float), index=pd.DatetimeIndex(g["observed_at"])
        ).sort_index(kind="stable")
        series = series[~series.index.duplicated(keep="last")]  # the last of a time
        series.index = pd.to_datetime(
            rw.rule_times_ns(pd.DatetimeIndex(series.index).as_unit("ns").asi8), utc=True
        )  # the step ending at E holds [E - step, E), as the nowcast and the stream read it
        k = rw.displacement_kinematics(series, step, rules)
        parts.append(
            pd.DataFrame(
                {
                    "at": k.index,
                    "sensor_id": sid,
                    "tangent_angle_deg": k["tangent_angle_deg"],
                    "velocity_mm_per_day": k["velocity_mm_per_day"],
                    "noise_floor_mm_per_day": rw.noise_floor(
                        k["creep_velocity_mm_per_day"], k["velocity_noise_mm_per_day"], rules
                    ),
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True)
    return out.loc[np.isfinite(out["tangent_angle_deg"].to_numpy(float)), cols]


def last_rule_velocities(angles: pd.DataFrame) -> pd.DataFrame:
    """Each sensor's last row of :func:`rule_angles` (``sensor_id``,
    ``velocity_mm_per_day``, ``noise_floor_mm_per_day``), for the velocity chart's note:
    the chart draws daily steps over days, the rules a velocity over hours."""
    cols = ["sensor_id", "velocity_mm_per_day", "noise_floor_mm_per_day"]
    if angles.empty or "velocity_mm_per_day" not in angles:
        return pd.DataFrame(columns=cols)
    last = angles.sort_values("at", kind="stable").groupby("sensor_id").tail(1)
    return last.sort_values("sensor_id").loc[:, cols].reset_index(drop=True)


def velocity_note(last: pd.DataFrame, lang: str, smooth_days: int = 5) -> str:
    """The velocity chart's note: its line averages daily steps over ``smooth_days`` days
    (:func:`daily_site_series`), the sensor rules read each sensor's velocity over the
    last hours with its noise floor (``last``: :func:`last_rule_velocities`), so a 6-h
    "44.4 mm/day" in the Why column and a line within +-2 mm/day are both right."""
    from dashboard.i18n import t

    items = [
        t(
            "velocity_chart_item",
            lang,
            sensor=r.sensor_id,
            v=f"{float(r.velocity_mm_per_day):.1f}",
            floor=f"{float(r.noise_floor_mm_per_day):.1f}"
            if np.isfinite(float(r.noise_floor_mm_per_day))
            else "—",
        )
        for r in last.itertuples(index=False)
        if np.isfinite(float(r.velocity_mm_per_day))
    ]
    return t(
        "velocity_chart_note",
        lang,
        days=smooth_days,
        h=rw.NOWCAST_RULES.smooth_steps,
        items=("；" if lang == "zh" else "; ").join(items) or "—",
    )


def daily_angles(angles: pd.DataFrame, tz: str) -> pd.DataFrame:
    """The rules' hourly tangent angles (:func:`rule_angles`) per sensor and local day, as
    the site page draws them (long format, one line per sensor and statistic):
    ``sensor_id``, ``day_local`` (naive local midnight), ``stat`` ("median": the day's
    median; "max": its highest hour) and ``tangent_angle_deg``. Drawn hour by hour, three
    months of an angle that swings between 0 and 80 degrees from one hour to the next
    filled the chart as a solid block nobody could read (review revA)."""
    cols = ["sensor_id", "day_local", "stat", "tangent_angle_deg"]
    if angles.empty:
        return pd.DataFrame(columns=cols)
    local = pd.to_datetime(angles["at"], utc=True).dt.tz_convert(tz).dt.tz_localize(None)
    grouped = angles.assign(day_local=local.dt.normalize()).groupby(
        ["sensor_id", "day_local"], as_index=False
    )["tangent_angle_deg"]
    wide = grouped.agg(median="median", max="max")
    out = wide.melt(
        id_vars=["sensor_id", "day_local"], var_name="stat", value_name="tangent_angle_deg"
    )
    return out[cols].sort_values(["stat", "sensor_id", "day_local"], ignore_index=True)


def angle_thresholds(rules: rw.SensorRules = rw.NOWCAST_RULES) -> pd.DataFrame:
    """The rules' tangent-angle bands as chart lines: ``level``, ``deg``, ``colour``."""
    return pd.DataFrame(
        {
            "level": ["blue", "yellow", "orange", "red"],
            "deg": [rules.attention_deg, rules.yellow_deg, rules.orange_deg, rules.red_deg],
            "colour": ["#1f77b4", "#e6b800", "#ff7f0e", "#d62728"],
        }
    )


SeriesState = Literal["missing", "zero", "ok"]
RainState = Literal["no_gauge", "missing", "zero", "ok"]
TangentGap = Literal["no_displacement", "too_few_readings", "no_steady_creep"]


def series_state(values: pd.Series, *, atol: float = 1e-9) -> SeriesState:
    """``'missing'`` when ``values`` holds no finite number (nothing to draw), ``'zero'`` when
    every finite value is within ``atol`` of 0 (a flat zero line: nothing to see, and the
    axis has no range), else ``'ok'``."""
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "missing"
    return "zero" if bool(np.all(np.abs(v) <= atol)) else "ok"


def rain_state(site_sensors: pd.DataFrame, series: pd.DataFrame) -> RainState:
    """What the site page can say of rain: ``'no_gauge'`` when the site has no rain gauge
    (neither its own nor a nearest one: ``site_sensors`` from
    :func:`dashboard.lake_reads.site_sensors` holds none), else the
    :func:`series_state` of the daily rain (``'missing'``: the gauge sent no reading).
    Rain is then unknown, never 0 mm."""
    if not (site_sensors["sensor_type"] == "rain_gauge").any():
        return "no_gauge"
    return series_state(series["rain_mm"]) if "rain_mm" in series else "missing"


def tangent_gap(series: pd.DataFrame) -> TangentGap | None:
    """Why :func:`daily_site_series` left the tangent angle undefined (``None`` if it has a
    value on some day): no displacement readings at all; too few (under two days) for a
    velocity; or no steady creep to normalise by (steady-stage velocity not above 0)."""
    if series_state(series["tangent_angle_deg"]) != "missing":
        return None
    if series_state(series["displacement_mm"]) == "missing":
        return "no_displacement"
    if series_state(series["velocity_mm_per_day"]) == "missing":
        return "too_few_readings"
    return "no_steady_creep"


def health_time(origin: object, newest_reading: object) -> pd.Timestamp:
    """When the site page judges sensor health: the later of the nowcast's origin shown
    and the newest reading in the lake (the data-as-of time), never the site's own last
    reading (a site whose sensors all fell silent together would look online); the wall
    clock when neither is known."""
    known = [pd.Timestamp(v) for v in (origin, newest_reading) if v is not None and pd.notna(v)]
    known = [v.tz_localize("UTC") if v.tzinfo is None else v.tz_convert("UTC") for v in known]
    return max(known) if known else pd.Timestamp.now(tz="UTC")


def sensor_health(
    readings: pd.DataFrame,
    sensors: pd.DataFrame,
    *,
    now: pd.Timestamp,
    rules: HealthRules | None = None,
    gap_factor: float = 3.0,
    spike_mad: float = 6.0,
    max_rain_mm: float = 100.0,
) -> pd.DataFrame:
    """Per sensor: ``sensor_id``, ``sensor_type``, ``last_seen``, ``online``, ``gaps``, ``spikes``.

    A gap is a step between consecutive readings longer than ``gap_factor`` times the
    sensor's median step; a spike is a value more than ``spike_mad`` median absolute
    deviations from its rolling median (window 11), or flagged ``suspect`` by the source;
    for rain (intermittent by nature) only negative readings or more than ``max_rain_mm``
    in one reading count.
    Judged at ``now`` (:func:`health_time`) from the readings before it. A sensor is online
    unless the nowcast's dead-sensor rule (:func:`riskwarn.sensor_rules.sensor_health`
    with ``rules``, no reading in the ``dead_after_hours`` before ``now``) calls it dead.
    """
    readings = readings.loc[readings["observed_at"] < now]
    dead = set(
        rw.sensor_health(
            readings, now, rules=rules or rw.HealthRules(), sensors=sensors["record_id"]
        ).query("status == 'dead'")["sensor_id"]
    )
    rows = []
    for sid, stype in zip(sensors["record_id"], sensors["sensor_type"], strict=True):
        g = readings[readings["sensor_id"] == sid].sort_values("observed_at")
        if g.empty:
            rows.append(
                {
                    "sensor_id": sid,
                    "sensor_type": stype,
                    "last_seen": pd.NaT,
                    "online": False,
                    "gaps": 0,
                    "spikes": 0,
                }
            )
            continue
        times = g["observed_at"].drop_duplicates()
        steps = times.diff().dropna()
        gaps = int((steps > steps.median() * gap_factor).sum()) if len(steps) > 2 else 0
        spikes = 0
        for quantity, q in g.groupby("quantity"):
            vals = q["value"].astype(float)
            if quantity == "rain_mm":  # rain is spiky by nature: only impossible values count
                spikes += int(((vals < 0) | (vals > max_rain_mm)).sum())
                continue
            med = vals.rolling(11, center=True, min_periods=3).median()
            dev = (vals - med).abs()
            # floor the MAD by the typical step, so a smooth trend (MAD ~ 0) still needs a
            # real jump to count as a spike
            step = float(vals.diff().abs().median()) if len(vals) > 1 else 0.0
            mad = max(float(dev.median()), 3.0 * step, 1e-9)
            spikes += int(phys.is_spike(dev, phys.MAD_TO_SD * mad, spike_mad).sum())
        if "quality" in g:
            spikes += int((g["quality"] == "suspect").sum())
        last = g["observed_at"].max()
        rows.append(
            {
                "sensor_id": sid,
                "sensor_type": stype,
                "last_seen": last,
                "online": sid not in dead,
                "gaps": gaps,
                "spikes": spikes,
            }
        )
    return pd.DataFrame(
        rows, columns=["sensor_id", "sensor_type", "last_seen", "online", "gaps", "spikes"]
    )
