"""An older version of a record sent again in another file does not undo its correction
(review: "a re-sent older export silently reverts a correction").

``xa.csv`` stores record R, ``xb.csv`` corrects it, ``xc.csv`` (other bytes: last month's
export re-sent, with one new record) holds R as xa had it. Before the fix the third
ingest reported ``updated 1`` with no warning and the lake served xa's content again.
Now the row is quarantined (reason ``reverts_correction``, a message naming the record,
the table version and the file that superseded it; the row's original kept), counted
as quarantined and never as updated, and the record keeps its correction; a new
correction is still applied; an identical re-run changes nothing; ``--allow-revert``
restores the old version deliberately and says who and when. Incidents through the
CLI with the serving store; disputes (personal-data columns) without it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from riskwarn.cli import main
from riskwarn.lake import read_quarantine, read_table
from riskwarn.lake.read import table_version

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "configs" / "sources"
HEADER = (
    "警情编号,发案时间,报警时间,时间精度,警情大类,警情类别,警情级别,经度,纬度,"
    "所属社区代码,发案场所,处警单位"
)
R = "JQ00000002"


def _row(i: int, severity: int) -> str:
    return (
        f"JQ{i:08d},2023-05-01 10:00:00,2023-05-01 10:05:00,精确到分,侵财类,盗窃,{severity},"
        f"116.{i:06d},30.{i:06d},3408{i:08d},住宅小区,某某派出所"
    )


def _file(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n", "utf-8")
    return path


def _ingest(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    args = ["ingest", "--as-of", "2024-01-01", "--json", *extra]
    code = main([*args, "--source", str(SOURCES / "sim_incidents.yaml"), str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    [report] = json.loads(out)
    assert report["reconciled"]
    return report


def _severity(lake_dir: Path) -> int:
    t = read_table(lake_dir, "incidents").set_index("record_id")
    return int(t.loc[R, "severity"])


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    return home


def test_an_older_version_in_another_file_is_quarantined_not_applied(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake_dir = home / "lake"
    base = [_row(i, 1) for i in range(5)]
    xa = _file(tmp_path / "xa.csv", base)
    corrected = list(base)
    corrected[2] = _row(2, 3)  # the correction
    xb = _file(tmp_path / "xb.csv", corrected)
    xc = _file(tmp_path / "xc.csv", [*base, _row(7, 1)])  # other bytes, R as in xa
    _ingest(xa, capsys)
    assert _ingest(xb, capsys)["updated"] == 1
    rep = _ingest(xc, capsys)
    assert (rep["new"], rep["updated"], rep["unchanged"]) == (1, 0, 4)
    assert (rep["accepted"], rep["quarantined"]) == (5, 1)
    assert rep["reasons"] == {"reverts_correction": 1}
    assert _severity(lake_dir) == 3  # the correction stands
    q = read_quarantine(lake_dir)
    q = q[q["reason"] == "reverts_correction"]
    assert len(q) == 1
    row = q.iloc[0]
    assert (row["file_name"], int(row["row_number"])) == ("xc.csv", 3)
    assert R in row["message"] and "file xb.csv superseded" in row["message"]
    assert "--allow-revert" in row["message"]
    original = json.loads(row["original"])  # the full row is kept
    assert original["警情编号"] == R and original["警情级别"] == "1"
    assert original["发案时间"] == "2023-05-01 10:00:00"
    assert any("reverts_correction" in m for m in rep["messages"])

    # the serving store's record counts the row as quarantined, not updated
    from riskwarn.settings import load_settings
    from riskwarn.store import Store

    store = Store.from_settings(load_settings())
    recs = store.ingest_batches().set_index("file_name")
    assert (int(recs.loc["xc.csv", "updated"]), int(recs.loc["xc.csv", "quarantined"])) == (0, 1)

    # the same file again: still quarantined (not 'stale', not dropped from the quarantine)
    version = table_version(lake_dir, "incidents")
    again = _ingest(xc, capsys)
    assert (again["quarantined"], again["updated"], again.get("stale", 0)) == (1, 0, 0)
    assert any("skipped" in m for m in again["messages"])
    assert table_version(lake_dir, "incidents") == version
    assert (read_quarantine(lake_dir)["reason"] == "reverts_correction").sum() == 1

    # an identical re-run of the current version (another file, same content) changes nothing
    xb2 = _file(tmp_path / "xb2.csv", [*corrected, _row(7, 1)])
    same = _ingest(xb2, capsys)
    assert (same["new"], same["updated"], same["quarantined"]) == (0, 0, 0)
    assert table_version(lake_dir, "incidents") == version

    # a real new correction is still applied
    fixed = list(corrected)
    fixed[2] = _row(2, 4)
    assert _ingest(_file(tmp_path / "xd.csv", fixed), capsys)["updated"] == 1
    assert _severity(lake_dir) == 4

    # the operator restores the old version deliberately: applied, counted, audited
    forced = _ingest(xc, capsys, "--allow-revert")
    assert (forced["updated"], forced["reverts_applied"], forced["quarantined"]) == (1, 1, 0)
    assert any("--allow-revert, by" in m for m in forced["messages"])
    assert _severity(lake_dir) == 1
    assert not (read_quarantine(lake_dir)["reason"] == "reverts_correction").any()
    audit = store.audit_log()
    assert (audit["action"] == "ingest_revert_applied").sum() == 1


def test_without_the_store_a_reingest_of_the_older_file_reverts_nothing(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake_dir = home / "lake"
    base = [_row(i, 1) for i in range(3)]
    xa = _file(tmp_path / "xa.csv", base)
    xb = _file(tmp_path / "xb.csv", [_row(0, 1), _row(1, 1), _row(2, 5)])
    _ingest(xa, capsys, "--no-store")
    _ingest(xb, capsys, "--no-store")
    rep = _ingest(xa, capsys, "--no-store")
    assert (rep["updated"], rep["quarantined"]) == (0, 1)
    q = read_quarantine(lake_dir)
    assert "batch " in q.iloc[0]["message"]  # no store: the superseding batch is named
    assert _severity(lake_dir) == 5
    # the current file again: unchanged, nothing quarantined
    again = _ingest(xb, capsys, "--no-store")
    assert (again["unchanged"], again["updated"], again["quarantined"]) == (3, 0, 0)


DISPUTE_HEADER = (
    "案件编号,登记时间,纠纷类型,所属社区代码,网格编码,经度,纬度,甲方姓名,甲方联系电话,"
    "甲方身份证号,乙方姓名,乙方联系电话,乙方身份证号,当事人数,涉及金额（元）,纠纷简述,登记人"
)
NAME, PHONE, ID_NUMBER = "曾敏", "13241835768", "340822195105078924"


def _dispute(case: str, amount: str) -> str:
    return (
        f"{case},2023-12-20 09:23:00,邻里纠纷,,x,116.685853,30.814632,{NAME},{PHONE},"
        f"{ID_NUMBER},陈浩,18254388542,34080219760415819X,2,{amount},z,李林"
    )


def test_disputes_revert_quarantined_without_personal_data(
    tmp_path: Path, settings, caplog: pytest.LogCaptureFixture
) -> None:
    from riskwarn.ingest import ingest_files
    from riskwarn.sources import load_mapping

    mapping = load_mapping(SOURCES / "sim_disputes.yaml")
    as_of = datetime(2024, 1, 1, tzinfo=UTC)

    def ingest(name: str, rows: list[str]) -> dict:
        path = tmp_path / name
        path.write_text("\n".join([DISPUTE_HEADER, *rows]) + "\n", encoding="gb18030")
        [rep] = ingest_files(mapping, [path], settings, as_of=as_of)
        return rep

    ingest("da.csv", [_dispute("PX0001", "100"), _dispute("PX0002", "5")])
    assert ingest("db.csv", [_dispute("PX0001", "900"), _dispute("PX0002", "5")])["updated"] == 1
    caplog.clear()
    rep = ingest(
        "dc.csv", [_dispute("PX0001", "100"), _dispute("PX0002", "5"), _dispute("PX3", "1")]
    )
    assert (rep["new"], rep["updated"], rep["quarantined"]) == (1, 0, 1)
    assert rep["reasons"] == {"reverts_correction": 1}
    t = read_table(settings.lake_dir, "disputes").set_index("record_id")
    assert float(t.loc["PX0001", "amount_cny"]) == 900.0
    q = read_quarantine(settings.lake_dir)
    row = q[q["reason"] == "reverts_correction"].iloc[0]
    assert "PX0001" in row["message"]
    original = json.loads(row["original"])
    assert original["涉及金额（元）"] == "100"
    text = " ".join([row["message"], row["original"], *rep["messages"], caplog.text])
    for personal in (NAME, PHONE, ID_NUMBER, "陈浩", "18254388542", "34080219760415819X"):
        assert personal not in text


def test_the_dashboard_names_the_reason_in_both_languages() -> None:
    from dashboard import views

    assert views.quarantine_reason("reverts_correction", "zh") == "恢复已被更正的旧版本（未应用）"
    assert views.quarantine_reason("reverts_correction", "en").startswith("Would undo a correction")


@pytest.mark.parametrize("ids_in_predicate", [2_000, 0])
def test_the_lake_refuses_reverts_by_content_of_every_corrected_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ids_in_predicate: int
) -> None:
    """The lake's check on its own (ids named in the change feed's predicate, or matched
    in Arrow for a large batch): a's, then b's version superseded; either sent again is
    refused; with refuse_reverts=False (an operator's --allow-revert) it is applied and
    counted (the lake's default refuses: tests/test_lake_upsert_guard.py)."""
    import pandas as pd

    from riskwarn import lake
    from riskwarn.contracts import INCIDENTS, conform
    from riskwarn.lake import write

    monkeypatch.setattr(write, "REVERT_IDS_IN_PREDICATE", ids_in_predicate)

    def frame(cats: list[str]) -> pd.DataFrame:
        return conform(
            pd.DataFrame(
                {
                    "source": "t",
                    "record_id": ["r1", "r2"],
                    "occurred_at": pd.to_datetime(["2023-06-01 12:00"] * 2, utc=True),
                    "time_precision": "minute",
                    "category": cats,
                    "category_group": "violent",
                    "lon": 106.5,
                    "lat": 29.5,
                }
            ),
            INCIDENTS,
        )

    def up(cats: list[str], batch: str, refuse: bool = True) -> tuple[dict, list]:
        found: list = []
        got = lake.upsert(
            tmp_path, "incidents", "t", frame(cats), batch_id=batch,
            refuse_reverts=refuse, reverts=found,
        )  # fmt: skip
        return got, found

    up(["a", "x"], "b1")
    up(["b", "x"], "b2")  # r1 corrected
    up(["c", "x"], "b3")  # and again
    for old, by in (("a", "b2"), ("b", "b3")):
        got, found = up([old, "x"], "again")
        assert (got["updated"], got["unchanged"], got.get("reverted")) == (0, 1, 1)
        assert [(f["record_id"], f["superseded_by"]) for f in found] == [("r1", by)]
    assert (
        lake.read_table(tmp_path, "incidents").set_index("record_id").loc["r1", "category"] == "c"
    )
    assert up(["d", "x"], "b4")[0]["updated"] == 1  # a new correction
    got, found = up(["a", "x"], "forced", refuse=False)
    assert (got["updated"], got["reverts_applied"]) == (1, 1) and len(found) == 1


def test_a_run_killed_before_its_record_is_recorded_with_its_reverts_quarantined(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The journal's intent counts the batch before the write moved the revert to the
    quarantine: the re-run that records the killed run says quarantined 1, not unchanged."""
    import os
    import signal
    import subprocess
    import sys

    from riskwarn.settings import load_settings
    from riskwarn.store import Store

    base = [_row(i, 1) for i in range(5)]
    _ingest(_file(tmp_path / "xa.csv", base), capsys)
    corrected = list(base)
    corrected[2] = _row(2, 3)
    _ingest(_file(tmp_path / "xb.csv", corrected), capsys)
    xc = _file(tmp_path / "xc.csv", [*base, _row(7, 1)])
    marker = tmp_path / "killed"
    env = {
        **os.environ,
        "RISKWARN_HOME": str(home),
        "RISKWARN_TESTING": "1",
        "RISKWARN_INGEST_KILL_BEFORE_RECORD": str(marker),
    }
    cmd = [sys.executable, "-m", "riskwarn.cli", "ingest", "--json", "--as-of", "2024-01-01"]
    killed = subprocess.run(
        [*cmd, "--source", str(SOURCES / "sim_incidents.yaml"), str(xc)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    again = _ingest(xc, capsys)  # records the killed run, then is skipped
    assert again["quarantined"] == 1
    store = Store.from_settings(load_settings())
    rec = store.ingest_batches().set_index("file_name").loc["xc.csv"]
    assert (int(rec["accepted"]), int(rec["quarantined"])) == (5, 1)
    assert (int(rec["new"]), int(rec["updated"]), int(rec["unchanged"])) == (1, 0, 4)
    assert dict(rec["reasons"]) == {"reverts_correction": 1}
    assert _severity(home / "lake") == 3
    # the killed run's own record (rebuilt from its intent and the lake) says the same
    entries = store.audit_entries("ingest_batch", again["batch_id"], ("ingest_batch",))
    [dead] = [e["details"] for e in entries if e["details"].get("recovered")]
    assert (dead["accepted"], dead["quarantined"], dead["unchanged"]) == (5, 1, 4)
