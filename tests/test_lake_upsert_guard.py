"""The lake's own upsert refuses to roll a record back, whoever calls it (review: "
``lake.upsert`` called directly applies reverts").

Before the fix the revert check lived in the ingest path: ``riskwarn.lake.upsert`` (what
maintenance, a backfill or a DAG task would call) defaulted to ``refuse_reverts=False``
and applied a row equal to a superseded version as a correction, silently. Now every
write of a table refuses it (and, given the export's time, a row of an export older than
the one that wrote the record), and quarantines it itself before the table commit when
the caller does not: counted ``reverted``, never lost, idempotent on a re-run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from riskwarn import lake
from riskwarn.contracts import INCIDENTS, conform
from riskwarn.lake.read import table_version


def _frame(ids: list[str], cats: list[str]) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            {
                "source": "t",
                "record_id": ids,
                "occurred_at": pd.to_datetime(["2023-06-01 12:00"] * len(ids), utc=True),
                "time_precision": "minute",
                "category": cats,
                "category_group": "violent",
                "lon": 106.5,
                "lat": 29.5,
            }
        ),
        INCIDENTS,
    )


def _category(lake_dir: Path, rid: str) -> str:
    return str(lake.read_table(lake_dir, "incidents").set_index("record_id").loc[rid, "category"])


def test_a_direct_upsert_refuses_a_revert_and_quarantines_it_once(tmp_path: Path) -> None:
    lake.upsert(tmp_path, "incidents", "t", _frame(["r1", "r2"], ["a", "x"]), batch_id="b1")
    lake.upsert(tmp_path, "incidents", "t", _frame(["r1", "r2"], ["b", "x"]), batch_id="b2")
    version = table_version(tmp_path, "incidents")
    # a backfill sends b1's content again, through the lake's own upsert
    got = lake.upsert(tmp_path, "incidents", "t", _frame(["r1", "r2"], ["a", "x"]), batch_id="bf")
    assert (got["updated"], got["unchanged"], got.get("reverted")) == (0, 1, 1)
    assert _category(tmp_path, "r1") == "b"  # the correction stands
    assert table_version(tmp_path, "incidents") == version  # no table commit
    q = lake.read_quarantine(tmp_path)
    assert len(q) == 1
    row = q.iloc[0]
    assert (row["batch_id"], row["reason"], int(row["row_number"])) == (
        "bf",
        "reverts_correction",
        1,
    )
    assert "r1" in row["message"] and "batch b2" in row["message"]
    assert json.loads(row["original"])["category"] == "a"
    # the same call again: refused again, the quarantine still holds it once
    again = lake.upsert(tmp_path, "incidents", "t", _frame(["r1"], ["a"]), batch_id="bf")
    assert again.get("reverted") == 1
    assert len(lake.read_quarantine(tmp_path)) == 1
    # deliberately (the operator's --allow-revert): applied and counted
    forced = lake.upsert(
        tmp_path, "incidents", "t", _frame(["r1"], ["a"]), batch_id="op", refuse_reverts=False
    )
    assert (forced["updated"], forced["reverts_applied"]) == (1, 1)
    assert _category(tmp_path, "r1") == "a"


def test_a_direct_upsert_refuses_a_row_of_an_older_export(tmp_path: Path) -> None:
    def at(day: int) -> datetime:
        return datetime(2024, 1, day, tzinfo=UTC)

    def up(ids: list[str], cats: list[str], batch: str, day: int) -> dict[str, int]:
        return lake.upsert(
            tmp_path, "incidents", "t", _frame(ids, cats), batch_id=batch, extracted_at=at(day)
        )

    up(["r1", "r2"], ["a", "x"], "jan1", 1)
    assert up(["r1"], ["b"], "jan20", 20)["updated"] == 1  # r1 corrected by a later export
    # an export of Jan 10 (older than r1's stored version, newer than r2's), content the
    # lake never had: r1 refused, r2 applied, r3 new
    got = up(["r1", "r2", "r3"], ["c", "y", "z"], "jan10", 10)
    assert (got["new"], got["updated"], got.get("reverted")) == (1, 1, 1)
    assert (_category(tmp_path, "r1"), _category(tmp_path, "r2")) == ("b", "y")
    [row] = lake.read_quarantine(tmp_path).to_dict("records")
    assert (row["batch_id"], row["reason"]) == ("jan10", "older_extract")
    assert "2024-01-10" in row["message"] and "batch jan20" in row["message"]
    # a later export still corrects it; a row of unknown export time is not compared
    assert up(["r1"], ["d"], "feb", 28)["updated"] == 1
    plain = lake.upsert(tmp_path, "incidents", "t", _frame(["r1"], ["e"]), batch_id="nodate")
    assert plain["updated"] == 1
