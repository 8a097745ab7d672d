"""Admin codes of every table are checked (an attacker's review, finding 3).

A hazard site whose ``所属乡镇代码`` Excel turned into ``3.40825E+8`` was stored with that
text as its township, and an incident likewise: the known-admin-unit check ran for
disputes only, and nothing recognised a code in scientific notation. Now every table
with an ``admin_code`` is checked against the admin units of its own source (city) once
the lake holds them (``unknown_admin_code``), and a code in scientific notation is
``scientific_notation:admin_code`` whether or not admin units are in the lake.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from riskwarn.ingest import ingest_files
from riskwarn.sources import load_mapping

SOURCES = Path(__file__).resolve().parents[1] / "configs" / "sources"
AS_OF = datetime(2024, 1, 1, tzinfo=UTC)
ADMIN = "区划代码,区划名称,层级,上级代码,边界WKT,常住人口\n340800,宜城市,市,,,\n340882,潜山县,县区,340800,,\n340882004,梅城镇,乡镇街道,340882,,\n"
SITES = "隐患点编号,隐患点名称,灾害类型,经度,纬度,所属乡镇代码,坡度等级,威胁人数,规模（立方米）,监测责任人,责任人电话\n"
INCIDENTS = (
    "警情编号,发案时间,报警时间,时间精度,警情大类,警情类别,警情级别,经度,纬度,"
    "所属社区代码,发案场所,处警单位\n"
)


def _site(i: int, code: str) -> str:
    return f"DZ{i:010d},某村{i}组滑坡,滑坡,116.3,30.5,{code},2,10,100.0,x,y\n"


def _incident(i: int, code: str) -> str:
    return (
        f"JQ{i:08d},2023-05-01 10:00:00,2023-05-01 10:05:00,精确到分,侵财类,盗窃,1,"
        f"116.3,30.5,{code},住宅小区,某某派出所\n"
    )


def _ingest(settings, path: Path, source: str) -> dict:
    [report] = ingest_files(load_mapping(SOURCES / source), [path], settings, as_of=AS_OF)
    return report


def test_scientific_codes_are_quarantined_without_admin_units(settings, tmp_path: Path) -> None:
    sites = tmp_path / "sites.csv"
    sites.write_text(SITES + _site(1, "3.40825E+8") + _site(2, "340882004"), encoding="utf-8")
    report = _ingest(settings, sites, "sim_hazard_sites.yaml")
    assert report["reasons"] == {"scientific_notation:admin_code": 1}
    assert report["accepted"] == 1
    inc = tmp_path / "inc.csv"
    inc.write_text(INCIDENTS + _incident(1, "3.40882e+11") + _incident(2, "340882004"), "utf-8")
    report = _ingest(settings, inc, "sim_incidents.yaml")
    assert report["reasons"] == {"scientific_notation:admin_code": 1}


def test_every_table_with_an_admin_code_checks_known_units(settings, tmp_path: Path) -> None:
    admin = tmp_path / "admin.csv"
    admin.write_text(ADMIN, encoding="utf-8")
    assert _ingest(settings, admin, "sim_admin_units.yaml")["accepted"] == 3
    sites = tmp_path / "sites.csv"
    sites.write_text(SITES + _site(1, "340882999") + _site(2, "340882004"), encoding="utf-8")
    report = _ingest(settings, sites, "sim_hazard_sites.yaml")
    assert (report["accepted"], report["reasons"]) == (1, {"unknown_admin_code": 1})
    inc = tmp_path / "inc.csv"
    inc.write_text(INCIDENTS + _incident(1, "340882999") + _incident(2, "340882004"), "utf-8")
    report = _ingest(settings, inc, "sim_incidents.yaml")
    assert (report["accepted"], report["reasons"]) == (1, {"unknown_admin_code": 1})
