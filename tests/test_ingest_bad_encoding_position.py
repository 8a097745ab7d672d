"""One undecodable byte in a line far beyond the first 64 KB the encoding is sniffed
from quarantines that line only (``bad_encoding``, with its line number and the byte in
the line), the rest of the file is stored. Before, the whole file became one
``bad_encoding`` record: "read 1", every good row dropped, exit 3.

A file whose non-ASCII lines all fail in the sniffed encoding (a GB18030 file whose
first 64 KB are ASCII) is read in the encoding found on those lines, and says so."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from riskwarn.cli import main
from riskwarn.ingest import read_and_validate
from riskwarn.ingest.read import first_undecodable
from riskwarn.lake import read_quarantine, read_table
from riskwarn.sources import parse_mapping

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "configs" / "sources" / "sim_incidents.yaml"
HEADER = (
    "警情编号,发案时间,报警时间,时间精度,警情大类,警情类别,警情级别,经度,纬度,"
    "所属社区代码,发案场所,处警单位"
)


def _rows(n: int) -> list[str]:
    return [
        f"JQ{i:08d},2023-01-01 10:00:00,2023-01-01 10:00:00,精确到分,侵财类,盗窃,1,"
        f"116.{i:06d},30.{i:06d},3408{i:08d},住宅小区,某某派出所{i % 7}"
        for i in range(n)
    ]


def _mapping() -> Any:
    spec = yaml.safe_load(SOURCE.read_text("utf-8"))
    return parse_mapping(yaml.safe_dump(spec, allow_unicode=True))


def _file(tmp_path: Path, gz: bool, line: int = 15_001) -> tuple[Path, list[str], int, bytes]:
    """20,000 rows, one \\xff at byte 4 of physical line ``line`` (header = line 1)."""
    lines = [HEADER, *_rows(20_000)]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    offset = len(("\n".join(lines[: line - 1]) + "\n").encode("utf-8")) + 3
    assert offset > 1 << 20  # beyond the sniffed head and the first read block
    data = data[:offset] + b"\xff" + data[offset + 1 :]
    path = tmp_path / ("inc.csv.gz" if gz else "inc.csv")
    path.write_bytes(gzip.compress(data) if gz else data)
    bad = data[data.rfind(b"\n", 0, offset) + 1 : data.find(b"\n", offset) + 1]
    return path, lines, offset, bad


@pytest.mark.parametrize("gz", [False, True])
def test_one_bad_byte_quarantines_its_line_only(tmp_path: Path, gz: bool) -> None:
    path, _, offset, bad = _file(tmp_path, gz)
    batch = read_and_validate(
        _mapping(), path, pseudonym_key="k" * 32, as_of=datetime(2024, 1, 1, tzinfo=UTC)
    )
    assert batch.read == 20_000
    assert (len(batch.accepted), batch.reasons) == (19_999, {"bad_encoding": 1})
    assert "JQ00014999" not in set(batch.accepted["record_id"])
    [row] = batch.quarantine.to_dict("records")
    assert row["row_number"] == 15_000  # data record 15,000 = physical line 15,001
    original = json.loads(row["original"])
    assert original == {
        "line": 15_001,
        "length": len(bad),
        "sha256": hashlib.sha256(bad).hexdigest(),
        "detail": f"not utf-8: undecodable byte at byte 4 of {len(bad)}",
    }
    assert "某某" not in row["original"]  # never the text
    assert any("1 line undecodable as utf-8 (first at line 15001)" in m for m in batch.messages)
    # the byte position, as first_undecodable gives it for the whole file
    assert first_undecodable(path, "utf-8") == (offset, 15_001)


@pytest.mark.parametrize("gz", [False, True])
def test_cli_stores_the_rest_and_reingest_changes_nothing(
    tmp_path: Path, gz: bool, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    path, _, _, _ = _file(tmp_path, gz)
    home = tmp_path / "home"
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    argv = ["ingest", "--json", "--as-of", "2024-01-01", "--source", str(SOURCE), str(path)]
    versions = []
    for _ in range(2):
        code = main(argv)
        out, err = capsys.readouterr()
        [report] = json.loads(out)
        assert code == 0, err
        assert report["reconciled"]
        assert (report["read"], report["accepted"], report["quarantined"]) == (20_000, 19_999, 1)
        assert report["reasons"] == {"bad_encoding": 1}
        lake = read_table(home / "lake", "incidents", columns=["record_id"])
        q = read_quarantine(home / "lake")
        assert len(lake) + len(q) + report["duplicates"] == report["read"]
        assert json.loads(q["original"].iloc[0])["line"] == 15_001
        versions.append(sorted(p.name for p in (home / "lake").rglob("*") if p.is_file()))
    assert versions[0] == versions[1]  # the re-ingest wrote nothing


def test_ascii_head_gb18030_file_is_read_as_gb18030(tmp_path: Path) -> None:
    """The first 64 KB (and the first block) are ASCII, the rest GB18030: every
    non-ASCII line fails in UTF-8, so the file is read as GB18030 and reported."""
    ascii_rows = [
        f"JQ{i:08d},2023-01-01 10:00:00,2023-01-01 10:00:00,minute,theft,theft,1,"
        f"116.{i:06d},30.{i:06d},3408{i:08d},home,unit"
        for i in range(50_000)
    ]
    rows = [*ascii_rows, *_rows(60_000)[50_000:]]
    data = ("JQ,t1,t2,p,g,c,l,x,y,a,s,u\n" + "\n".join(rows) + "\n").encode("gb18030")
    first = min(i for i, b in enumerate(data[: 1 << 23]) if b >= 128)
    assert first > 1 << 22  # the head and the first 4 MB block are ASCII
    path = tmp_path / "inc.csv"
    path.write_bytes(data)
    mapping = parse_mapping(
        """
name: enc
table: incidents
id: {columns: [JQ]}
x: x
y: y
columns:
  occurred_at: {from: t1, format: "%Y-%m-%d %H:%M:%S"}
  time_precision: {const: minute}
  category: {const: theft}
  category_group: {const: property}
  admin_code: {from: s}
"""
    )
    batch = read_and_validate(
        mapping, path, pseudonym_key="k" * 32, as_of=datetime(2024, 1, 1, tzinfo=UTC)
    )
    assert batch.read == 60_000
    assert "bad_encoding" not in batch.reasons, batch.reasons
    assert any("detected and decoded as gb18030" in m for m in batch.messages), batch.messages
    admin = dict(zip(batch.accepted["record_id"], batch.accepted["admin_code"], strict=False))
    assert admin.get("JQ00055555") == "住宅小区"


def test_first_undecodable_across_blocks(tmp_path: Path) -> None:
    """A character split by the 1 MiB read block is fine; a truncated one at the end is
    reported at its first byte; a clean file gives None."""
    path = tmp_path / "t.csv"
    head = b"a\n" * ((1 << 19) - 1) + b"x"  # the next character starts at 1 MiB - 1
    path.write_bytes(head + "张".encode() + b"\nb\n\xc3")
    assert first_undecodable(path, "utf-8") == (len(head) + 3 + 3, (1 << 19) + 2)
    path.write_bytes(head + "张".encode() + b"\n")
    assert first_undecodable(path, "utf-8") is None


def test_many_bad_lines_in_a_utf8_file_stay_per_line(tmp_path: Path) -> None:
    """12 bad bytes in a file whose other non-ASCII lines are UTF-8: it is a UTF-8 file
    with bad lines (no other encoding is tried); one summary message."""
    lines = [HEADER, *_rows(20_000)]
    bad_at = list(range(15_001, 15_013))
    data = bytearray(("\n".join(lines) + "\n").encode("utf-8"))
    starts = [0, *[i + 1 for i, b in enumerate(data) if b == 10]]
    for line in bad_at:
        data[starts[line - 1] + 3] = 0xFF
    path = tmp_path / "inc.csv"
    path.write_bytes(bytes(data))
    batch = read_and_validate(
        _mapping(), path, pseudonym_key="k" * 32, as_of=datetime(2024, 1, 1, tzinfo=UTC)
    )
    assert (batch.read, len(batch.accepted)) == (20_000, 20_000 - 12)
    assert batch.reasons == {"bad_encoding": 12}
    assert [json.loads(o)["line"] for o in batch.quarantine["original"]] == bad_at
    assert any("12 lines undecodable as utf-8 (first at line 15001)" in m for m in batch.messages)
    assert not any("wrong encoding" in m for m in batch.messages)


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


def test_general_path_bad_line_inside_and_after_an_open_quote(tmp_path: Path) -> None:
    """``newlines_in_values`` (every line through Python): an undecodable line is a
    record of its own; a quote still open before it breaks its first line, the lines
    between are read again on their own."""
    rows = [f"{i},2023-05-01 10:00,116.1,30.1,n{i}" for i in range(30_000)]
    rows[20_000] = '20000,2023-05-01 10:00,116.1,30.1,"two\nlines"'
    rows[25_000] = "25000,2023-05-01 10:00,116.1,30.1,é\udcff"
    rows[26_000] = '26000,2023-05-01 10:00,116.1,30.1,"open'
    rows[26_001] = "26001,2023-05-01 10:00,116.1,30.1,\udcff"
    text = "\n".join(["id,t,lon,lat,note", *rows]) + "\n"
    path = tmp_path / "ml.csv"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    batch = read_and_validate(
        parse_mapping(MULTILINE_YAML),
        path,
        pseudonym_key="k" * 32,
        as_of=datetime(2024, 1, 1, tzinfo=UTC),
    )
    assert batch.read == 30_000
    assert batch.reasons == {"bad_encoding": 2, "unclosed_quote": 1}
    q = {
        json.loads(o)["line"]: r
        for o, r in zip(batch.quarantine["original"], batch.quarantine["reason"], strict=True)
    }
    # physical lines: header 1, row i at i + 2, one more after the two-line record
    assert q == {25_003: "bad_encoding", 26_003: "unclosed_quote", 26_004: "bad_encoding"}
    assert len(batch.accepted) == 30_000 - 3
