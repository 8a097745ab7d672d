"""Ingestion test helpers shared by several test modules: a file rewritten while the CSV
reader reads it, and small exports of the simulated city's incidents (``sim_incidents``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from riskwarn.ingest import lines

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------- a file changing mid-read


def rewrite_after_first_block(monkeypatch: pytest.MonkeyPatch, change: Callable[[], Any]) -> None:
    """Run ``change`` in another thread once the CSV reader took its first block of a file
    (once in all), and wait for it: the reader goes on from its open handle into the new
    bytes. Patches ``riskwarn.ingest.lines.blocks`` (``monkeypatch`` undoes it; the real
    one is :data:`REAL_BLOCKS`)."""
    real = lines.blocks
    done: list[bool] = []

    def blocks(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for i, item in enumerate(real(*args, **kwargs)):
            yield item
            if i == 0 and not done:
                done.append(True)
                writer = threading.Thread(target=change)
                writer.start()
                writer.join()

    monkeypatch.setattr(lines, "blocks", blocks)


REAL_BLOCKS = lines.blocks
"""The reader's block generator as the product has it (to put back mid-test)."""


def rewrite_in_place(path: Path, text: str, *, truncate: bool = True) -> Callable[[], None]:
    """A change for :func:`rewrite_after_first_block`: ``path``'s bytes replaced by ``text``
    in place (same inode, as an exporter rewriting its file), cut to its length unless
    ``truncate`` is false, and synced."""

    def change() -> None:
        with path.open("r+b") as fh:
            fh.write(text.encode())
            if truncate:
                fh.truncate()
            fh.flush()
            os.fsync(fh.fileno())

    return change


# ---------------------------------------------------------------- simulated incidents

SIM_INCIDENTS = ROOT / "configs" / "sources" / "sim_incidents.yaml"
SIM_INCIDENTS_HEADER = (
    "警情编号,发案时间,报警时间,时间精度,警情大类,警情类别,警情级别,经度,纬度,"
    "所属社区代码,发案场所,处警单位"
)


def sim_incident_row(i: int, severity: int) -> str:
    """One ``sim_incidents`` record, JQ<i> (8 digits), at ``severity``; everything else
    fixed by ``i``."""
    return (
        f"JQ{i:08d},2023-05-01 10:00:00,2023-05-01 10:05:00,精确到分,侵财类,盗窃,{severity},"
        f"116.{i:06d},30.{i:06d},3408{i:08d},住宅小区,某某派出所"
    )


def sim_incidents_file(path: Path, severities: dict[int, int]) -> Path:
    """A ``sim_incidents`` export at ``path``: one row per record ``i`` of ``severities``
    (at its severity), in record order. Returns ``path``."""
    rows = [sim_incident_row(i, s) for i, s in sorted(severities.items())]
    path.write_text(SIM_INCIDENTS_HEADER + "\n" + "\n".join(rows) + "\n", "utf-8")
    return path
