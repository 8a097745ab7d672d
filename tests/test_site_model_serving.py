"""The site model's applicability in daily serving and a lake without rain gauge, end to end.

Daily ``geohazard`` serving (:func:`riskwarn.scoring.score_domain`, model only) goes through
the nowcast's :func:`riskwarn.scoring.serve_site_model`: a site whose only displacement
sensor reads monthly keeps a forecast row with no probability, no level and the reason.
A lake with no rain gauge (the champion's rain inputs cannot be built) serves the rules'
levels with the model refused and the reason, instead of crashing. Real MLflow registry
(SQLite), real lake and serving store; the champions are the transparent
``scripts.check_champion.CountModel`` on a rain feature.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskwarn.nowcast import nowcast_geohazard
from riskwarn.scoring import score_domain
from riskwarn.settings import Settings
from riskwarn.store import Store
from scripts.check_champion import adopt_champion, register
from tests.test_scoring import _site_lake, _ten_minutes, _to_failure

DAILY_ORIGIN = pd.Timestamp("2024-07-10T16:00Z")  # midnight Asia/Shanghai
HOURLY_ORIGIN = pd.Timestamp("2024-07-10T12:00Z")


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> str:
    """Champions of the daily and the hourly site model, both reading ``rain_24h_mm``."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    for domain in ("geohazard", "geohazard_hourly"):
        register(uri, (root / f"artifacts-{domain}").as_uri(), domain, "rain_24h_mm")
    return uri


def _lake(settings: Settings, origin: pd.Timestamp, *, rain_gauge: bool) -> None:
    """s1: a 10-minute GNSS accelerating to failure at ``origin + 4 h``; s2: one survey
    point read monthly (two readings in the 35-day window, 30 days apart); with
    ``rain_gauge`` a 10-minute gauge at s1 (0.5 mm each)."""
    month = pd.DatetimeIndex([origin - pd.Timedelta(days=33), origin - pd.Timedelta(days=3)])
    displacement = {
        "g1": _to_failure(origin, np.random.default_rng(0)),
        "m2": pd.Series([10.0, 12.0], month),
    }
    rain = _ten_minutes(origin)[0] if rain_gauge else None
    _site_lake(settings, {"g1": ("s1", "gnss"), "m2": ("s2", "gnss")}, displacement, rain)


def _home(settings: Settings, registry: str) -> tuple[Settings, Store]:
    settings = settings.model_copy(update={"mlflow_tracking_uri": registry})
    store = Store.from_settings(settings)
    store.upgrade()
    for domain in ("geohazard", "geohazard_hourly"):
        adopt_champion(registry, store, domain)
    return settings, store


def _en(items: object) -> list[str]:
    return [i if isinstance(i, str) else i["en"] for i in items or []]  # type: ignore[attr-defined]


def test_daily_serving_refuses_the_model_at_a_monthly_read_site(settings, registry):
    settings, store = _home(settings, registry)
    _lake(settings, DAILY_ORIGIN, rain_gauge=True)
    run_id = score_domain(settings, "geohazard", DAILY_ORIGIN, store=store)
    f = store.published_forecasts("geohazard").set_index("unit_id")
    assert set(f.index) == {"s1", "s2"}  # the refused site is not dropped
    assert f.loc["s1", "probability"] == pytest.approx(1 - np.exp(-0.35 * 72.0))
    # before: s2's monthly readings were scored as if daily (a probability and a level)
    assert pd.isna(f.loc["s2", "probability"])
    (why,) = _en(f.loc["s2", "explanation"])
    assert why.startswith("Model not applicable: sensor m2 (readings every ~30 days)")
    assert "No model level in this run" in why
    w = store.warnings(domain="geohazard").set_index("unit_id")
    assert "s1" in w.index and "s2" not in w.index  # no level from a refused model
    # idempotent
    assert score_domain(settings, "geohazard", DAILY_ORIGIN, store=store) == run_id


def test_nowcast_without_rain_gauge_serves_the_rules_and_says_why(settings, registry):
    settings, store = _home(settings, registry)
    _lake(settings, HOURLY_ORIGIN, rain_gauge=False)
    # before: ValueError "the scoring frame of geohazard_hourly lacks the champion's features"
    nowcast_geohazard(settings, HOURLY_ORIGIN, store=store)
    w = store.warnings(domain="geohazard_hourly").set_index("unit_id")
    assert w.loc["s1", "level"] == "red"  # the sensor rules still run
    reasons = _en(w.loc["s1", "reasons"])
    assert any(r.startswith("Model not applicable: no rain gauge in the lake") for r in reasons)
    assert any("rain_24h_mm" in r and "sensor rules" in r for r in reasons)
    f = store.published_forecasts("geohazard_hourly")
    assert len(f) == 2 and f["probability"].isna().all()


def test_daily_serving_without_rain_gauge_publishes_every_site_with_the_reason(settings, registry):
    settings, store = _home(settings, registry)
    _lake(settings, DAILY_ORIGIN, rain_gauge=False)
    score_domain(settings, "geohazard", DAILY_ORIGIN, store=store)
    f = store.published_forecasts("geohazard").set_index("unit_id")
    assert set(f.index) == {"s1", "s2"} and f["probability"].isna().all()
    for u in ("s1", "s2"):
        (why,) = _en(f.loc[u, "explanation"])
        assert why.startswith("Model not applicable: no rain gauge in the lake")
    assert store.warnings(domain="geohazard").empty


# --------------------------------------------------------------------------- features mismatch
# A site champion that takes an input no site frame of the domain has (e.g. a model of
# another domain's features) was scored with that input NaN: the daily run published with
# "the model's inputs cannot be built from the lake's sensors" (a model that scores NaN
# would have published its numbers), nothing was audited and `riskwarn score` exited 0.
# It is now refused as hotspot and case scoring refuse one: one line, exit 2, an audit
# entry `champion_refused` (the hourly nowcast still publishes its sensor rules first).

FOREIGN = "count_7d"  # a hotspot input: never a column of a site frame


@pytest.fixture(scope="module")
def foreign_registry(tmp_path_factory) -> str:
    """Champions of both site domains reading a hotspot feature."""
    root = tmp_path_factory.mktemp("mlflow-foreign")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    for domain in ("geohazard", "geohazard_hourly"):
        register(uri, (root / f"artifacts-{domain}").as_uri(), domain, FOREIGN)
    return uri


def _cli_score(settings: Settings, monkeypatch, domain: str, origin: pd.Timestamp) -> int:
    from riskwarn.cli import main

    monkeypatch.setenv("RISKWARN_HOME", str(settings.home))
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri or "")
    return main(["score", domain, "--origin", origin.isoformat()])


def _refusals(store: Store) -> list[dict]:
    from models.registry import model_name

    return store.audit_entries("model", model_name("geohazard"), ("champion_refused",)) + (
        store.audit_entries("model", model_name("geohazard_hourly"), ("champion_refused",))
    )


@pytest.mark.parametrize("rain_gauge", [True, False])
def test_daily_site_champion_lacking_frame_features_is_refused_exit_2_and_audited(
    settings, foreign_registry, monkeypatch, capsys, rain_gauge
):
    settings, store = _home(settings, foreign_registry)
    _lake(settings, DAILY_ORIGIN, rain_gauge=rain_gauge)
    code = _cli_score(settings, monkeypatch, "geohazard", DAILY_ORIGIN)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "lacks the champion's features ['count_7d']" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert store.published_forecasts("geohazard").empty  # nothing written
    (entry,) = _refusals(store)
    assert "count_7d" in entry["details"]["reason"], entry


def test_hourly_site_champion_lacking_frame_features_serves_the_rules_then_exit_2(
    settings, foreign_registry, monkeypatch, capsys
):
    settings, store = _home(settings, foreign_registry)
    _lake(settings, HOURLY_ORIGIN, rain_gauge=True)
    code = _cli_score(settings, monkeypatch, "geohazard_hourly", HOURLY_ORIGIN)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "lacks the champion's features ['count_7d']" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    w = store.warnings(domain="geohazard_hourly").set_index("unit_id")
    assert w.loc["s1", "level"] == "red"  # the sensor rules still published
    f = store.published_forecasts("geohazard_hourly")
    assert f["probability"].isna().all(), f
    assert store.runs("geohazard_hourly")["model_version"].isna().all()
    (entry,) = _refusals(store)
    assert "count_7d" in entry["details"]["reason"], entry


def test_missing_rain_inputs_without_gauge_are_still_unknown_not_a_mismatch(settings, registry):
    """The rain features are the one set a lake may be unable to give (no gauge): still
    the model-not-applicable reason, no refusal of the champion."""
    settings, store = _home(settings, registry)
    _lake(settings, DAILY_ORIGIN, rain_gauge=False)
    score_domain(settings, "geohazard", DAILY_ORIGIN, store=store)
    assert not _refusals(store)
