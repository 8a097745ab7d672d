"""A correction ingested after an earlier MERGE commit of the same table.

deltalake >= 1.4 writes the files of a MERGE with strings as ``string_view``
(delta-rs issue 4579); Arrow has no kernel comparing ``string_view`` with ``string``, so
the ingest's probe of the stored rows (a ``record_id`` filter) failed on every later
ingest that met such a file: ``ArrowNotImplementedError: Function 'greater_equal' has no
kernel matching input types (string, string_view)``. A crash between the MERGE and the
append of a batch (its two table commits) could then never be re-run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from riskwarn.lake import read_table
from testkit.forked_cli import ForkedCli

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "configs" / "sources" / "sim_incidents.yaml"
HEADER = (
    "警情编号,发案时间,报警时间,时间精度,警情大类,警情类别,警情级别,经度,纬度,"
    "所属社区代码,发案场所,处警单位"
)


def _row(i: int, when: str) -> str:
    return (
        f"JQ{i:08d},{when},{when},精确到分,侵财类,盗窃,1,116.{i:06d},30.{i:06d},"
        f"3408{i:08d},住宅小区,某某派出所"
    )


def _file(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _ingest(cli: ForkedCli, home: Path, path: Path) -> dict[str, Any]:
    """``riskwarn ingest`` of ``path``, a process of its own forked from ``cli`` (the
    command's modules imported once per module: testkit/forked_cli.py)."""
    env = {**os.environ, "RISKWARN_HOME": str(home)}
    cmd = ["ingest", "--json", "--no-store"]
    done = cli.run(
        [*cmd, "--as-of", "2024-01-01", "--source", str(SOURCE), str(path)],
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [report] = json.loads(done.stdout)
    return report


def test_corrections_after_a_merge_commit(cli: ForkedCli, tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = _file(tmp_path / "a.csv", [_row(i, "2023-05-01 10:00:00") for i in range(40)])
    # row 0 corrected, 20 new: one MERGE commit
    b = [_row(0, "2023-05-01 11:00:00")] + [_row(100 + i, "2023-06-01 10:00:00") for i in range(20)]
    c = [_row(1, "2023-05-02 11:00:00")] + [_row(200 + i, "2023-06-01 10:00:00") for i in range(20)]
    assert _ingest(cli, home, first)["new"] == 40
    second = _file(tmp_path / "b.csv", b)
    merged = _ingest(cli, home, second)
    assert (merged["new"], merged["updated"]) == (20, 1)
    types = {
        str(pq.read_schema(f).field("record_id").type)
        for f in (home / "lake" / "incidents").rglob("*.parquet")
    }
    assert "string_view" in types  # the MERGE's files (what made the probe fail)
    third = _ingest(cli, home, _file(tmp_path / "c.csv", c))
    assert (third["new"], third["updated"], third["unchanged"]) == (20, 1, 0)
    again = _ingest(cli, home, second)
    assert (again["new"], again["updated"], again["unchanged"]) == (0, 0, 21)
    lake = read_table(home / "lake", "incidents")
    assert len(lake) == 80 and lake["record_id"].is_unique


def test_filtered_reads_of_a_table_a_merge_wrote(cli: ForkedCli, tmp_path: Path) -> None:
    """``read_table`` / ``scan_pieces`` with a string ``where`` (the stream's and the site
    page's ``sensor_id`` filter; here ``record_id``) over files of both kinds: April's
    2022's rows stay in the first ingest's file (strings as ``string``), 2023's (another
    ``year`` partition) are rewritten by the MERGE of a correction (``string_view``). The
    old reader failed with ``ArrowNotImplementedError ... (string, string_view)``."""
    from riskwarn.lake.read import dataset, scan_pieces

    home = tmp_path / "home"
    april = [_row(i, "2022-04-10 10:00:00") for i in range(10)]
    may = [_row(50 + i, "2023-05-10 10:00:00") for i in range(10)]
    assert _ingest(cli, home, _file(tmp_path / "a.csv", april + may))["new"] == 20
    fix = _ingest(cli, home, _file(tmp_path / "b.csv", [_row(50, "2023-05-10 11:00:00")]))
    assert fix["updated"] == 1
    ds = dataset(home / "lake", "incidents")
    assert ds is not None
    kinds = sorted(str(f.physical_schema.field("record_id").type) for f in ds.get_fragments())
    assert kinds == ["string", "string_view"], kinds
    wanted = ["JQ00000003", "JQ00000051", "JQ00000050", "JQ99999999"]
    lake = home / "lake"
    got = read_table(lake, "incidents", where={"record_id": wanted})
    assert got["record_id"].tolist() == ["JQ00000003", "JQ00000050", "JQ00000051"]
    assert str(got.loc[got["record_id"] == "JQ00000050", "occurred_at"].iloc[0]).startswith(
        "2023-05-10 03:00"  # the correction (11:00 in the city's UTC+8)
    )
    pieces = list(scan_pieces(lake, "incidents", ["record_id"], where={"record_id": wanted}))
    assert sorted(i for p in pieces for i in p.column("record_id").to_pylist()) == sorted(
        wanted[:3]
    )
    assert read_table(lake, "incidents", where={"record_id": ["JQ99999999"]}).empty
    windowed = read_table(lake, "incidents", start="2023-01-01", where={"record_id": wanted})
    assert windowed["record_id"].tolist() == ["JQ00000050", "JQ00000051"]
