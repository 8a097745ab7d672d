"""Issue 12 §1 beyond the form: expired warnings are not in force, every page says how
fresh its data is, dispute cases show their explanation and review state; and the
dashboard reads the store through ``Store`` and the lake through ``riskwarn.lake`` only
(issue 14.5)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import auth, queries, views
from dashboard.i18n import t
from testkit.dashboard_demo import dashboard_env, demo_home

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dashboard" / "app.py"
NOW = pd.Timestamp("2026-06-10 08:00", tz="UTC")


def test_expired_warnings_are_not_in_force() -> None:
    frame = pd.DataFrame(
        {
            "warning_id": ["a", "b", "c"],
            "valid_to": pd.to_datetime(
                ["2026-06-10 07:59", "2026-06-10 08:00", "2026-06-11 00:00"], utc=True
            ),
        }
    )
    assert queries.active(frame, NOW)["warning_id"].tolist() == ["c"]
    assert queries.active(frame.iloc[0:0], NOW).empty


def test_a_case_shows_its_warning_reasons_and_a_dismissed_case_no_old_level() -> None:
    cases = pd.DataFrame(
        {
            "unit_id": ["D-1", "D-2", "D-3"],
            "probability": [0.9, 0.7, 0.2],
            "county_code": ["340803"] * 3,
            "township_code": [None] * 3,
            "explanation": [None, [], [{"zh": "自带解释", "en": "Own explanation"}]],
        }
    )
    warned = pd.DataFrame(
        {
            "unit_id": ["D-1", "D-2"],
            "state": ["new", "dismissed"],
            "effective_level": ["red", None],
            "reasons": [[{"zh": "近 30 天调解 3 次", "en": "3 mediations in 30 days"}], None],
        }
    ).set_index("unit_id")
    rows = views.case_rows(cases, warned, {"340803": "大观区"}, "zh")
    no_explanation = t("case_no_explanation", "zh")  # D-2: none kept, and the page says so
    assert rows["explanation_text"].tolist() == ["近 30 天调解 3 次", no_explanation, "自带解释"]
    assert rows["level"].tolist()[0] == "red" and pd.isna(rows["level"].tolist()[1])
    assert rows["state_label"].tolist() == ["待研判", "已排除", "未预警"]
    en = views.case_rows(cases, warned, {"340803": "大观区"}, "en")
    assert en["explanation_text"].tolist()[0] == "3 mediations in 30 days"
    assert en["place"].tolist()[0] == "Daguan District"


def test_the_dashboard_reads_no_sql_of_its_own() -> None:
    """The store through Store's methods, the lake through riskwarn.lake (no SQL text,
    no engine, no DuckDB connection in the dashboard)."""
    offenders = []
    for path in sorted((ROOT / "dashboard").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for pattern in (r"\bsqlalchemy\b", r"\.engine\b", r"\.execute\(", r"lake\.connect\("):
            if re.search(pattern, text):
                offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert offenders == []


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("record") / "home"
    city = demo_home(home, n_cells=120, weeks=2, n_cases=15)
    mp = pytest.MonkeyPatch()
    dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


@pytest.mark.parametrize("page", ["overview", "warnings", "disputes", "geohazard", "models"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_says_how_fresh_its_data_is(home: Path, page: str, lang: str) -> None:
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.session_state["user"] = auth.User("admin", "管理员", "admin")
    at.session_state["lang"] = lang
    at.run()
    if page != "overview":
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    line = next(c.value for c in at.caption if c.value.startswith(("数据截至", "Data as of")))
    assert ("最新传感器读数" if lang == "zh" else "latest reading") in line
    assert "—" not in line.split(" · ")[-2]  # the forecast origin is known
    # the zone of the page's times, once, beside them: a data scientist comparing the CLI's
    # "created 2026-12-07T03:39Z" with "Trained 7 Dec 2026 11:39" saw 8 hours apart (review
    # of 7 Dec 2026); after a " · " as the line's other parts (a bare space ran it into the
    # origin: screenshots of 2026-12-06)
    assert line.endswith(
        " · 页面时间均为北京时间（比协调世界时早8小时）；命令行显示协调世界时（时间后带 `Z`）。"
        if lang == "zh"
        else " · Times on this page are in Asia/Shanghai (UTC+8); the command line writes UTC "
        "(a time ending in Z)."
    ), line
    if page == "disputes":
        table = at.dataframe[0].value
        assert ("研判状态" if lang == "zh" else "Review state") in table.columns


def test_english_pages_write_chinese_place_names_in_pinyin() -> None:
    from dashboard.i18n import place_name

    assert place_name("城关镇", "en") == "Chengguan Town"
    assert place_name("大观区 菱湖街道", "en") == "Daguan District Linghu Subdistrict"
    assert place_name("石牌镇张家湾滑坡", "en") == "Shipai Town Zhangjiawan Landslide"
    assert place_name("白泽湖乡", "zh") == "白泽湖乡"
    assert views.place_words(
        "340803", "340803001", {"340803": "大观区", "340803001": "集贤街道"}, "en"
    ) == ("Daguan District, Jixian Subdistrict")
    assert not re.search(r"[\u3400-\u9fff]", place_name("天堂镇三角村 崩塌", "en"))


def test_a_dismissed_warning_reads_no_level_not_a_raw_key() -> None:
    """The picker showed "level_nan" for a dismissed warning (its effective level is NaN
    in a frame)."""
    from dashboard.i18n import level_label

    assert level_label(float("nan"), "en") == level_label(None, "en") == "No warning"
    assert level_label(pd.NA, "zh") == level_label(None, "zh")
