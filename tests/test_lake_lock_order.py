"""A backup's snapshot and an ingest that quarantines rows must not deadlock (attack
review, 2026-12-07).

An upsert holds its table's writer lock and then takes the quarantine's (the batch's
refusals are written before its table commit). ``all_writers_held`` (the snapshot of
``riskwarn backup``) took every lock sorted by name, the quarantine ("_quarantine")
first: holding it and waiting for "incidents" while the ingest held "incidents" and
waited for it, both waited forever. Real ``flock``s, two threads, a real lake.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
from deltalake import write_deltalake

from riskwarn.lake import layout
from riskwarn.lake.maintenance import all_writers_held, lake_tables, writer_lock_order


def _lake(tmp_path: Path) -> Path:
    lake = tmp_path / "lake"
    for name in ("incidents", "disputes", layout.QUARANTINE):
        write_deltalake(str(lake / name), pd.DataFrame({"x": [1]}))
    return lake


def test_the_quarantine_lock_comes_after_every_data_table(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    order = writer_lock_order(lake_tables(lake))
    assert order[-1] == layout.QUARANTINE and sorted(order) == sorted(lake_tables(lake))


def test_a_snapshot_and_an_upsert_refusing_rows_both_finish(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    table_held, done = threading.Event(), {"ingest": False, "snapshot": False}

    def ingest() -> None:  # as lake.write's upsert: its table, then the quarantine
        with layout.writer_lock(lake, "incidents"):
            table_held.set()
            snap.join(timeout=1.0)  # the snapshot is under way, waiting on "incidents"
            with layout.writer_lock(lake, layout.QUARANTINE):
                done["ingest"] = True

    def snapshot() -> None:
        table_held.wait(timeout=10)
        with all_writers_held(lake):
            done["snapshot"] = True

    snap = threading.Thread(target=snapshot, daemon=True)
    ing = threading.Thread(target=ingest, daemon=True)
    snap.start()
    ing.start()
    ing.join(timeout=20)
    snap.join(timeout=20)
    # on the old order both threads were still waiting here (each holding what the
    # other waits for)
    assert done == {"ingest": True, "snapshot": True}
