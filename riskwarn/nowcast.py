"""The hourly geohazard nowcast: the site model's probability raised by the sensor rules.

Per monitored site at an origin: the sensor rules on the healthy displacement sensors
(:mod:`riskwarn.warnings`), the hourly model's calibrated probability through the
domain's thresholds (with hysteresis), the higher of the two, and bilingual reasons and
evidence. It also runs when the hourly model is unavailable (the hard sensor rules must
never be silenced by a registry outage) and says so in each warning's evidence and in
the audit log. Written through the same steps as :func:`riskwarn.scoring.score_domain`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskwarn import domains, level_hold, sensor_rules
from riskwarn import serving_frames as sf
from riskwarn import warnings as rw
from riskwarn.scoring import (  # serve_site_model: re-exported, daily serving uses it too
    FeaturesMismatch,
    champion_at,
    data_version,
    forecasts_frame,
    previous_run_warnings,
    refused,
    serve_site_model,
    utc,
    write_run,
)
from riskwarn.site_state import site_states

if TYPE_CHECKING:
    from models.registry import Champion
    from riskwarn.settings import Settings
    from riskwarn.store import Store

log = logging.getLogger(__name__)

# the nowcast's rule parameters live with the rules (the site model uses them too)
DISPLACEMENT_TYPES = sensor_rules.DISPLACEMENT_TYPES
NOWCAST_RULES = sensor_rules.NOWCAST_RULES
ONE_HOUR = pd.Timedelta(hours=1)


def model_level_policy(
    champion: Champion | None, default: domains.LevelPolicy
) -> domains.LevelPolicy:
    """The levels the champion was trained with, else ``default`` (the domain's).

    A site model fitted with training-rate levels (:mod:`models.site_levels`: level ``k``
    warns on as many training rows as the sensor rules' level ``k`` or above) carries its
    four probabilities; the nowcast raises at them and holds at the domain's hold/raise
    ratio below them. A level no training row reached (infinite threshold) is put above
    every probability (1 + k), so it is never raised by the model alone. A middle level
    tied with the one above it (a model trained before the rule) is placed between its
    neighbours by :func:`models.site_levels.untie_levels`, as training now does; unless
    the levels were fitted for the served level (``levels_served``,
    :func:`models.site_levels.served_level_thresholds`): there a level tied with the one
    above means the model adds nothing of its own at it, and the tie is kept.
    """
    model = champion.python_model() if champion is not None else None
    fitted = getattr(model, "fitted", None)
    return threshold_level_policy(
        getattr(fitted, "level_thresholds", None),
        default,
        levels_served=bool(getattr(fitted, "levels_served", False)),
    )


def threshold_level_policy(
    th: Any, default: domains.LevelPolicy, levels_served: bool = False
) -> domains.LevelPolicy:
    """:func:`model_level_policy` from a fit's four level thresholds (``None``: the
    domain's ``default``), so a backtest's saved thresholds give the policy serving uses."""
    from models.site_levels import untie_levels

    if th is None or len(th) != 4:
        return default
    if not levels_served:
        th = untie_levels(th)
    # strictly increasing, as serving needs, with every level at or above its fitted
    # threshold warned at it (training's and the gate's rule, ``score >= threshold``): a
    # level tied with the one above goes just below it (the next float down), never the
    # upper one up (a score equal to the tie was then served a level lower than trained)
    top = [float(t) if np.isfinite(t) else 1.0 + k for k, t in enumerate(th, start=1)]
    raise_at = top[:]
    for k in range(len(raise_at) - 2, -1, -1):
        if raise_at[k] >= raise_at[k + 1]:
            raise_at[k] = float(np.nextafter(raise_at[k + 1], -np.inf))
    raise_at = [max(t, 1e-9 * (k + 1)) for k, t in enumerate(raise_at)]
    ratio = min(h / r for h, r in zip(default.hold_at, default.raise_at, strict=True))
    hold_at = [r * ratio for r in raise_at]
    # levels one float apart can round together once scaled: keep them apart the same way
    # (else LevelPolicy refused the policy and the nowcast could not publish at all)
    for k in range(len(hold_at) - 2, -1, -1):
        if hold_at[k] >= hold_at[k + 1]:
            hold_at[k] = float(np.nextafter(hold_at[k + 1], -np.inf))
    # a level the fit does not warn at is not held by the model's probability either:
    # no finite threshold (the rules alone warn there), or, fitted for the served level,
    # tied with the level above (the model adds nothing of its own at it)
    fitted = [float(t) for t in th]
    holds = tuple(
        bool(np.isfinite(t))
        and not (levels_served and k < 3 and np.isfinite(fitted[k + 1]) and t >= fitted[k + 1])
        for k, t in enumerate(fitted)
    )
    return domains.LevelPolicy(
        tuple(raise_at),  # type: ignore[arg-type]
        tuple(hold_at),  # type: ignore[arg-type]
        default.max_high_per_county,
        holds,  # type: ignore[arg-type]
    )


def publish_levels(
    units: pd.DataFrame,
    prob: np.ndarray,
    policy: domains.LevelPolicy,
    previous: pd.DataFrame,
    hy: level_hold.Hysteresis = level_hold.BATCH_HYSTERESIS,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The levels one hourly run publishes (pure; :func:`nowcast_geohazard` calls it).

    ``units``: ``unit_id``, ``county_code``, ``township_code``, ``sensor_level_rank``,
    ``sensor_red``, ``sensor_reason``, ``health_status``, ``health_note``,
    ``failure_in_hours``; ``prob``: the model's probability per unit (NaN: none);
    ``previous``: the previous published run's warnings (``unit_id``, ``level_rank``,
    ``evidence``; may be empty). The model's level with hysteresis against the previous
    published level (:func:`riskwarn.warnings.assign_levels`), raised by the sensor
    rules and health, then held as the stream holds it (one rule,
    :func:`riskwarn.level_hold.hold_step`): raised at once, lowered only after a
    sustained calm, so a slope at a threshold does not publish red/yellow/red hour to
    hour. Returns the model's levels, the combined levels (``level_rank`` = published)
    and the hold frame (indexed by ``unit_id``)."""
    model_levels = rw.assign_levels(
        units[["unit_id", "county_code", "township_code"]].assign(probability=prob),
        policy,
        previous[["unit_id", "level_rank"]],
    )
    sensor_cols = ["unit_id", "sensor_level_rank", "sensor_red", "sensor_reason"]
    levels = rw.combine_geohazard_levels(
        model_levels, units[[*sensor_cols, "health_status", "health_note", "failure_in_hours"]]
    )
    held = level_hold.held_levels(
        list(levels["unit_id"]), levels["level_rank"].to_numpy(), previous, hy
    ).set_index("unit_id")
    levels["level_rank"] = held["level_rank"].reindex(levels["unit_id"]).to_numpy()
    return model_levels, levels, held


def published_site_levels(
    rows: pd.DataFrame,
    policy: Any,
    step: pd.Timedelta = ONE_HOUR,
    hy: level_hold.Hysteresis = level_hold.BATCH_HYSTERESIS,
) -> np.ndarray:
    """The levels the hourly nowcast would publish for a backtest's hourly rows.

    ``rows``: ``site_id``, ``origin``, ``probability`` (the model's; NaN: no model, the
    rules alone) and ``rules_level`` (the sensor rules' level, 0..4), one row per site
    and origin; ``policy``: a :class:`~riskwarn.domains.LevelPolicy`, or a function of
    the origin giving one (the fit serving then). Each origin goes through
    :func:`publish_levels`, the nowcast's own step, with the previous run's published
    levels as its ``previous`` (as ``previous_run_warnings`` reads them from the store:
    the warned sites, with the hold's evidence); a site with no row one ``step``
    earlier starts unheld, as the nowcast does after a gap. Sensors are taken as
    healthy (a backtest row has a rules level). Returns the published level per row,
    in ``rows``' order."""
    keys = pd.DataFrame(
        {"unit_id": rows["site_id"].astype(str).to_numpy(), "origin": rows["origin"].to_numpy()}
    )
    out = np.zeros(len(rows), dtype=int)
    prob_all = rows["probability"].to_numpy(float)
    rules_all = rows["rules_level"].to_numpy(int)
    published: dict[pd.Timestamp, pd.DataFrame] = {}
    empty = pd.DataFrame({"unit_id": [], "level_rank": [], "evidence": []})
    for origin, idx in keys.groupby("origin", sort=True).indices.items():
        o = pd.Timestamp(origin)
        units = pd.DataFrame(
            {
                "unit_id": keys["unit_id"].to_numpy()[idx],
                "county_code": None,
                "township_code": None,
                "sensor_level_rank": rules_all[idx],
                "sensor_red": rules_all[idx] >= 4,
                "sensor_reason": "",
                "health_status": "ok",
                "health_note": "",
                "failure_in_hours": np.nan,
            }
        )
        if units["unit_id"].duplicated().any():
            raise ValueError(f"published_site_levels: a site twice at {o}")
        pol = policy(o) if callable(policy) else policy
        previous = published.pop(o - step, empty)
        published = {t: f for t, f in published.items() if t > o - step}
        _, _, held = publish_levels(units, prob_all[idx], pol, previous, hy)
        out[idx] = held["level_rank"].reindex(units["unit_id"]).to_numpy(int)
        warned = held.loc[held["level_rank"] > 0].reset_index()
        published[o] = pd.DataFrame(
            {
                "unit_id": warned["unit_id"],
                "level_rank": warned["level_rank"],
                "evidence": [
                    {"held_steps_below": int(n), "held_lower_to": int(t), "held_below": b}
                    if n > 0
                    else {}
                    for n, t, b in zip(
                        warned["held_steps_below"],
                        warned["held_lower_to"],
                        warned["held_below"],
                        strict=True,
                    )
                ],
            }
        )
    return out


def backtest_published_levels(
    scores: pd.DataFrame, fits: pd.DataFrame, domain: str
) -> pd.DataFrame | None:
    """The levels the hourly nowcast would have published over a site backtest's window.

    ``scores``: the backtest's scores (:class:`models.geohazard_sites.SiteBacktest`:
    ``method`` "xgboost" and "sensor_rules" on the same rows, ``score``, ``level``,
    ``label``); ``fits``: its fits (``refit_origin``, ``model_level_thresholds``,
    ``levels_served``), each origin served by the latest fit at or before it, through
    :func:`threshold_level_policy` as serving reads a champion. Returns the model's rows
    sorted by ``origin``, ``site_id`` with ``label``, ``level`` (the model's, as scored),
    ``rules_level``, ``served_pub`` (what the nowcast publishes with the model:
    :func:`published_site_levels`, :func:`publish_levels` hour by hour) and ``rules_pub``
    (what it publishes without a model, the rules alone). None when the origins are not
    hourly steps (a daily domain: the nowcast publishes hourly only). Training's gate
    judges these (:func:`models.site_evaluation.evaluate_site_methods`, ``published``),
    so the levels are trained and served through the same function."""
    from models.site_evaluation import KEYS

    a = scores[scores["method"] == "xgboost"].sort_values(KEYS).reset_index(drop=True)
    b = scores[scores["method"] == "sensor_rules"].sort_values(KEYS).reset_index(drop=True)
    if len(a) != len(b) or not (a[KEYS].to_numpy() == b[KEYS].to_numpy()).all():
        raise ValueError("the model and the sensor rules must score the same rows")
    origins = pd.DatetimeIndex(a["origin"].unique()).sort_values()
    if len(origins) < 2 or origins.to_series().diff().min() != ONE_HOUR or fits.empty:
        return None
    default = domains.get(domain).levels
    f = fits.sort_values("refit_origin").reset_index(drop=True)
    refits = pd.DatetimeIndex(pd.to_datetime(f["refit_origin"], utc=True))
    served = f.get("levels_served", pd.Series(False, index=f.index)).astype(bool)
    policies = [
        threshold_level_policy(None if th is None else list(th), default, levels_served=bool(ls))
        for th, ls in zip(f["model_level_thresholds"], served, strict=True)
    ]

    def policy(origin: pd.Timestamp) -> domains.LevelPolicy:
        i = int(refits.searchsorted(origin, side="right")) - 1
        if i < 0:
            raise ValueError(f"no fit at or before {origin}")
        return policies[i]

    rows = a[["site_id", "origin"]].assign(rules_level=b["level"].to_numpy(int))
    out = a[[*KEYS, "label"]].copy()
    out["level"] = a["level"].to_numpy(int)
    out["rules_level"] = rows["rules_level"].to_numpy()
    out["served_pub"] = published_site_levels(
        rows.assign(probability=a["score"].to_numpy(float)), policy
    )
    out["rules_pub"] = published_site_levels(rows.assign(probability=np.nan), default)
    return out


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
    series: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
    good = set(health.loc[health["status"] == "ok", "sensor_id"])
    for sid, g in disp.loc[disp["sensor_id"].isin(good) & disp["value"].notna()].groupby(
        "sensor_id"
    ):
        # as displacement_kinematics reads a series: sorted by time, the last of a time
        g = g.sort_values("observed_at", kind="stable")
        t = pd.DatetimeIndex(g["observed_at"]).as_unit("ns").asi8
        last = np.append(t[1:] != t[:-1], True)
        series[sid] = (t[last], g["value"].to_numpy(float)[last])
    site_of = dict(zip(health["sensor_id"], health["site_id"], strict=True))
    records = site_states(list(sites["record_id"]), site_of, health, series, rules, step)
    return pd.DataFrame(records)


def rain_evidence(
    sites: pd.DataFrame, sensors: pd.DataFrame, readings: pd.DataFrame, origin: pd.Timestamp
) -> dict[str, float | None]:
    """Rain (mm) over the 24 h before ``origin`` per site, as the site model reads it (pure).

    Through :func:`features.geohazard.site_rain`: the site's gauge by the features' rule
    (its own, else the nearest), the same readings and windows as the model's
    ``rain_24h_mm``. None (unknown, never 0 mm) for a site without gauge or whose gauge
    sent no usable reading in the window. Readings ending after ``origin`` are not read.
    """
    from features.geohazard import site_rain

    r = site_rain(readings, sensors, sites, [origin])
    known = r["rain_readings_24h"].fillna(0).to_numpy() > 0
    mm = r["rain_24h_mm"].to_numpy(float) if "rain_24h_mm" in r else np.full(len(r), np.nan)
    return {
        str(u): (round(float(v), 1) if k and np.isfinite(v) else None)
        for u, v, k in zip(r["site_id"], mm, known, strict=True)
    }


def level_sources(model: Any, rules_rank: int, policy: domains.LevelPolicy) -> dict[str, Any]:
    """What each source says of a site, for its warning's evidence (the dashboard's "why"
    names the source that set the level, and a sensor fault only as a note beside it).

    ``model``: a row of :func:`riskwarn.warnings.assign_levels` (``level_rank``,
    ``raised_rank``, ``probability``); ``rules_rank``: the sensor rules' level. Returns
    ``model_level`` (None below every threshold or without a probability),
    ``model_threshold`` (the probability threshold of that level the model met: the raise
    threshold, or the lower hold one when hysteresis kept it) and ``rules_level``."""
    k = int(model.level_rank)
    p = model.probability
    known = p is not None and not pd.isna(p) and k > 0
    met = policy.raise_at if int(model.raised_rank) >= k else policy.hold_at
    return {
        "model_level": rw.level_name(k) if known else None,
        "model_threshold": round(float(met[k - 1]), 6) if known else None,
        "rules_level": rw.level_name(int(rules_rank)),
    }


def nowcast_geohazard(
    settings: Settings,
    origin: Any,
    *,
    store: Store | None = None,
    airflow_run_id: str | None = None,
    lookback_days: int | None = None,
    domain: str | None = None,
    allow_in_sample: bool = False,
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
    loudly. Re-running the same origin rewrites identical rows. A champion refused over
    its training data end is such an outage (:func:`riskwarn.scoring.champion_at`, batch
    scoring's rule: its end unreadable or changed since it was recorded, audited
    ``champion_refused``; or the origin before it, a backfill that would be in-sample):
    the sensor rules are published alone, then exit 2. ``allow_in_sample``: serve the
    champion at any origin, its data end unchecked, as :func:`riskwarn.scoring.
    score_domain`'s (checks of the serving mechanics on another site's history, e.g. the
    Three Gorges points of 2007 with a model trained on 2023 data:
    tests/test_geohazard_site_models.py; neither the CLI nor the DAGs offer it).

    Reads the readings of the ``lookback_days`` before the origin (None: the
    ``serving_lookback_days`` setting, refused below what the features and rules look
    back: :func:`riskwarn.serving_frames.serving_lookback_days`).
    """
    from models.registry import ChampionUnavailable, champion_expected, serving_champion
    from riskwarn import lake
    from riskwarn.store import Store as _Store

    domain = domain or domains.names(scored_by=domains.NOWCAST_DAG)[0]
    origin = utc(origin)
    if lookback_days is None:  # refused before anything is read or written
        lookback_days = sf.serving_lookback_days(settings)
    if store is None:
        store = _Store.from_settings(settings)
        store.upgrade()
    sites = lake.read_table(settings.lake_dir, "hazard_sites")
    if sites.empty:
        raise RuntimeError("geohazard nowcast: no hazard sites in the lake")
    sensors = lake.read_table(settings.lake_dir, "sensors")
    readings = sf.read_recent_readings(settings, origin, lookback_days)
    state = site_sensor_state(sites, sensors, readings, origin)
    rain = rain_evidence(sites, sensors, readings, origin)
    outage: str | None = None
    try:
        # the data end held to batch scoring's rule (scoring.champion_at): a champion
        # refused over it leaves the sensor rules alone, published, then exit 2
        uri = settings.resolved_mlflow_uri
        champion: Champion | None = (
            serving_champion(uri, domain, store)
            if allow_in_sample
            else champion_at(uri, domain, origin, store)
        )
    except ChampionUnavailable as exc:
        log.warning("%s; nowcasting on sensor rules alone", exc)
        store.audit("pipeline", "model_unavailable", "domain", domain, {"error": str(exc)})
        champion = None
        outage = str(exc) if champion_expected(settings.resolved_mlflow_uri, domain) else None
    units = sites[["record_id", "lon", "lat", "admin_code"]].rename(
        columns={"record_id": "unit_id"}
    )
    units["unit_id"] = units["unit_id"].astype(str)
    codes = sf.admin_lookup(lake.read_table(settings.lake_dir, "admin_units"))
    units = units.merge(codes, left_on="admin_code", right_on="record_id", how="left")
    units = units.merge(state.astype({"unit_id": str}), on="unit_id", how="left")
    mismatch: FeaturesMismatch | None = None
    try:
        served = serve_site_model(
            champion, sites, sensors, readings, origin, domain, settings.display_tz
        )
    except FeaturesMismatch as exc:  # the champion does not fit the site frame: refused
        assert champion is not None  # no champion, no features to lack
        mismatch, refusal = exc, refused(store, champion, exc)
        log.warning("%s; nowcasting on sensor rules alone", refusal)
        outage, champion = str(refusal), None
        served = serve_site_model(
            None, sites, sensors, readings, origin, domain, settings.display_tz
        )
    served = served.set_index("unit_id")
    prob = served["probability"].reindex(units["unit_id"]).to_numpy(float)
    model_reasons = served["reason_items"].to_dict()
    sensor_score = units["sensor_level_rank"].fillna(0).to_numpy() / 4.0
    score = np.fmax(np.nan_to_num(prob, nan=0.0), sensor_score)
    forecasts = forecasts_frame(units, prob, domain, origin, score=score)
    forecasts["probability"] = (
        forecasts["probability"].astype(object).where(forecasts["probability"].notna(), None)
    )
    policy = model_level_policy(champion, domains.get(domain).levels)
    previous = previous_run_warnings(store, domain, origin)
    hy = level_hold.BATCH_HYSTERESIS
    model_levels, levels, held = publish_levels(units, prob, policy, previous, hy)
    levels["score"] = score
    # the rule and health sentences travel as bilingual reason items (below)
    levels["sensor_reason"] = ""
    levels["health_note"] = ""
    reasons = {
        u: [
            *([] if champion is not None else [dict(rw.MODEL_UNAVAILABLE_REASON)]),
            *(items if isinstance(items, list) else []),
        ]
        for u, items in zip(units["unit_id"], units["reason_items"], strict=True)
    }
    evidence = {
        u: {**ev, "rain_24h_mm": rain.get(u), **level_sources(m, s, policy)}
        for u, ev, m, s in zip(
            units["unit_id"],
            units["evidence"],
            model_levels.itertuples(index=False),
            units["sensor_level_rank"].fillna(0).astype(int),
            strict=True,
        )
    }
    for u, h in held.loc[held["held_steps_below"] > 0].iterrows():
        n, raw = int(h["held_steps_below"]), int(h["raw_rank"])
        reasons[u] = [  # the hold set the level: its reason first
            level_hold.held_reason(int(h["level_rank"]), raw, n, hy.lower_after_steps),
            *reasons.get(u, []),
        ]
        evidence[u] = {
            **evidence.get(u, {}),
            "rules_level_rank": raw,
            "held_steps_below": n,
            "held_lower_to": int(h["held_lower_to"]),
            # the levels of those steps: the next run's hold counts each level's own steps
            "held_below": [int(b) for b in h["held_below"]],
        }
    model_label = (
        f"{champion.name} v{champion.version}" if champion else "unavailable (sensor rules only)"
    )
    ctx = rw.WarningContext(
        domain, "site", origin, float(domains.get(domain).horizon_hours), {"model": model_label}
    )
    warnings = rw.build_warnings(
        levels, ctx, reasons, evidence=evidence, model_explanations=model_reasons
    )
    dv = data_version(
        units[["unit_id", "sensor_level_rank", "health_status"]].assign(p=np.nan_to_num(prob))
    )
    run_id = write_run(
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
        # from the mismatch: `riskwarn score` exits 2 for it, as for the daily domains
        raise ChampionUnavailable(
            f"published {run_id} on the sensor rules only, but the {domain} model should "
            f"be serving: {outage}"
        ) from mismatch
    return run_id
