"""A record repeated in one file with white space after its id (a space, a no-break
space) is one record repeated, stored once and counted as a duplicate: it was taken for
two conflicting versions of the record and every copy quarantined, the clean one too
(attack review 2026-12-07). A real conflict (other content under the same id) still is."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from riskwarn.ingest import read_and_validate
from riskwarn.sources import load_mapping

AS_OF = datetime(2024, 1, 1, tzinfo=UTC)
MAPPING = Path(__file__).parents[1] / "configs" / "sources" / "sim_dispute_events.yaml"
HEADER = "事件编号,案件编号,事件时间,事件类型,经办人,经办人电话\n"
ROW = "{id},MD202301020001,2023-01-07 17:32:00,{kind},陈超,18622597320\n"


def _batch(tmp_path: Path, ids_and_kinds: list[tuple[str, str]]) -> object:
    path = tmp_path / "events.csv"
    body = "".join(ROW.format(id=i, kind=k) for i, k in ids_and_kinds)
    path.write_text(HEADER + body, encoding="utf-8")
    return read_and_validate(load_mapping(MAPPING), path, pseudonym_key="k", as_of=AS_OF)


def test_white_space_after_an_id_repeats_the_record_once(tmp_path: Path) -> None:
    rid = "MD202301020001-004"
    batch = _batch(
        tmp_path, [(rid, "组织调解"), (rid + " ", "组织调解"), (rid + "\u00a0", "组织调解")]
    )
    assert batch.accepted["record_id"].tolist() == [rid]  # type: ignore[attr-defined]
    assert batch.duplicates == 2  # type: ignore[attr-defined]
    assert batch.reasons == {}  # type: ignore[attr-defined]


def test_other_content_under_the_same_id_is_still_a_conflict(tmp_path: Path) -> None:
    rid = "MD202301020001-004"
    batch = _batch(tmp_path, [(rid, "组织调解"), (rid + " ", "调解成功")])
    assert batch.accepted.empty  # type: ignore[attr-defined]
    assert batch.reasons == {"duplicate_id_conflict": 2}  # type: ignore[attr-defined]
