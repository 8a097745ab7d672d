"""Serve a domain: read -> frame -> predict -> levels -> write, keyed on the origin.

:func:`score_domain` is the whole road for a forecast origin:

1. load the domain's verified champion (:func:`models.registry.serving_champion`; it
   fails loudly with ``ChampionUnavailable`` before anything is written, so the last
   published run stays in service);
2. build the frame from what the lake knew before the origin
   (:func:`riskwarn.serving_frames.scoring_frame`: the builder training uses);
3. predict calibrated probabilities (:func:`predict_probability`);
4. derive levels through the domain's :class:`~riskwarn.domains.LevelPolicy`
   (thresholds, hysteresis against the previous run *before this origin*, county
   capacity; :mod:`riskwarn.warnings`) with reasons (:mod:`riskwarn.reasons`);
5. stage, write and publish the run through :class:`riskwarn.store.Store`
   (:func:`write_run`).

Everything is keyed on the origin (the data interval), never on the clock, so
re-running a date rewrites identical rows. The hourly geohazard nowcast, which adds
the sensor rules, is :mod:`riskwarn.nowcast`.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskwarn import domains
from riskwarn import warnings as rw
from riskwarn.reasons import model_explanations
from riskwarn.serving_frames import scoring_frame

if TYPE_CHECKING:
    from models.registry import Champion
    from riskwarn.settings import Settings
    from riskwarn.store import Store

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)


def utc(ts: Any) -> pd.Timestamp:
    """A UTC timestamp from anything pandas understands (naive = UTC)."""
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def run_id_for(domain: str, origin: pd.Timestamp) -> str:
    """Deterministic run id ``{domain}:{origin:%Y%m%dT%H%MZ}`` (STORE_API.md)."""
    return f"{domain}:{utc(origin):%Y%m%dT%H%MZ}"


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


# --------------------------------------------------------------------------- levels (pure)


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


# --------------------------------------------------------------------------- runs


def write_run(
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
    from models.registry import serving_champion
    from riskwarn.store import Store as _Store

    spec = domains.get(domain)
    origin = utc(origin)
    if store is None:
        store = _Store.from_settings(settings)
        store.upgrade()
    champion = serving_champion(settings.resolved_mlflow_uri, domain, store)
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
    explanations = model_explanations(champion, frame)
    if spec.unit == "case":  # the panels read every open case's explanation, warned or not
        forecasts["explanation"] = [explanations.get(str(u)) for u in forecasts["unit_id"]]
    warnings = rw.build_warnings(levels, ctx, explanations)
    return write_run(
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
