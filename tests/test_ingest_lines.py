"""CSV records are lines: every physical line after the header is counted once, a
malformed line deep in a big file is quarantined where it is, and an unclosed quote
never swallows the lines after it (issue 13.2, 13.3)."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from riskwarn.ingest import ingest_files, read_and_validate
from riskwarn.lake import read_quarantine, read_table
from riskwarn.sources import parse_mapping

AS_OF = datetime(2024, 1, 1, tzinfo=UTC)

# no source id: record ids are content hashes + occurrence numbers, so a row read twice
# becomes a second ("phantom") record instead of a duplicate
NO_ID_YAML = """
name: lines
table: incidents
x: lon
y: lat
columns:
  occurred_at: {from: t, format: "%Y-%m-%d %H:%M"}
  time_precision: {const: minute}
  category: {const: theft}
  category_group: {const: property}
  admin_code: {from: district}
"""
HEADER = "t,lon,lat,district\n"


def _good(i: int) -> str:
    return f"2023-05-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d},106.{i % 1000:03d},29.5,D{i}\n"


def test_bad_line_in_a_later_chunk_is_not_read_twice(settings, tmp_path: Path) -> None:
    """250,000 good rows + 1 bad line after the first 200,000-row chunk."""
    mapping = parse_mapping(NO_ID_YAML)
    assert mapping.chunk_rows == 200_000
    lines = [_good(i) for i in range(250_000)]
    lines.insert(220_000, "2023-05-01 10:00,106.5,29.5,D1,one,too,many\n")
    path = tmp_path / "big.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(HEADER + "".join(lines))
    [report] = ingest_files(mapping, [path], settings, as_of=AS_OF)
    assert report["read"] == 250_001
    assert (report["accepted"], report["quarantined"], report["duplicates"]) == (250_000, 1, 0)
    assert len(read_table(settings.lake_dir, "incidents")) == 250_000
    q = read_quarantine(settings.lake_dir)
    assert q["reason"].tolist() == ["bad_line"]
    assert q["row_number"].tolist() == [220_001]  # the data row where it physically is
    original = json.loads(q["original"].iloc[0])
    assert original["line"] == 220_002  # physical line: the header is line 1
    assert original["sha256"] == hashlib.sha256(lines[220_000].encode()).hexdigest()


def test_unclosed_quote_quarantines_its_line_only(tmp_path: Path) -> None:
    mapping = parse_mapping(NO_ID_YAML)
    rows = [_good(i) for i in range(20)]
    rows[4] = '"2023-05-01 10:00,106.5,29.5,D4\n'  # line 6 of the file opens a quote
    path = tmp_path / "quote.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    batch = read_and_validate(mapping, path, pseudonym_key="k", as_of=AS_OF)
    assert batch.read == 20
    assert len(batch.accepted) == 19
    assert batch.reasons == {"unclosed_quote": 1}
    assert batch.quarantine["row_number"].tolist() == [5]
    assert "line 6" in batch.quarantine["message"].iloc[0]
    assert batch.read == len(batch.accepted) + len(batch.quarantine) + batch.duplicates


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('2023-05-01 10:00,106.5,29.5,"D,4"\n', None),  # quoted delimiter
        ('2023-05-01 10:00,106.5,29.5,"D""4"""\n', None),  # escaped quotes
        ('2023-05-01 10:00,106.5,29.5,D4"x\n', None),  # a quote inside an unquoted field
        ("2023-05-01 10:00,106.5,29.5\n", "bad_line"),  # too few fields
        ('2023-05-01 10:00,106.5,29.5,"D4\n', "unclosed_quote"),  # open at the line end
        ("2023-05-01 10:00,106.5,29.5,D\x004\n", "nul_byte:district"),  # in a mapped column
    ],
)
def test_each_line_is_one_record(tmp_path: Path, line: str, reason: str | None) -> None:
    mapping = parse_mapping(NO_ID_YAML)
    path = tmp_path / "one.csv"
    path.write_text(HEADER + _good(1) + line + _good(2), encoding="utf-8")
    batch = read_and_validate(mapping, path, pseudonym_key="k", as_of=AS_OF)
    assert batch.read == 3
    assert len(batch.accepted) == (3 if reason is None else 2), batch.quarantine
    if reason is not None:
        assert batch.quarantine["row_number"].tolist() == [2]
        assert batch.reasons == {reason: 1}
