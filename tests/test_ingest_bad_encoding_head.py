"""The first 64 KB the encoding is sniffed from obey the rule the rest of the file
does: a few undecodable bytes there are corruption, quarantined line by line as
``bad_encoding``. Before, one stray byte in the head made the whole file be decoded in
a guessed encoding (the HKO rainfall file with one ``\\xff`` on line 101: "detected and
decoded as cp775", header mojibake, every row ``missing_column:年/Year``, exit 3).
The head still switches the file when every non-ASCII line fails (GBK with a Chinese
header)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from riskwarn.ingest import read_and_validate
from riskwarn.sources import parse_mapping

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "configs" / "sources" / "sim_incidents.yaml"
HKO = ROOT.parent / "shared" / "data" / "hongkong" / "hko_daily_rainfall_1884_2014.csv"
HEADER = (
    "警情编号,发案时间,报警时间,时间精度,警情大类,警情类别,警情级别,经度,纬度,"
    "所属社区代码,发案场所,处警单位"
)
AS_OF = datetime(2024, 1, 1, tzinfo=UTC)


def _rows(n: int, ascii_only: bool = False) -> list[str]:
    place, unit = ("home", "unit") if ascii_only else ("住宅小区", "某某派出所")
    return [
        f"JQ{i:08d},2023-01-01 10:00:00,2023-01-01 10:00:00,精确到分,侵财类,盗窃,1,"
        f"116.{i:06d},30.{i:06d},3408{i:08d},{place},{unit}{i % 7}"
        for i in range(n)
    ]


def _mapping() -> Any:
    spec = yaml.safe_load(SOURCE.read_text("utf-8"))
    return parse_mapping(yaml.safe_dump(spec, allow_unicode=True))


def _read(path: Path, mapping: Any = None) -> Any:
    return read_and_validate(mapping or _mapping(), path, pseudonym_key="k" * 32, as_of=AS_OF)


def _with_bytes(lines: list[str], at: dict[int, bytes]) -> bytes:
    """UTF-8 lines, physical line n (header = 1) ending in ``at[n]`` before its newline."""
    return b"".join(
        line.encode("utf-8") + at.get(n, b"") + b"\n" for n, line in enumerate(lines, start=1)
    )


def test_one_stray_byte_in_the_head_quarantines_its_line(tmp_path: Path) -> None:
    path = tmp_path / "inc.csv"
    path.write_bytes(_with_bytes([HEADER, *_rows(2000)], {101: b"\xff"}))
    batch = _read(path)
    assert not any("wrong encoding" in m for m in batch.messages), batch.messages
    assert (batch.read, len(batch.accepted), batch.reasons) == (2000, 1999, {"bad_encoding": 1})
    assert any("1 line undecodable as utf-8 (first at line 101)" in m for m in batch.messages)
    assert set(batch.accepted["admin_code"].str.len()) == {12}  # read as the header says


def test_three_latin1_bytes_in_a_utf8_head_are_not_cp1250(tmp_path: Path) -> None:
    """A UTF-8 file (Chinese header and rows, which decode) with 3 latin-1 bytes near
    the top: those 3 lines are quarantined, the rest is not mojibake."""
    path = tmp_path / "inc.csv"
    path.write_bytes(_with_bytes([HEADER, *_rows(2000)], {3: b"\xe9", 7: b"\xe9", 9: b"\xfc"}))
    batch = _read(path)
    assert not any("wrong encoding" in m for m in batch.messages), batch.messages
    assert (len(batch.accepted), batch.reasons) == (1997, {"bad_encoding": 3})


def test_a_few_bad_lines_in_an_ascii_file_with_utf8_further_on(tmp_path: Path) -> None:
    """An all-ASCII head but for 12 latin-1 lines, and UTF-8 text beyond the head: not
    every non-ASCII line fails, so the file stays UTF-8 and the 12 lines are quarantined."""
    rows = _rows(3000, ascii_only=True)
    rows[2900] = _rows(3000)[2900]  # a UTF-8 line beyond the head
    header = "JQ,t1,t2,p,g,c,l,x,y,a,s,u"
    data = _with_bytes([header, *rows], {n: b"\xe9" for n in range(3, 27, 2)})
    path = tmp_path / "inc.csv"
    path.write_bytes(data)
    assert data.index("住".encode()) > 64 * 1024
    batch = _read(path, _ascii_mapping())
    assert not any("wrong encoding" in m for m in batch.messages), batch.messages
    assert (len(batch.accepted), batch.reasons) == (2988, {"bad_encoding": 12})


def _ascii_mapping() -> Any:
    return parse_mapping(
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
  admin_code: {from: a}
"""
    )


@pytest.mark.parametrize("codec", ["gbk", "gb18030"])
def test_a_gbk_file_is_still_detected_from_its_head(tmp_path: Path, codec: str) -> None:
    path = tmp_path / "inc.csv"
    path.write_bytes(("\n".join([HEADER, *_rows(2000)]) + "\n").encode(codec))
    batch = _read(path)
    assert any(
        m.startswith("wrong encoding: file is not utf-8; detected and decoded as")
        for m in batch.messages
    ), batch.messages
    assert (len(batch.accepted), batch.reasons) == (2000, {})


def test_a_gbk_header_alone_is_detected(tmp_path: Path) -> None:
    """Only the header is non-ASCII (fewer than 10 failing lines): the header decides
    the columns, so the file is still read in the detected encoding."""
    path = tmp_path / "inc.csv"
    path.write_bytes(("\n".join([HEADER, *_rows(500, ascii_only=True)]) + "\n").encode("gbk"))
    batch = _read(path)
    assert any(m.startswith("wrong encoding: file is not utf-8;") for m in batch.messages)
    assert len(batch.accepted) == 500


@pytest.mark.skipif(not HKO.exists(), reason="real data folder absent")
def test_real_hko_rainfall_with_a_byte_on_line_101(tmp_path: Path) -> None:
    lines = HKO.read_bytes().split(b"\n")
    lines[100] = lines[100].rstrip(b"\r") + b"\xff" + (b"\r" if lines[100].endswith(b"\r") else b"")
    path = tmp_path / "hko.csv"
    path.write_bytes(b"\n".join(lines))
    mapping = parse_mapping((ROOT / "configs" / "sources" / "hongkong_rainfall.yaml").read_text())
    batch = _read(path, mapping)
    assert not any("wrong encoding" in m for m in batch.messages), batch.messages
    assert batch.reasons.get("bad_encoding") == 1
    assert not any(r.startswith("missing_column") for r in batch.reasons)
    assert len(batch.accepted) == 45_229


def test_a_whole_file_encoding_failure_says_what_decided_it(tmp_path: Path) -> None:
    # 2026-12-05: a stray byte in the header line (inside the first 64 KB) failed the
    # whole file with "cannot decode the file as utf-8 beyond its first 65536 bytes:
    # first undecodable byte at offset 149 (line 1)": the header decided it, not bytes
    # beyond the head; so for a UTF-16 file whose bad bytes lie inside the head
    path = tmp_path / "inc.csv"
    path.write_bytes(_with_bytes([HEADER, *_rows(2000)], {1: b"\xff"}))
    batch = _read(path)
    assert (batch.read, batch.reasons) == (1, {"bad_encoding": 1})
    (message,) = [m for m in batch.messages if "cannot decode" in m]
    assert message.startswith("cannot decode the header line as utf-8 "), message
    assert "offset 149, line 1" in message and "beyond" not in message, message

    spec = yaml.safe_load(SOURCE.read_text("utf-8"))
    spec["encoding"] = "utf-16"
    utf16 = parse_mapping(yaml.safe_dump(spec, allow_unicode=True))
    text = "\n".join([HEADER, *_rows(3000)]).encode("utf-16")
    for offset, where in ((20_000, "within"), (300_000, "beyond")):
        path.write_bytes(text[:offset] + b"\x00\xdc" + text[offset:])  # a lone surrogate
        batch = _read(path, utf16)
        assert batch.reasons == {"bad_encoding": 1}
        (message,) = [m for m in batch.messages if "cannot decode" in m]
        assert message.startswith(f"cannot decode the file as utf-16 {where} its first 65536 "), (
            message
        )
        assert f"offset {offset}," in message, message
