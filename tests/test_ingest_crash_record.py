"""``kill -9`` of ``riskwarn ingest`` between the lake commit and the store's record.

The batch's rows are in the lake; the store has no record of the run that added them.
Before the fix the re-run found "new 0, unchanged N" and recorded only that: no entry of
the store said which run added the N rows. Now the killed run's intent (an
``ingest_started`` audit entry written before its lake commit, under the table's ingest
lock) is still open when the re-run takes the lock, so the re-run records the killed
run's commits first (found in the lake by their run id), once, then its own; the store's
counts agree with the lake and quarantine.

The kill is real (SIGKILL of the CLI process) at a test hook,
``RISKWARN_INGEST_KILL_BEFORE_RECORD`` (with ``RISKWARN_TESTING``), placed after the lake
commits and before the store transaction, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from riskwarn.lake import read_quarantine, read_table
from riskwarn.lake.layout import QUARANTINE
from riskwarn.store import Store
from testkit.forked_cli import ForkedCli

pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "configs" / "sources" / "sim_incidents.yaml"
HEADER = (
    "警情编号,发案时间,报警时间,时间精度,警情大类,警情类别,警情级别,经度,纬度,"
    "所属社区代码,发案场所,处警单位"
)
GOOD, FUTURE = 40, 2  # rows accepted; rows in the future of --as-of (quarantined)


def _row(i: int, when: str) -> str:
    return (
        f"JQ{i:08d},{when},{when},精确到分,侵财类,盗窃,1,116.{i:06d},30.{i:06d},"
        f"3408{i:08d},住宅小区,某某派出所"
    )


def _extract(path: Path) -> Path:
    rows = [_row(i, f"2023-05-{1 + i % 28:02d} 10:00:00") for i in range(GOOD)]
    rows += [_row(GOOD + i, "2024-06-01 10:00:00") for i in range(FUTURE)]
    rows.append(rows[0])  # one exact duplicate
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _cli(
    cli: ForkedCli, home: Path, store_url: str, path: Path, **extra: str
) -> subprocess.CompletedProcess[str]:
    """``riskwarn ingest``, a process of its own forked from ``cli`` (the modules imported
    once, ``testkit.forked_cli``); ``extra``: environment variables."""
    env = {
        **os.environ,
        "RISKWARN_HOME": str(home),
        "RISKWARN_STORE_URL": store_url,
        **extra,
    }
    args = ["ingest", "--json", "--as-of", "2024-01-01", "--source", str(SOURCE), str(path)]
    return cli.run(args, env=env, timeout=300)


def _runs(store: Store, batch_id: str) -> list[dict[str, Any]]:
    """The batch's ingest_batch audit entries, oldest first (details)."""
    entries = store.audit_entries("ingest_batch", batch_id, ("ingest_batch",))
    return [e["details"] for e in reversed(entries)]


def _run_ids_in_lake(lake_dir: Path, name: str) -> list[str]:
    from deltalake import DeltaTable

    return [
        c["riskwarn.run_id"]
        for c in DeltaTable(str(lake_dir / name)).history()
        if "riskwarn.run_id" in c
    ]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'serving.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_kill_9_between_lake_commit_and_store_record(
    cli: ForkedCli, tmp_path: Path, store_url: str
) -> None:
    home, path = tmp_path / "home", _extract(tmp_path / "inc.csv")
    lake_dir = home / "lake"
    marker = tmp_path / "killed"
    Store(store_url).upgrade()  # the store exists (the killed run would create it anyway)
    killed = _cli(
        cli,
        home,
        store_url,
        path,
        RISKWARN_TESTING="1",
        RISKWARN_INGEST_KILL_BEFORE_RECORD=str(marker),
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert marker.exists()
    # the lake has the batch; the store has no record of it
    assert len(read_table(lake_dir, "incidents")) == GOOD
    assert len(read_quarantine(lake_dir)) == FUTURE
    store = Store(store_url)
    try:
        assert store.ingest_batches().empty

        again = _cli(cli, home, store_url, path)
        assert again.returncode == 0, again.stderr[-2000:]
        [report] = json.loads(again.stdout)
        assert (report["new"], report["unchanged"]) == (0, GOOD)
        batch_id = report["batch_id"]

        # the store's record agrees with the lake and the quarantine
        [rec] = store.ingest_batches().to_dict("records")
        lake_rows = len(read_table(lake_dir, "incidents"))
        quarantined = len(read_quarantine(lake_dir))
        assert (rec["accepted"], rec["quarantined"], rec["duplicates"]) == (
            lake_rows,
            quarantined,
            1,
        )
        assert rec["read"] == lake_rows + quarantined + rec["duplicates"]
        # the killed run that added the rows is recorded, once, under its own run id; the
        # re-run of the recorded batch changed nothing: closed as ingest_skipped, the
        # record kept (before 2026-12-06 it replaced the record with "new 0")
        runs = _runs(store, batch_id)
        assert [r["new"] for r in runs] == [GOOD]
        [first] = runs
        [skipped] = store.audit_entries("ingest_batch", batch_id, ("ingest_skipped",))
        # the killed run's commits carry its run id: the table's, then the quarantine's
        [killed_run] = _run_ids_in_lake(lake_dir, "incidents")
        assert _run_ids_in_lake(lake_dir, QUARANTINE) == [killed_run]
        assert first["run_id"] == killed_run and first["recovered"]["complete"] is True
        assert first["recovered"]["table_versions"] == [0 + 1]  # version 0 = table created
        assert (first["read"], first["accepted"], first["quarantined"]) == (
            GOOD + FUTURE + 1,
            GOOD,
            FUTURE,
        )
        assert (first["unchanged"], first["updated"]) == (0, 0)
        assert skipped["details"]["run_id"] != killed_run
        assert (rec["new"], rec["unchanged"]) == (GOOD, 0)
        assert store.open_ingests(batch_id) == []
        assert any("recorded an earlier run" in m for m in report["messages"]), report

        # re-running again records that run only: the killed one stays recorded once
        third = _cli(cli, home, store_url, path)
        assert third.returncode == 0, third.stderr[-2000:]
        assert [r["new"] for r in _runs(store, batch_id)] == [GOOD]
        assert len(store.audit_entries("ingest_batch", batch_id, ("ingest_skipped",))) == 2
        assert [r["run_id"] for r in _runs(store, batch_id)].count(killed_run) == 1
    finally:
        store.close()


def test_two_ingests_of_one_file_at_once_record_each_run_once(tmp_path: Path) -> None:
    """Two CLI processes ingest the same file at the same moment: one adds the rows, the
    other finds them unchanged; neither takes the other's open intent for a dead run's."""
    home, path = tmp_path / "home", _extract(tmp_path / "inc.csv")
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    Store(url).upgrade()  # both would create it at once otherwise (not what is tested)
    env = {**os.environ, "RISKWARN_HOME": str(home), "RISKWARN_STORE_URL": url}
    cmd = [sys.executable, "-m", "riskwarn.cli", "ingest", "--json", "--as-of", "2024-01-01"]
    procs = [
        subprocess.Popen(
            [*cmd, "--source", str(SOURCE), str(path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        reports += json.loads(out)
    assert sorted(r["new"] for r in reports) == [0, GOOD]
    store = Store(url)
    try:
        runs = _runs(store, reports[0]["batch_id"])
        # the second to take the lock found the batch recorded: skipped, record kept
        assert [r["new"] for r in runs] == [GOOD]
        assert all("recovered" not in r for r in runs)
        [skipped] = store.audit_entries("ingest_batch", reports[0]["batch_id"], ("ingest_skipped",))
        assert skipped["details"]["run_id"] != runs[0]["run_id"]
        assert store.open_ingests(reports[0]["batch_id"]) == []
        [rec] = store.ingest_batches().to_dict("records")
        assert rec["accepted"] == len(read_table(home / "lake", "incidents")) == GOOD
    finally:
        store.close()


def test_a_run_dead_before_its_lake_commit_is_closed_not_recorded(
    cli: ForkedCli, tmp_path: Path
) -> None:
    """A run that noted its intent and died before any lake commit stored nothing: the
    next run closes its intent (``ingest_interrupted``) and records only itself."""
    from datetime import UTC, datetime

    from riskwarn.ingest import read_and_validate
    from riskwarn.ingest.journal import StoreJournal
    from riskwarn.sources import load_mapping

    home, path = tmp_path / "home", _extract(tmp_path / "inc.csv")
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    store = Store(url)
    try:
        store.upgrade()
        batch = read_and_validate(
            load_mapping(SOURCE),
            path,
            pseudonym_key="unused",
            as_of=datetime(2024, 1, 1, tzinfo=UTC),
        )
        dead, _ = StoreJournal(store, home / "lake", actor="os:dead").begin(
            batch, datetime(2024, 1, 1, tzinfo=UTC)
        )
        assert [i["run_id"] for i in store.open_ingests(batch.batch_id)] == [dead]
        done = _cli(cli, home, url, path)
        assert done.returncode == 0, done.stderr[-2000:]
        [report] = json.loads(done.stdout)
        assert report["new"] == GOOD
        assert store.open_ingests(batch.batch_id) == []
        closed = store.audit_entries("ingest_batch", batch.batch_id, ("ingest_interrupted",))
        assert [e["details"]["run_id"] for e in closed] == [dead]
        runs = _runs(store, batch.batch_id)
        assert [r["new"] for r in runs] == [GOOD] and runs[0]["run_id"] != dead
    finally:
        store.close()


_LANDING = """
import sys
from riskwarn import pipeline
from riskwarn.settings import load_settings
print(pipeline.ingest_source(load_settings(), sys.argv[1], "2024-01-01T00:00:00Z"))
"""


def test_landing_run_killed_before_its_record_is_recorded_by_the_retry(tmp_path: Path) -> None:
    """The Airflow path (``pipeline.ingest_source``): the task is SIGKILLed after the
    lake commit; the file stays in landing; the retry records the killed run's commits,
    then its own, and archives the file."""
    home = tmp_path / "home"
    mapping = tmp_path / "sim_incidents.yaml"  # the landing folder is named by the mapping
    mapping.write_text(SOURCE.read_text(encoding="utf-8"), encoding="utf-8")
    landing = home / "landing" / "sim_incidents"
    landing.mkdir(parents=True)
    _extract(landing / "inc.csv")
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    env = {**os.environ, "RISKWARN_HOME": str(home), "RISKWARN_STORE_URL": url}
    marker = tmp_path / "killed"
    cmd = [sys.executable, "-c", _LANDING, str(mapping)]
    killed = subprocess.run(
        cmd,
        env={**env, "RISKWARN_TESTING": "1", "RISKWARN_INGEST_KILL_BEFORE_RECORD": str(marker)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (landing / "inc.csv").exists()  # not archived: the retry takes it again
    retry = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert retry.returncode == 0, retry.stderr[-2000:]
    assert not (landing / "inc.csv").exists()
    store = Store(url)
    try:
        [rec] = store.ingest_batches().to_dict("records")
        assert rec["accepted"] == len(read_table(home / "lake", "incidents")) == GOOD
        runs = _runs(store, rec["batch_id"])
        assert [r["new"] for r in runs] == [GOOD]  # the retry found it recorded: skipped
        assert "recovered" in runs[0]
        assert store.audit_entries("ingest_batch", rec["batch_id"], ("ingest_skipped",))
    finally:
        store.close()


def test_an_open_intent_of_another_lake_is_left_alone(cli: ForkedCli, tmp_path: Path) -> None:
    """A store shared by two lakes: a run on lake A has noted its intent (it may be
    alive: lake B's ingest lock says nothing about it); an ingest of the same file into
    lake B leaves that intent open, and A's record is still taken afterwards."""
    from datetime import UTC, datetime

    from riskwarn.ingest import read_and_validate
    from riskwarn.ingest.journal import StoreJournal
    from riskwarn.sources import load_mapping

    path = _extract(tmp_path / "inc.csv")
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    store = Store(url)
    try:
        store.upgrade()
        when = datetime(2024, 1, 1, tzinfo=UTC)
        batch = read_and_validate(load_mapping(SOURCE), path, pseudonym_key="unused", as_of=when)
        journal_a = StoreJournal(store, tmp_path / "home-a" / "lake", actor="os:a")
        run_a, _ = journal_a.begin(batch, when)
        done = _cli(cli, tmp_path / "home-b", url, path)
        assert done.returncode == 0, done.stderr[-2000:]
        assert [i["run_id"] for i in store.open_ingests(batch.batch_id)] == [run_a]
        assert store.audit_entries("ingest_batch", batch.batch_id, ("ingest_interrupted",)) == []
        report_a = {**json.loads(done.stdout)[0], "ingested_at": when}
        journal_a.finish(run_a, report_a)
        assert store.open_ingests(batch.batch_id) == []
        assert [r["run_id"] for r in _runs(store, batch.batch_id)][-1] == run_a
    finally:
        store.close()


# the CLI, SIGKILLed when it is about to make its table commit (its quarantine is
# written: the quarantine comes first since 2026-12-07)
_KILLED_BEFORE_TABLE_COMMIT = """
import os, signal, sys
import riskwarn.lake.write as write
def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
write._append = write._merge = killed
from riskwarn.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_between_quarantine_commit_and_table_commit(
    cli: ForkedCli, tmp_path: Path, store_url: str
) -> None:
    """A batch with rows to quarantine is two lake writes: the quarantine's commit, then
    the table's (before 2026-12-07 the reverse: a run killed between them stored its
    rows without its quarantine, and a row the write refused was lost). Killed between
    the two, the run stored no row: its intent is closed (not recorded as a run that
    stored anything); the re-run stores the rows, finds the quarantine already as it
    should be (no second copy) and records the batch once."""
    home, path = tmp_path / "home", _extract(tmp_path / "inc.csv")
    lake_dir = home / "lake"
    Store(store_url).upgrade()
    env = {**os.environ, "RISKWARN_HOME": str(home), "RISKWARN_STORE_URL": store_url}
    args = ["ingest", "--json", "--as-of", "2024-01-01", "--source", str(SOURCE), str(path)]
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_BEFORE_TABLE_COMMIT, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert len(read_quarantine(lake_dir)) == FUTURE  # the quarantine commit was made
    assert read_table(lake_dir, "incidents").empty  # the table commit was not
    store = Store(store_url)
    try:
        again = _cli(cli, home, store_url, path)
        assert again.returncode == 0, again.stderr[-2000:]
        [report] = json.loads(again.stdout)
        assert (report["new"], report["quarantined"]) == (GOOD, FUTURE)
        [run] = _runs(store, report["batch_id"])
        assert "recovered" not in run
        [closed] = store.audit_entries("ingest_batch", report["batch_id"], ("ingest_interrupted",))
        assert closed["details"]["stored"] == "its quarantine only (no table commit)"
        [rec] = store.ingest_batches().to_dict("records")
        assert rec["quarantined"] == len(read_quarantine(lake_dir)) == FUTURE
        assert rec["accepted"] == rec["new"] == len(read_table(lake_dir, "incidents")) == GOOD
        assert rec["read"] == rec["accepted"] + rec["quarantined"] + rec["duplicates"]
        assert store.open_ingests(report["batch_id"]) == []
        # the quarantine's commits: the killed run's only (the re-run's write was a no-op)
        assert len(_run_ids_in_lake(lake_dir, QUARANTINE)) == 1
    finally:
        store.close()


def test_an_ingest_waiting_for_the_lock_says_so(tmp_path: Path) -> None:
    """The ingest lock has no time limit; an ingest that finds it held says it waits
    (before: silence until the holder ended), then goes on once it is released."""
    import fcntl
    import time

    from riskwarn.lake.layout import LOCKS

    home, path = tmp_path / "home", _extract(tmp_path / "inc.csv")
    locks = home / "lake" / LOCKS
    locks.mkdir(parents=True)
    fd = os.open(locks / "ingest-incidents.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another ingest of the table, under way
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    Store(url).upgrade()
    env = {**os.environ, "RISKWARN_HOME": str(home), "RISKWARN_STORE_URL": url}
    cmd = [sys.executable, "-m", "riskwarn.cli", "ingest", "--json"]
    err = tmp_path / "stderr"
    with err.open("w") as err_fh:
        proc = subprocess.Popen(
            [*cmd, "--as-of", "2024-01-01", "--source", str(SOURCE), str(path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err_fh,
            text=True,
        )
        try:
            deadline = time.monotonic() + 240
            while "waiting for another ingest" not in err.read_text():
                assert proc.poll() is None, err.read_text()[-2000:]
                assert time.monotonic() < deadline, err.read_text()[-2000:]
                time.sleep(0.2)
            assert proc.poll() is None  # still waiting
        finally:
            os.close(fd)  # the other ingest ends
        out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.read_text()[-2000:]
    assert json.loads(out)[0]["new"] == GOOD
