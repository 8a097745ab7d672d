"""Archived landing files with personal fields are kept ``archive_personal_days`` only.

``<home>/archive/sim_disputes/ingested=.../disputes.csv`` holds parties' names, phones
and ID numbers and was kept for ever; lake maintenance now removes such files older
than the retention, audited by file name only (docs/security.md)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from riskwarn.orchestration import source_mapping_files
from riskwarn.pipeline import personal_sources, purge_personal_archive
from riskwarn.settings import Settings
from riskwarn.store import Store


def test_personal_archive_older_than_retention_is_removed(settings: Settings) -> None:
    sources = personal_sources(source_mapping_files())
    assert {"sim_disputes", "sim_dispute_events"} <= set(sources)
    now = pd.Timestamp("2026-12-05T12:00:00Z")
    arch = settings.archive_dir
    old = arch / "sim_disputes" / "ingested=2026-10-01T000000Z"
    new = arch / "sim_disputes" / "ingested=2026-11-30T000000Z"
    public = arch / "sim_incidents" / "ingested=2026-01-01T000000Z"
    for folder in (old, new, public):
        folder.mkdir(parents=True)
        (folder / "disputes.csv").write_text("name,phone\nZhang San,13800000000\n")
        _archived_at(folder)
    assert "sim_incidents" not in sources
    removed = purge_personal_archive(settings, sources, now=now)["removed"]
    assert removed == ["sim_disputes/ingested=2026-10-01T000000Z/disputes.csv"]
    assert not old.exists() and (new / "disputes.csv").exists()
    assert (public / "disputes.csv").exists()  # no personal fields: not this retention's
    again = purge_personal_archive(settings, sources, now=now)  # re-run: nothing
    assert again == {"removed": [], "links": [], "failed": [], "unnamed": [], "future": []}
    entries = _audit(settings)
    assert [e["action"] for e in entries] == ["archive_purge_started", "archive_purged"]
    assert "Zhang" not in str(entries) and "disputes.csv" in str(entries[1]["details"])


def _audit(settings: Settings) -> list[dict]:
    """The purge's audit entries, oldest first."""
    store = Store.from_settings(settings)
    try:
        log = store.audit_log()
    finally:
        store.close()
    log = log.loc[log["action"].isin(["archive_purge_started", "archive_purged"])]
    return log.iloc[::-1].to_dict("records")


NOW = pd.Timestamp("2026-12-05T12:00:00Z")
SOURCES = ["sim_disputes"]


def _archived_at(folder: Path) -> None:
    """A folder named as before 2026-12-05 (``ingested=<stamp>``, no archive time) last
    changed at its stamp, as one archived then: the retention ages it from then."""
    stamp = pd.Timestamp(folder.name.removeprefix("ingested="))
    os.utime(folder, (stamp.timestamp(), stamp.timestamp()))


def _old(settings: Settings, stamp: str, name: str = "disputes.csv") -> Path:
    folder = settings.archive_dir / "sim_disputes" / f"ingested={stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("name,phone\nZhang San,13800000000\n")
    _archived_at(folder)
    return folder


def test_a_folder_that_cannot_be_removed_is_reported_and_the_others_purged_and_audited(
    settings: Settings,
) -> None:
    # review 2026-12-05: an error mid-loop (an immutable file) stopped the purge with a
    # traceback after earlier folders were removed, and none of them was audited
    a = _old(settings, "2026-09-01T000000Z")
    b = _old(settings, "2026-10-01T000000Z")
    stuck = a / "disputes.csv"
    subprocess.run(["chattr", "+i", str(stuck)], check=True)
    try:
        done = purge_personal_archive(settings, SOURCES, now=NOW)
        assert done["removed"] == ["sim_disputes/ingested=2026-10-01T000000Z/disputes.csv"]
        [line] = done["failed"]
        assert "sim_disputes/.purging-ingested=2026-09-01T000000Z-" in line
        assert "PermissionError" in line and "\n" not in line
        assert not b.exists() and not a.exists()  # a is renamed, waiting for the next run
        entries = _audit(settings)
        # b removed and audited; a's files audited before their removal was tried
        assert [(e["action"], e["details"]["folder"]) for e in entries] == [
            ("archive_purge_started", "sim_disputes/ingested=2026-09-01T000000Z"),
            ("archive_purge_started", "sim_disputes/ingested=2026-10-01T000000Z"),
            ("archive_purged", "sim_disputes/ingested=2026-10-01T000000Z"),
        ]
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=False)
        for p in settings.archive_dir.rglob("disputes.csv"):
            subprocess.run(["chattr", "-i", str(p)], check=False)
    # the next run completes a: removed, audited once more only as done
    again = purge_personal_archive(settings, SOURCES, now=NOW)
    assert again["removed"] == ["sim_disputes/ingested=2026-09-01T000000Z/disputes.csv"]
    assert again["failed"] == []
    assert list((settings.archive_dir / "sim_disputes").iterdir()) == []
    actions = [(e["action"], e["details"]["folder"].split("=")[1][:10]) for e in _audit(settings)]
    assert sorted(actions) == sorted(
        [
            ("archive_purge_started", "2026-09-01"),
            ("archive_purge_started", "2026-10-01"),
            ("archive_purged", "2026-10-01"),
            ("archive_purged", "2026-09-01"),
        ]
    )
    assert purge_personal_archive(settings, SOURCES, now=NOW)["removed"] == []


def test_a_file_archived_after_the_purge_decided_is_kept(settings: Settings) -> None:
    # the purge takes an old folder out of the archive by renaming it first; a file the
    # landing DAG archives under the same old stamp afterwards goes into a new folder
    # (archive_file makes it) instead of failing with 'Directory not empty' or being
    # removed unaudited
    from riskwarn.ingest.landing import archive_file

    old = _old(settings, "2026-09-01T000000Z")
    late = settings.home / "late.csv"
    late.write_text("name\nLi Si\n")
    real_rename = Path.rename

    def rename_then_archive(self: Path, target: Path) -> Path:  # the concurrent archive
        out = real_rename(self, target)
        if self == old:
            archive_file(late, old, "b" * 64)
        return out

    import pytest

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "rename", rename_then_archive)
        done = purge_personal_archive(settings, SOURCES, now=NOW)
    assert done["removed"] == ["sim_disputes/ingested=2026-09-01T000000Z/disputes.csv"]
    assert done["failed"] == []
    assert (old / "late.csv").read_text() == "name\nLi Si\n"  # kept: the next run's


def test_symlinked_files_are_removed_as_links_and_odd_folders_are_warned_about(
    settings: Settings, caplog
) -> None:
    outside = settings.home / "elsewhere.csv"
    outside.write_text("name\nZhang San\n")
    folder = settings.archive_dir / "sim_disputes" / "ingested=2026-09-01T000000Z"
    folder.mkdir(parents=True)
    (folder / "linked.csv").symlink_to(outside)
    _archived_at(folder)
    odd = settings.archive_dir / "sim_disputes" / "manual-copy"
    odd.mkdir()
    with caplog.at_level("WARNING"):
        done = purge_personal_archive(settings, SOURCES, now=NOW)
    linked = "sim_disputes/ingested=2026-09-01T000000Z/linked.csv"
    assert done["removed"] == done["links"] == [linked]
    assert done["unnamed"] == ["sim_disputes/manual-copy"]
    assert outside.exists() and odd.exists()  # outside the archive: not the archive's
    text = caplog.text
    assert "manual-copy is not named ingested=" in text
    assert "was a symlink; the link is removed, its target" in text
    assert _audit(settings)[-1]["details"]["links"] == [linked]


def test_lake_maintain_json_includes_the_purge_and_bad_retention_is_one_line(
    settings: Settings, monkeypatch, capsys
) -> None:
    from riskwarn.cli import main

    monkeypatch.setenv("RISKWARN_HOME", str(settings.home))
    settings.home.chmod(0o700)
    _old(settings, "2026-01-01T000000Z")
    assert main(["lake", "maintain", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["archive"]["removed"] == ["sim_disputes/ingested=2026-01-01T000000Z/disputes.csv"]
    assert out["tables"] == []
    for bad in ("0", "-1", "abc", "30.5", "1e3", "99999999999"):
        monkeypatch.setenv("RISKWARN_ARCHIVE_PERSONAL_DAYS", bad)
        assert main(["lake", "maintain"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: RISKWARN_ARCHIVE_PERSONAL_DAYS='{bad}': ")
        assert len(err.splitlines()) == 1, err


def test_a_run_killed_at_any_step_is_completed_by_the_next_audited_once(
    settings: Settings,
) -> None:
    # a kill -9 between the rename and the first audit leaves a .purging- folder that no
    # audit names: the next run audits and removes it; one killed after the start audit
    # (the immutable-file test) is completed without a second start entry
    folder = _old(settings, "2026-09-01T000000Z")
    left = folder.with_name(".purging-ingested=2026-09-01T000000Z-0badc0de")
    folder.rename(left)
    done = purge_personal_archive(settings, SOURCES, now=NOW)
    assert done["removed"] == ["sim_disputes/ingested=2026-09-01T000000Z/disputes.csv"]
    assert not left.exists()
    entries = _audit(settings)
    assert [e["action"] for e in entries] == ["archive_purge_started", "archive_purged"]
    assert {e["object_id"] for e in entries} == {
        "sim_disputes/.purging-ingested=2026-09-01T000000Z-0badc0de"
    }


def test_lake_maintain_names_a_folder_it_could_not_remove_in_one_line_and_exits_1(
    settings: Settings, monkeypatch, capsys
) -> None:
    from riskwarn.cli import main

    monkeypatch.setenv("RISKWARN_HOME", str(settings.home))
    settings.home.chmod(0o700)
    stuck = _old(settings, "2026-01-01T000000Z") / "disputes.csv"
    _old(settings, "2026-02-01T000000Z")
    subprocess.run(["chattr", "+i", str(stuck)], check=True)
    try:
        assert main(["lake", "maintain"]) == 1
    finally:
        for p in settings.archive_dir.rglob("disputes.csv"):
            subprocess.run(["chattr", "-i", str(p)], check=False)
    out, err = capsys.readouterr()
    assert "archive: removed sim_disputes/ingested=2026-02-01T000000Z/disputes.csv" in out
    [line] = [x for x in err.splitlines() if x.startswith("error:")]
    assert line.startswith("error: archive: could not remove sim_disputes/.purging-ingested=")
    assert "Traceback" not in err
    assert main(["lake", "maintain"]) == 0  # the next run completes it
    assert "ingested=2026-01-01T000000Z/disputes.csv" in capsys.readouterr().out


def test_a_backfill_archived_today_is_kept_the_whole_retention_from_today(
    settings: Settings,
) -> None:
    """Review 2026-12-05: the age was counted from the folder's stamp, the DAG interval
    end, so a backfill of March archiving its landing files in December made them
    eligible for purge at once. The folder now names its archive time too, and the age
    counts from it; a folder named as before is aged from its last change."""
    from datetime import UTC, datetime

    from riskwarn.ingest.landing import archive_folder, archive_folder_times

    interval_end = datetime(2026, 3, 10, tzinfo=UTC)  # the backfilled interval
    archived = NOW.to_pydatetime() - pd.Timedelta(days=1)  # archived yesterday
    folder = archive_folder(settings.archive_dir, "sim_disputes", interval_end, archived)
    assert folder.name == "ingested=2026-03-10T000000Z_archived=2026-12-04T120000Z"
    assert archive_folder_times(folder.name) == (interval_end, archived)
    assert archive_folder_times("ingested=2026-03-10T000000Z") == (interval_end, None)
    folder.mkdir(parents=True)
    (folder / "disputes.csv").write_text("name,phone\nZhang San,13800000000\n")
    # a legacy-named folder of the same old interval, into which a file went yesterday
    legacy = settings.archive_dir / "sim_disputes" / "ingested=2026-03-10T000000Z"
    legacy.mkdir()
    (legacy / "late.csv").write_text("name\nLi Si\n")
    os.utime(legacy, (archived.timestamp(), archived.timestamp()))
    # and one of the old rule's kind that really was archived long ago
    gone = _old(settings, "2026-03-01T000000Z")
    days = settings.archive_personal_days
    done = purge_personal_archive(settings, SOURCES, now=NOW)
    assert done["removed"] == [f"sim_disputes/{gone.name}/disputes.csv"], done
    assert (folder / "disputes.csv").exists() and (legacy / "late.csv").exists()
    # the retention counted from the archive time: gone the day after it ends
    later = pd.Timestamp(archived) + pd.Timedelta(days=days, hours=1)
    done = purge_personal_archive(settings, SOURCES, now=later)
    assert sorted(done["removed"]) == [
        "sim_disputes/ingested=2026-03-10T000000Z/late.csv",
        f"sim_disputes/{folder.name}/disputes.csv",
    ], done


def test_an_old_stamp_archived_into_yesterday_is_kept(settings: Settings) -> None:
    """The same, for a folder named as before 2026-12-05 (no archive time in its name):
    a backfill archived March's files into ``ingested=2026-03-10T000000Z`` yesterday (its
    last change); the old rule purged it at once by its stamp."""
    legacy = settings.archive_dir / "sim_disputes" / "ingested=2026-03-10T000000Z"
    legacy.mkdir(parents=True)
    (legacy / "disputes.csv").write_text("name,phone\nZhang San,13800000000\n")
    yesterday = (NOW - pd.Timedelta(days=1)).timestamp()
    os.utime(legacy, (yesterday, yesterday))
    assert purge_personal_archive(settings, SOURCES, now=NOW)["removed"] == []
    assert (legacy / "disputes.csv").exists()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_two_lake_maintain_at_once_each_folder_removed_and_audited_once_no_false_error(
    settings: Settings, backend: str, request: pytest.FixtureRequest
) -> None:
    # 2026-12-05: two `riskwarn lake maintain` at once (the DAG and an operator) both
    # purged the same folders: the losers exited 1 with "could not remove ...:
    # FileNotFoundError" for folders the winner had removed, and folders were audited
    # twice. Now the second waits for the first (one warning naming it) and finds them gone.
    import sys

    root = Path(__file__).resolve().parents[1]
    settings.home.chmod(0o700)
    env = {**os.environ, "RISKWARN_HOME": str(settings.home), "PYTHONPATH": str(root)}
    if backend == "postgresql":
        env["RISKWARN_STORE_URL"] = request.getfixturevalue("pg_url")
    else:
        env.pop("RISKWARN_STORE_URL", None)
    want = set()
    for i in range(150):
        stamp = f"2026-01-{1 + i % 28:02d}T{i // 28:02d}0000Z"
        folder = settings.archive_dir / "sim_disputes" / f"ingested={stamp}_archived={stamp}"
        folder.mkdir(parents=True)
        for j in range(3):
            (folder / f"d{j}.csv").write_text("name,phone\nZhang San,13800000000\n")
            want.add(f"sim_disputes/{folder.name}/d{j}.csv")
    cmd = [sys.executable, "-m", "riskwarn.cli", "lake", "maintain", "--json"]
    runs = [
        subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outs = [(p.communicate(timeout=300), p.returncode) for p in runs]
    removed: list[str] = []
    for (out, err), rc in outs:
        text = err.decode()
        assert rc == 0, text[-2000:]
        assert "error:" not in text and "Traceback" not in text, text[-2000:]
        done = json.loads(out)["archive"]
        assert done["failed"] == []
        removed += done["removed"]
    assert sorted(removed) == sorted(want)  # each file reported removed by one run only
    assert list((settings.archive_dir / "sim_disputes").iterdir()) == []
    store = Store(env.get("RISKWARN_STORE_URL") or settings.resolved_store_url)
    try:
        log = store.audit_log()
    finally:
        store.close()
    for action in ("archive_purge_started", "archive_purged"):
        ids = log.loc[log["action"] == action, "object_id"].tolist()
        assert len(ids) == len(set(ids)) == 150, action  # once per folder per step


def test_a_folder_archived_in_the_future_is_kept_and_warned_about_once(
    settings: Settings, caplog
) -> None:
    """A wrong clock stamped a folder 2099: kept (its retention runs from then) as before,
    but no longer silently: one warning line naming it, and ``future`` in the result."""
    name = "ingested=2026-11-01T000000Z_archived=2099-01-01T000000Z"
    folder = settings.archive_dir / "sim_disputes" / name
    folder.mkdir(parents=True)
    (folder / "disputes.csv").write_text("name\nZhang San\n")
    ok = settings.archive_dir / "sim_disputes" / "ingested=2026-12-01T000000Z"
    ok.mkdir()
    _archived_at(ok)
    with caplog.at_level("WARNING"):
        done = purge_personal_archive(settings, SOURCES, now=NOW)
    assert done["future"] == [f"sim_disputes/{name}"] and done["removed"] == []
    assert (folder / "disputes.csv").exists()
    lines = [r.getMessage() for r in caplog.records if "after now" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith(f"archive retention: sim_disputes/{name} was archived at 2099")
