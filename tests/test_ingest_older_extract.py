"""An older export whose row differs from every version the lake has seen does not
roll its record back, and a refusal survives a ``kill -9`` (review: "an older export
whose row differs from every earlier version is still applied"; "a refused revert is
lost if killed between the table commit and the quarantine commit").

* ``riskwarn ingest --extracted-at T``: a row of an export made at T that would change a
  record which an export made after T wrote is quarantined as ``older_extract`` (not
  applied, counted quarantined); a record only older exports wrote is still corrected.
  Before the fix there was no export time: the third ingest below said ``updated 2`` and
  the lake served the older export's content.
* The batch's quarantine is written before its table commit. Before the fix a run
  killed between the table commit and the quarantine commit lost its refused rows: the
  re-run counted them ``stale`` and the quarantine never held them. The kill is real
  (SIGKILL of the CLI at its second lake write, whatever that write is).
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
from riskwarn.lake.read import table_version
from riskwarn.store import Store
from testkit.forked_cli import ForkedCli
from testkit.ingest_helpers import SIM_INCIDENTS
from testkit.ingest_helpers import sim_incidents_file as _file

pytestmark = pytest.mark.timeout(600)

SOURCE = SIM_INCIDENTS
R, S = "JQ00000002", "JQ00000004"


def _cli(
    cli: ForkedCli, home: Path, url: str, path: Path, *extra: str, script: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``riskwarn ingest``, a process of its own: forked from ``cli`` (the modules
    imported once, ``testkit.forked_cli``), or ``python -c script`` started anew."""
    env = {**os.environ, "RISKWARN_HOME": str(home), "RISKWARN_STORE_URL": url}
    args = ["ingest", "--json", "--as-of", "2024-06-01", *extra, "--source", str(SOURCE)]
    if script is None:
        return cli.run([*args, str(path)], env=env, timeout=300)
    return subprocess.run(
        [sys.executable, "-c", script, *args, str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr[-2000:]
    [report] = json.loads(done.stdout)
    assert report["reconciled"]
    assert report["accepted"] == report["new"] + report["updated"] + report["unchanged"]
    return report


def _severity(home: Path) -> dict[str, int]:
    t = read_table(home / "lake", "incidents")
    return {str(k): int(v) for k, v in zip(t["record_id"], t["severity"], strict=True)}


def test_an_older_export_does_not_roll_a_record_back(cli: ForkedCli, tmp_path: Path) -> None:
    home, url = tmp_path / "home", f"sqlite:///{tmp_path / 'serving.db'}"
    base = {i: 1 for i in range(5)}
    jan = _file(tmp_path / "jan.csv", base)
    # R corrected in March's export; S not in it (an export carrying S unchanged would
    # make February's S older than March's: tests/test_ingest_export_order.py)
    mar = _file(tmp_path / "mar.csv", {**{i: 1 for i in range(4)}, 2: 3})
    # February's export, sent late: R with content the lake never had (severity 2), S
    # corrected (only January's export wrote S), one new record
    feb = _file(tmp_path / "feb.csv", {**base, 2: 2, 4: 5, 7: 1})
    _report(_cli(cli, home, url, jan, "--extracted-at", "2024-01-31"))
    assert _report(_cli(cli, home, url, mar, "--extracted-at", "2024-03-31"))["updated"] == 1
    rep = _report(_cli(cli, home, url, feb, "--extracted-at", "2024-02-29"))
    assert (rep["new"], rep["updated"], rep["unchanged"]) == (1, 1, 3)
    assert (rep["read"], rep["accepted"], rep["quarantined"]) == (6, 5, 1)
    assert rep["reasons"] == {"older_extract": 1}
    assert any("older_extract" in m for m in rep["messages"])
    assert (_severity(home)[R], _severity(home)[S]) == (3, 5)  # R kept, S corrected
    [q] = read_quarantine(home / "lake").to_dict("records")
    assert (q["file_name"], int(q["row_number"]), q["reason"]) == ("feb.csv", 3, "older_extract")
    assert R in q["message"] and "file mar.csv" in q["message"]
    # times without an offset are the city's (Asia/Shanghai); the message shows UTC
    assert "2024-02-28T16:00:00+00:00" in q["message"]
    assert "2024-03-30T16:00:00+00:00" in q["message"]
    assert json.loads(q["original"])["警情级别"] == "2"
    store = Store(url)
    try:
        rec = store.ingest_batches().set_index("file_name").loc["feb.csv"]
        assert (int(rec["updated"]), int(rec["quarantined"])) == (1, 1)
        assert dict(rec["reasons"]) == {"older_extract": 1}
    finally:
        store.close()
    # the same file again: still quarantined once, nothing changed
    version = table_version(home / "lake", "incidents")
    again = _report(_cli(cli, home, url, feb, "--extracted-at", "2024-02-29"))
    assert (again["quarantined"], again["updated"], again.get("stale", 0)) == (1, 0, 0)
    assert table_version(home / "lake", "incidents") == version
    assert len(read_quarantine(home / "lake")) == 1
    # a later export corrects R; the operator can store the older row deliberately
    apr = _file(tmp_path / "apr.csv", {**base, 2: 4, 4: 5})
    assert _report(_cli(cli, home, url, apr, "--extracted-at", "2024-04-30"))["updated"] == 1
    forced = _report(_cli(cli, home, url, feb, "--extracted-at", "2024-02-29", "--allow-revert"))
    assert (forced["updated"], forced["reverts_applied"], forced["quarantined"]) == (1, 1, 0)
    assert _severity(home)[R] == 2
    assert read_quarantine(home / "lake").empty


# the CLI, SIGKILLed at its second lake write (a Delta append or MERGE), whichever it is:
# the code before the fix wrote the table, then the quarantine; now the reverse
_KILLED_AT_SECOND_WRITE = """
import os, signal, sys
import deltalake
calls = []
def killing(write):
    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return write(*args, **kwargs)
    return wrapped
deltalake.write_deltalake = killing(deltalake.write_deltalake)
deltalake.DeltaTable.merge = killing(deltalake.DeltaTable.merge)
from riskwarn.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("older", [False, True], ids=["revert", "older_extract"])
def test_kill_9_between_the_two_lake_commits_of_a_refusal(
    cli: ForkedCli, tmp_path: Path, older: bool
) -> None:
    """xa, then xb correcting R; xc re-sends R as xa had it (a revert) or, as an older
    export, with content never seen; plus a new record. The run of xc is killed between
    its two lake commits; the re-run quarantines the refused row exactly once, stores the
    new record once, and the store's record agrees with the lake."""
    home, url = tmp_path / "home", f"sqlite:///{tmp_path / 'serving.db'}"
    lake_dir = home / "lake"
    Store(url).upgrade()
    base = {i: 1 for i in range(5)}
    when = (lambda day: ("--extracted-at", day)) if older else (lambda day: ())
    _report(_cli(cli, home, url, _file(tmp_path / "xa.csv", base), *when("2024-01-31")))
    _report(_cli(cli, home, url, _file(tmp_path / "xb.csv", {**base, 2: 3}), *when("2024-03-31")))
    xc = _file(tmp_path / "xc.csv", {**base, 2: 2 if older else 1, 7: 1})
    killed = _cli(cli, home, url, xc, *when("2024-02-29"), script=_KILLED_AT_SECOND_WRITE)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    reason = "older_extract" if older else "reverts_correction"

    rep = _report(_cli(cli, home, url, xc, *when("2024-02-29")))
    assert (rep["read"], rep["accepted"], rep["quarantined"]) == (6, 5, 1)
    assert (rep["new"], rep["updated"], rep["unchanged"]) == (1, 0, 4)
    assert rep["reasons"] == {reason: 1}
    q = read_quarantine(lake_dir)
    assert q[["file_name", "reason"]].values.tolist() == [["xc.csv", reason]]
    severity = _severity(home)
    assert severity[R] == 3 and len(severity) == 6  # the correction stands, JQ7 once
    store = Store(url)
    try:
        [rec] = [r for r in store.ingest_batches().to_dict("records") if r["file_name"] == "xc.csv"]
        assert (rec["read"], rec["accepted"], rec["quarantined"]) == (6, 5, 1)
        assert (rec["new"], rec["updated"], rec["unchanged"]) == (1, 0, 4)
        assert dict(rec["reasons"]) == {reason: 1}
        assert store.open_ingests(rep["batch_id"]) == []
        # the killed run stored no table commit: closed, not recorded as a run
        runs = store.audit_entries("ingest_batch", rep["batch_id"], ("ingest_batch",))
        assert len(runs) == 1 and "recovered" not in runs[0]["details"]
    finally:
        store.close()
    # a third run changes nothing and keeps the quarantine as it is
    again = _report(_cli(cli, home, url, xc, *when("2024-02-29")))
    assert (again["quarantined"], again.get("stale", 0), again["new"]) == (1, 0, 0)
    assert len(read_quarantine(lake_dir)) == 1
