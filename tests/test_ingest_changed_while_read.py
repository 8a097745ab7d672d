"""A file rewritten, appended to or truncated while ``riskwarn ingest`` reads it (an
export still being written, a second export over the first): what was read may mix two
versions, under the batch id (hash) of neither. Before, such a file was stored and the
command reported success; now the batch is refused with one line, exit 2, and nothing of
it is written: no lake row, no quarantine record (docs/ingestion.md, "A file that changed
while it was read").

The rewrite is real and deterministic: the CSV reader's block generator is wrapped so
that, after the first block of the file was handed on, another thread rewrites the file
(and is joined) before the reader goes on reading from its open handle. The file is
larger than the reader's buffer, so the bytes after the first buffer come from the new
version."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from riskwarn.cli import main
from riskwarn.ingest import FileChanged, lines, read_and_validate
from riskwarn.ingest import flow as flow_mod
from riskwarn.ingest import read as read_mod
from riskwarn.lake import read_quarantine, read_table
from riskwarn.sources import load_mapping
from testkit.ingest_helpers import REAL_BLOCKS, rewrite_after_first_block, rewrite_in_place

MAPPING = """
name: changing
table: incidents
x: lon
y: lat
id: {columns: [case_id]}
chunk_rows: 50
columns:
  occurred_at: {from: t, format: "%Y-%m-%d %H:%M"}
  time_precision: {const: minute}
  category: {const: theft}
  category_group: {const: property}
"""
HEADER = "case_id,t,lon,lat\n"
N = 2_000  # about 70 KB: several times the reader's 8 KB buffer


def _version(hour: int, n: int = N) -> str:
    """The export with every record at ``hour``: two versions have the same size."""
    return HEADER + "".join(f"C{i:05d},2023-05-01 {hour:02d}:00,116.5,30.5\n" for i in range(n))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    (tmp_path / "changing.yaml").write_text(MAPPING, encoding="utf-8")
    (tmp_path / "export.csv").write_text(_version(1), encoding="utf-8")
    monkeypatch.setattr(lines, "BLOCK_BYTES", 97)  # many blocks: the rewrite lands mid-read
    return tmp_path


def _ingest(home: Path) -> int:
    return main(
        [
            "ingest",
            "--no-store",
            "--as-of",
            "2024-01-01",
            "--source",
            str(home / "changing.yaml"),
            str(home / "export.csv"),
        ]
    )


def _append(path: Path, text: str) -> Callable[[], None]:
    def change() -> None:
        with path.open("ab") as fh:
            fh.write(text.encode())

    return change


def _replace(path: Path, text: str) -> Callable[[], None]:
    def change() -> None:
        tmp = path.with_name(".export.csv.part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)

    return change


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ("rewrite", None),  # same size: the stat's times or the bytes tell
        ("append", f"size {len(_version(1))} -> {len(_version(1, N + 100))} bytes"),
        ("truncate", f"size {len(_version(1))} -> {len(_version(1, N // 2))} bytes"),
        ("replace", "replaced by another file, inode "),
    ],
)
def test_a_file_changed_while_read_is_refused_and_nothing_written(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: str,
    what: str | None,
) -> None:
    path = home / "export.csv"
    extra = "".join(f"C{i:05d},2023-05-01 01:00,116.5,30.5\n" for i in range(N, N + 100))
    changes = {
        "rewrite": rewrite_in_place(path, _version(7)),
        "append": _append(path, extra),
        "truncate": rewrite_in_place(path, _version(1, N // 2)),
        "replace": _replace(path, _version(7)),
    }
    rewrite_after_first_block(monkeypatch, changes[change])
    assert _ingest(home) == 2
    out, err = capsys.readouterr()
    assert out.strip() == ""  # no report: nothing was stored
    [line] = [x for x in err.splitlines() if x.strip()]
    assert line.startswith(f"error: {path}: the file changed while it was read (")
    assert line.endswith("); nothing was written for it; re-run when the export is complete"), line
    if what is not None:
        assert f"read ({what}" in line
    lake = home / "home" / "lake"
    assert len(read_table(lake, "incidents")) == 0
    assert len(read_quarantine(lake)) == 0
    # once the export is complete, the re-run stores it whole: one version only
    monkeypatch.setattr(lines, "blocks", REAL_BLOCKS)
    assert _ingest(home) == 0
    stored = read_table(lake, "incidents")
    assert len(stored) == len(path.read_text(encoding="utf-8").splitlines()) - 1
    assert stored["occurred_at"].nunique() == 1


def test_bytes_changed_without_a_visible_stat_change_are_refused(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a file system whose timestamps are coarser than the rewrite (same size, same
    mtime tick), only the bytes tell: the file is hashed again after it was read."""
    path = home / "export.csv"
    mapping = load_mapping(home / "changing.yaml")
    for module in (read_mod, flow_mod):
        monkeypatch.setattr(module, "file_signature", lambda p: (0, 0, 0, 0, 0))
    rewrite_after_first_block(monkeypatch, rewrite_in_place(path, _version(7)))
    with pytest.raises(FileChanged, match=r"\(its bytes now differ from those read\)"):
        read_and_validate(mapping, path, pseudonym_key="", as_of=_as_of())


def test_an_unchanged_file_reads_as_before(home: Path) -> None:
    mapping = load_mapping(home / "changing.yaml")
    batch = read_and_validate(mapping, home / "export.csv", pseudonym_key="", as_of=_as_of())
    assert (batch.read, len(batch.accepted), len(batch.quarantine)) == (N, N, 0)


def _as_of() -> Any:
    from datetime import UTC, datetime

    return datetime(2024, 1, 1, tzinfo=UTC)


def test_a_landing_file_changed_while_read_stays_for_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The landing DAG's run: the file is neither written nor archived nor a failure of
    the run; it is left in landing, like a file still being written, for the next run."""
    from riskwarn.ingest import landing
    from riskwarn.settings import Settings

    settings = Settings(home=tmp_path / "home", landing_settle_seconds=0)
    mapping = tmp_path / "changing.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    folder = settings.landing_dir / "changing"
    folder.mkdir(parents=True)
    path = folder / "export.csv"
    path.write_text(_version(1), encoding="utf-8")
    monkeypatch.setattr(lines, "BLOCK_BYTES", 97)
    rewrite_after_first_block(monkeypatch, rewrite_in_place(path, _version(7)))
    with caplog.at_level("WARNING"):
        totals = landing.ingest_landing(
            load_mapping(mapping), folder, settings, as_of=_as_of(), journal=None
        )
    assert totals["still_changing"] == ["export.csv"]
    assert (totals["archived"], totals["read"]) == (0, 0)
    assert path.exists()
    assert any("changed while it was read" in r.getMessage() for r in caplog.records)
    assert len(read_table(settings.lake_dir, "incidents")) == 0
    assert len(read_quarantine(settings.lake_dir)) == 0
