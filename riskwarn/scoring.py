"""Score a domain with its MLflow champion and publish forecasts and warnings.

IO layer around the pure code in :mod:`riskwarn.warnings` and the feature builders:

1. load ``models:/riskwarn-<domain>@champion`` (fail loudly with
   :class:`ChampionUnavailable` before anything is written, so the last published run
   stays in service);
2. build the scoring frame for the forecast origin from the lake (only data known
   before the origin);
3. predict calibrated probabilities, derive levels (thresholds, hysteresis against the
   previous run *before this origin*, county capacity), build warning rows;
4. stage, write and publish the run through :class:`riskwarn.store.Store`.

Everything is keyed on the origin (the data interval), never on the clock, so
re-running a date rewrites identical rows. The geohazard nowcast
(:func:`nowcast_geohazard`) adds the sensor rules; it also runs when the hourly model
is unavailable (the hard sensor rules must never be silenced by a registry outage) and
says so in each warning's evidence and in the audit log.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskwarn import domains, sensor_rules
from riskwarn import warnings as rw

if TYPE_CHECKING:
    from riskwarn.settings import Settings
    from riskwarn.store import Store

log = logging.getLogger(__name__)

CHAMPION_ALIAS = "champion"


class ChampionUnavailable(RuntimeError):
    """The registry cannot be reached or the domain has no champion model."""


@dataclass(frozen=True)
class Champion:
    """A loaded champion model and where it came from."""

    domain: str
    name: str
    version: str
    model: Any
    feature_names: list[str] | None
    feature_dtypes: dict[str, Any] | None = None


def model_name(domain: str) -> str:
    """Registered model name of a domain."""
    return f"riskwarn-{domain}"


def utc(ts: Any) -> pd.Timestamp:
    """A UTC timestamp from anything pandas understands (naive = UTC)."""
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def run_id_for(domain: str, origin: pd.Timestamp) -> str:
    """Deterministic run id ``{domain}:{origin:%Y%m%dT%H%MZ}`` (STORE_API.md)."""
    return f"{domain}:{utc(origin):%Y%m%dT%H%MZ}"


def load_champion(settings: Settings, domain: str, store: Store | None = None) -> Champion:
    """Load the champion of ``domain`` after checking it against riskwarn's record.

    The alias, the version's gate tag and its model files must match the newest alias
    move in the serving store's audit log (``registry.verified_champion``) before the
    model is unpickled; a refused champion is audited. :class:`ChampionUnavailable` if
    the model is missing, unreachable or refused.
    """
    import tempfile
    from pathlib import Path

    import mlflow
    from mlflow import MlflowClient

    from models.registry import ChampionRefused, verified_champion
    from riskwarn.redact import redact
    from riskwarn.store import Store as _Store

    name = model_name(domain)
    uri = settings.resolved_mlflow_uri
    if store is None:
        store = _Store.from_settings(settings)
        store.upgrade()
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)  # models:/ URIs resolve against the registry URI
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        with tempfile.TemporaryDirectory(prefix="riskwarn-champion-") as tmp:
            version, folder = verified_champion(client, store, domain, Path(tmp))
            model = mlflow.pyfunc.load_model(str(folder))  # the files just verified
    except ChampionRefused as exc:
        store.audit("pipeline", "champion_refused", "model", name, {"reason": str(exc)})
        raise ChampionUnavailable(f"refusing to serve {name}: {exc}") from exc
    except Exception as exc:  # registry down, model missing, alias missing, artefact lost
        raise ChampionUnavailable(
            redact(
                f"cannot load champion model {name}@{CHAMPION_ALIAS} from {uri}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            )
        ) from exc
    features = getattr(_python_model(model), "features", None)
    if features is None:
        schema = model.metadata.get_input_schema()
        features = schema.input_names() if schema is not None else None
    dtypes = None
    schema = model.metadata.get_input_schema()
    if schema is not None and schema.has_input_names():
        # cast to the logged signature (e.g. float32) so schema enforcement accepts the frame
        dtypes = dict(zip(schema.input_names(), schema.numpy_types(), strict=True))
    return Champion(domain, name, version, model, list(features) if features else None, dtypes)


def _python_model(model: Any) -> Any:
    """The wrapped PythonModel of a pyfunc model, or None."""
    try:
        return model.unwrap_python_model()
    except Exception:
        return None


def predict_probability(champion: Champion, frame: pd.DataFrame) -> np.ndarray:
    """Calibrated probabilities of the champion for every row of ``frame``."""
    cols = champion.feature_names or [c for c in frame.columns if not c.startswith("label_")]
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(
            f"the scoring frame of {champion.domain} lacks the champion's features {missing[:5]}"
        )
    # cast to the champion's logged signature (counts arrive as ints, models take floats)
    out = champion.model.predict(frame[cols].astype(champion.feature_dtypes or float))
    if isinstance(out, pd.DataFrame):
        out = out["probability"] if "probability" in out else out.iloc[:, -1]
    p = np.asarray(out, dtype=float).reshape(len(frame), -1)[:, -1]
    if not np.isfinite(p).all():
        raise ValueError(f"the champion of {champion.domain} returned non-finite scores")
    return np.clip(p, 0.0, 1.0)


def data_version(frame: pd.DataFrame) -> str:
    """Short content hash of the scoring frame (same inputs -> same version)."""
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False).to_numpy().tobytes()
    )
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- admin units


def admin_lookup(admin_units: pd.DataFrame) -> pd.DataFrame:
    """``record_id`` -> ``township_code``, ``county_code`` for every admin unit."""
    if admin_units.empty:
        return pd.DataFrame(columns=["record_id", "township_code", "county_code"])
    a = admin_units.set_index("record_id")
    parent = a["parent_id"]
    level = a["level"]
    rows = []
    for rid in a.index:
        chain = {level.get(rid): rid}
        cur = rid
        for _ in range(5):
            cur = parent.get(cur)
            if cur is None or pd.isna(cur) or cur not in level.index:
                break
            chain[level[cur]] = cur
        rows.append((rid, chain.get("township"), chain.get("county")))
    return pd.DataFrame(rows, columns=["record_id", "township_code", "county_code"])


def cell_admin_codes(
    cells: pd.DataFrame, admin_units: pd.DataFrame, settings: Settings
) -> pd.DataFrame:
    """Township and county of each cell (its centre), from the finest admin polygons."""
    from features.cells import map_cells_to_polygons

    out = cells[["cell_x", "cell_y"]].copy()
    out["township_code"] = None
    out["county_code"] = None
    if admin_units.empty or out.empty:
        return out
    polys = admin_units.dropna(subset=["geometry_wkt"])
    for level in ("community", "township", "county"):
        level_polys = polys.loc[polys["level"] == level]
        if len(level_polys):
            break
    else:
        return out
    m = map_cells_to_polygons(out, level_polys, settings.cell_size_m, settings.city_crs)
    codes = m.merge(admin_lookup(admin_units), left_on="unit_id", right_on="record_id", how="left")
    out["township_code"] = (
        codes["township_code"].astype(object).where(codes["township_code"].notna(), None).to_numpy()
    )
    out["county_code"] = (
        codes["county_code"].astype(object).where(codes["county_code"].notna(), None).to_numpy()
    )
    return out


# --------------------------------------------------------------------------- scoring frames


def cell_scoring_frame(settings: Settings, domain: str, origin: pd.Timestamp) -> pd.DataFrame:
    """Cell features at ``origin`` for a hotspot domain, located and rolled up.

    The frame is :func:`models.frames.hotspot_frame`, the builder training and
    backtests use; the active area is every cell with an event known before the origin.
    """
    from models.frames import CityGrid, hotspot_frame
    from riskwarn import geo, lake

    spec = domains.get(domain)
    events = lake.read_table(settings.lake_dir, spec.event_table)
    # only what was known before the origin enters features (labels are dropped below)
    events = events.loc[events[spec.time_column] < origin]
    grid = CityGrid(settings.city_crs, settings.cell_size_m, settings.display_tz)
    frame = hotspot_frame(spec, events, pd.DatetimeIndex([origin]), grid)
    if frame.empty:
        return pd.DataFrame()
    frame = frame[[c for c in frame.columns if not c.startswith("label_")]]
    cells = frame[["cell_x", "cell_y"]].drop_duplicates()
    admin = cell_admin_codes(cells, lake.read_table(settings.lake_dir, "admin_units"), settings)
    frame = frame.merge(admin, on=["cell_x", "cell_y"], how="left")
    x = (frame["cell_x"].to_numpy(float) + 0.5) * settings.cell_size_m
    y = (frame["cell_y"].to_numpy(float) + 0.5) * settings.cell_size_m
    frame["lon"], frame["lat"] = geo.unproject(x, y, settings.city_crs)
    frame["unit_id"] = [
        geo.cell_id(a, b) for a, b in zip(frame["cell_x"], frame["cell_y"], strict=True)
    ]
    return frame


def case_scoring_frame(
    settings: Settings, origin: pd.Timestamp, domain: str | None = None
) -> pd.DataFrame:
    """Features of every dispute case open (and not yet escalated) at ``origin``.

    The same builder as training (:func:`models.frames.case_frame`) on
    the cases and events known before the origin; ``unit_id`` is the dispute id, located
    at the case's point and rolled up to township and county through its admin code.
    No personal field is carried (party pseudonyms are only used inside the builder).
    """
    from models.frames import CityGrid, case_frame
    from riskwarn import lake

    disputes = lake.read_table(settings.lake_dir, "disputes")
    events = lake.read_table(settings.lake_dir, "dispute_events")
    disputes = disputes.loc[disputes["opened_at"] < origin]
    events = events.loc[events["event_at"] < origin]
    if disputes.empty:
        return pd.DataFrame()
    grid = CityGrid(settings.city_crs, settings.cell_size_m, settings.display_tz)
    spec = domains.get(domain) if domain else domains.get(domains.names("case")[0])
    frame = case_frame(spec, disputes, events, pd.DatetimeIndex([origin]), grid)
    frame = frame[[c for c in frame.columns if not c.startswith("label_")]]
    if frame.empty:
        return frame
    place = disputes[["record_id", "lon", "lat", "admin_code"]].rename(
        columns={"record_id": "dispute_id"}
    )
    codes = admin_lookup(lake.read_table(settings.lake_dir, "admin_units"))
    place = place.merge(codes, left_on="admin_code", right_on="record_id", how="left")
    frame = frame.merge(
        place[["dispute_id", "lon", "lat", "township_code", "county_code"]],
        on="dispute_id",
        how="left",
    )
    frame["unit_id"] = frame["dispute_id"].astype(str)
    return frame


def scoring_frame(settings: Settings, domain: str, origin: pd.Timestamp) -> pd.DataFrame:
    """The frame scored for ``domain`` at ``origin``: ``unit_id`` + codes + features."""
    family = domains.get(domain).family
    if family == "hotspot":
        return cell_scoring_frame(settings, domain, origin)
    if family == "case":
        return case_scoring_frame(settings, origin, domain)
    return site_scoring_frame(settings, origin, domain)


def site_scoring_frame(
    settings: Settings, origin: pd.Timestamp, domain: str, lookback_days: int = 35
) -> pd.DataFrame:
    """Site model features of every monitored site at ``origin`` (daily ``geohazard``).

    The training builder on the readings of ``[origin - lookback, origin)``; ``unit_id`` is
    the site, located at the site and rolled up through its admin code. The daily model
    gives levels only; the hard sensor rules run in the hourly nowcast.
    """
    from riskwarn import lake

    sites = lake.read_table(settings.lake_dir, "hazard_sites")
    if sites.empty:
        return pd.DataFrame()
    sensors = lake.read_table(settings.lake_dir, "sensors")
    readings = read_recent_readings(settings, origin, lookback_days)
    frame = site_model_frame(sites, sensors, readings, origin, domain, settings.display_tz)
    place = sites[["record_id", "lon", "lat", "admin_code"]].astype({"record_id": str})
    codes = admin_lookup(lake.read_table(settings.lake_dir, "admin_units"))
    place = place.merge(codes, left_on="admin_code", right_on="record_id", how="left")
    place = place.drop(columns=["record_id_y"]).rename(columns={"record_id_x": "unit_id"})
    return frame.merge(
        place[["unit_id", "lon", "lat", "township_code", "county_code"]], on="unit_id", how="left"
    )


# --------------------------------------------------------------------------- frames (pure)


def forecasts_frame(
    units: pd.DataFrame,
    probability: np.ndarray,
    domain: str,
    origin: pd.Timestamp,
    score: np.ndarray | None = None,
) -> pd.DataFrame:
    """Rows of the ``forecasts`` table; ``rank`` 1 = riskiest (ties by unit id)."""
    spec = domains.get(domain)
    f = pd.DataFrame(
        {
            "unit_type": spec.unit,
            "unit_id": units["unit_id"].astype(str).to_numpy(),
            "domain": domain,
            "origin": origin,
            "valid_to": origin + pd.Timedelta(hours=spec.horizon_hours),
            "score": probability if score is None else score,
            "probability": probability,
        }
    )
    for col in ("county_code", "township_code", "cell_x", "cell_y", "lon", "lat"):
        f[col] = units[col].to_numpy() if col in units else None
    f = f.sort_values(["score", "unit_id"], ascending=[False, True]).reset_index(drop=True)
    f["rank"] = np.arange(1, len(f) + 1)
    return f


def previous_levels(history: pd.DataFrame, origin: pd.Timestamp) -> pd.DataFrame:
    """Levels of the latest published run strictly before ``origin`` (for hysteresis)."""
    if history.empty:
        return pd.DataFrame(columns=["unit_id", "level_rank"])
    h = history.assign(origin=pd.to_datetime(history["origin"], utc=True))
    h = h.loc[h["origin"] < origin]
    if h.empty:
        return pd.DataFrame(columns=["unit_id", "level_rank"])
    last = h.loc[h["origin"] == h["origin"].max()]
    return last[["unit_id", "level_rank"]].astype({"level_rank": int})


def issued_this_week(history: pd.DataFrame, origin: pd.Timestamp) -> dict[str, int]:
    """Orange+red warnings per county already issued in origin's ISO week, before origin."""
    if history.empty:
        return {}
    h = history.assign(origin=pd.to_datetime(history["origin"], utc=True))
    week_start = (origin.normalize() - pd.Timedelta(days=origin.weekday())).tz_convert("UTC")
    h = h.loc[(h["origin"] >= week_start) & (h["origin"] < origin) & (h["level_rank"] >= 3)]
    if h.empty:
        return {}
    # a unit warned on several days counts once
    h = h.drop_duplicates("unit_id")
    return h.groupby(h["county_code"].fillna(""))["unit_id"].count().astype(int).to_dict()


def count_evidence_reason(n7: int | None, n28: int | None) -> dict[str, str] | None:
    """Recent event counts of a cell as one reason in English and Chinese (None if none)."""
    en, zh = [], []
    if n7 is not None:
        en.append(f"{n7:,d} events in this cell in the last 7 days")
        zh.append(f"近 7 天本网格发生 {n7:,d} 起事件")
    if n28 is not None:
        en.append(f"{n28:,d} in the last 28 days")
        zh.append(f"近 28 天 {n28:,d} 起")
    if not en:
        return None
    return {"en": ", ".join(en).capitalize() + ".", "zh": "，".join(zh) + "。"}


def evidence_sentences(frame: pd.DataFrame) -> dict[str, list[dict[str, str]]]:
    """Plain-language evidence from count features when no model explanation is available
    (each a bilingual ``{"en": ..., "zh": ...}`` reason)."""
    out: dict[str, list[dict[str, str]]] = {}
    col7 = next((c for c in frame.columns if c.endswith("_7d") and c.startswith("count")), None)
    col28 = next((c for c in frame.columns if c.endswith("_28d") and c.startswith("count")), None)
    for r in frame.itertuples(index=False):
        reason = count_evidence_reason(
            int(getattr(r, col7)) if col7 else None, int(getattr(r, col28)) if col28 else None
        )
        out[str(r.unit_id)] = [reason] if reason else []
    return out


def explanation_reason(row: Mapping[str, Any]) -> Any:
    """The reason of one ``explain`` row: ``{"en", "zh"}`` when it has both, else the sentence."""
    if row.get("sentence_zh"):
        return {"en": row["sentence"], "zh": row["sentence_zh"]}
    return row["sentence"]


def model_explanations(champion: Champion, frame: pd.DataFrame) -> dict[str, list[Any]]:
    """Explanation sentences from models when it offers them (bilingual
    ``{"en", "zh"}`` reasons), else count evidence."""
    python_model = _python_model(champion.model)
    try:
        rows = python_model.explain(frame)
        return {
            str(u): [explanation_reason(r)] for u, r in zip(frame["unit_id"], rows, strict=True)
        }
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        log.info("no model explanations for %s (%s); using count evidence", champion.domain, exc)
        return evidence_sentences(frame)


# --------------------------------------------------------------------------- runs


def _write_run(
    store: Store,
    *,
    domain: str,
    origin: pd.Timestamp,
    forecasts: pd.DataFrame,
    warnings: pd.DataFrame,
    model_name_: str | None,
    model_version: str | None,
    data_version_: str,
    airflow_run_id: str | None,
) -> str:
    if forecasts.empty:
        raise RuntimeError(f"{domain}: nothing to score at {origin} — not publishing an empty run")
    run_id = store.stage_run(
        {
            "run_id": run_id_for(domain, origin),
            "domain": domain,
            "origin": origin.to_pydatetime(),
            "horizon_hours": float(domains.get(domain).horizon_hours),
            "model_name": model_name_,
            "model_version": model_version,
            "data_version": data_version_,
            "airflow_run_id": airflow_run_id,
        }
    )
    store.write_forecasts(run_id, forecasts)
    if not warnings.empty:
        store.write_warnings(run_id, warnings)
    store.publish_run(run_id)
    store.audit(
        "pipeline",
        "publish_run",
        "forecast_run",
        run_id,
        {
            "domain": domain,
            "n_forecasts": len(forecasts),
            "n_warnings": len(warnings),
            "model_version": model_version,
            "data_version": data_version_,
        },
    )
    return run_id


def score_domain(
    settings: Settings,
    domain: str,
    origin: Any,
    *,
    store: Store | None = None,
    airflow_run_id: str | None = None,
    policy: rw.LevelPolicy | None = None,
) -> str:
    """Score ``domain`` at ``origin`` with its champion, publish; return the run id.

    Raises :class:`ChampionUnavailable` (nothing written, the served run stays) when
    the registry or champion is missing.
    """
    from riskwarn.store import Store as _Store

    spec = domains.get(domain)
    origin = utc(origin)
    if store is None:
        store = _Store.from_settings(settings)
        store.upgrade()
    champion = load_champion(settings, domain, store)
    frame = scoring_frame(settings, domain, origin)
    if frame.empty:
        raise RuntimeError(f"{domain}: no units to score at {origin:%Y-%m-%d %H:%M}Z")
    prob = predict_probability(champion, frame)
    forecasts = forecasts_frame(frame, prob, domain, origin)
    policy = policy or spec.levels
    history = store.warnings(domain=domain, published_only=False)
    scored = forecasts[["unit_id", "probability", "score", "county_code", "township_code"]]
    levels = rw.assign_levels(scored, policy, previous_levels(history, origin))
    levels = rw.apply_capacity(
        levels, policy.max_high_per_county, issued_this_week(history, origin)
    )
    ctx = rw.WarningContext(
        domain,
        spec.unit,
        origin,
        float(spec.horizon_hours),
        {"model": f"{champion.name} v{champion.version}"},
    )
    warnings = rw.build_warnings(levels, ctx, model_explanations(champion, frame))
    return _write_run(
        store,
        domain=domain,
        origin=origin,
        forecasts=forecasts,
        warnings=warnings,
        model_name_=champion.name,
        model_version=champion.version,
        data_version_=data_version(frame),
        airflow_run_id=airflow_run_id,
    )


# --------------------------------------------------------------------------- geohazard nowcast

DISPLACEMENT_TYPES = sensor_rules.DISPLACEMENT_TYPES
NOWCAST_RULES = sensor_rules.NOWCAST_RULES


def site_sensor_state(
    sites: pd.DataFrame,
    sensors: pd.DataFrame,
    readings: pd.DataFrame,
    origin: pd.Timestamp,
    rules: rw.SensorRules = NOWCAST_RULES,
    step: str = "1h",
) -> pd.DataFrame:
    """Per site at ``origin``: sensor-rule level, reason, health and evidence (pure).

    ``readings`` must hold only readings before ``origin``. A site's kinematic level
    is the highest over its healthy displacement sensors; its health is 'ok' when at
    least one displacement sensor is healthy, otherwise the problem of its sensors.
    """
    disp_sensors = sensors.loc[
        sensors["sensor_type"].isin(DISPLACEMENT_TYPES) & sensors["site_id"].notna()
    ]
    disp = readings.loc[
        readings["sensor_id"].isin(disp_sensors["record_id"])
        & readings["quantity"].isin(["displacement_mm", "crack_width_mm"])
    ]
    health = rw.sensor_health(disp, origin, sensors=disp_sensors["record_id"]).merge(
        disp_sensors[["record_id", "site_id"]], left_on="sensor_id", right_on="record_id"
    )
    rows = []
    good = set(health.loc[health["status"] == "ok", "sensor_id"])
    by_sensor = {sid: g for sid, g in disp.groupby("sensor_id")}
    for sid in sorted(good):
        g = by_sensor[sid]
        series = g.set_index("observed_at")["value"]
        k = rw.displacement_kinematics(series, step, rules)
        if k.empty:
            continue
        lv = rw.sensor_levels(k.tail(1), rules).iloc[0]
        last = k.iloc[-1]
        rows.append(
            {
                "sensor_id": sid,
                "sensor_level_rank": int(lv["sensor_level_rank"]),
                "sensor_red": bool(lv["sensor_red"]),
                "sensor_reason": lv["sensor_reason"],
                "velocity_mm_per_day": float(last["velocity_mm_per_day"]),
                "tangent_angle_deg": float(last["tangent_angle_deg"]),
                "failure_in_hours": float(last["failure_in_hours"]),
                "tertiary": bool(last["tertiary"]),
            }
        )
    kin = pd.DataFrame(
        rows,
        columns=[
            "sensor_id",
            "sensor_level_rank",
            "sensor_red",
            "sensor_reason",
            "velocity_mm_per_day",
            "tangent_angle_deg",
            "failure_in_hours",
            "tertiary",
        ],
    )
    per_sensor = health.merge(kin, on="sensor_id", how="left")
    out = []
    for site in sites["record_id"]:
        s = per_sensor.loc[per_sensor["site_id"] == site]
        ok = s.loc[s["status"] == "ok"]
        if len(ok):
            best = ok.sort_values(["sensor_level_rank", "sensor_id"], ascending=[False, True]).iloc[
                0
            ]
            status, note = "ok", " ".join(n for n in s["health_note"] if n)
        else:
            best = None
            status = s["status"].iloc[0] if len(s) else "no_sensor"
            note = " ".join(n for n in s["health_note"] if n) or (
                f"Site {site} has no displacement sensor: movement is unknown."
            )
        evidence = {
            "sensors": [
                {
                    "sensor_id": r.sensor_id,
                    "status": r.status,
                    "readings_24h": int(r.n_readings),
                    "velocity_mm_per_day": None
                    if pd.isna(r.velocity_mm_per_day)
                    else round(float(r.velocity_mm_per_day), 3),
                    "tangent_angle_deg": None
                    if pd.isna(r.tangent_angle_deg)
                    else round(float(r.tangent_angle_deg), 1),
                }
                for r in s.itertuples(index=False)
            ]
        }
        items = []
        if best is not None and not pd.isna(best["sensor_level_rank"]):
            items.append(
                rw.sensor_rule_reason(
                    int(best["sensor_level_rank"]),
                    float(best["tangent_angle_deg"]),
                    float(best["failure_in_hours"]),
                    bool(best["tertiary"]),
                    rules,
                )
            )
        for r in s.itertuples(index=False):
            items.append(
                rw.sensor_health_reason(
                    r.sensor_id, r.status, r.hours_since_last, r.missing_share, r.spike_share
                )
            )
        if not len(s):
            items.append(
                {
                    "en": f"Site {site} has no displacement sensor: movement is unknown.",
                    "zh": f"隐患点 {site} 没有位移监测设备：变形情况未知。",
                }
            )
        out.append(
            {
                "unit_id": site,
                "reason_items": [i for i in items if i is not None],
                "sensor_level_rank": 0
                if best is None or pd.isna(best["sensor_level_rank"])
                else int(best["sensor_level_rank"]),
                "sensor_red": False
                if best is None or pd.isna(best["sensor_red"])
                else bool(best["sensor_red"]),
                "sensor_reason": ""
                if best is None or not isinstance(best["sensor_reason"], str)
                else best["sensor_reason"],
                "failure_in_hours": np.nan if best is None else float(best["failure_in_hours"]),
                "health_status": status,
                "health_note": note,
                "evidence": evidence,
            }
        )
    return pd.DataFrame(out)


def rain_evidence(
    sensors: pd.DataFrame, readings: pd.DataFrame, origin: pd.Timestamp
) -> dict[str, float]:
    """Rain (mm) over the last 24 h per site, from rain gauges at the site (pure)."""
    gauges = sensors.loc[(sensors["sensor_type"] == "rain_gauge") & sensors["site_id"].notna()]
    r = readings.loc[
        (readings["quantity"] == "rain_mm")
        & readings["sensor_id"].isin(gauges["record_id"])
        & (readings["observed_at"] >= origin - pd.Timedelta(hours=24))
    ]
    per_sensor = r.groupby("sensor_id")["value"].sum()
    site_of = gauges.set_index("record_id")["site_id"]
    return per_sensor.groupby(site_of.reindex(per_sensor.index)).max().round(1).to_dict()


def champion_expected(settings: Settings, domain: str) -> bool:
    """Whether a missing champion is an outage: True when the registry cannot be asked or
    the registered model exists (so its champion was deleted or cannot be loaded), False
    only when the registry answers that the model was never registered (a fresh install).
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = settings.resolved_mlflow_uri
    try:
        MlflowClient(tracking_uri=uri, registry_uri=uri).get_registered_model(model_name(domain))
    except MlflowException as exc:
        return getattr(exc, "error_code", "") != "RESOURCE_DOES_NOT_EXIST"
    except Exception:
        return True
    return True


def site_model_frame(
    sites: pd.DataFrame,
    sensors: pd.DataFrame,
    readings: pd.DataFrame,
    origin: pd.Timestamp,
    domain: str,
    tz: str,
) -> pd.DataFrame:
    """The site model's features at ``origin`` (the training builder, readings before it).

    ``unit_id`` = site id. Hazard events are not read: they are only labels.
    """
    from models.frames import site_frame

    events = pd.DataFrame(
        {"occurred_at": pd.Series([], dtype="datetime64[ns, UTC]"), "site_id": []}
    )
    frame = site_frame(
        domains.get(domain),
        readings,
        sensors,
        sites,
        events,
        pd.DatetimeIndex([origin]),
        tz,
        with_rules=False,
    )
    frame = frame[[c for c in frame.columns if not c.startswith("label_")]]
    return frame.rename(columns={"site_id": "unit_id"})


def site_model_reasons(champion: Champion, frame: pd.DataFrame) -> dict[str, list[Any]]:
    """The champion's explanation per site ({} if it offers none): the bilingual
    ``reason`` of :func:`models.explain.explain_rows`, else its English sentence."""
    python_model = _python_model(champion.model)
    try:
        rows = python_model.explain(frame)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        log.info("no model explanations for %s (%s)", champion.domain, exc)
        return {}
    return {
        str(u): [r.get("reason") or r["sentence"]] if r.get("factors") or r.get("deferred") else []
        for u, r in zip(frame["unit_id"], rows, strict=True)
    }


def nowcast_geohazard(
    settings: Settings,
    origin: Any,
    *,
    store: Store | None = None,
    airflow_run_id: str | None = None,
    lookback_days: int = 35,
    domain: str | None = None,
) -> str:
    """Hourly geohazard nowcast for every monitored site; return the published run id.

    The level is the hourly model's calibrated probability through the domain's
    thresholds (with hysteresis), raised by the hard sensor rules: a rule's orange or red
    is never lowered by the model, and a site whose sensors are all unhealthy gets at
    least blue with the problem stated. Without a usable champion the sensor-rule
    warnings are still published (a registry outage must not silence a failing slope),
    each saying "model unavailable, sensor rules only", with an empty model version and
    an audit-log event; then, unless the model was simply never registered (a fresh
    install), :class:`ChampionUnavailable` is raised *after* publishing so the task fails
    loudly. Re-running the same origin rewrites identical rows.
    """
    from riskwarn import lake
    from riskwarn.store import Store as _Store

    domain = domain or domains.names(scored_by=domains.NOWCAST_DAG)[0]
    origin = utc(origin)
    if store is None:
        store = _Store.from_settings(settings)
        store.upgrade()
    sites = lake.read_table(settings.lake_dir, "hazard_sites")
    if sites.empty:
        raise RuntimeError("geohazard nowcast: no hazard sites in the lake")
    sensors = lake.read_table(settings.lake_dir, "sensors")
    readings = read_recent_readings(settings, origin, lookback_days)
    state = site_sensor_state(sites, sensors, readings, origin)
    rain = rain_evidence(sensors, readings, origin)
    outage: str | None = None
    try:
        champion: Champion | None = load_champion(settings, domain, store)
    except ChampionUnavailable as exc:
        log.warning("%s; nowcasting on sensor rules alone", exc)
        store.audit("pipeline", "model_unavailable", "domain", domain, {"error": str(exc)})
        champion = None
        outage = str(exc) if champion_expected(settings, domain) else None
    units = sites[["record_id", "lon", "lat", "admin_code"]].rename(
        columns={"record_id": "unit_id"}
    )
    units["unit_id"] = units["unit_id"].astype(str)
    codes = admin_lookup(lake.read_table(settings.lake_dir, "admin_units"))
    units = units.merge(codes, left_on="admin_code", right_on="record_id", how="left")
    units = units.merge(state.astype({"unit_id": str}), on="unit_id", how="left")
    model_reasons: dict[str, list[Any]] = {}
    if champion is not None:
        frame = site_model_frame(sites, sensors, readings, origin, domain, settings.display_tz)
        frame = units[["unit_id"]].merge(frame, on="unit_id", how="left")
        prob = predict_probability(champion, frame)
        model_reasons = site_model_reasons(champion, frame)
    else:
        prob = np.full(len(units), np.nan)
    sensor_score = units["sensor_level_rank"].fillna(0).to_numpy() / 4.0
    score = np.fmax(np.nan_to_num(prob, nan=0.0), sensor_score)
    forecasts = forecasts_frame(units, prob, domain, origin, score=score)
    forecasts["probability"] = (
        forecasts["probability"].astype(object).where(forecasts["probability"].notna(), None)
    )
    policy = domains.get(domain).levels
    history = store.warnings(domain=domain, published_only=False)
    model_levels = rw.assign_levels(
        units[["unit_id", "county_code", "township_code"]].assign(probability=prob),
        policy,
        previous_levels(history, origin),
    )
    sensor_cols = ["unit_id", "sensor_level_rank", "sensor_red", "sensor_reason"]
    levels = rw.combine_geohazard_levels(
        model_levels, units[[*sensor_cols, "health_status", "health_note", "failure_in_hours"]]
    )
    levels["score"] = score
    # the rule and health sentences travel as bilingual reason items (below)
    levels["sensor_reason"] = ""
    levels["health_note"] = ""
    reasons = {
        u: [
            *([] if champion is not None else [dict(rw.MODEL_UNAVAILABLE_REASON)]),
            *(items if isinstance(items, list) else []),
            *model_reasons.get(u, []),
        ]
        for u, items in zip(units["unit_id"], units["reason_items"], strict=True)
    }
    evidence = {
        u: {**ev, "rain_24h_mm": rain.get(u, 0.0)}
        for u, ev in zip(units["unit_id"], units["evidence"], strict=True)
    }
    model_label = (
        f"{champion.name} v{champion.version}" if champion else "unavailable (sensor rules only)"
    )
    ctx = rw.WarningContext(
        domain, "site", origin, float(domains.get(domain).horizon_hours), {"model": model_label}
    )
    warnings = rw.build_warnings(levels, ctx, reasons, evidence=evidence)
    dv = data_version(
        units[["unit_id", "sensor_level_rank", "health_status"]].assign(p=np.nan_to_num(prob))
    )
    run_id = _write_run(
        store,
        domain=domain,
        origin=origin,
        forecasts=forecasts,
        warnings=warnings,
        model_name_=champion.name if champion else None,
        model_version=champion.version if champion else None,
        data_version_=dv,
        airflow_run_id=airflow_run_id,
    )
    if outage is not None:
        raise ChampionUnavailable(
            f"published {run_id} on the sensor rules only, but the {domain} model should "
            f"be serving: {outage}"
        )
    return run_id


def read_recent_readings(
    settings: Settings, origin: pd.Timestamp, lookback_days: int
) -> pd.DataFrame:
    """Sensor readings in ``[origin - lookback, origin)`` from the lake (windowed read)."""
    from riskwarn import lake

    cols = ["sensor_id", "observed_at", "interval_s", "quantity", "value", "quality"]
    frame = lake.read_table(
        settings.lake_dir,
        "sensor_readings",
        columns=cols,
        start=origin - pd.Timedelta(days=lookback_days),
        end=origin,
    )
    order = lake.sort_order(frame, ["sensor_id", "observed_at"])
    frame = frame.take(order).reset_index(drop=True)
    frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True)
    return frame
