"""Review S6: a category the mapping's ``map`` does not know is quarantined
(``unmapped_category:<col>``) instead of stored as the raw text, and an incident reported
before it occurred (beyond a 1 h clock skew; date-only values compared by local day) is
quarantined (``reported_before_occurred``). docs/ingestion.md."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from riskwarn.ingest import read_and_validate
from riskwarn.sources import load_mapping, parse_mapping

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "configs" / "sources"
AS_OF = datetime(2024, 1, 1, tzinfo=UTC)
INC_HEADER = (
    "警情编号,发案时间,报警时间,时间精度,警情大类,警情类别,警情级别,经度,纬度,"
    "所属社区代码,发案场所,处警单位\n"
)


def _inc(
    i: int, occurred: str, reported: str, category: str = "盗窃", precision: str = "精确到分"
) -> str:
    return (
        f"JQ{i},{occurred},{reported},{precision},侵财类,{category},1,116.5,30.5,"
        f"340800000001,住宅小区,某所\n"
    )


def _reasons(mapping_path: Path | str, path: Path, text: str, encoding: str = "utf-8") -> dict:
    path.write_text(text, encoding=encoding)
    mapping = (
        load_mapping(mapping_path)
        if isinstance(mapping_path, Path)
        else parse_mapping(mapping_path)
    )
    batch = read_and_validate(mapping, path, pseudonym_key="k" * 40, as_of=AS_OF)
    return {
        "accepted": sorted(batch.accepted["record_id"]),
        "quarantined": dict(
            zip(batch.quarantine["row_number"], batch.quarantine["reason"], strict=True)
        ),
    }


def test_an_unmapped_incident_category_is_quarantined_not_stored_raw(tmp_path: Path) -> None:
    got = _reasons(
        SOURCES / "sim_incidents.yaml",
        tmp_path / "inc.csv",
        INC_HEADER
        + _inc(1, "2023-05-01 10:00:00", "2023-05-01 10:05:00")
        + _inc(2, "2023-05-01 10:00:00", "2023-05-01 10:05:00", category="非法集资")
        + _inc(3, "2023-05-01 10:00:00", "2023-05-01 10:05:00", category="other"),
    )
    # row 3 sends the canonical value itself: it is one of the map's values, kept
    assert got == {"accepted": ["JQ1", "JQ3"], "quarantined": {2: "unmapped_category:category"}}


def test_an_unmapped_dispute_category_gets_its_own_reason(tmp_path: Path) -> None:
    header = (
        "案件编号,登记时间,纠纷类型,经度,纬度,所属社区代码,当事人数,涉及金额（元）,甲方身份证号,"
        "乙方身份证号,网格编码,甲方姓名,甲方联系电话,乙方姓名,乙方联系电话,纠纷简述,登记人\n"
    )
    rows = "".join(
        f"AJ{i},2023-05-01 10:00:00,{c},116.5,30.5,3408,2,100,1,2,g,a,b,c,d,e,f\n"
        for i, c in enumerate(["邻里纠纷", "网络纠纷"], 1)
    )
    got = _reasons(SOURCES / "sim_disputes.yaml", tmp_path / "d.csv", header + rows, "gb18030")
    # before: schema:category:isin ("contract check failed")
    assert got == {"accepted": ["AJ1"], "quarantined": {2: "unmapped_category:category"}}


def test_a_when_rule_covers_a_value_its_map_does_not(tmp_path: Path) -> None:
    mapping = """
name: t
table: incidents
id: {columns: [id]}
columns:
  occurred_at: {from: t, format: "%Y-%m-%d"}
  time_precision: {const: day}
  category: {from: desc, normalize: snake_case}
  category_group:
    from: grp
    map: {PROPERTY CRIME: property}
    when:
      - {column: proxy, equals: "True", value: public_order}
"""
    text = "id,t,desc,grp,proxy\n1,2023-05-01,Any Thing,PROPERTY CRIME,False\n"
    text += "2,2023-05-01,Dispute,DISORDER,True\n3,2023-05-01,Noise,DISORDER,False\n"
    got = _reasons(mapping, tmp_path / "w.csv", text)
    # a category without a map (desc) is the source's own vocabulary: never "unmapped"
    assert got == {"accepted": ["1", "2"], "quarantined": {3: "unmapped_category:category_group"}}


def test_a_report_before_the_event_is_quarantined_beyond_the_skew(tmp_path: Path) -> None:
    rows = [
        _inc(1, "2023-05-01 10:00:00", "2023-05-01 10:05:00"),  # fine
        _inc(2, "2023-05-01 10:00:00", "2023-05-01 09:30:00"),  # 30 min: clock skew, kept
        _inc(3, "2023-05-01 10:00:00", "2023-05-01 08:59:00"),  # 61 min before: quarantined
        _inc(4, "2023-05-01 10:00:00", "2023-04-28 09:00:00"),  # days before: quarantined
        # date-only report (local midnight) on the event's day: not before it
        _inc(5, "2023-05-01 10:00:00", "2023-05-01 00:00:00"),
        # day precision: the event is somewhere in its local day
        _inc(6, "2023-05-01 18:00:00", "2023-05-01 07:00:00", precision="仅日期"),
        _inc(7, "2023-05-01 00:00:00", "2023-04-30 20:00:00", precision="仅日期"),
        _inc(8, "2023-05-01 00:00:00", "2023-04-30 23:30:00", precision="不详"),  # skew
        _inc(9, "2023-05-01 10:00:00", ""),  # no report time: nothing to compare
    ]
    got = _reasons(SOURCES / "sim_incidents.yaml", tmp_path / "r.csv", INC_HEADER + "".join(rows))
    assert got == {
        "accepted": ["JQ1", "JQ2", "JQ5", "JQ6", "JQ8", "JQ9"],
        "quarantined": {
            3: "reported_before_occurred",
            4: "reported_before_occurred",
            7: "reported_before_occurred",
        },
    }


def test_hazard_events_may_be_reported_before_the_failure(tmp_path: Path) -> None:
    """A call about a moving slope can come before it fails (36 real Hong Kong rows)."""
    mapping = """
name: h
table: hazard_events
id: {columns: [id]}
columns:
  occurred_at: {from: f, format: "%Y-%m-%d"}
  reported_at: {from: c, format: "%Y-%m-%d"}
  time_precision: {const: day}
  event_type: {const: landslide}
"""
    got = _reasons(mapping, tmp_path / "h.csv", "id,f,c\n1,2023-05-03,2023-05-01\n")
    assert got == {"accepted": ["1"], "quarantined": {}}
