"""Exports ordered by their export time, per record (review: "a newer export that leaves
a record unchanged leaves no trace"; "the newest export is refused as
reverts_correction"; "two ingests at once end with the older export's value";
"--extracted-at accepts a time in the future").

Each record keeps the time of the newest export that carried it, whether that export
changed it or not (``<lake>/_export_times/<table>``): a row of an older export is
quarantined ``older_extract``; a row of the newest export is applied even when it equals
a version an older export superseded (the content guard ``reverts_correction`` is left
for rows export times cannot order). Before the fix: the first test's February export
said ``updated 1`` and the lake served February's severity; the second's April export
was quarantined ``reverts_correction``; the concurrent test ended with February's
content; the CLI accepted 2204-01-31.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pytest

from riskwarn.commands.ingest import _parse_extracted_at
from riskwarn.lake import read_quarantine, read_table
from riskwarn.lake.read import table_version
from riskwarn.store import Store
from testkit.forked_cli import ForkedCli
from testkit.ingest_helpers import SIM_INCIDENTS
from testkit.ingest_helpers import sim_incidents_file as _file

pytestmark = pytest.mark.timeout(600)

SOURCE = SIM_INCIDENTS
R = "JQ00000002"


def _args(path: Path, *extra: str) -> list[str]:
    return ["ingest", "--json", "--as-of", "2024-06-01", *extra, "--source", str(SOURCE), str(path)]


def _cmd(home: Path, url: str, path: Path, *extra: str, script: str | None = None) -> list[str]:
    head = (
        [sys.executable, "-m", "riskwarn.cli"] if script is None else [sys.executable, "-c", script]
    )
    return [*head, *_args(path, *extra)]


def _env(home: Path, url: str) -> dict[str, str]:
    return {**os.environ, "RISKWARN_HOME": str(home), "RISKWARN_STORE_URL": url}


def _cli(
    cli: ForkedCli, home: Path, url: str, path: Path, *extra: str, script: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``riskwarn ingest``, a process of its own: forked from ``cli`` (the modules
    imported once, ``testkit.forked_cli``), or ``python -c script`` started anew."""
    if script is None:
        return cli.run(_args(path, *extra), env=_env(home, url), timeout=300)
    return subprocess.run(
        _cmd(home, url, path, *extra, script=script),
        env=_env(home, url),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode in (0, 3), done.stderr[-2000:]
    [report] = json.loads(done.stdout)
    assert report["reconciled"]
    assert report["accepted"] == report["new"] + report["updated"] + report["unchanged"]
    return report


def _severity(home: Path) -> dict[str, int]:
    t = read_table(home / "lake", "incidents")
    return {str(k): int(v) for k, v in zip(t["record_id"], t["severity"], strict=True)}


def _at(day: str) -> tuple[str, str]:
    return ("--extracted-at", day)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'serving.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_a_newer_export_that_left_a_record_unchanged_still_orders_it(
    cli: ForkedCli, tmp_path: Path
) -> None:
    home, url = tmp_path / "home", f"sqlite:///{tmp_path / 'serving.db'}"
    _report(
        _cli(cli, home, url, _file(tmp_path / "jan.csv", {0: 1, 1: 1, 2: 1}), *_at("2024-01-31"))
    )
    # March's export carries R unchanged (and one new record, so the batch commits)
    mar = _report(
        _cli(
            cli,
            home,
            url,
            _file(tmp_path / "mar.csv", {0: 1, 1: 1, 2: 1, 3: 1}),
            *_at("2024-03-31"),
        )
    )
    assert (mar["new"], mar["unchanged"]) == (1, 3)
    feb = _file(tmp_path / "feb.csv", {0: 1, 1: 1, 2: 2})  # February's, sent late
    rep = _report(_cli(cli, home, url, feb, *_at("2024-02-29")))
    assert (rep["updated"], rep["quarantined"], rep["reasons"]) == (0, 1, {"older_extract": 1})
    assert _severity(home)[R] == 1  # March's content (before the fix: 2, February's)
    [q] = read_quarantine(home / "lake").to_dict("records")
    assert (q["file_name"], q["reason"]) == ("feb.csv", "older_extract")
    assert "file mar.csv" in q["message"] and "newest export that carried" in q["message"]
    # the same file again: the same result, no table commit
    version = table_version(home / "lake", "incidents")
    again = _report(_cli(cli, home, url, feb, *_at("2024-02-29")))
    assert (again["updated"], again["quarantined"]) == (0, 1)
    assert table_version(home / "lake", "incidents") == version
    assert _severity(home)[R] == 1 and len(read_quarantine(home / "lake")) == 1


def test_the_newest_export_wins_over_a_version_an_older_one_superseded(
    cli: ForkedCli, tmp_path: Path
) -> None:
    home, url = tmp_path / "home", f"sqlite:///{tmp_path / 'serving.db'}"
    _report(
        _cli(cli, home, url, _file(tmp_path / "jan.csv", {0: 1, 1: 1, 2: 1}), *_at("2024-01-31"))
    )
    _report(
        _cli(cli, home, url, _file(tmp_path / "feb.csv", {0: 1, 1: 1, 2: 2}), *_at("2024-02-29"))
    )
    # April's export (the newest) sets R back to January's value
    apr = _file(tmp_path / "apr.csv", {0: 1, 1: 1, 2: 1, 3: 1})
    rep = _report(_cli(cli, home, url, apr, *_at("2024-04-30")))
    assert (rep["new"], rep["updated"], rep["quarantined"]) == (1, 1, 0)
    assert _severity(home)[R] == 1 and read_quarantine(home / "lake").empty
    # where export times cannot order the two (the correction came without one), the
    # content guard stays: the same sequence with February's file untimed
    home2 = tmp_path / "home2"
    url2 = f"sqlite:///{tmp_path / 'serving2.db'}"
    _report(_cli(cli, home2, url2, tmp_path / "jan.csv", *_at("2024-01-31")))
    _report(_cli(cli, home2, url2, tmp_path / "feb.csv"))
    rep2 = _report(_cli(cli, home2, url2, apr, *_at("2024-04-30")))
    assert rep2["reasons"] == {"reverts_correction": 1}
    assert _severity(home2)[R] == 2


def test_two_ingests_at_once_end_with_the_newest_export(
    cli: ForkedCli, tmp_path: Path, store_url: str
) -> None:
    """March's and February's exports ingested at once, and one after the other in both
    orders: the lake ends with March's content every time, each batch recorded once.
    The two orders one after the other run on a SQLite store of their own whatever the
    backend, so once, in the SQLite case (the PostgreSQL case ran them again, identical:
    six CLI processes, about 20 s of its 61 s in CI, 2026-12-07)."""
    jan = _file(tmp_path / "jan.csv", {0: 1, 1: 1, 2: 1, 3: 1})
    mar = _file(tmp_path / "mar.csv", {0: 3, 1: 3, 2: 3, 3: 1, 4: 1})
    feb = _file(tmp_path / "feb.csv", {0: 2, 1: 2, 2: 2, 3: 2, 5: 1})
    want = {"JQ00000000": 3, "JQ00000001": 3, "JQ00000002": 3, "JQ00000003": 1}
    Store(store_url).upgrade()
    orders = ["together"]
    if store_url.startswith("sqlite"):
        orders += ["mar_first", "feb_first"]
    for n, order in enumerate(orders):
        home = tmp_path / f"home_{order}"
        url = store_url if n == 0 else f"sqlite:///{tmp_path / f'{order}.db'}"
        _report(_cli(cli, home, url, jan, *_at("2024-01-31")))
        if order == "together":
            procs = [
                subprocess.Popen(
                    _cmd(home, url, path, *_at(day)),
                    env=_env(home, url),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for path, day in ((mar, "2024-03-31"), (feb, "2024-02-29"))
            ]
            for p in procs:
                _out, err = p.communicate(timeout=300)
                assert p.returncode in (0, 3), err[-2000:]
        else:
            pair = [(mar, "2024-03-31"), (feb, "2024-02-29")]
            for path, day in pair if order == "mar_first" else pair[::-1]:
                _report(_cli(cli, home, url, path, *_at(day)))
        got = _severity(home)
        assert {k: got[k] for k in want} == want, order
        store = Store(url)
        try:
            b = store.ingest_batches()
            assert sorted(b["file_name"]) == ["feb.csv", "jan.csv", "mar.csv"], order
            for batch_id in b["batch_id"]:
                runs = store.audit_entries("ingest_batch", batch_id, ("ingest_batch",))
                assert len(runs) == 1, order
        finally:
            store.close()


# the CLI, SIGKILLed at its first table commit: after its export-times write
_KILLED_AT_TABLE_COMMIT = """
import os, signal, sys
import riskwarn.lake.write as w
def kill(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
w._merge = kill
w._append = kill
from riskwarn.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_between_the_export_times_and_the_table_commit(
    cli: ForkedCli, tmp_path: Path
) -> None:
    home, url = tmp_path / "home", f"sqlite:///{tmp_path / 'serving.db'}"
    Store(url).upgrade()
    _report(
        _cli(cli, home, url, _file(tmp_path / "jan.csv", {0: 1, 1: 1, 2: 1}), *_at("2024-01-31"))
    )
    mar = _file(tmp_path / "mar.csv", {0: 1, 1: 1, 2: 3, 3: 1})
    killed = _cli(cli, home, url, mar, *_at("2024-03-31"), script=_KILLED_AT_TABLE_COMMIT)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert _severity(home)[R] == 1  # the table as it was
    # an older export meanwhile is refused, as it would be after March's run
    feb = _report(_cli(cli, home, url, _file(tmp_path / "feb.csv", {2: 2}), *_at("2024-02-29")))
    assert feb["reasons"] == {"older_extract": 1}
    rep = _report(_cli(cli, home, url, mar, *_at("2024-03-31")))
    assert (rep["new"], rep["updated"], rep["unchanged"], rep["quarantined"]) == (1, 1, 2, 0)
    assert _severity(home) == {"JQ00000000": 1, "JQ00000001": 1, R: 3, "JQ00000003": 1}
    version = table_version(home / "lake", "incidents")
    again = _report(_cli(cli, home, url, mar, *_at("2024-03-31")))
    assert (again["new"], again["updated"], again["quarantined"]) == (0, 0, 0)
    assert table_version(home / "lake", "incidents") == version
    store = Store(url)
    try:
        [rec] = [
            r for r in store.ingest_batches().to_dict("records") if r["file_name"] == "mar.csv"
        ]
        assert (rec["new"], rec["updated"]) == (1, 1)
    finally:
        store.close()


def test_extracted_at_in_the_future_or_after_as_of_is_refused(
    cli: ForkedCli, tmp_path: Path
) -> None:
    home, url = tmp_path / "home", f"sqlite:///{tmp_path / 'serving.db'}"
    jan = _file(tmp_path / "jan.csv", {0: 1})
    typo = _cli(cli, home, url, jan, *_at("2204-01-31"))
    assert typo.returncode == 2
    assert "--extracted-at '2204-01-31'" in typo.stderr and "in the future" in typo.stderr
    late = _cli(cli, home, url, jan, *_at("2024-07-01"))  # --as-of 2024-06-01
    assert late.returncode == 2 and "is after --as-of" in late.stderr
    assert not (home / "lake" / "incidents").exists()  # nothing read, nothing stored


def test_a_naive_extracted_at_is_read_in_the_city_time_zone() -> None:
    now = datetime(2024, 6, 1, tzinfo=UTC)
    got = _parse_extracted_at("2024-02-29", "Asia/Shanghai", None, now)
    assert got == datetime(2024, 2, 28, 16, tzinfo=UTC)
    assert _parse_extracted_at("2024-02-29T00:00+00:00", "Asia/Shanghai", None, now) == datetime(
        2024, 2, 29, tzinfo=UTC
    )
    # a few minutes ahead of this clock (skew) passes; an hour does not
    assert _parse_extracted_at("2024-06-01T08:04", "Asia/Shanghai", None, now)
    with pytest.raises(click.UsageError, match="in the future"):
        _parse_extracted_at("2024-06-01T09:00", "Asia/Shanghai", None, now)
