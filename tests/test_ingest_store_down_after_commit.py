"""The serving store failing after the lake commit: both messages are true (an attacker's
review, finding 5).

Before, the ingest said only ``error: ingest of bad.csv failed (OperationalError)`` (not
that the rows were already in the lake, nor that a re-run records them), and the re-run
said the first run "was killed", which it was not. Now the failing ingest says the file
is in the lake with its counts, that the store did not record it and that a re-run of
the same ingest records it (nothing stored twice); the re-run says the earlier run
stopped after its lake commits without its record (killed, or the store failed).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from riskwarn.cli import main
from riskwarn.lake import read_table

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "configs" / "sources" / "sim_incidents.yaml"
HEADER = (
    "警情编号,发案时间,报警时间,时间精度,警情大类,警情类别,警情级别,经度,纬度,"
    "所属社区代码,发案场所,处警单位"
)


def _row(i: int) -> str:
    return (
        f"JQ{i:08d},2023-05-01 10:00:00,2023-05-01 10:05:00,精确到分,侵财类,盗窃,1,"
        f"116.{i:06d},30.{i:06d},3408{i:08d},住宅小区,某某派出所"
    )


def test_store_down_after_the_lake_commit(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from riskwarn.settings import load_settings
    from riskwarn.store import Store
    from riskwarn.store.base import StoreBase

    home = tmp_path / "home"
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "\n" + "\n".join(_row(i) for i in range(4)) + "\n", "utf-8")
    real = StoreBase.record_ingest_batch

    def down(*args: object, **kwargs: object) -> bool:
        raise sa.exc.OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(StoreBase, "record_ingest_batch", down)
    args = ["ingest", "--as-of", "2024-01-01", "--source", str(SOURCE), str(path)]
    code = main(args)
    _, err = capsys.readouterr()
    assert code != 0
    assert "stored in the lake (new 4, updated 0, quarantined 0)" in err
    assert "not recorded in the serving store (OperationalError" in err
    assert "re-run the same ingest" in err
    assert len(read_table(home / "lake", "incidents")) == 4

    monkeypatch.setattr(StoreBase, "record_ingest_batch", real)
    with caplog.at_level(logging.WARNING):
        assert main(args) == 0
    out, _ = capsys.readouterr()
    text = out + caplog.text
    assert "was killed" not in text
    assert "killed, or the store failed" in text
    [rec] = Store.from_settings(load_settings()).ingest_batches().to_dict("records")
    assert (rec["new"], rec["accepted"]) == (4, 4)
