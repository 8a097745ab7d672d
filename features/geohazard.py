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

The per-reading work lives in :mod:`features.sensor_readings` (on the physics of
:mod:`riskwarn.sensor_physics`); the city-wide Hong Kong features
(``build_citywide_rain_features``) in :mod:`features.citywide_rain`. Both are
importable from here too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.spatial import cKDTree

from features.citywide_rain import (  # noqa: F401  (part of this module's interface)
    CitywideRainParams,
    build_citywide_rain_features,
    build_landslide_cell_features,
    daily_rain_from_readings,
)
from features.rain_indices import CAINE_1980 as CAINE
from features.rain_indices import GUZZETTI_2008 as GUZZETTI
from features.sensor_readings import (  # noqa: F401  (part of this module's interface)
    _DISPLACEMENT_AGG,
    _NS_PER_H,
    FLAG_WINDOW_HOURS,
    HEALTH_WINDOWS_HOURS,
    KINEMATICS_FROM,
    FrameReadings,
    ReadingSource,
    SiteFeatureParams,
    _seconds,
    _SharedReadings,
    _spacing_s,
    as_reading_source,
    dedupe_readings,
    lookback_warning,
)
from riskwarn import sensor_physics as phys
from riskwarn.contracts import HAZARD_TYPES

SITE_KEYS = ["origin", "site_id"]
SITE_LABEL_CRS = "EPSG:3857"
"""The projected CRS in which an event without a site is matched to sites within
``label_radius_m`` (the default of :func:`build_site_features_multi`, which training uses)."""
log = logging.getLogger(__name__)


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


def site_gauges(sites: pd.DataFrame, sensors: pd.DataFrame) -> pd.Series:
    """Rain gauge for each site: its own gauge, else the nearest rain gauge (by lon/lat).

    The one gauge-to-site rule of the geohazard path: the site model's rain features
    (training and serving), the nowcast's rain evidence (:func:`site_rain`) and the
    dashboard's site page all read a site's rain from this gauge. Indexed by site id;
    None where a site has no gauge of its own and no located one to be nearest to (its
    rain is then unknown, never 0 mm). ``sites``: every site (the projection's latitude is
    their mean), ``sensors``: the sensors table (``record_id``, ``site_id``,
    ``sensor_type``, ``lon``, ``lat``)."""
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


def rain_feature_names(params: SiteFeatureParams) -> tuple[str, ...]:
    """The rain columns of the site table with ``params`` when the lake has a rain gauge;
    without any gauge the table has none of them (rain unknown, :func:`_site_rain_columns`).
    The names :func:`_rain_features` writes, read off one empty gauge (they do not depend
    on the rain): what serving may treat as unknown inputs rather than a champion that does
    not fit the domain's frame (:func:`riskwarn.scoring.serve_site_model`)."""
    return tuple(_rain_features(np.zeros((1, 1)), np.zeros(1, dtype=np.int64), params))


def _utc_origins(origins: Sequence[pd.Timestamp] | pd.DatetimeIndex) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(sorted(set(pd.DatetimeIndex(origins))))
    if len(idx) == 0 and idx.tz is None:
        idx = idx.tz_localize("UTC")
    return idx.tz_convert("UTC").as_unit("ns")


def build_site_features(
    readings: pd.DataFrame | ReadingSource,
    sensors: pd.DataFrame,
    sites: pd.DataFrame,
    hazard_events: pd.DataFrame,
    origins: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    params: SiteFeatureParams | None = None,
    crs: str = SITE_LABEL_CRS,
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
    readings: pd.DataFrame | ReadingSource,
    sensors: pd.DataFrame,
    sites: pd.DataFrame,
    hazard_events: pd.DataFrame,
    origin_sets: Sequence[
        tuple[Sequence[pd.Timestamp] | pd.DatetimeIndex, SiteFeatureParams | None]
    ],
    crs: str = SITE_LABEL_CRS,
    *,
    batch_sensors: int | None = None,
    on_batch: Callable[[pd.DataFrame, pd.DataFrame], None] | None = None,
) -> list[pd.DataFrame]:
    """:func:`build_site_features` for several (origins, params) sets, e.g. site x hour and
    site x day, in one pass: the per-reading work (de-duplication, displacement kinematics,
    spike and drift flags, sensor health) is done once and as-of joined to each set.

    Returns one frame per set, each equal to ``build_site_features`` of that set alone.

    ``readings``: a frame, or a :class:`ReadingSource` that reads the readings of some
    sensors (e.g. from the lake). The per-reading work is done per batch of sites
    (:func:`site_batches`: the sites' own sensors, about ``batch_sensors`` of them; None
    = one batch of every site): every quantity is per sensor and a site's aggregates are
    over its own sensors, so batches give the same rows as one batch, and only one
    batch's readings are held at a time. Rain is binned per gauge in each batch and its
    features are computed once from all gauges' bins. ``on_batch(readings, sensors)`` is
    called with each batch's readings and sensors (e.g. for other per-sensor work).
    """
    source = as_reading_source(readings)
    sets = [(_utc_origins(o), p or SiteFeatureParams()) for o, p in origin_sets]
    ends = [int(idx.asi8.max()) for idx, _ in sets if len(idx)]
    sites = sites.sort_values("record_id").reset_index(drop=True)
    gauge_of_site = site_gauges(sites, sensors)
    gauges = sorted(set(gauge_of_site.dropna()))
    parts: list[_SetParts] = [_SetParts() for _ in sets]
    batches = site_batches(sensors, sites, gauges, batch_sensors)
    intervals: list[pd.Series] = []  # each batch's displacement sensors' reading intervals
    for k, batch in enumerate(batches, start=1):
        t0 = time.perf_counter()
        frame = source.read(batch.sensor_ids)
        t1 = time.perf_counter()
        n_rows = len(frame)
        if on_batch is not None:
            on_batch(frame, batch.sensors)
        t2 = time.perf_counter()
        if ends:
            shared = _SharedReadings(frame, max(ends))
            intervals.append(shared.intervals)
            del frame
            for (idx, p), part in zip(sets, parts, strict=True):
                if len(idx) == 0:
                    continue
                part.rain.append(_rain_bins(shared, batch.gauges, gauges, idx, p))
                part.displacement.append(_displacement_at(shared, batch.sensors, idx, p))
                part.health.append(_health_at(shared, batch.sensors, idx, p))
            del shared
        log.info(
            "site batch %d/%d: %d sites, %d sensors, %d readings; read %.1f s, "
            "on_batch %.1f s, features %.1f s",
            k,
            len(batches),
            len(batch.site_ids),
            len(batch.sensor_ids),
            n_rows,
            t1 - t0,
            t2 - t1,
            time.perf_counter() - t2,
        )
    _warn_short_lookback(
        intervals, {(p.kinematics_lookback_days, p.dead_after_hours) for idx, p in sets if len(idx)}
    )
    return [
        _site_frame(
            part if ends else None, sites, gauge_of_site, gauges, hazard_events, idx, p, crs
        )
        for (idx, p), part in zip(sets, parts, strict=True)
    ]


def _warn_short_lookback(intervals: list[pd.Series], lookbacks: set[tuple[float, float]]) -> None:
    """Log, once per (look-back, dead-sensor time), :func:`features.sensor_readings.
    lookback_warning`: sensors whose readings are too far apart for the kinematics
    look-back or the dead-sensor time (monthly surveys)."""
    if not intervals:
        return
    every = pd.concat(intervals)
    for lookback, dead_after_hours in sorted(lookbacks):
        text = lookback_warning(every, lookback, dead_after_hours)
        if text:
            log.warning("site features: %s", text)


@dataclass
class _SetParts:
    """One origin set's per-batch results: rain bins, displacement and health rows."""

    rain: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    displacement: list[pd.DataFrame] = field(default_factory=list)
    health: list[pd.DataFrame] = field(default_factory=list)


@dataclass(frozen=True)
class SiteBatch:
    """Sites whose features are built together: their sensors (rows of the sensors
    table, in its order), the rain gauges whose readings this batch bins, and the ids of
    every sensor whose readings the batch reads."""

    site_ids: tuple[str, ...]
    sensors: pd.DataFrame
    gauges: tuple[str, ...]

    @property
    def sensor_ids(self) -> list[str]:
        own = self.sensors["record_id"].astype(str).tolist()
        return sorted(set(own) | set(self.gauges))


def site_batches(
    sensors: pd.DataFrame,
    sites: pd.DataFrame,
    gauges: Sequence[str],
    batch_sensors: int | None = None,
) -> list[SiteBatch]:
    """Sites (in id order) cut into batches of about ``batch_sensors`` own sensors (None:
    one batch). A gauge is binned in the batch that reads it as a site's own sensor; the
    gauges of no site (or of sites not in ``sites``) in batches of their own of up to
    ``batch_sensors`` gauges (in the first batch with None). Always at least one batch."""
    site_ids = sorted(sites["record_id"].astype(str).unique())
    site_col = sensors["site_id"]
    site_of = site_col.astype(str).where(site_col.notna().to_numpy(), None)
    known = site_of.isin(set(site_ids)).to_numpy()
    per_site = site_of[known].value_counts()
    groups: list[list[str]] = [[]]
    n = 0
    for sid in site_ids:
        k = int(per_site.get(sid, 0))
        if batch_sensors is not None and groups[-1] and n + k > batch_sensors:
            groups.append([])
            n = 0
        groups[-1].append(sid)
        n += k
    batches = []
    covered: set[str] = set()
    for group in groups:
        mask = known & site_of.isin(set(group)).to_numpy()
        own = sensors.loc[mask]
        ids = set(own["record_id"].astype(str))
        batches.append((group, own, sorted(g for g in gauges if g in ids)))
        covered |= ids
    extra = [g for g in gauges if g not in covered]
    if batch_sensors is None or not any(len(own) for _, own, _ in batches):
        group, own, mine = batches[0]
        batches[0] = (group, own, sorted([*mine, *extra]))
    else:  # batches of their own, with no site
        step = max(batch_sensors, 1)
        for i in range(0, len(extra), step):
            batches.append(([], sensors.iloc[:0], extra[i : i + step]))
    return [SiteBatch(tuple(g), own, tuple(mine)) for g, own, mine in batches]


def _rain_bins(
    shared: _SharedReadings,
    batch_gauges: Sequence[str],
    gauges: Sequence[str],
    idx: pd.DatetimeIndex,
    params: SiteFeatureParams,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The usable rain readings of ``batch_gauges`` visible by the last origin: position of
    the gauge in ``gauges``, the step each ends in, and the value (in reading order)."""
    rain = shared.rain
    codes = shared.readings.codes_of(np.asarray(batch_gauges, dtype=object))
    row_of = np.full(len(shared.readings.sensor_ids) + 1, -1, dtype=np.int64)
    at = pd.Index(gauges).get_indexer(pd.Index(batch_gauges, dtype=object))
    row_of[codes[codes >= 0]] = at[codes >= 0]
    gpos = row_of[rain.sensor]
    sel = gpos >= 0
    ends = pd.DatetimeIndex((rain.end[sel] - 1).astype("M8[ns]")).tz_localize("UTC")
    end_bin = _bin_index(ends, params.step_hours, params.tz)
    keep = end_bin <= int(_origin_bins(idx, params.step_hours, params.tz).max())
    return gpos[sel][keep], end_bin[keep], rain.value[sel][keep]


def _rain_matrix(
    bins: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_gauges: int, o_bins: np.ndarray
) -> tuple[np.ndarray, int]:
    """Gauges x steps rain totals from the batches' rain bins, and the first step's index
    (one step before the first origin's, or the first reading's if earlier)."""
    gpos = np.concatenate([b[0] for b in bins]) if bins else np.zeros(0, np.int64)
    end_bin = np.concatenate([b[1] for b in bins]) if bins else np.zeros(0, np.int64)
    value = np.concatenate([b[2] for b in bins]) if bins else np.zeros(0)
    b0 = min(int(end_bin.min()) if len(end_bin) else int(o_bins.min()), int(o_bins.min()) - 1)
    nb = int(o_bins.max()) - b0 + 1
    flat = gpos * nb + (end_bin - b0)
    # per bin, the values are added in reading order, within one gauge (as one batch would)
    mat = np.bincount(flat, weights=value, minlength=n_gauges * nb).reshape(n_gauges, nb)
    return mat, b0


def _site_rain_columns(
    bins: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    gauges: list[str],
    gauge_of_site: pd.Series,
    site_ids: np.ndarray,
    o_bins: np.ndarray,
    params: SiteFeatureParams,
) -> dict[str, np.ndarray]:
    """The rain features of each site (its gauge's, :func:`site_gauges`) at each origin,
    origin-major (the order of :func:`_site_frame`'s keys); NaN for a site without gauge."""
    if not gauges:
        return {}
    mat, b0 = _rain_matrix(bins, len(gauges), o_bins)
    feats = _rain_features(mat, (o_bins - b0).astype(np.int64), params)
    gp = pd.Index(gauges).get_indexer(gauge_of_site.reindex(site_ids).to_numpy())
    return {
        name: np.where(gp[:, None] >= 0, arr[np.maximum(gp, 0), :], np.nan).T.ravel()
        for name, arr in feats.items()
    }


def site_rain(
    readings: pd.DataFrame,
    sensors: pd.DataFrame,
    sites: pd.DataFrame,
    origins: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    params: SiteFeatureParams | None = None,
) -> pd.DataFrame:
    """Each site's rain at each origin, as the site model sees it: ``origin``, ``site_id``,
    ``rain_gauge_id`` (:func:`site_gauges`), the rain feature columns of
    :func:`build_site_features` (the same code: de-duplicated usable readings of the
    site's gauge, visible by the origin, binned where they end) and
    ``rain_readings_24h``, the number of those readings in the 24 h before the origin.

    Rain is unknown (NaN) for a site without gauge; a gauge that sent no reading in the
    window gives 0 mm as a feature (the model was trained so) but ``rain_readings_24h``
    0, so evidence can say "unknown" instead of "0 mm". Nothing after an origin is read.
    """
    p = params or SiteFeatureParams()
    idx = _utc_origins(origins)
    sites = sites.sort_values("record_id").reset_index(drop=True)
    site_ids = sites["record_id"].astype(str).to_numpy(dtype=object)
    gauge_of_site = site_gauges(sites, sensors)
    gauges = sorted(set(gauge_of_site.dropna()))
    out = pd.DataFrame(
        {
            "origin": np.repeat(idx.to_numpy(), len(site_ids)),
            "site_id": np.tile(site_ids, len(idx)),
        }
    )
    out["rain_gauge_id"] = (
        gauge_of_site.reindex(out["site_id"]).astype(object).to_numpy(dtype=object)
    )
    if len(idx) == 0:
        return out
    frame = readings.loc[readings["sensor_id"].astype(str).isin(gauges)]
    shared = _SharedReadings(frame, int(idx.asi8.max()))
    bins = [_rain_bins(shared, gauges, gauges, idx, p)]
    o_bins = _origin_bins(idx, p.step_hours, p.tz)
    for name, vals in _site_rain_columns(bins, gauges, gauge_of_site, site_ids, o_bins, p).items():
        out[name] = vals
    counted = [(g, b, np.ones_like(v)) for g, b, v in bins]
    count = _site_rain_columns(
        counted, gauges, gauge_of_site, site_ids, o_bins, replace(p, rain_windows_hours=(24,))
    )
    out["rain_readings_24h"] = count.get("rain_24h_mm", np.full(len(out), np.nan))
    return out


def _concat_rows(frames: list[pd.DataFrame]) -> pd.DataFrame:
    full = [f for f in frames if len(f)]
    if not full:
        return frames[0]
    return full[0] if len(full) == 1 else pd.concat(full, ignore_index=True)


def _site_frame(
    parts: _SetParts | None,
    sites: pd.DataFrame,
    gauge_of_site: pd.Series,
    gauges: list[str],
    hazard_events: pd.DataFrame,
    idx: pd.DatetimeIndex,
    params: SiteFeatureParams,
    crs: str,
) -> pd.DataFrame:
    step = params.step_hours
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
    if n_o == 0 or parts is None:
        return out
    o_bins = _origin_bins(idx, step, params.tz)
    # --- rain
    for name, vals in _site_rain_columns(
        parts.rain, gauges, gauge_of_site, site_ids, o_bins, params
    ).items():
        out[name] = vals.astype(np.float32)
    # --- displacement (max over the site's displacement sensors)
    out = out.merge(_concat_rows(parts.displacement), on=SITE_KEYS, how="left")
    # --- sensor health
    out = out.merge(_concat_rows(parts.health), on=SITE_KEYS, how="left")
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
    age_ns = np.tile(idx.asi8, len(codes)) - np.where(pos >= 0, table.at("end", pos, 0), 0)
    age_s = np.where(pos >= 0, _seconds(age_ns.astype(np.int64)), np.nan)
    # a value counts only when all its readings started within the look-back before the
    # origin (what serving reads): the same value from every read, none from a silent sensor
    lo = np.tile(idx.asi8, len(codes)) - round(params.kinematics_lookback_days * 24 * _NS_PER_H)
    # and only while the sensor is alive at the origin: a dead sensor's last velocity
    # (often the huge one of the failure that killed it) describes then, not now; the same
    # dead-sensor time as ``dead_sensor_flag`` (``SiteFeatureParams.dead_after_hours``)
    alive = ~phys.is_dead(np.where(pos >= 0, age_ns / _NS_PER_H, np.nan), params.dead_after_hours)
    for name in _DISPLACEMENT_AGG:
        got[name] = table.at(name, pos)
        if name in KINEMATICS_FROM:
            since = table.at(KINEMATICS_FROM[name], pos, np.nan)
            got[name] = np.where((since >= lo) & alive, got[name], np.nan)
    got["displacement_age_days"] = age_s / 86400.0
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
    since_h = np.where(
        last >= 0, (origin - health.at("end", last, 0).astype(np.int64)) / _NS_PER_H, np.nan
    )
    res["dead"] = phys.is_dead(since_h, params.dead_after_hours)
    spacing = _spacing_s(health, last)
    with np.errstate(invalid="ignore"):
        interval_h = np.where(spacing > 0, spacing, 3600) / 3600.0
    n_now = health.at("n_valid", last, 0.0)
    for hours in HEALTH_WINDOWS_HOURS:
        before = health.asof(codes, idx.asi8 - hours * _NS_PER_H).ravel()
        n_win = n_now - health.at("n_valid", before, 0.0)
        expected = hours / interval_h
        share = phys.missing_share(n_win, np.maximum(expected, 1e-9))
        # a window shorter than the sensor's spacing cannot tell a gap from the schedule
        res[f"share_missing_{hours}h"] = np.where(expected >= 1.0, share, np.nan)
    flags = shared.flags(params)
    week = FLAG_WINDOW_HOURS * _NS_PER_H
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


def site_label_events(
    events: pd.DataFrame, sites: pd.DataFrame, params: SiteFeatureParams, crs: str
) -> pd.DataFrame:
    """The (site, event) pairs the site labels count: ``site_id``, ``occurred_at`` and
    ``reported_at`` (NaT where the source has none) of each hazard event at a site, and
    with ``label_radius_m`` of each event without a site within that distance of one.
    The versions' ``known_from`` / ``known_to`` (:func:`riskwarn.lake.read_versions`) are
    carried when ``events`` has them."""
    ev = events.dropna(subset=["occurred_at"])
    site_of = (
        ev["site_id"].astype(object).where(ev["site_id"].notna(), None)
        if "site_id" in ev
        else pd.Series(None, index=ev.index, dtype=object)
    )
    times = {
        col: (
            pd.to_datetime(ev[col], utc=True)
            if col in ev
            else pd.Series(pd.NaT, index=ev.index, dtype="datetime64[ns, UTC]")
        )
        for col in ("occurred_at", "reported_at", "known_from", "known_to")
        if col in ev or col == "reported_at"
    }
    pairs = pd.DataFrame(
        {
            "site_id": site_of.to_numpy(dtype=object),
            **{col: t.to_numpy() for col, t in times.items()},
        }
    ).dropna(subset=["site_id", "occurred_at"])
    pairs["site_id"] = pairs["site_id"].astype(str).astype(object)
    if params.label_radius_m > 0 and len(ev):
        from riskwarn.geo import project

        loose_rows = site_of.isna().to_numpy()
        loose = ev[loose_rows].dropna(subset=["lon", "lat"])
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
                    **{
                        col: np.repeat(t[loose_rows].loc[loose.index].to_numpy(), lens)
                        for col, t in times.items()
                    },
                }
            )
            pairs = pd.concat([pairs, near], ignore_index=True)
    for col in times:
        pairs[col] = pd.to_datetime(pairs[col], utc=True)
    return pairs.reset_index(drop=True)


def _site_labels(
    events: pd.DataFrame,
    sites: pd.DataFrame,
    idx: pd.DatetimeIndex,
    params: SiteFeatureParams,
    crs: str,
) -> pd.DataFrame:
    pairs = site_label_events(events, sites, params, crs)
    pairs = pairs[["site_id", "occurred_at"]].rename(columns={"occurred_at": "t"})
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
