"""Scoring refuses stale data (attack review, 2026-12-07, HIGH): a home whose incidents
ended months before the origin was scored as if nothing had happened since (every
missing day read as zero incidents) and replaced the served run. Now a source the
domain is served on whose newest record known at the origin is older than the domain's
``max_data_age_days`` refuses the scoring in one line (exit 2 at the CLI), nothing
written, audited ``stale_data_refused``; ``--allow-stale-data`` scores anyway, audited.
Judged on what was known at the origin: a backfill of an old origin on a lake with
later data passes, a record reported after the origin does not make it fresh."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from riskwarn import lake
from riskwarn.scoring import StaleData, score_domain
from riskwarn.settings import Settings, SettingsError, load_settings
from riskwarn.store import Store
from tests.test_scoring import ORIGIN, _incidents
from tests.test_scoring import registry as registry  # the fixtures, re-exported
from tests.test_scoring import scored_home as scored_home

FIVE_MONTHS_LATER = ORIGIN + pd.Timedelta(days=150)


def _actions(store) -> list[str]:
    return store.audit_log(limit=1000)["action"].tolist()


def test_months_old_incidents_are_refused_nothing_written_audited(scored_home) -> None:
    settings, store, _ = scored_home
    served = score_domain(settings, "incidents", ORIGIN, store=store)
    with pytest.raises(StaleData) as err:
        score_domain(settings, "incidents", FIVE_MONTHS_LATER, store=store)
    text = str(err.value)
    assert "\n" not in text
    newest = _incidents()["occurred_at"].max()
    age = (FIVE_MONTHS_LATER - newest) / pd.Timedelta(days=1)
    assert "source test's newest record of incidents known at the origin is of " in text
    assert f"{newest:%Y-%m-%d %H:%M}Z, {age:.1f} days before it" in text, text
    assert "at most 3 days allowed" in text and "--allow-stale-data" in text
    # nothing written: the run of the origin before stays the one served, and the only one
    assert store.runs("incidents")["run_id"].tolist() == [served]
    assert store.published_run("incidents")["run_id"] == served
    entry = store.audit_log(limit=1000).iloc[0]
    assert entry["action"] == "stale_data_refused" and entry["object_id"] == "incidents"
    assert list(entry["details"]["newest"]) == ["test"]
    said = pd.Timestamp(entry["details"]["newest"]["test"])  # the lake keeps microseconds
    assert abs(said - newest) < pd.Timedelta(milliseconds=1)


def test_backfill_of_an_old_origin_on_a_lake_with_later_data_passes(scored_home) -> None:
    settings, store, _ = scored_home
    later = _incidents(seed=2).assign(
        occurred_at=lambda f: f["occurred_at"] + pd.Timedelta(days=200),
        reported_at=lambda f: f["reported_at"] + pd.Timedelta(days=200),
        record_id=lambda f: "late-" + f["record_id"],
    )
    lake.upsert(settings.lake_dir, "incidents", "test", later, batch_id="b2")
    # the lake now runs to 199.9 days after ORIGIN: scored fresh there
    score_domain(settings, "incidents", ORIGIN + pd.Timedelta(days=200), store=store)
    run_id = score_domain(settings, "incidents", ORIGIN, store=store)  # the backfill
    assert run_id == "incidents:20240310T1600Z"
    assert "stale_data_refused" not in _actions(store)


def test_a_record_reported_after_the_origin_does_not_make_it_fresh(scored_home) -> None:
    settings, store, _ = scored_home
    origin = ORIGIN + pd.Timedelta(days=10)
    # happened an hour before the origin, reported half a day after it: not known then
    late = (
        _incidents()
        .head(1)
        .assign(
            occurred_at=origin - pd.Timedelta(hours=1),
            reported_at=origin + pd.Timedelta(hours=12),
            record_id="reported-late",
        )
    )
    lake.upsert(settings.lake_dir, "incidents", "test", late, batch_id="b2")
    with pytest.raises(StaleData, match=r"days before it"):
        score_domain(settings, "incidents", origin, store=store)
    # scored the next midnight, it is known (1 day 1 hour old): fresh
    score_domain(settings, "incidents", origin + pd.Timedelta(days=1), store=store)


def test_allow_stale_data_scores_anyway_audited_and_said(scored_home) -> None:
    settings, store, _ = scored_home
    said: list[str] = []
    run_id = score_domain(
        settings,
        "incidents",
        FIVE_MONTHS_LATER,
        store=store,
        allow_stale_data=True,
        say=said.append,
    )
    assert store.published_run("incidents")["run_id"] == run_id
    assert len(said) == 1 and said[0].startswith("scoring anyway (--allow-stale-data, audited)")
    assert "stale_data_allowed" in _actions(store)
    assert "stale_data_refused" not in _actions(store)


def test_max_data_age_days_setting(monkeypatch: pytest.MonkeyPatch, scored_home) -> None:
    assert Settings().max_data_age_days["incidents"] == 3
    monkeypatch.setenv("RISKWARN_MAX_DATA_AGE_DAYS", "incidents=200")
    got = load_settings().max_data_age_days
    assert got["incidents"] == 200 and got["disputes"] == 5  # others keep their defaults
    settings, store, _ = scored_home
    wide = settings.model_copy(update={"max_data_age_days": got})
    score_domain(wide, "incidents", FIVE_MONTHS_LATER, store=store)
    for bad in ("incident=3", "incidents=0", "incidents=-1", "incidents=nan", "incidents"):
        monkeypatch.setenv("RISKWARN_MAX_DATA_AGE_DAYS", bad)
        with pytest.raises(SettingsError, match="RISKWARN_MAX_DATA_AGE_DAYS"):
            load_settings()


def test_cli_refuses_in_one_line_exit_2_and_the_flag_scores(scored_home) -> None:
    settings, store, _ = scored_home
    served = score_domain(settings, "incidents", ORIGIN, store=store)
    settings.home.chmod(0o700)
    env = {
        **os.environ,
        "RISKWARN_HOME": str(settings.home),
        "RISKWARN_MLFLOW_TRACKING_URI": settings.resolved_mlflow_uri,
    }
    env.pop("RISKWARN_MAX_DATA_AGE_DAYS", None)
    cmd = [sys.executable, "-m", "riskwarn.cli", "score", "incidents"]
    cmd += ["--origin", FIVE_MONTHS_LATER.isoformat()]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    # (the test model's load prints MLflow's warnings before: not riskwarn's lines)
    lines = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("error: refusing to score stale data for incidents at "), lines
    assert lines[0].endswith("(the last published run stays served)"), lines
    assert store.published_run("incidents")["run_id"] == served
    done = subprocess.run(
        [*cmd, "--allow-stale-data"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "scoring anyway (--allow-stale-data, audited)" in done.stdout
    assert store.published_run("incidents")["run_id"] != served
    assert _actions(store)[:3].count("stale_data_allowed") == 1


@pytest.fixture(scope="module")
def site_registry(tmp_path_factory) -> str:
    """A daily site champion reading ``rain_24h_mm`` (as tests/test_site_model_serving)."""
    from scripts.check_champion import register

    root = tmp_path_factory.mktemp("mlflow-sites")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    register(uri, (root / "artifacts").as_uri(), "geohazard", "rain_24h_mm")
    return uri


def test_daily_site_scoring_refuses_a_silent_readings_feed(settings, site_registry) -> None:
    """Daily site scoring serves the model alone (no dead-sensor rule): a readings feed
    silent for 10 days was scored as no displacement and no rain. The hourly nowcast is
    not refused (its dead-sensor rule warns at each silent sensor)."""
    from scripts.check_champion import adopt_champion
    from tests.test_site_model_serving import DAILY_ORIGIN, _lake

    settings = settings.model_copy(update={"mlflow_tracking_uri": site_registry})
    store = Store.from_settings(settings)
    store.upgrade()
    adopt_champion(site_registry, store, "geohazard")
    _lake(settings, DAILY_ORIGIN - pd.Timedelta(days=10), rain_gauge=True)
    with pytest.raises(StaleData, match=r"newest sensor reading of sensor_readings") as err:
        score_domain(settings, "geohazard", DAILY_ORIGIN, store=store)
    assert "at most 2 days allowed" in str(err.value)
    assert store.runs("geohazard").empty
    assert "stale_data_refused" in _actions(store)


def _case_lake(settings, opened_until: pd.Timestamp, events_until: pd.Timestamp) -> None:
    """Disputes opened daily up to ``opened_until`` and their events up to ``events_until``
    (one source, ``test``)."""
    days = pd.date_range(pd.Timestamp("2024-01-01 02:00", tz="UTC"), opened_until, freq="D")
    cases = pd.DataFrame(
        {
            "source": "test",
            "record_id": [f"d{i}" for i in range(len(days))],
            "opened_at": days,
            "category": "neighbour",
            "lon": 118.0,
            "lat": 31.8,
            "admin_code": None,
            "party_ids": None,
            "n_parties": 2,
            "amount_cny": None,
        }
    )
    lake.upsert(settings.lake_dir, "disputes", "test", cases, batch_id="c1")
    ev = cases.loc[cases["opened_at"] <= events_until]
    events = pd.DataFrame(
        {
            "source": "test",
            "record_id": "e-" + ev["record_id"],
            "dispute_id": ev["record_id"],
            "event_at": ev["opened_at"] + pd.Timedelta(hours=1),
            "event_type": "mediation",
        }
    )
    lake.upsert(settings.lake_dir, "dispute_events", "test", events, batch_id="e1")


def test_a_case_domain_refuses_when_its_events_feed_stopped(settings) -> None:
    """Dispute cases read their events (mediations, escalations) as well as the cases: an
    events feed that stopped while cases still arrive read every open case as calm (no
    failed mediation, no escalation). The cases' own freshness passed and the old check
    looked at nothing else."""
    from riskwarn.scoring import check_data_age

    origin = pd.Timestamp("2024-03-01 16:00", tz="UTC")
    _case_lake(settings, origin - pd.Timedelta(hours=3), origin - pd.Timedelta(days=20))
    store = Store.from_settings(settings)
    store.upgrade()
    with pytest.raises(StaleData) as err:
        check_data_age(settings, store, "dispute_cases", origin, None)
    text = str(err.value)
    assert "source test's newest record of dispute_events known at the origin is of" in text
    assert "2024-02-10 03:00Z, 20.5 days before it" in text and "of disputes known" not in text, (
        text
    )
    entry = store.audit_log(limit=10).iloc[0]
    assert entry["action"] == "stale_data_refused" and entry["object_id"] == "dispute_cases"
    assert list(entry["details"]["newest"]) == ["dispute_events:test"]
    # the hotspot domain counts the cases alone: their events do not concern it
    check_data_age(settings, store, "disputes", origin, None)
    # events within the limit: fresh
    _case_lake(settings, origin - pd.Timedelta(hours=3), origin - pd.Timedelta(days=2))
    check_data_age(settings, store, "dispute_cases", origin, ["test"])
    assert _actions(store).count("stale_data_refused") == 1
