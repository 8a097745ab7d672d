"""Monitored-site geohazard models on the small simulated city, and the nowcast with them.

The small city (seed 3) has 20 monitored sites, 92 days of 10-minute sensor data and
three failures on 11-14 July 2023; only its geohazard tables are ingested.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.calibration import fit_calibrator
from models.geohazard_sites import (
    HISTORY_DEPENDENT,
    LABEL,
    RULE_COLUMN,
    build_site_table,
    evaluate_site_methods,
    run_site_backtest,
    site_config,
    site_features,
    site_training_rows,
    table_origins,
    train_site_domain,
)
from models.registry import ChampionUnavailable, configure, log_training_run, model_name, promote
from riskwarn import lake
from riskwarn.nowcast import nowcast_geohazard
from riskwarn.settings import Settings
from riskwarn.store import Store
from riskwarn.warnings import MODEL_UNAVAILABLE_REASON
from tests.test_scoring import _geohazard_lake

ROOT = Path(__file__).resolve().parents[1]
AS_OF = pd.Timestamp("2023-07-16T00:00Z")  # after the first failures, before the data end
NOWCAST_AT = pd.Timestamp("2024-07-10T12:00Z")  # the synthetic three-site lake's origin
BASELINES = {
    "caine",
    "guzzetti",
    "effective_rain",
    "tangent_angle",
    "velocity",
    "inverse_velocity",
    "sensor_rules",
}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> dict:
    """The small city's geohazard tables, known before ``AS_OF``."""
    from riskwarn.ingest import ingest_files, load_mapping
    from riskwarn.simulate import simulate

    root = tmp_path_factory.mktemp("geo")
    simulate(root / "sim", "small", seed=3)
    settings = Settings(home=root / "home")
    for name in ("hazard_sites", "sensors", "hazard_events", "sensor_readings"):
        mapping = load_mapping(ROOT / "configs" / "sources" / f"sim_{name}.yaml")
        files = sorted(p for p in (root / "sim" / "extracts").rglob(f"{name}.*") if p.is_file())
        ingest_files(mapping, files, settings, as_of=datetime(2030, 1, 1, tzinfo=UTC))
    readings = lake.read_table(settings.lake_dir, "sensor_readings")
    events = lake.read_table(settings.lake_dir, "hazard_events")
    return {
        "readings": readings.loc[readings["observed_at"] < AS_OF],
        "sensors": lake.read_table(settings.lake_dir, "sensors"),
        "sites": lake.read_table(settings.lake_dir, "hazard_sites"),
        "events": events.loc[events["occurred_at"] < AS_OF],
        "root": root,
    }


def _table(small: dict, origins, domain: str = "geohazard_hourly", readings=None, events=None):
    cfg = site_config(domain)
    r = small["readings"] if readings is None else readings
    ev = small["events"] if events is None else events
    return build_site_table(r, small["sensors"], small["sites"], ev, origins, cfg)


def test_rows_for_an_origin_never_use_readings_at_or_after_it(small: dict) -> None:
    """Every model input (rain, kinematics, the site type the model may defer on) and the
    rule level are unchanged when every later reading and failure is removed."""
    origins = pd.DatetimeIndex(["2023-07-11T06:00Z", "2023-07-11T07:00Z", "2023-07-13T20:00Z"])
    full = _table(small, origins)
    types = [c for c in full.columns if c.startswith("hazard_type_")]
    feats = [*site_features(full), *types, *HISTORY_DEPENDENT, RULE_COLUMN]
    for origin in origins:
        cut = small["readings"].loc[small["readings"]["observed_at"] < origin]
        earlier = small["events"].loc[small["events"]["occurred_at"] < origin]
        alone = _table(small, [origin], readings=cut, events=earlier)
        got = full.loc[full["origin"] == origin].reset_index(drop=True)
        pd.testing.assert_frame_equal(got[feats], alone[feats], check_dtype=False)
    # the accelerating sites move: the check above compares real signal, not constants
    assert full["velocity_mm_per_day"].abs().max() > 1.0
    # labels are labels: never model inputs
    assert not [f for f in site_features(full) if f.startswith("label_")]


def test_training_rows_have_closed_label_windows(small: dict) -> None:
    cfg = site_config("geohazard_hourly")
    origins = pd.date_range("2023-07-09T00:00Z", "2023-07-12T00:00Z", freq="h")
    table = _table(small, origins)
    refit = pd.Timestamp("2023-07-11T12:00Z")
    rows = site_training_rows(table, refit, cfg)
    assert len(rows) and (rows["origin"] + pd.Timedelta(hours=24) <= refit).all()
    # a row whose window is still open at the refit is never used, even with a label
    open_rows = table.loc[table["origin"] + pd.Timedelta(hours=24) > refit]
    assert open_rows[LABEL].sum() > 0 and not open_rows.index.isin(rows.index).any()


def test_hourly_backtest_scores_model_and_every_baseline(small: dict) -> None:
    cfg = site_config("geohazard_hourly", eval_days=4, refit_every_days=2)
    first = small["readings"]["observed_at"].min()
    origins, evals = table_origins(first, AS_OF, cfg)
    table = _table(small, origins)
    bt = run_site_backtest(table, evals, cfg)
    assert set(bt.scores["method"]) == {"xgboost", *BASELINES}
    # every refit saw only windows closed before it, and had a failure to learn from
    assert (bt.fits["last_label_end"] <= bt.fits["refit_origin"]).all()
    assert (bt.fits["train_failures"] > 0).all()
    p = bt.scores.loc[bt.scores["method"] == "xgboost", "score"]
    assert p.between(0, 1).all()
    ev = small["events"].dropna(subset=["site_id"])
    ev = ev[ev["occurred_at"] >= bt.scores["origin"].min()]
    m = evaluate_site_methods(bt.scores, ev, cfg, n_boot=100)
    assert set(m["methods"]) == {"xgboost", *BASELINES}
    x = m["methods"]["xgboost"]
    assert x["failures"] == len(ev) > 0
    for key in ("auc", "brier", "ece", "tss", "pod", "far", "median_lead_time_h"):
        assert key in x
    lo, hi = m["methods"]["velocity"]["auc_ci"]
    assert lo <= m["methods"]["velocity"]["auc"] <= hi
    assert set(m["model_minus_baseline"]) == BASELINES
    assert set(m["model_minus_baseline_tss"]) == BASELINES
    d = m["model_minus_baseline_tss"]["velocity"]
    assert d["diff"] == pytest.approx(x["tss"] - m["methods"]["velocity"]["tss"])
    # warning levels on every row; lead time per level for the model and the rules
    assert bt.scores["level"].between(0, 4).all()
    assert (bt.scores["orange"] == (bt.scores["level"] >= 3)).all()
    assert {"velocity", "inverse_velocity", "sensor_rules"} <= set(m["lead_model_minus"])
    assert m["levels"]["xgboost"][3]["failures"] == len(ev)


@pytest.fixture(scope="module")
def trained(small: dict) -> dict:
    """``geohazard_hourly`` trained through the job, registered in a temporary MLflow."""
    root = small["root"]
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = configure(uri)
    cfg = site_config("geohazard_hourly", eval_days=4, refit_every_days=2)
    store = Store(f"sqlite:///{root / 'training-serving.db'}")  # audits a gate-passed move
    store.upgrade()
    report = train_site_domain(
        small["readings"],
        small["sensors"],
        small["sites"],
        small["events"],
        client,
        domain="geohazard_hourly",
        tz="Asia/Shanghai",
        config=cfg,
        n_boot=100,
        artifact_location=(root / "artifacts").as_uri(),
        store=store,
    )
    store.close()
    return {"uri": uri, "client": client, "report": report, "root": root}


def test_training_registers_a_gated_challenger(trained: dict) -> None:
    report, client = trained["report"], trained["client"]
    assert report.version == "1"
    mv = client.get_model_version(model_name("geohazard_hourly"), "1")
    assert mv.tags["gate"] == report.gate.status  # pass | fail | not_judged
    assert report.promoted == report.gate.passed
    assert any(c["check"] == "beats sensor_rules" for c in report.gate.checks)
    # every warning level judged against the sensor rules, at the level the nowcast serves
    levels = [c for c in report.gate.checks if str(c.get("metric", "")).startswith("tss@")]
    assert [c["level"] for c in levels] == ["blue", "yellow", "orange", "red"]
    assert all(
        c["against"] == "sensor_rules" and "baseline" not in c and c["levels_from"] == "served"
        for c in levels
    )
    calib = report.gate.checks[-1]  # the bound from the challenger's own predictions
    assert calib["check"] == "calibration" and 0 < calib["noise_q95"] < 1
    assert calib["noise_draws"] == 200 and "the 95 % ECE of a calibrated model" in calib["detail"]
    run = client.get_run(report.run_id)
    assert run.data.params["objective"] == "binary:logistic"
    assert "methods.xgboost.auc" in run.data.metrics


def test_site_twin_is_a_refresh_and_the_champion_never_scores_rows_it_saw(
    small: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trained twice with the same code on the same rows, the second run is a refresh of
    the first (same recipe): its champion check is "not worse than champion", ok with
    nothing later to compare on, and the champion scores no row before its
    trained_through. The old code scored it on every evaluation row, in-sample."""
    import mlflow

    import models.geohazard_sites as sites_module
    from tests.test_champion_out_of_sample import ChampionSpy

    # MLflow's URIs are global: put them back for the module's other tests
    previous = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    try:
        client = configure(f"sqlite:///{tmp_path / 'mlflow.db'}")
        store = Store(f"sqlite:///{tmp_path / 'serving.db'}")
        store.upgrade()
        cfg = site_config("geohazard_hourly", eval_days=4, refit_every_days=2)

        def fit():
            return train_site_domain(
                small["readings"],
                small["sensors"],
                small["sites"],
                small["events"],
                client,
                domain="geohazard_hourly",
                tz="Asia/Shanghai",
                config=cfg,
                n_boot=50,
                artifact_location=(tmp_path / "artifacts").as_uri(),
                store=store,
            )

        first = fit()
        params = client.get_run(first.run_id).data.params
        through = pd.Timestamp(params["trained_through"])
        assert through == pd.Timestamp(first.backtest.scores["origin"].max()) + pd.Timedelta(
            hours=24
        )
        promote(client, "geohazard_hourly", first.version, store=store, reason="seed", force=True)
        spy = ChampionSpy(monkeypatch, sites_module)
        twin = fit()
        assert client.get_run(twin.run_id).data.params["recipe"] == params["recipe"]
        (c,) = [c for c in twin.gate.checks if c.get("against") == "champion"]
        assert c["check"] == "not worse than champion" and c["ok"] and c["recipe_same"] is True
        assert c["n_origins"] == 0 and pd.Timestamp(c["trained_through"]) == through
        assert all(o >= through for o in spy.origins)
        store.close()
    finally:
        mlflow.set_tracking_uri(previous[0])  # no client: it would create ./mlflow.db
        mlflow.set_registry_uri(previous[1])


def _nowcast_home(trained: dict, name: str) -> Settings:
    settings = Settings(home=trained["root"] / name, mlflow_tracking_uri=trained["uri"])
    settings.home.mkdir()
    _geohazard_lake(settings, NOWCAST_AT)
    return settings


def _reason_text(reasons: list, lang: str = "en") -> str:
    return " | ".join(r if isinstance(r, str) else r[lang] for r in reasons)


def test_nowcast_combines_model_and_hard_rules(trained: dict) -> None:
    client, report = trained["client"], trained["report"]
    # a champion that says ~0 everywhere: the real model with a calibrator of no failures
    near_zero = replace(
        report.backtest.last_model,
        calibrator=fit_calibrator(np.zeros(100_000), np.zeros(100_000, dtype=int)),
    )
    example = pd.DataFrame({f: np.zeros(5, dtype=np.float32) for f in near_zero.features})
    record = log_training_run(
        near_zero,
        "geohazard_hourly",
        {"note": 1.0},
        "test",
        example,
        {},
        "near-zero test model",
        artifact_location=(trained["root"] / "artifacts").as_uri(),
    )
    assert record.version is not None
    settings = _nowcast_home(trained, "with-model")
    store = Store.from_settings(settings)
    store.upgrade()
    promote(client, "geohazard_hourly", record.version, store=store, reason="test", force=True)
    run_id = nowcast_geohazard(settings, NOWCAST_AT, store=store)
    f = store.published_forecasts("geohazard_hourly").set_index("unit_id")
    assert (f["probability"].astype(float) < 1e-3).all()
    w = store.warnings(domain="geohazard_hourly").set_index("unit_id")
    # the accelerating slope stays red although the model says ~0
    assert w.loc["s1", "level"] == "red"
    reasons = w.loc["s1", "reasons"]
    assert all(isinstance(r, str) or set(r) == {"en", "zh"} for r in reasons)
    assert "red whatever the model says" in _reason_text(reasons)
    assert "红色预警" in _reason_text(reasons, "zh")
    assert "Model unavailable" not in _reason_text(reasons)
    # the model's own reason names the movement even when it is the velocity prior alone
    assert "mainly because: the slope (GNSS) moved" in _reason_text(reasons)
    # the dead sensor is explicit, in both languages
    assert w.loc["s3", "evidence"]["sensor_health"] == "dead"
    assert "not as no movement" in _reason_text(w.loc["s3", "reasons"])
    assert "不视为无位移" in _reason_text(w.loc["s3", "reasons"], "zh")
    run = store.published_run("geohazard_hourly")
    assert run is not None and run["run_id"] == run_id and run["model_version"] == record.version
    # re-run: identical rows
    before = store.warnings(domain="geohazard_hourly").drop(columns=["created_at", "updated_at"])
    nowcast_geohazard(settings, NOWCAST_AT, store=store)
    after = store.warnings(domain="geohazard_hourly").drop(columns=["created_at", "updated_at"])
    pd.testing.assert_frame_equal(before, after)


def test_lost_champion_publishes_rules_then_fails_loudly(trained: dict) -> None:
    from models.registry import CHAMPION

    client = trained["client"]
    name = model_name("geohazard_hourly")
    settings = _nowcast_home(trained, "lost-champion")
    store = Store.from_settings(settings)
    store.upgrade()
    # a champion that then goes missing
    promote(client, "geohazard_hourly", "1", store=store, reason="test", force=True)
    alias = client.get_model_version_by_alias(name, CHAMPION).version
    client.delete_registered_model_alias(name, CHAMPION)
    try:
        for _ in range(2):  # a retry publishes the same rows and fails again
            with pytest.raises(ChampionUnavailable, match="sensor rules only"):
                nowcast_geohazard(settings, NOWCAST_AT, store=store)
            w = store.warnings(domain="geohazard_hourly").set_index("unit_id")
            assert w.loc["s1", "level"] == "red"
            assert w.loc["s1", "reasons"][0] == MODEL_UNAVAILABLE_REASON
            run = store.published_run("geohazard_hourly")
            assert run is not None and run["model_version"] is None
        assert len(store.warnings(domain="geohazard_hourly")) == len(w)
        assert (store.audit_log()["action"] == "model_unavailable").sum() == 2
    finally:
        client.set_registered_model_alias(name, CHAMPION, alias)


def test_never_registered_model_is_a_fresh_install_not_a_failure(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "fresh")
    settings.home.mkdir()
    _geohazard_lake(settings, NOWCAST_AT)
    store = Store.from_settings(settings)
    store.upgrade()
    run_id = nowcast_geohazard(settings, NOWCAST_AT, store=store)
    w = store.warnings(domain="geohazard_hourly").set_index("unit_id")
    assert run_id.startswith("geohazard_hourly:")
    assert w.loc["s1", "level"] == "red"
    assert MODEL_UNAVAILABLE_REASON in w.loc["s1", "reasons"]
    assert "model_unavailable" in set(store.audit_log()["action"])


def test_daily_site_model_trains_from_the_lake_and_scores_through_score_and_warn(
    small: dict, trained: dict
) -> None:
    from riskwarn.pipeline import train_domain
    from riskwarn.scoring import score_domain

    settings = Settings(home=small["root"] / "home", mlflow_tracking_uri=trained["uri"])
    result = train_domain(settings, "geohazard", AS_OF)  # lake rows before AS_OF only
    assert result["domain"] == "geohazard" and result["version"] is not None
    client = configure(trained["uri"])
    run = client.get_run(result["mlflow_run_id"])
    assert pd.Timestamp(run.data.params["trained_until"]) <= AS_OF
    store = Store.from_settings(settings)
    promote(client, "geohazard", result["version"], store=store, reason="test", force=True)
    origin = pd.Timestamp("2023-07-13", tz="Asia/Shanghai").tz_convert("UTC")
    # before the model's data end (in-sample on purpose: the serving road, not skill)
    run_id = score_domain(settings, "geohazard", origin, allow_in_sample=True)
    f = store.published_forecasts("geohazard")
    assert run_id == "geohazard:20230712T1600Z"
    assert set(f["unit_id"]) == set(small["sites"]["record_id"].astype(str))
    assert f["probability"].astype(float).between(0, 1).all()
    assert (f["valid_to"] - f["origin"] == pd.Timedelta(hours=24)).all()


def test_day_bootstrap_matches_the_harness_on_the_original_sample() -> None:
    from sklearn.metrics import roc_auc_score

    from models.geohazard_sites import DayBootstrap
    from models.metrics import warning_metrics

    rng = np.random.default_rng(1)
    day = np.repeat(np.arange(30), 50)
    y = (rng.random(day.size) < 0.05).astype(int)
    s = np.round(y * 0.8 + rng.random(day.size), 1)  # ties on purpose
    boot = DayBootstrap(day, n_boot=200)
    boot.weights = np.vstack([np.ones(30), boot.weights])  # replicate 0 = the sample itself
    assert boot.auc(y, s)[0] == pytest.approx(roc_auc_score(y, s))
    warned = s >= 0.9
    assert boot.tss(warned, y)[0] == pytest.approx(warning_metrics(warned, y)["tss"])
    assert np.std(boot.auc(y, s)[1:]) > 0.0  # the resamples differ


def _velocity_rows(n_origins: int, n_sites: int, seed: int) -> pd.DataFrame:
    """Synthetic site rows: failures follow fast movement; rain columns are pure noise."""
    rng = np.random.default_rng(seed)
    origins = pd.date_range("2024-01-01", periods=n_origins, freq="D", tz="UTC")
    rows = pd.DataFrame(
        {
            "origin": np.repeat(origins, n_sites),
            "site_id": np.tile([f"s{i}" for i in range(n_sites)], n_origins),
        }
    )
    v = rng.normal(0.0, 3.0, len(rows))
    fast = rng.random(len(rows)) < 0.01
    v[fast] = rng.lognormal(3.0, 0.5, int(fast.sum()))
    v[rng.random(len(rows)) < 0.02] = np.nan  # dead sensors
    rows["velocity_mm_per_day"] = v
    rows["rain_24h_mm"] = rng.gamma(0.5, 10.0, len(rows))
    rows["rain_72h_mm"] = rng.gamma(0.5, 20.0, len(rows))
    p = 1.0 / (1.0 + np.exp(-(-9.0 + 1.5 * np.arcsinh(np.nan_to_num(v, nan=0.0)))))
    rows[LABEL] = (rng.random(len(rows)) < p).astype(int)
    return rows


def test_velocity_prior_is_increasing_and_puts_dead_sensors_lowest() -> None:
    from models.geohazard_sites import MIN_PRIOR_SLOPE, fit_velocity_prior

    rows = _velocity_rows(200, 50, seed=2)
    assert rows[LABEL].sum() >= 5
    prior = fit_velocity_prior(rows, "velocity_mm_per_day")
    assert prior.slope > 0.5  # learned, not the floor
    slowest = float(rows["velocity_mm_per_day"].min())
    probe = pd.DataFrame({"velocity_mm_per_day": [np.nan, slowest, 0.0, 5.0, 100.0]})
    m = prior.margin(probe)
    assert np.all(np.diff(m[1:]) > 0) and m[0] <= m[1:].min()
    # failures at slow sites only: the slope stays at its floor, never negative
    rows[LABEL] = (rows["velocity_mm_per_day"] < -8).astype(int)
    assert fit_velocity_prior(rows, "velocity_mm_per_day").slope == MIN_PRIOR_SLOPE


def test_shrunk_platt_keeps_log_odds_and_resists_one_failure() -> None:
    from models.geohazard_sites import fit_shrunk_platt

    rng = np.random.default_rng(4)
    raw = rng.normal(-4.0, 1.5, 200_000)
    y = (rng.random(raw.size) < 1.0 / (1.0 + np.exp(-raw))).astype(int)
    lr = fit_shrunk_platt(raw, y).model
    assert lr.coef_[0, 0] == pytest.approx(1.0, abs=0.05)
    assert lr.intercept_[0] == pytest.approx(0.0, abs=0.2)
    # a slice whose one failure came at a low margin: unpenalised Platt flattens the
    # ranking (slope ~0, every row at the base rate); the shrunk fit stays increasing
    raw = rng.normal(-3.0, 1.0, 5_000)
    y = np.zeros(raw.size, dtype=int)
    y[np.argsort(raw)[raw.size // 10]] = 1
    free = fit_calibrator(raw, y).model.coef_[0, 0]
    shrunk = fit_shrunk_platt(raw, y).model.coef_[0, 0]
    assert 0 < free < 1e-6 and shrunk > 0.5
    p = fit_shrunk_platt(raw, y).predict(np.sort(raw))
    assert np.all(np.diff(p) > 0)


def test_model_boosted_from_the_prior_ranks_like_velocity_from_few_failures() -> None:
    from sklearn.metrics import roc_auc_score

    from models.geohazard_sites import fit_site_model

    # on these rows trees grown from a constant rank at AUC 0.70 against velocity's 0.84
    train = _velocity_rows(120, 60, seed=10)
    test = _velocity_rows(60, 60, seed=50)
    features = ["rain_24h_mm", "rain_72h_mm", "velocity_mm_per_day"]
    cfg = site_config("geohazard")
    refit = train["origin"].max() + pd.Timedelta(days=1)
    y = test[LABEL].to_numpy()
    velocity = np.nan_to_num(test["velocity_mm_per_day"].to_numpy(), nan=-1e9)
    for min_failures in (cfg.min_tree_failures, 1):  # the prior alone, then with trees
        c = replace(cfg, min_tree_failures=min_failures)
        model, _ = fit_site_model(train, features, c, refit)
        assert model.prior is not None
        assert (model.trees == 0) == (min_failures > train[LABEL].sum())
        raw = model.raw(test)
        # Platt keeps the ranking; trees on noise do not undo the velocity ranking
        assert roc_auc_score(y, model.predict_proba(test)) == pytest.approx(roc_auc_score(y, raw))
        assert roc_auc_score(y, raw) >= roc_auc_score(y, velocity) - 0.02
        # explanations add up to the margin and name the movement, trees or not
        c = model.contributions(test)
        assert np.allclose(c.sum(axis=1), raw, atol=1e-4)
        fast = test["velocity_mm_per_day"].idxmax()
        assert c.drop(columns="bias").loc[fast].idxmax() == "velocity_mm_per_day"


def test_three_gorges_served_levels_stay_below_orange(trained: dict, shared_data: Path) -> None:
    """Issue 15, the Three Gorges points (slopes that did not fail): what the product
    serves with a champion site model. The points are read monthly; the model was trained
    on 10-minute readings and reads a month's movement as a day's, so it is not applied
    to them (``riskwarn.nowcast.serve_site_model``): no model probability, the level is
    the sensor checks' (blue: a sensor silent for hours is unknown, not stable) and the
    reasons say the model was not applicable and why. With the guard off
    (``MODEL_SPACING_FACTOR`` = inf) this model raises 6 of the 17 points to yellow at
    the 2007-06 origin ("the slope moved 12.64 mm per day recently": a month's movement
    read as a day's) and this test fails; it never reaches orange on these points (all
    months: bench/bench_threegorges.py --served). The two origins are the first hours
    after the 2007-06 and 2011-04 readings, months of the largest steps."""
    from testkit.threegorges import read_threegorges, served_levels, threegorges_home

    readings, rain, landslide_of, tz = read_threegorges(shared_data)
    settings, store = threegorges_home(
        trained["root"] / "threegorges", readings, rain, landslide_of, trained["uri"], "1"
    )
    origins = [
        (pd.Timestamp(m, tz=tz) + pd.Timedelta(hours=1)).tz_convert("UTC")
        for m in ("2007-06-01", "2011-04-01")
    ]
    served = served_levels(settings, store, origins)
    store.close()
    assert served["point"].nunique() == 17 and len(served) == 34
    assert served["level_rank"].max() < 3  # no orange or red
    # the level is the sensor checks' everywhere: blue (no reading for hours)
    assert (served["level_rank"] == 1).all()
    # the model decided nothing where it had readings: refused, and the reasons say why
    at = pd.DatetimeIndex(readings["observed_at"]).tz_convert("UTC")
    for o, g in served.groupby("origin"):
        window = readings.loc[(at >= o - pd.Timedelta(days=35)) & (at < o)]
        monthly = set(window["sensor_id"].value_counts().loc[lambda n: n >= 2].index)
        assert len(monthly) >= 10  # the points with two readings in the window
        for r in g.itertuples():
            text = " | ".join(r.reasons)
            if r.point in monthly:
                assert pd.isna(r.probability)
                assert "Model not applicable" in text and "readings every ~" in text
                assert "Model probability" not in text
            else:  # no reading in the window (not yet installed, or stopped): no movement read
                assert "sent no reading" in text
            assert "Sensor " + r.point in text  # the sensor check that set blue


def test_evaluation_window_reaches_back_until_it_holds_failures() -> None:
    """The city's data end in the dry season: the last 28 days held no failure, every
    comparison was NaN and the gate read FAIL. The window reaches back in whole origin
    steps until it holds ``min_eval_failures`` failures, never past the point where the
    first refit would have fewer than ``min_train_failures`` failures closed before it."""
    from models.geohazard_sites import site_origins, step_origins

    first = pd.Timestamp("2025-05-01T00:00Z")
    end = pd.Timestamp("2025-12-31T00:00Z")
    fails = pd.DatetimeIndex(
        [
            "2025-06-20T03:00Z",
            "2025-07-10T05:00Z",
            "2025-08-01T09:00Z",
            "2025-08-20T11:00Z",
            "2025-09-05T02:00Z",
        ]
    )
    cfg = site_config("geohazard", tz="Asia/Shanghai", min_eval_failures=3)
    origins, win = site_origins(first, end, cfg, fails)
    every = step_origins(
        first + pd.Timedelta(days=cfg.warmup_days), end - pd.Timedelta(hours=24), cfg
    )
    assert win.default_failures == 0 and win.default_start == every[every >= win.default_start][0]
    assert (win.default_start - win.start) > pd.Timedelta(days=90)  # reached back
    assert win.start in every and set(win.origins) <= set(origins)  # whole origin steps
    assert (win.origins == every[every >= win.start]).all()  # every origin inside it
    # it holds 3 failures, each with its whole labelled lead-up, and starts as late as it can
    assert win.failures == 3 and win.start + pd.Timedelta(hours=24) <= fails[2]
    assert win.start + pd.Timedelta(days=2) > fails[2]
    assert win.train_failures == 2 and win.extended_for == "min_eval_failures=3"
    assert win.limited_by == ""
    p = win.params("Asia/Shanghai")
    assert p["eval_start"] == "2025-07-31" and p["eval_failures"] == 3
    assert p["eval_window_extended_for"] == "min_eval_failures=3"
    assert "reached back from" in win.words("Asia/Shanghai")
    # wanting more than the data can give without emptying the first refit: as many as it
    # can, the first refit keeps one failure closed before it, and it says why
    _, most = site_origins(first, end, replace(cfg, min_eval_failures=10), fails)
    assert most.failures == 4 and most.train_failures == 1
    assert most.start >= fails[0] + pd.Timedelta(hours=24)
    assert most.limited_by == "training_history"
    # no failure anywhere: the last eval_days, and it says the data hold none
    _, none = site_origins(first, end, cfg, fails[:0])
    assert none.start == none.default_start and none.failures == 0 and none.limited_by == "data"
    # min_eval_failures=0, or no failure times given: the fixed window of old
    _, fixed = site_origins(first, end, replace(cfg, min_eval_failures=0), fails)
    assert fixed.start == fixed.default_start
    assert (table_origins(first, end, cfg)[1] == fixed.origins).all()
    # the cost bound: never more than max_eval_days back
    _, capped = site_origins(first, end, replace(cfg, max_eval_days=120), fails)
    assert capped.start >= every[-1] - pd.Timedelta(days=120)
    assert capped.limited_by == "max_eval_days" and capped.failures == 1
    # hourly: the reach-back is scored on the training grid (every 3rd hour), so the table
    # gets no origin it would not have had with the fixed window; the last 28 days hourly
    hourly = site_config("geohazard_hourly", tz="Asia/Shanghai", min_eval_failures=3)
    h_origins, h_win = site_origins(first, end, hourly, fails)
    assert h_win.extended_for and h_win.failures == 3
    assert h_origins.equals(table_origins(first, end, hourly)[0])
    gaps = pd.Series(h_win.origins).diff().dropna()
    before = pd.Series(h_win.origins[1:]) < h_win.default_start
    assert (gaps[before.to_numpy()] == pd.Timedelta(hours=3)).all()
    assert (gaps[~before.to_numpy()] <= pd.Timedelta(hours=3)).all()
    assert (
        pd.Series(h_win.origins).pipe(lambda o: o[o >= h_win.default_start]).diff().dropna()
        == pd.Timedelta(hours=1)
    ).all()


def test_reach_back_backtest_trains_only_on_closed_windows_and_skips_dry_refits(
    small: dict,
) -> None:
    """The small city's failures are on 11-14 July; with the last day alone as the window
    it reaches back to hold them. Every refit still uses only rows whose label window
    closed before it; in the reach-back a refit with nothing new to learn is skipped."""
    from models.geohazard_sites import site_failure_times, site_origins

    cfg = site_config("geohazard_hourly", eval_days=1, refit_every_days=1, min_eval_failures=2)
    first = small["readings"]["observed_at"].min()
    times = site_failure_times(small["events"], small["sites"])
    origins, win = site_origins(first, AS_OF, cfg, times)
    assert win.extended_for and win.start < win.default_start and win.failures > 0
    table = _table(small, origins)
    bt = run_site_backtest(table, win.origins, cfg, reach_back_until=win.default_start)
    assert len(bt.fits) > 0
    for refit in bt.fits["refit_origin"]:
        rows = site_training_rows(table, refit, cfg)
        assert (rows["origin"] + pd.Timedelta(hours=24) <= refit).all()
    assert (bt.fits["last_label_end"] <= bt.fits["refit_origin"]).all()
    x = bt.scores[bt.scores["method"] == "xgboost"]
    assert x["origin"].min() >= win.start and x["label"].sum() > 0  # failures are scored
    # in the reach-back, consecutive refits differ in the failures they learned from (or
    # are reach_back_refit_days apart)
    reach = bt.fits[bt.fits["refit_origin"] < win.default_start]
    gaps = reach["refit_origin"].diff().dropna()
    same = reach["train_failures"].diff().dropna() == 0
    assert (gaps[same] >= pd.Timedelta(days=cfg.reach_back_refit_days)).all()


def test_reach_back_never_starts_where_the_first_refit_cannot_fit(small: dict) -> None:
    """Readings from 3 July: the 11 July failure falls in the warm-up (before the first
    origin, so no table row labels it) and only two origins have closed label windows on
    12 and 13 July. The window used to count that failure as 'closed before' the first
    refit and start on 12 July, claiming the 14 July failure as evaluated, while the
    backtest (no refit possible before 14 July 16:00) scored none of it: the logged
    eval_start / eval_failures and the gate's 'why' described rows never scored. Every
    origin of the window must be scored, and the failures it reports must be scored."""
    from models.geohazard_sites import site_failure_times, site_origins

    readings = small["readings"].loc[
        small["readings"]["observed_at"] >= pd.Timestamp("2023-07-03T12:00Z")
    ]
    cfg = site_config("geohazard", eval_days=1, min_eval_failures=10)
    times = site_failure_times(small["events"], small["sites"])
    origins, win = site_origins(readings["observed_at"].min(), AS_OF, cfg, times)
    table = _table(small, origins, "geohazard", readings=readings)
    bt = run_site_backtest(table, win.origins, cfg, reach_back_until=win.default_start)
    x = bt.scores[bt.scores["method"] == "xgboost"]
    assert x["origin"].min() == win.start, (win.words("UTC"), x["origin"].min())
    scored = times[(times >= x["origin"].min()) & (times < win.end)]
    assert win.failures == len(scored)


def test_a_refit_learns_only_the_failures_known_before_it(small: dict) -> None:
    """A failure reported after a refit does not train it (docs/design.md, "What a
    forecast may know"): at the refit its windows' labels are those of the same table
    without that failure; a refit after the report learns it. Before, a row was used as
    soon as its window ended, with every failure that occurred in it."""
    from models.geohazard_sites import late_site_labels

    cfg = site_config("geohazard_hourly")
    origins = pd.date_range("2023-07-09T00:00Z", "2023-07-14T00:00Z", freq="h")
    events = small["events"].dropna(subset=["site_id"]).sort_values("occurred_at")
    first = events.index[0]
    failed = events.loc[first, "occurred_at"]
    refit = failed + pd.Timedelta(hours=30)  # every window holding the failure has ended
    events = small["events"].copy()
    events["reported_at"] = events["occurred_at"]
    events.loc[first, "reported_at"] = refit + pd.Timedelta(hours=5)
    table = _table(small, origins, events=events)
    late = late_site_labels(events, small["sites"], origins, cfg)
    assert set(late["known_at"]) == {refit + pd.Timedelta(hours=5)}
    without = _table(small, origins, events=events.drop(index=first))
    rows = site_training_rows(table, refit, cfg, late)
    expect = site_training_rows(without, refit, cfg)
    assert rows[LABEL].sum() < site_training_rows(table, refit, cfg)[LABEL].sum()
    pd.testing.assert_frame_equal(rows, expect)
    # after the report the failure is known, and learnt
    later = refit + pd.Timedelta(hours=6)
    pd.testing.assert_frame_equal(
        site_training_rows(table, later, cfg, late), site_training_rows(table, later, cfg)
    )


def test_site_training_hands_the_late_failures_to_the_backtest(small: dict, monkeypatch) -> None:
    """The training job passes the failures reported after their window to the backtest's
    refits (and its final fit uses the same table): a failure reported a week late is
    listed with its report time."""
    import models.geohazard_sites as gs

    class Seen(Exception):
        pass

    seen: dict = {}

    def stop(table, evals, config, **kw):
        seen.update(kw)
        raise Seen

    monkeypatch.setattr(gs, "run_site_backtest", stop)
    events = small["events"].copy()
    events["reported_at"] = events["occurred_at"]
    first = events.dropna(subset=["site_id"]).sort_values("occurred_at").index[0]
    events.loc[first, "reported_at"] += pd.Timedelta(days=7)
    cfg = site_config("geohazard_hourly", eval_days=4, refit_every_days=2)
    with pytest.raises(Seen):
        train_site_domain(
            small["readings"], small["sensors"], small["sites"], events, None,
            domain="geohazard_hourly", tz="Asia/Shanghai", config=cfg,
        )  # fmt: skip
    late = seen["late_labels"]
    assert len(late) and set(late["known_at"]) == {events.loc[first, "reported_at"]}
