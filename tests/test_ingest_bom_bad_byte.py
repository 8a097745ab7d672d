"""A CSV with a UTF-8 byte-order mark (Excel's "CSV UTF-8" export) is read line by line,
as the same file without it: one undecodable byte deep in the file quarantines its line
only (``bad_encoding``), a file cut inside a multi-byte character loses its last line
only (``unterminated_last_line``), the rest is stored (attack review 2026-12-07, F2).

Before: a file declared ``utf-8`` that starts with the mark is read as ``utf-8-sig``,
which :func:`~riskwarn.ingest.lines.ascii_compatible` calls not ASCII-based (it encodes
the mark first), so it took the re-encoding stream meant for UTF-16/32, where any
undecodable byte made the whole file one ``bad_encoding`` record: "read 1", every good
row dropped, exit 3. The same files without the mark were read right."""

from __future__ import annotations

import codecs
import gzip
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from riskwarn.cli import main
from riskwarn.lake import read_quarantine, read_table
from testkit.ingest_helpers import SIM_INCIDENTS, SIM_INCIDENTS_HEADER, sim_incident_row

BAD_LINE = 15_001  # physical line (header = 1) of the bad byte
ROWS = 20_000


def _data(cut_mid_char: bool) -> bytes:
    """The export without a mark: a \\xff in line 15,001 (past the 64 KB the encoding is
    sniffed from and past the first 1 MB), or, ``cut_mid_char``, the whole file cut one
    byte into the last line's last (3-byte) character."""
    text = SIM_INCIDENTS_HEADER + "\n" + "\n".join(sim_incident_row(i, 1) for i in range(ROWS))
    data = (text + "\n").encode("utf-8")
    if cut_mid_char:
        return data[:-3]  # "所\n" -> its first byte only: no line end, undecodable
    lines = data.split(b"\n")
    line = lines[BAD_LINE - 1]
    lines[BAD_LINE - 1] = line[:3] + b"\xff" + line[4:]
    out = b"\n".join(lines)
    assert out.index(b"\xff") > 1 << 20
    return out


def _mapping_file(tmp_path: Path, encoding: str) -> Path:
    spec = yaml.safe_load(SIM_INCIDENTS.read_text("utf-8"))
    spec["encoding"] = encoding
    path = tmp_path / f"sim_{encoding}.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), "utf-8")
    return path


def _ingest(
    home: Path, source: Path, path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> tuple[int, dict[str, Any]]:
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    argv = ["ingest", "--json", "--no-store", "--as-of", "2024-01-01"]
    code = main([*argv, "--source", str(source), str(path)])
    out, _ = capsys.readouterr()
    [report] = json.loads(out)
    return code, report


def _lake(home: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The table and the quarantine, without what names the file (its batch id and name:
    the two files differ by their first three bytes) or the time it was stored."""
    table = read_table(home / "lake", "incidents")
    table = table.drop(columns=[c for c in ("batch_id",) if c in table.columns])
    table = table.sort_values("record_id").reset_index(drop=True)
    q = read_quarantine(home / "lake")
    q = q.drop(columns=[c for c in ("batch_id", "file_name", "quarantined_at") if c in q])
    return table, q.reset_index(drop=True)


@pytest.mark.parametrize("declared", ["utf-8", "utf-8-sig"])
@pytest.mark.parametrize("gz", [False, True], ids=["csv", "gz"])
@pytest.mark.parametrize("cut_mid_char", [False, True], ids=["bad_byte", "cut_mid_char"])
def test_a_bom_file_loses_only_its_bad_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
    declared: str,
    gz: bool,
    cut_mid_char: bool,
) -> None:
    source = _mapping_file(tmp_path, declared)
    data = _data(cut_mid_char)
    lakes, reports = [], []
    for name, body in (("plain", data), ("bom", codecs.BOM_UTF8 + data)):
        path = tmp_path / (f"{name}.csv.gz" if gz else f"{name}.csv")
        path.write_bytes(gzip.compress(body) if gz else body)
        code, report = _ingest(tmp_path / name, source, path, monkeypatch, capsys)
        assert code == 0, report
        reports.append(report)
        lakes.append(_lake(tmp_path / name))
    want = "unterminated_last_line" if cut_mid_char else "bad_encoding"
    for report in reports:  # before: the BOM file read 1, quarantined 1, exit 3
        assert (report["read"], report["accepted"], report["quarantined"]) == (ROWS, ROWS - 1, 1)
        assert report["reasons"] == {want: 1}
    (plain_table, plain_q), (bom_table, bom_q) = lakes
    pd.testing.assert_frame_equal(plain_table, bom_table)
    pd.testing.assert_frame_equal(plain_q, bom_q)
    [original] = [json.loads(o) for o in bom_q["original"]]
    assert original["line"] == (ROWS + 1 if cut_mid_char else BAD_LINE)
    assert "JQ" not in bom_q["original"].iloc[0]  # never the text
    assert not any(r.startswith("\ufeff") for r in bom_table["record_id"])
    if not cut_mid_char:
        assert any(
            "1 line undecodable as utf-8 (first at line 15001)" in m for m in reports[1]["messages"]
        )


def test_a_bom_file_reads_its_first_bytes_as_the_header(tmp_path: Path) -> None:
    """A mark with nothing after it, a file shorter than the mark, and a lone-CR file
    whose first read (which decides its line ends) follows the mark."""
    from riskwarn.ingest.lines import _SkipBom

    class Raw:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def read(self, n: int) -> bytes:
            out, self.data = self.data[:n], self.data[n:]
            return out

        def readinto(self, buffer: Any) -> int:
            out = self.read(len(buffer))
            buffer[: len(out)] = out
            return len(out)

        def close(self) -> None:
            pass

    for data, want in (
        (codecs.BOM_UTF8, b""),
        (b"ab", b"ab"),
        (codecs.BOM_UTF8 + b"a,b\rc,d\r", b"a,b\rc,d\r"),
        (b"a,b\rc,d\r", b"a,b\rc,d\r"),
        (codecs.BOM_UTF8[:2] + b"x", codecs.BOM_UTF8[:2] + b"x"),
    ):
        stream = _SkipBom(Raw(data))  # type: ignore[arg-type]
        first = stream.read(1 << 20) or b""
        assert first == want  # whole in the first read
        assert stream.read(1 << 20) == b""
