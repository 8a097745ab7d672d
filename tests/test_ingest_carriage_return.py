"""A stray carriage return (``\\r`` not followed by ``\\n``) inside a CSV line, as real
exports have in free-text fields, is not a line end in a file whose lines end in ``\\n``
or ``\\r\\n``: the line is ONE record, quarantined whole as ``carriage_return`` with its
physical line number, and the line numbers after it do not shift.

Before the fix a lone ``\\r`` always ended a line: one record became two, a fragment
with the right number of fields was accepted with a cut value (``某某`` for ``某某\\r派出所``)
and the other quarantined as ``bad_line``, ``read`` counted records that are not in the
file, and every later row number was one too high. A file whose lines end in a lone
``\\r`` (old Mac exports) is still read line by line (tests/test_ingest_arrow_csv.py).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskwarn.cli import main
from riskwarn.ingest import read_and_validate
from riskwarn.lake import read_quarantine, read_table
from riskwarn.sources import parse_mapping

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "configs" / "sources" / "sim_incidents.yaml"
HEADER = (
    "警情编号,发案时间,报警时间,时间精度,警情大类,警情类别,警情级别,经度,纬度,"
    "所属社区代码,发案场所,处警单位"
)


def _row(i: int, place: str = "住宅小区", unit: str = "某某派出所") -> str:
    return (
        f"JQ{i:08d},2023-05-{1 + i % 28:02d} 10:00:00,2023-05-{1 + i % 28:02d} 10:00:00,"
        f"精确到分,侵财类,盗窃,1,116.{i:06d},30.{i:06d},3408{i:08d},{place},{unit}"
    )


def _ingest(home: Path, path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> dict:
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    code = main(["ingest", "--json", "--as-of", "2024-01-01", "--source", str(SOURCE), str(path)])
    out, err = capsys.readouterr()
    [report] = json.loads(out)
    # 3: the file stored nothing, every row quarantined (docs/ingestion.md)
    assert code == (3 if report["stored_nothing"] else 0), err
    assert report["reconciled"]
    return report


def _check_lake(home: Path, report: dict, ids: list[str]) -> pd.DataFrame:
    """The lake holds exactly ``ids``; lake + quarantine + duplicates == read."""
    lake = read_table(home / "lake", "incidents")
    q = read_quarantine(home / "lake")
    assert sorted(lake["record_id"]) == sorted(ids)
    assert len(lake) + len(q) + report["duplicates"] == report["read"]
    return q


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_stray_cr_makes_one_quarantined_record(
    tmp_path: Path, eol: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    rows = [_row(i) for i in range(10)]
    rows[4] = _row(4, unit="某某\r派出所")  # in the last column: the fragment has 12 fields
    rows[6] = _row(6, place="住宅\r小区")
    path = tmp_path / "inc.csv"
    path.write_bytes((eol.join([HEADER, *rows]) + eol).encode())
    report = _ingest(tmp_path / "home", path, monkeypatch, capsys)
    assert report["read"] == 10  # the records in the file, no fragment
    assert (report["accepted"], report["quarantined"]) == (8, 2)
    assert report["reasons"] == {"carriage_return": 2}
    q = _check_lake(tmp_path / "home", report, [f"JQ{i:08d}" for i in range(10) if i not in (4, 6)])
    assert q["row_number"].tolist() == [5, 7]  # where they are: data rows 5 and 7
    originals = [json.loads(o) for o in q["original"]]
    assert [o["line"] for o in originals] == [6, 8]  # physical lines, header = 1
    for o, i in zip(originals, (4, 6), strict=True):
        line = (rows[i] + eol).encode()
        assert (o["length"], o["sha256"]) == (len(line), hashlib.sha256(line).hexdigest())
    assert "line 6" in q["message"].iloc[0] and "carriage return" in q["message"].iloc[0]
    # the accepted rows are whole: the last column's values end with no \r
    lake = read_table(tmp_path / "home" / "lake", "incidents")
    assert not lake.select_dtypes("object").apply(lambda c: c.str.contains("\r").any()).any()


def test_stray_cr_deep_in_a_big_gzip_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """120,000 rows (about 17 MB, several 4 MB blocks); the stray \\r in row 100,001."""
    n, bad = 120_000, 100_000
    rows = [_row(i) for i in range(n)]
    rows[bad] = _row(bad, place="住宅\r小区")
    path = tmp_path / "big.csv.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(("\n".join([HEADER, *rows]) + "\n").encode())
    report = _ingest(tmp_path / "home", path, monkeypatch, capsys)
    assert (report["read"], report["accepted"], report["quarantined"]) == (n, n - 1, 1)
    q = read_quarantine(tmp_path / "home" / "lake")
    assert q["row_number"].tolist() == [bad + 1]
    assert json.loads(q["original"].iloc[0])["line"] == bad + 2
    lake = read_table(tmp_path / "home" / "lake", "incidents", columns=["record_id"])
    assert len(lake) + len(q) == n and f"JQ{bad:08d}" not in set(lake["record_id"])


def test_crlf_file_reads_as_the_lf_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """A \\r\\n line end is a line end: the same lake as the \\n file, nothing quarantined."""
    rows = [_row(i) for i in range(50)]
    lakes = []
    for name, eol in (("lf", "\n"), ("crlf", "\r\n")):
        path = tmp_path / f"{name}.csv"
        path.write_bytes((eol.join([HEADER, *rows]) + eol).encode())
        report = _ingest(tmp_path / name, path, monkeypatch, capsys)
        assert (report["read"], report["accepted"], report["quarantined"]) == (50, 50, 0)
        lakes.append(read_table(tmp_path / name / "lake", "incidents"))
    pd.testing.assert_frame_equal(lakes[0], lakes[1], check_exact=True)


# newlines_in_values: every line goes through Python's csv (the general path)
MULTILINE_YAML = """
name: ml
table: incidents
newlines_in_values: true
id: {columns: [id]}
x: lon
y: lat
columns:
  occurred_at: {from: t, format: "%Y-%m-%d %H:%M"}
  time_precision: {const: minute}
  category: {const: theft}
  category_group: {const: property}
  admin_code: {from: note}
"""


def test_stray_cr_with_newlines_in_values(tmp_path: Path) -> None:
    """Unquoted, the \\r makes its line one quarantined record; quoted, it is text (a
    quoted value may hold line breaks with ``newlines_in_values``)."""
    mapping = parse_mapping(MULTILINE_YAML)
    body = (
        "id,t,lon,lat,note\n"
        "a,2023-05-01 10:00,106.5,29.5,one\n"
        "b,2023-05-01 10:00,106.5,29.5,tw\ro\n"
        'c,2023-05-01 10:00,106.5,29.5,"thr\ree"\n'
        'd,2023-05-01 10:00,106.5,29.5,"fo\nur"\n'
        "e,2023-05-01 10:00,106.5,29.5,five\n"
    )
    path = tmp_path / "ml.csv"
    path.write_bytes(body.encode())
    batch = read_and_validate(
        mapping, path, pseudonym_key="k", as_of=pd.Timestamp("2024-01-01", tz="UTC")
    )
    assert batch.read == 5
    assert batch.reasons == {"carriage_return": 1}
    assert batch.quarantine["row_number"].tolist() == [2]
    assert json.loads(batch.quarantine["original"].iloc[0])["line"] == 3
    got = dict(zip(batch.accepted["record_id"], batch.accepted["admin_code"], strict=True))
    assert got == {"a": "one", "c": "thr\ree", "d": "fo\nur", "e": "five"}


def test_a_stray_cr_in_the_header_line_is_a_file_problem_not_old_mac_line_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The header of a ``\\n`` file holds a stray ``\\r``: its first line end looked like a
    lone ``\\r``, so the whole file was read as an old Mac file (``\\r`` ends lines) and the
    10 records were read as 11 ``bad_line`` fragments. The file's line ends are ``\\n``
    (10 of them against one lone ``\\r``): the header's ``\\r`` makes it not a table."""
    header = HEADER.replace("纬度", "纬\r度")
    path = tmp_path / "inc.csv"
    path.write_bytes((header + "\n" + "\n".join(_row(i) for i in range(10)) + "\n").encode())
    report = _ingest(tmp_path / "home", path, monkeypatch, capsys)
    assert report["reasons"] == {"not_a_table": 1}, report
    q = read_quarantine(tmp_path / "home" / "lake")
    assert list(q["reason"]) == ["not_a_table"]
    # an old Mac file (lone \r line ends) is still read line by line
    mac = tmp_path / "mac.csv"
    mac.write_bytes((HEADER + "\r" + "\r".join(_row(i) for i in range(10)) + "\r").encode())
    report = _ingest(tmp_path / "home2", mac, monkeypatch, capsys)
    assert (report["read"], report["accepted"]) == (10, 10)
