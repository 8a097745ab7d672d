"""Dispute-case escalation model: train, register, load the champion, score (tiny data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.disputes import DisputeCaseParams, build_dispute_case_features
from models.case_models import (
    CaseModelConfig,
    build_case_table,
    case_features,
    train_case_domain,
)
from models.registry import configure, load_champion, promote
from riskwarn import lake
from riskwarn.geo import unproject

DOMAIN = "dispute_cases"
START = pd.Timestamp("2023-01-01T00:00:00", tz="Asia/Shanghai").tz_convert("UTC")
CATEGORIES = ("neighbour", "labour", "land")


def _cases(n: int = 1500, days: int = 280, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cases whose daily escalation hazard rises with failed mediations (and labour cases).

    Mediation about every 8 days; each fails with probability 0.55, a success closes
    the case; cases close after 120 days.
    """
    rng = np.random.default_rng(seed)
    rows, events = [], []
    for i in range(n):
        cid = f"MD{i:05d}"
        opened = START + pd.Timedelta(days=float(rng.uniform(0, days)))
        cat = CATEGORIES[i % 3]
        x = (2000 + rng.integers(0, 6) + 0.5) * 250.0
        y = (13500 + rng.integers(0, 6) + 0.5) * 250.0
        lon, lat = unproject(np.array([x]), np.array([y]), "EPSG:32650")
        rows.append(
            {
                "record_id": cid,
                "opened_at": opened,
                "category": cat,
                "lon": float(lon[0]),
                "lat": float(lat[0]),
                "party_ids": f"P{rng.integers(0, 400)};P{rng.integers(0, 400)}",
                "n_parties": 2,
                "amount_cny": float(rng.lognormal(9, 1)),
            }
        )
        events.append((cid, opened, "opened"))
        failed, next_med = 0, 3
        for day in range(1, 121):
            t = opened + pd.Timedelta(days=day)
            if day == next_med:
                events.append((cid, t, "mediation_attempt"))
                if rng.random() < 0.55:
                    failed += 1
                    events.append((cid, t + pd.Timedelta(hours=2), "mediation_failed"))
                    next_med = day + 8
                else:
                    events.append((cid, t + pd.Timedelta(hours=2), "mediation_succeeded"))
                    events.append((cid, t + pd.Timedelta(hours=3), "closed"))
                    break
            logit = -6.5 + 1.3 * failed + (0.8 if cat == "labour" else 0.0)
            if rng.random() < 1 / (1 + np.exp(-logit)):
                events.append((cid, t + pd.Timedelta(hours=5), "escalated_petition"))
                events.append((cid, t + pd.Timedelta(days=20), "closed"))
                break
        else:
            events.append((cid, opened + pd.Timedelta(days=121), "closed"))
    disputes = pd.DataFrame(rows).assign(source="test", admin_code=None)
    ev = pd.DataFrame(events, columns=["dispute_id", "event_at", "event_type"])
    ev = ev.assign(source="test", record_id=[f"E{i:06d}" for i in range(len(ev))])
    return disputes, ev


CONFIG = CaseModelConfig(es_origins=3, cal_origins=3, refit_every_days=28)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _cases()


def test_no_personal_fields_in_features(data) -> None:
    disputes, events = data
    origins = pd.DatetimeIndex([START + pd.Timedelta(days=120)])
    table = build_case_table(
        disputes, events, origins, crs="EPSG:32650", cell_size_m=250, tz="Asia/Shanghai"
    )
    feats = case_features(table)
    assert "n_failed_mediations" in feats and len(feats) > 10
    for f in feats:
        assert not any(m in f.lower() for m in ("party_ids", "name", "phone", "id_number"))
    assert "dispute_id" not in feats and not any(f.startswith("label_") for f in feats)
    with pytest.raises(ValueError, match="personal"):
        case_features(table.assign(party_name="x"))


def test_train_register_load_and_score(data, settings) -> None:
    from riskwarn.scoring import score_domain
    from riskwarn.store import Store

    disputes, events = data
    lake.upsert(settings.lake_dir, "disputes", "test", disputes, batch_id="d")
    lake.upsert(settings.lake_dir, "dispute_events", "test", events, batch_id="e")
    client = configure(settings.resolved_mlflow_uri)
    store = Store.from_settings(settings)
    store.upgrade()
    artifacts = (settings.home / "mlartifacts").resolve()
    report = train_case_domain(
        disputes,
        events,
        client,
        domain=DOMAIN,
        crs=settings.city_crs,
        cell_size_m=settings.cell_size_m,
        tz="Asia/Shanghai",
        eval_days=56,
        config=CONFIG,
        store=store,
        n_boot=100,
        artifact_location=artifacts.as_uri(),
    )
    m = report.metrics["methods"]
    assert set(m) == {"xgboost", "failed_mediations", "category_rate"}
    assert m["xgboost"]["auc"] > 0.6
    assert m["xgboost"]["auc"] > m["category_rate"]["auc"]
    assert 0 < m["xgboost"]["brier"] < 0.25
    checks = {c["check"] for c in report.gate.checks}
    assert checks == {"beats category_rate", "beats failed_mediations", "calibration"}
    # every escalation of the window counted, the ones no weekly row scored too
    esc, never = report.metrics["escalations"], report.metrics["escalations_never_scored"]
    escalating = report.scores.loc[report.scores["label"] == 1, "dispute_id"].nunique()
    assert esc == escalating + never and never >= 0
    assert f"{never} of {esc} escalations never scored" in report.gate.summary()
    assert 0 <= m["xgboost"]["escalation_recall@0.1"] <= m["xgboost"]["escalation_recall@0.2"]
    calib = report.gate.checks[-1]  # the bound from the challenger's own predictions
    assert calib["check"] == "calibration" and 0 < calib["noise_q95"] < 1
    assert calib["noise_draws"] == 200 and "the 95 % ECE of a calibrated model" in calib["detail"]
    assert report.version == "1"
    assert report.promoted == report.gate.passed
    if not report.promoted:
        promote(client, DOMAIN, report.version, store=store, reason="toy data", force=True)

    champ = load_champion(DOMAIN)
    # behaviour: risk rises with failed mediations, everything else equal
    origins = pd.DatetimeIndex([START + pd.Timedelta(days=200)])
    table = build_case_table(
        disputes, events, origins, crs="EPSG:32650", cell_size_m=250, tz="Asia/Shanghai"
    )
    rows = table.loc[table["n_failed_mediations"] == 1].head(5)
    assert len(rows) == 5
    rises = []
    for i in range(len(rows)):
        row = rows.iloc[[i]]
        # each further failed mediation is an attempt + a failure event in the case's log
        probe = pd.concat(
            [
                row.assign(n_failed_mediations=1.0 + k, n_mediations=row["n_mediations"] + 2.0 * k)
                for k in range(4)
            ]
        )
        p = champ.predict(None, probe[champ.features].astype("float32"))["probability"]
        p = p.to_numpy()
        assert np.all(np.diff(p) >= -1e-12)  # never falls (monotone constraint)
        rises.append(p[-1] - p[0])
    assert np.mean(rises) > 0.04  # and clearly rises (learned)

    origin = START + pd.Timedelta(days=230)
    # before the model's data end (in-sample on purpose: the serving road, not skill)
    run_id = score_domain(settings, DOMAIN, origin, store=store, allow_in_sample=True)
    fc = store.published_forecasts(DOMAIN)
    assert store.published_run(DOMAIN)["run_id"] == run_id
    open_ids = set(
        build_case_table(
            disputes.loc[disputes["opened_at"] < origin],
            events.loc[events["event_at"] < origin],
            [origin],
            crs="EPSG:32650",
            cell_size_m=250,
            tz="Asia/Shanghai",
        )["dispute_id"]
    )
    assert len(open_ids) > 10
    assert set(fc["unit_id"]) == open_ids
    # the open cases left out (escalated already) are published with the run, so the
    # panel can count every open case (it said "Open cases 50" where 103 were open)
    every = build_dispute_case_features(
        disputes.loc[disputes["opened_at"] < origin].assign(cell_x=0, cell_y=0),
        events.loc[events["event_at"] < origin],
        [origin],
        DisputeCaseParams(include_escalated=True),
    )
    escalated = sorted(every.loc[every["already_escalated"] == 1, "dispute_id"])
    assert escalated and not set(escalated) & open_ids
    assert store.published_run(DOMAIN)["unscored"] == {"already_escalated": escalated}
    assert fc["probability"].between(0, 1).all() and (fc["unit_type"] == "case").all()
    # every open case carries its explanation, with or without a warning (issue 12 §1:
    # the disputes page showed nothing for cases below the warning levels)
    assert all(isinstance(e, list) and e for e in fc["explanation"]), fc["explanation"].head()
    w = store.warnings(domain=DOMAIN, published_only=False)
    assert len(w) > 0
    assert any(
        "Higher risk mainly because" in item["en"] and "风险偏高的主要原因" in item["zh"]
        for r in w["reasons"]
        for item in r
        if isinstance(item, dict)
    )
    # each warning's evidence: the case's facts as the model saw them at the origin (the
    # scoring frame's own values, not the lake's today); before 2026-12-06 only
    # {"model": "riskwarn-dispute_cases v1"}
    from riskwarn.serving_frames import case_scoring_frame

    seen = case_scoring_frame(settings, pd.Timestamp(origin), DOMAIN).set_index("unit_id")
    for row in w.itertuples():
        ev, case = row.evidence, seen.loc[row.unit_id]
        assert ev["model"].startswith("riskwarn-dispute_cases v"), ev
        for key in ("age_days", "n_mediations", "n_failed_mediations", "party_prior_disputes"):
            assert ev[key] == pytest.approx(float(case[key]), abs=0.01), (key, ev)
        assert ev["party_prior_escalations"] == pytest.approx(
            float(case["party_prior_escalations"])
        )
        assert "nearby_escalations_30d" in ev
        cats = [c.removeprefix("category_") for c in seen.columns if c.startswith("category_")]
        assert ev.get("category") == next((c for c in cats if case[f"category_{c}"] == 1), None)
        # the model's top inputs once: in its reason (above), not again in the evidence
        assert "top_inputs" not in ev
        words = str(ev).lower()
        assert not any(k in words for k in ("party_ids", "name", "phone", "id_number")), ev
    store.close()
