"""Airflow DAGs: import test over every DAG file, and ``dag.test()`` runs on real data.

Airflow reads its configuration when first imported, so the environment (a temporary
AIRFLOW_HOME with a SQLite metadata DB, the repo's dags/ folder, RISKWARN_HOME) is set
before any ``airflow`` import, in the module fixture.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from riskwarn.orchestration import DAGS_FOLDER, airflow_bin, airflow_env
from riskwarn.settings import Settings
from riskwarn.store import Store
from testkit.ingest_helpers import sim_incidents_file
from tests.test_scoring import ORIGIN, _adopt_champion, _geohazard_lake, _incidents, _register

pytestmark = pytest.mark.timeout(900)

EXPECTED = {
    "train_models",
    "score_and_warn",
    "geohazard_nowcast",
    "publish",
    "ingest_threegorges_displacement",
    "ingest_chicago",
}
NOWCAST_AT = pd.Timestamp("2024-07-10T12:00Z")


@pytest.fixture(scope="module")
def af(tmp_path_factory):
    """Settings of a riskwarn home with Airflow configured and migrated in it."""
    root = tmp_path_factory.mktemp("af")
    registry = f"sqlite:///{root / 'mlflow.db'}"
    settings = Settings(home=root / "rw", mlflow_tracking_uri=registry)
    settings.home.mkdir()
    env = airflow_env(settings)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    subprocess.run([airflow_bin(), "db", "migrate"], env=env, check=True, capture_output=True)
    from riskwarn import lake

    lake.upsert(settings.lake_dir, "incidents", "test", _incidents(), batch_id="b1")
    _register(registry, (root / "artifacts").as_uri(), "incidents", "count_28d")
    store = Store.from_settings(settings)
    store.upgrade()
    _adopt_champion(registry, store, "incidents")  # scoring serves recorded champions only
    store.close()
    _geohazard_lake(settings, NOWCAST_AT)
    yield settings
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def dagbag(af):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_every_dag_imports_with_tags_retries_timeouts(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) >= EXPECTED
    for dag_id, dag in dagbag.dags.items():
        assert "riskwarn" in dag.tags, dag_id
        for t in dag.tasks:
            assert t.retries >= 1, (dag_id, t.task_id)
            assert t.execution_timeout is not None, (dag_id, t.task_id)
            assert t.on_failure_callback, (dag_id, t.task_id)
    # DAG id = file name (the ingest file generates one DAG per source mapping)
    for path in DAGS_FOLDER.glob("*.py"):
        if path.stem != "ingest_sources":
            assert path.stem in dagbag.dags
    assert {d for d in dagbag.dags if d.startswith("ingest_")} == {
        f"ingest_{p.stem}" for p in (DAGS_FOLDER.parent / "configs" / "sources").glob("*.yaml")
    }
    # the disputes scoring publishes the week's ranking by community beside it
    scoring = dagbag.dags["score_and_warn"]
    assert "communities" in scoring.task_ids
    # ... after the scoring, to publish it only when the disputes scoring stored its run
    ranking = scoring.get_task("communities")
    assert ranking.upstream_task_ids == {"domains", "score"}
    assert ranking.trigger_rule == "all_done_min_one_success"


def _run(dagbag, dag_id: str, when: pd.Timestamp, conf: dict | None = None):
    dag = dagbag.get_dag(dag_id)
    for t in dag.tasks:  # fail fast in tests instead of waiting for retries
        t.retries = 0
    dr = dag.test(logical_date=when.to_pydatetime(), run_conf=conf)
    assert str(dr.state) in ("success", "DagRunState.SUCCESS"), (dag_id, dr.state)
    return dr


def _store(settings: Settings):
    from riskwarn.store import Store

    store = Store.from_settings(settings)
    store.upgrade()
    return store


def test_ingest_dag_takes_landing_files_into_lake(af, dagbag, shared_data):
    from riskwarn import lake

    landing = af.landing_dir / "threegorges_displacement"
    landing.mkdir(parents=True)
    (landing / "displacement_monthly.csv").symlink_to(
        shared_data / "threegorges" / "displacement_monthly.csv"
    )
    _run(dagbag, "ingest_threegorges_displacement", pd.Timestamp("2024-03-10T00:00Z"))
    batches = _store(af).ingest_batches()
    assert len(batches) == 1
    b = batches.iloc[0]
    assert b["read"] == 890
    assert b["read"] == b["accepted"] + b["quarantined"] + b["duplicates"]
    assert (
        len(lake.read_table(af.lake_dir, "sensor_readings", sources=[b["source"]])) == b["accepted"]
    )
    # the file left landing for the archive, under its own name, the interval end and
    # the archive time (what the personal-data retention ages it from)
    assert not any(landing.iterdir())
    [archived] = (af.archive_dir / "threegorges_displacement").glob(
        "ingested=2024-03-10T000000Z_archived=*"
    )
    assert [p.name for p in archived.iterdir()] == ["displacement_monthly.csv"]
    # a re-run of the interval changes nothing; the same file delivered again neither
    _run(dagbag, "ingest_threegorges_displacement", pd.Timestamp("2024-03-10T00:00Z"))
    assert len(_store(af).ingest_batches()) == 1
    (landing / "displacement_monthly.csv").symlink_to(
        shared_data / "threegorges" / "displacement_monthly.csv"
    )
    _run(dagbag, "ingest_threegorges_displacement", pd.Timestamp("2024-03-10T00:00Z"))
    again = _store(af).ingest_batches()
    assert len(again) == 1  # same batch id: one batch record, not duplicated
    # recognised as already ingested: its record keeps the first ingest's counts (a
    # re-ingest never overwrites them, nor changes a stored record: stop 38)
    assert again.iloc[0]["new"] == 890 and again.iloc[0]["unchanged"] == 0
    assert len(lake.read_table(af.lake_dir, "sensor_readings", sources=[b["source"]])) == 890


def test_ingest_dag_fails_without_retry_when_a_file_stored_nothing(af, dagbag):
    """Review S5: a landing file whose every row was quarantined stored nothing; the run
    must not end green. The file is recorded and archived (a retry finds nothing and
    would turn green), so the task fails at once, retries notwithstanding."""
    landing = af.landing_dir / "chicago"
    landing.mkdir(parents=True)
    (landing / "all_bad.csv").write_text(
        "date,loc_cat,longitude,latitude,district\n"
        "2015-02-30 10:00,street,-87.7,41.8,1\nnot a time,street,-87.7,41.8,1\n",
        encoding="utf-8",
    )
    dag = dagbag.get_dag("ingest_chicago")
    assert dag.get_task("ingest").retries == 2  # kept: AirflowFailException skips them
    dr = dag.test(logical_date=pd.Timestamp("2024-03-11T00:00Z").to_pydatetime())
    assert "failed" in str(dr.state).lower()
    [ti] = dr.get_task_instances()
    assert "failed" in str(ti.state).lower()  # not up_for_retry
    batches = _store(af).ingest_batches()
    b = batches.loc[batches["file_name"] == "all_bad.csv"].iloc[0]
    assert (b["read"], b["accepted"], b["quarantined"]) == (2, 0, 2)
    assert not any(landing.iterdir())  # archived like any other file
    failed = _store(af).audit_log().query("action == 'task_failed'")
    assert any("stored nothing" in str(d) and "all_bad.csv" in str(d) for d in failed["details"])


def test_score_and_warn_dag_is_idempotent(af, dagbag):
    _run(dagbag, "score_and_warn", ORIGIN, {"domains": ["incidents"]})
    store = _store(af)
    run = store.published_run("incidents")
    assert run["run_id"] == "incidents:20240310T1600Z"
    assert run["airflow_run_id"]
    f1 = store.published_forecasts("incidents").drop(columns=["created_at"], errors="ignore")
    w1 = store.warnings(domain="incidents").drop(columns=["created_at", "updated_at"])
    assert len(f1) == 12 and len(w1) >= 3
    _run(dagbag, "score_and_warn", ORIGIN, {"domains": ["incidents"]})
    f2 = store.published_forecasts("incidents").drop(columns=["created_at"], errors="ignore")
    w2 = store.warnings(domain="incidents").drop(columns=["created_at", "updated_at"])
    pd.testing.assert_frame_equal(f1, f2)
    pd.testing.assert_frame_equal(w1.drop(columns=["run_id"]), w2.drop(columns=["run_id"]))


def test_score_and_warn_fails_without_retry_on_stale_data(af, dagbag):
    """Attack review 2026-12-07 (HIGH): scored five months after the lake's last
    incident, the task published those months as no incidents. Now it fails at once
    (retries notwithstanding: the lake is the same minutes later) with the one-line
    reason, nothing written, audited ``stale_data_refused`` and ``task_failed``."""
    late = ORIGIN + pd.Timedelta(days=150)
    dag = dagbag.get_dag("score_and_warn")
    dag.get_task("score").retries = 2  # as default_args set (another test zeroes them)
    dr = dag.test(logical_date=late.to_pydatetime(), run_conf={"domains": ["incidents"]})
    assert "failed" in str(dr.state).lower()
    [ti] = [t for t in dr.get_task_instances() if t.task_id == "score"]
    assert "failed" in str(ti.state).lower()  # not up_for_retry
    store = _store(af)
    assert "incidents:20240807T1600Z" not in set(store.runs("incidents")["run_id"])
    log = store.audit_log()
    assert "stale_data_refused" in set(log["action"])
    failed = log.loc[log["action"] == "task_failed", "details"]
    assert any("refusing to score stale data for incidents" in str(d) for d in failed)
    assert not any("Traceback" in str(d) for d in failed)


def test_geohazard_nowcast_dag_raises_red(af, dagbag):
    _run(dagbag, "geohazard_nowcast", NOWCAST_AT)
    w = _store(af).warnings(domain="geohazard_hourly").set_index("unit_id")
    assert w.loc["s1", "level"] == "red"
    assert w.loc["s3", "evidence"]["sensor_health"] == "dead"


def test_publish_dag_exports_runs(af, dagbag):
    _run(dagbag, "publish", NOWCAST_AT)
    names = sorted(p.relative_to(af.exports_dir).as_posix() for p in af.exports_dir.rglob("*.*"))
    assert "incidents/incidents_20240310T1600Z/forecasts.geojson" in names
    assert "geohazard_hourly/geohazard_hourly_20240710T1200Z/warnings.csv" in names


def test_failed_task_is_written_to_audit_log(af, dagbag):
    dag = dagbag.get_dag("score_and_warn")
    for t in dag.tasks:
        t.retries = 0
    # disputes has no champion in this registry: the task fails loudly
    dr = dag.test(logical_date=ORIGIN.to_pydatetime(), run_conf={"domains": ["disputes"]})
    assert "failed" in str(dr.state).lower()
    log = _store(af).audit_log()
    failed = log.loc[log["action"] == "task_failed"]
    assert len(failed) >= 1
    assert any("riskwarn-disputes@champion" in str(d) for d in failed["details"])
    assert _store(af).published_run("disputes") is None


def _community_home(root: Path) -> Settings:
    """A home (its own lake and serving store) with three communities and disputes before
    the DAG's origin, and no champion of disputes."""
    from riskwarn import lake
    from tests.test_community_publish import _disputes, _units

    s = Settings(home=root / "rw")
    s.home.mkdir(parents=True)
    early = ORIGIN - pd.Timedelta(days=100)
    before = [
        (f"D{i}", ORIGIN - pd.Timedelta(days=d), code)
        for i, (d, code) in enumerate([(1, "a"), (2, "a"), (3, "c"), (40, "b")])
    ]
    lake.upsert(s.lake_dir, "admin_units", "t", _units(), batch_id="u1", as_of=early)
    lake.upsert(s.lake_dir, "disputes", "t", _disputes(before), batch_id="d1", as_of=early)
    return s


def _states(dr) -> dict[tuple[str, int], str]:
    return {(ti.task_id, ti.map_index): str(ti.state) for ti in dr.get_task_instances()}


def test_communities_is_skipped_when_the_disputes_scoring_is_refused(
    af, dagbag, tmp_path, monkeypatch, capfd
):
    """As ``riskwarn score disputes`` (tests/test_score_communities_cli.py): a refused
    disputes scoring (no champion) publishes no ranking by community; the task is
    skipped with the reason. Before, ``communities`` ran beside the scoring (upstream:
    ``domains`` only) and published the ranking of a day whose disputes forecast was
    refused."""
    home = _community_home(tmp_path)
    monkeypatch.setenv("RISKWARN_HOME", str(home.home.resolve()))
    dag = dagbag.get_dag("score_and_warn")
    for t in dag.tasks:
        t.retries = 0
    dr = dag.test(logical_date=ORIGIN.to_pydatetime(), run_conf={"domains": ["disputes"]})
    states = _states(dr)
    assert states[("score", 0)] == "failed", states
    assert states[("communities", -1)] == "skipped", states
    # the run still fails with its scoring (a skipped leaf would make it a success)
    assert states[("all_scored", -1)] == "upstream_failed", states
    assert "failed" in str(dr.state).lower()
    out = "".join(capfd.readouterr())  # the task's log: the skip and its reason
    assert "Skipping task" in out and "stored no run (refused or failed)" in out
    store = _store(home)
    assert store.community_runs().empty
    assert store.published_run("disputes") is None


def test_communities_publishes_after_a_stored_disputes_scoring(af, dagbag, tmp_path, monkeypatch):
    """The same day with the disputes scoring stored (stubbed: its run id, as the real
    one returns it): the ranking is published, with the Airflow run's id."""
    home = _community_home(tmp_path)
    monkeypatch.setenv("RISKWARN_HOME", str(home.home.resolve()))
    monkeypatch.setattr(
        "riskwarn.pipeline.score_and_warn", lambda _s, domain, *_a: f"{domain}:stub"
    )
    dag = dagbag.get_dag("score_and_warn")
    for t in dag.tasks:
        t.retries = 0
    dr = dag.test(logical_date=ORIGIN.to_pydatetime(), run_conf={"domains": ["disputes"]})
    states = _states(dr)
    assert states[("score", 0)] == "success" and states[("communities", -1)] == "success"
    assert states[("all_scored", -1)] == "success" and "success" in str(dr.state).lower()
    runs = _store(home).community_runs()
    assert len(runs) == 1 and runs["airflow_run_id"].iloc[0] == dr.run_id


def test_airflow_dags_list_cli_shows_no_import_errors(af):
    out = subprocess.run(
        [airflow_bin(), "dags", "list-import-errors", "-o", "json"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] in ("[]", "No data found")
    assert Path(af.home).exists()


def test_interval_end_prefers_the_logical_date_over_a_manual_runs_trigger_time() -> None:
    """A manual re-run of a past day (trigger -l) must score that day, not "now"."""
    from types import SimpleNamespace

    import pendulum

    from riskwarn.orchestration import interval_end

    day = pendulum.datetime(2024, 3, 10, 16, tz="UTC")
    now = pendulum.datetime(2026, 11, 27, 9, tz="UTC")
    run = SimpleNamespace(run_after=now)
    manual = {"logical_date": day, "data_interval_end": now, "dag_run": run}
    assert interval_end(manual) == day
    asset_triggered = {"logical_date": None, "data_interval_end": now, "dag_run": run}
    assert interval_end(asset_triggered) == now
    bare = {"logical_date": None, "data_interval_end": None, "dag_run": run}
    assert interval_end(bare) == now


def test_a_dag_run_naming_an_unknown_domain_is_refused_not_dropped() -> None:
    from riskwarn.orchestration import requested_domains

    known = ["incidents", "disputes"]
    assert requested_domains(["disputes"], known, "score_and_warn") == ["disputes"]
    with pytest.raises(ValueError, match=r"score_and_warn cannot handle \['geohazard'\]"):
        requested_domains(["incidents", "geohazard"], known, "score_and_warn")


def _sim_incidents(folder: Path, name: str, severities: dict[int, int]) -> None:
    """A sim_incidents export (one row per record JQ<i>, its severity) landed as ``name``,
    settled (mtime a minute back: no settle wait)."""
    path = sim_incidents_file(folder / name, severities)
    old = path.stat().st_mtime - 60
    os.utime(path, (old, old))


def test_ingest_dag_refuses_an_older_export_landing_after_a_newer_one(af, dagbag):
    """The landing DAG reads each file's export time from its name
    (``extracted=YYYY-MM-DDTHHMMSSZ``): February's export, landing after March's, does
    not roll back the record March corrected (quarantined as ``older_extract``), still
    corrects a record only January's export wrote, and a re-run of the interval changes
    nothing. Before, the landing path passed no export time: February's row was applied
    and the lake served its older content."""
    from riskwarn.lake import read_quarantine, read_table
    from riskwarn.lake.read import table_version

    landing = af.landing_dir / "sim_incidents"
    landing.mkdir(parents=True)
    base = {i: 1 for i in range(5)}

    def severity() -> dict[str, int]:
        t = read_table(af.lake_dir, "incidents", sources=["simcity"])
        return {str(k): int(v) for k, v in zip(t["record_id"], t["severity"], strict=True)}

    def run(day: str) -> None:
        _run(dagbag, "ingest_sim_incidents", pd.Timestamp(day))
        assert not any(landing.iterdir())  # every file ingested and archived

    _sim_incidents(landing, "incidents_extracted=2024-01-31T000000Z.csv", base)
    run("2024-04-01T00:00Z")
    # March's export corrects record 2 and does not carry record 4 (an export that
    # carried it, changed or not, would make a later-landing older export's change to it
    # an older_extract too: tests/test_ingest_export_order.py)
    march = {k: v for k, v in {**base, 2: 3}.items() if k != 4}
    _sim_incidents(landing, "incidents_extracted=2024-03-31T000000Z.csv", march)
    run("2024-04-01T01:00Z")
    # February's export, delivered late: record 2 with content the lake never had,
    # record 4 corrected (only January's export wrote it), one new record
    feb = "incidents_extracted=2024-02-29T000000Z.csv"
    _sim_incidents(landing, feb, {**base, 2: 2, 4: 5, 7: 1})
    run("2024-04-01T02:00Z")
    now = severity()
    assert (now["JQ00000002"], now["JQ00000004"], now["JQ00000007"]) == (3, 5, 1)
    q = read_quarantine(af.lake_dir)
    q = q.loc[q["source"] == "simcity"]
    assert q[["file_name", "reason"]].values.tolist() == [[feb, "older_extract"]]
    [message] = q["message"]
    assert "JQ00000002" in message and "2024-02-29" in message and "2024-03-31" in message
    batches = _store(af).ingest_batches().set_index("file_name")
    assert (int(batches.loc[feb, "updated"]), int(batches.loc[feb, "quarantined"])) == (1, 1)
    assert dict(batches.loc[feb, "reasons"]) == {"older_extract": 1}
    # the re-run of the interval (the file delivered again) changes nothing
    version = table_version(af.lake_dir, "incidents")
    _sim_incidents(landing, feb, {**base, 2: 2, 4: 5, 7: 1})
    run("2024-04-01T02:00Z")
    assert table_version(af.lake_dir, "incidents") == version
    assert severity() == now
    again = read_quarantine(af.lake_dir)
    assert again.loc[again["source"] == "simcity", "reason"].tolist() == ["older_extract"]
    assert len(_store(af).ingest_batches()) == len(batches)
