"""A file cut mid-write, and a landing file rewritten while it is read (review of
2026-12-07, docs/ingestion.md "A file cut mid-write" and "A file that changed while it
was read").

Daily cumulative exports send old records again, so a cut last line usually hits a
stored record: before, ``116.2`` (cut from ``116.222222``) was stored as an update
without a word, and the complete file ingested next was refused as
``reverts_correction`` (its true row equals the version the cut one replaced). Now the
last line without a line end is quarantined as ``unterminated_last_line``.

The landing run that reads a file while the exporter rewrites it in place stored the
rows it saw and recorded them under the batch id of the complete file, so the next run
skipped the complete file as already ingested and the cut value stayed. Now nothing of
an inconsistent read is written or recorded and the next run ingests the complete file.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from riskwarn import pipeline
from riskwarn.cli import main
from riskwarn.ingest import landing, lines, read_and_validate
from riskwarn.lake import read_quarantine, read_table
from riskwarn.settings import Settings
from riskwarn.sources import load_mapping
from testkit.ingest_helpers import REAL_BLOCKS, rewrite_after_first_block, rewrite_in_place

MAPPING = """
name: cut
table: incidents
x: lon
y: lat
id: {columns: [case_id]}
columns:
  occurred_at: {from: t, format: "%Y-%m-%d %H:%M"}
  time_precision: {const: minute}
  category: {const: theft}
  category_group: {const: property}
"""
HEADER = "case_id,t,lat,lon\n"
AS_OF = datetime(2024, 1, 1, tzinfo=UTC)


def _row(i: int, lon: str = "116.222222") -> str:
    return f"C{i:05d},2023-05-01 10:00,30.5,{lon}\n"


def _export(ids: list[int]) -> str:
    """A cumulative export: C00002 (lon 116.222222) is always its last record."""
    return HEADER + "".join(_row(i, "116.111111") for i in ids) + _row(2)


DAY1 = _export([1])
DAY2 = _export([1, *range(3, 600)])  # about 18 KB: more than the reader's buffers


def _cut(text: str) -> str:
    return text[:-6]  # no line end, the last value cut: 116.2


def _ingest(home: Path, path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code = main(
        [
            "ingest",
            "--no-store",
            "--json",
            "--as-of",
            "2024-01-01",
            "--source",
            str(home / "cut.yaml"),
            str(path),
        ]
    )
    assert code == 0
    [report] = json.loads(capsys.readouterr().out)
    return report


def _lon(lake: Path, record: str = "C00002") -> float:
    stored = read_table(lake, "incidents").set_index("record_id")["lon"]
    return float(stored[record])


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    (tmp_path / "cut.yaml").write_text(MAPPING, encoding="utf-8")
    return tmp_path


def test_a_cut_last_line_is_quarantined_and_the_complete_file_then_ingested(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = home / "home" / "lake"
    (home / "day1.csv").write_text(DAY1, encoding="utf-8")
    assert _ingest(home, home / "day1.csv", capsys)["new"] == 2
    (home / "cut.csv").write_text(_cut(DAY2), encoding="utf-8")
    cut = _ingest(home, home / "cut.csv", capsys)
    assert (cut["read"], cut["accepted"], cut["new"], cut["updated"]) == (599, 598, 597, 0)
    assert cut["reasons"] == {"unterminated_last_line": 1}
    [message] = [m for m in cut["messages"] if "unterminated_last_line" in m]
    assert "the file's last line has no line end: the file may be cut" in message
    assert "re-ingest the complete file" in message
    assert _lon(lake) == 116.222222  # not 116.2
    [original] = read_quarantine(lake)["original"].tolist()
    assert json.loads(original)["line"] == 600  # the physical line; no text kept
    assert "116.2" not in original
    # the complete file: its row for C00002 is the stored one, nothing refused
    (home / "day2.csv").write_text(DAY2, encoding="utf-8")
    full = _ingest(home, home / "day2.csv", capsys)
    assert (full["accepted"], full["new"], full["updated"], full["quarantined"]) == (599, 0, 0, 0)
    assert _lon(lake) == 116.222222
    assert len(read_quarantine(lake)) == 1  # the cut file's row only


def test_a_source_whose_exports_end_without_a_line_end_says_so_in_its_mapping(
    home: Path,
) -> None:
    (home / "cut.yaml").write_text(
        MAPPING + "last_line_may_lack_line_end: true\n", encoding="utf-8"
    )
    path = home / "export.csv"
    path.write_text(DAY1.removesuffix("\n"), encoding="utf-8")
    mapping = load_mapping(home / "cut.yaml")
    batch = read_and_validate(mapping, path, pseudonym_key="", as_of=AS_OF)
    assert (batch.read, len(batch.accepted), len(batch.quarantine)) == (2, 2, 0)


@pytest.mark.parametrize(
    ("text", "read", "accepted", "reason"),
    [
        (DAY1.removesuffix("\n") + "\r\n", 2, 2, None),  # \r\n: complete
        (DAY1 + "  \t", 2, 2, None),  # trailing blanks are not a record
        (HEADER.removesuffix("\n"), 0, 0, None),  # only a header, no record to cut
        # a quoted value with a line break, cut: the record of both lines, once
        (DAY1 + 'C00009,2023-05-01 10:00,"30.5\n30.6",116.1', 3, 2, "unterminated_last_line"),
    ],
)
def test_what_counts_as_a_cut_last_line(
    home: Path, text: str, read: int, accepted: int, reason: str | None
) -> None:
    path = home / "export.csv"
    path.write_text(text, encoding="utf-8")
    mapping = load_mapping(home / "cut.yaml")
    batch = read_and_validate(mapping, path, pseudonym_key="", as_of=AS_OF)
    assert (batch.read, len(batch.accepted)) == (read, accepted)
    assert sorted(set(batch.quarantine["reason"])) == ([reason] if reason else [])


def test_a_landing_file_rewritten_while_read_is_ingested_whole_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exporter rewrites day 2's cumulative export in place while the landing run
    reads it: the read sees it cut inside C00002's last value. Nothing of that read is
    written or recorded; once the export is complete the next run ingests it (C00002
    keeps its true value, nothing counted stale or refused as a revert) and archives it."""
    settings = Settings(home=tmp_path / "home", landing_settle_seconds=0)
    mapping = tmp_path / "cut.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    folder = settings.landing_dir / "cut"
    folder.mkdir(parents=True)
    (folder / "day1.csv").write_text(DAY1, encoding="utf-8")
    first = pipeline.ingest_source(settings, mapping, "2024-01-01T00:00:00Z")
    assert (first["accepted"], first["archived"]) == (2, 1)

    path = folder / "day2.csv"
    path.write_text(DAY2, encoding="utf-8")
    monkeypatch.setattr(lines, "BLOCK_BYTES", 97)

    # the exporter rewrites it in place (same inode): the bytes so far, cut mid-value
    rewrite_after_first_block(monkeypatch, rewrite_in_place(path, _cut(DAY2)))
    cut = pipeline.ingest_source(settings, mapping, "2024-01-02T00:00:00Z")
    assert cut["still_changing"] == ["day2.csv"]
    assert (cut["archived"], cut["read"], cut["quarantined"]) == (0, 0, 0)
    lake = settings.lake_dir
    assert len(read_table(lake, "incidents")) == 2
    assert _lon(lake) == 116.222222
    assert len(read_quarantine(lake)) == 0
    assert list(_batches(settings)["file_name"]) == ["day1.csv"]  # no batch of day 2

    monkeypatch.setattr(lines, "blocks", REAL_BLOCKS)
    path.write_text(DAY2, encoding="utf-8")  # the exporter finished: the complete file
    again = pipeline.ingest_source(settings, mapping, "2024-01-02T01:00:00Z")
    assert (again["archived"], again["still_changing"]) == (1, [])
    assert (again["read"], again["accepted"], again["quarantined"]) == (599, 599, 0)
    assert len(read_table(lake, "incidents")) == 599
    assert _lon(lake) == 116.222222
    assert len(read_quarantine(lake)) == 0
    batches = _batches(settings).set_index("file_name")
    assert sorted(batches.index) == ["day1.csv", "day2.csv"]
    day2 = batches.loc["day2.csv"]
    assert (day2["new"], day2["updated"], day2["unchanged"], day2["quarantined"]) == (597, 0, 2, 0)
    assert landing.landing_files(folder) == []


def _batches(settings: Settings) -> Any:
    from riskwarn.store import Store

    store = Store.from_settings(settings)
    store.upgrade()
    return store.ingest_batches()
