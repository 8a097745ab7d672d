"""The disputes page in words a reviewer or a leader reads: a case's explanation (written by
the model's explanation, models.explain.explain_rows, through the feature catalogue's
templates) said "about 4.3 (log10 CNY) in dispute" and "a land homestead dispute (1)"
(reviewer). It says the amount in yuan and a flag as yes / no (是 / 否), and never a
party's name, phone or ID number."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.catalog import describe
from testkit.dashboard_server import use_dashboard_env

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
CASE = {"log_amount_cny": 4.3, "category_land_homestead": 1.0, "already_escalated": 1.0}
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")


def test_amounts_in_yuan_and_flags_in_words() -> None:
    assert describe("log_amount_cny", 4.3) == "about 20,000 yuan in dispute"
    assert describe("log_amount_cny", 4.3, "zh") == "涉及金额约 2万元"
    assert describe("log_amount_cny", 3.5, "zh") == "涉及金额约 3,200元"
    assert describe("category_land_homestead", 1) == "a land homestead dispute: yes"
    assert describe("category_land_homestead", 0, "zh") == "土地宅基地类纠纷：否"
    assert describe("already_escalated", 1, "zh") == "该案此前已升级：是"
    assert describe("hazard_type_landslide", 1) == "a landslide site: yes"
    assert describe("dead_sensor_flag", 0, "zh") == "有传感器近几小时无数据：否"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A demo home whose riskiest open case carries the explanation the scoring run writes
    (riskwarn.reasons.explanation_reason of explain_rows) for ``CASE``."""
    pytest.importorskip("streamlit")
    import sqlalchemy as sa

    from models.explain import explain_rows
    from riskwarn.reasons import explanation_reason
    from testkit.dashboard_demo import demo_home

    home = tmp_path_factory.mktemp("disputewords") / "home"
    city = demo_home(home, n_cells=60, weeks=1, n_cases=6)
    frame = pd.DataFrame([CASE])
    contribs = pd.DataFrame(
        np.array([[0.9, 0.6, 0.3, -1.0]]), columns=[*CASE, "bias"]
    )  # SHAP contributions: all three raise the risk
    reason = explanation_reason(explain_rows(contribs, frame)[0])
    engine = sa.create_engine(city.store_url)
    with engine.begin() as conn:
        top = conn.execute(
            sa.text(
                "SELECT run_id, unit_id FROM forecasts WHERE unit_type = 'case' "
                "ORDER BY probability DESC LIMIT 1"
            )
        ).one()
        conn.execute(
            sa.text("UPDATE forecasts SET explanation = :e WHERE run_id = :r AND unit_id = :u"),
            {"e": json.dumps([reason]), "r": top.run_id, "u": top.unit_id},
        )
    engine.dispose()
    mp = pytest.MonkeyPatch()
    use_dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        (
            "en",
            [
                "about 20,000 yuan in dispute",
                "a land homestead dispute: yes",
                "the case already escalated before: yes",
            ],
        ),
        ("zh", ["涉及金额约 2万元", "土地宅基地类纠纷：是", "该案此前已升级：是"]),
    ],
)
def test_the_disputes_page_says_amounts_and_flags_in_words(
    home: Path, lang: str, words: list[str]
) -> None:
    from streamlit.testing.v1 import AppTest

    from dashboard import auth

    at = AppTest.from_file(str(APP), default_timeout=90)
    role, name = auth.DEMO_USERS["reviewer"]
    at.session_state["user"] = auth.User(username="reviewer", name=name, role=role)
    at.session_state["lang"] = lang
    at.run()
    at.switch_page("pages/disputes.py").run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    text = "\n".join([*(m.value for m in at.markdown), *(str(v) for v in table.to_numpy().ravel())])
    assert all(w in text for w in words), text[:2000]
    assert "log10" not in text and "常用对数" not in text
    assert "(1)" not in text and "（1）" not in text and "(0)" not in text
    assert not PHONE.search(text) and not ID_NUMBER.search(text)
