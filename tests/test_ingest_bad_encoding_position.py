"""A UTF-8 file with one undecodable byte far beyond the sniffed head is still rejected
whole (``bad_encoding``), and the message now says where: the byte offset and the line
of the first undecodable byte (before: only "beyond its first 65536 bytes")."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from riskwarn.ingest import read_and_validate
from riskwarn.ingest.read import first_undecodable
from riskwarn.sources import parse_mapping

ROOT = Path(__file__).resolve().parents[1]
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


@pytest.mark.parametrize("gz", [False, True])
def test_message_names_offset_and_line(tmp_path: Path, gz: bool) -> None:
    spec = yaml.safe_load((ROOT / "configs/sources/sim_incidents.yaml").read_text("utf-8"))
    mapping = parse_mapping(yaml.safe_dump(spec, allow_unicode=True))
    lines = [HEADER, *_rows(20_000)]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    line = 15_001  # 1-based, the header is line 1
    offset = len(("\n".join(lines[: line - 1]) + "\n").encode("utf-8")) + 3
    assert offset > 1 << 20  # beyond the sniffed head and the first read block
    data = data[:offset] + b"\xff" + data[offset + 1 :]
    path = tmp_path / ("inc.csv.gz" if gz else "inc.csv")
    path.write_bytes(gzip.compress(data) if gz else data)
    batch = read_and_validate(
        mapping, path, pseudonym_key="k" * 32, as_of=datetime(2024, 1, 1, tzinfo=UTC)
    )
    assert batch.reasons == {"bad_encoding": 1}
    [message] = batch.quarantine["message"]
    assert f"first undecodable byte at offset {offset} (line {line})" in message, message


def test_first_undecodable_across_blocks(tmp_path: Path) -> None:
    """A character split by the 1 MiB read block is fine; a truncated one at the end is
    reported at its first byte; a clean file gives None."""
    path = tmp_path / "t.csv"
    head = b"a\n" * ((1 << 19) - 1) + b"x"  # the next character starts at 1 MiB - 1
    path.write_bytes(head + "张".encode() + b"\nb\n\xc3")
    assert first_undecodable(path, "utf-8") == (len(head) + 3 + 3, (1 << 19) + 2)
    path.write_bytes(head + "张".encode() + b"\n")
    assert first_undecodable(path, "utf-8") is None
