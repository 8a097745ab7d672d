"""The review page of a dispute case and of a geohazard site as a reviewer read them on the
demo (2026-12-06), by AppTest in en and zh: the header said "horizon 720 h" under a reason
saying 30 days; the case's top inputs were listed in its reason, among its facts and in a
top-inputs table, the facts as sentences with a gap ("已调解 … 次" | "6"); the site's
sensors table had a column "within_noise" reading "True".

The demo home is built for a fixed past day (a replay: its warnings are in force whatever
the calendar says); the two warnings are rewritten as the scoring of that day stored them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import auth
from testkit.dashboard_demo import dashboard_env, demo_home
from tests.test_warning_evidence import CASE_FRAME, CASE_REASONS, STORED_TOP_INPUTS

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
SITE_EV: dict[str, Any] = {
    "model": "riskwarn-geohazard v1",
    "sensors": [
        {
            "sensor_id": "SB00015",
            "status": "ok",
            "readings_24h": 144,
            "velocity_mm_per_day": 44.4,
            "tangent_angle_deg": 78.3,
            "within_noise": True,
        }
    ],
    "rain_24h_mm": 3.1,
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("evpage") / "home"
    city = demo_home(
        home, n_cells=120, weeks=1, n_cases=5, today=pd.Timestamp("2026-03-04 02:00", tz="UTC")
    )
    table = sa.table(
        "warnings",
        *(sa.column(c) for c in ("warning_id", "domain", "valid_from", "valid_to")),
        sa.column("lead_time_hours"),
        sa.column("reasons", sa.JSON),
        sa.column("evidence", sa.JSON),
    )
    case_ev = {
        "model": "riskwarn-dispute_cases v1",
        **{k: float(v) for k, v in CASE_FRAME.drop(columns="unit_id").iloc[0].items()},
        "top_inputs": STORED_TOP_INPUTS,  # as scored on 2026-12-06 before the fix
    }
    engine = sa.create_engine(city.store_url)
    ids = {}
    with engine.begin() as conn:
        for domain, ev in (("dispute_cases", case_ev), ("geohazard", SITE_EV)):
            wid, start = conn.execute(
                sa.select(table.c.warning_id, table.c.valid_from)
                .where(table.c.domain == domain)
                .limit(1)
            ).one()
            values: dict[str, Any] = {"evidence": ev}
            if domain == "dispute_cases":
                start = pd.Timestamp(start)
                values.update(
                    reasons=CASE_REASONS,
                    lead_time_hours=720.0,
                    valid_to=(start + pd.Timedelta(days=30)).to_pydatetime(),
                )
            conn.execute(sa.update(table).where(table.c.warning_id == wid).values(**values))
            ids[domain] = str(wid)
    engine.dispose()
    mp = pytest.MonkeyPatch()
    dashboard_env(mp, home, city.store_url)
    yield ids
    mp.undo()


def _page(warning_id: str, lang: str) -> AppTest:
    role, name = auth.DEMO_USERS["reviewer"]
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.session_state["user"] = auth.User(username="reviewer", name=name, role=role)
    at.session_state["lang"] = lang
    at.query_params["warning"] = warning_id
    at.switch_page("pages/warnings.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _cells(at: AppTest) -> list[str]:
    out: list[str] = []
    for d in at.dataframe:
        frame = d.value
        out += [str(c) for c in frame.columns] + [str(v) for v in frame.to_numpy().ravel()]
    return out


@pytest.mark.parametrize(
    ("lang", "horizon", "mediations"),
    [
        ("en", "horizon 30 days", "Mediation attempts so far"),
        ("zh", "预测时长 30 天", "已调解次数"),
    ],
)
def test_a_case_page_in_days_its_top_inputs_once_and_its_facts_labelled(
    home: dict[str, str], lang: str, horizon: str, mediations: str
) -> None:
    at = _page(home["dispute_cases"], lang)
    text = "\n".join(str(m.value) for m in at.markdown)
    assert horizon in text and "720" not in text
    cells = _cells(at)
    assert mediations in cells and not any("…" in c for c in cells), cells
    open_days = {"en": "Days the dispute has been open", "zh": "纠纷已立案天数"}[lang]
    assert cells.count(open_days) == 1, cells
    captions = "\n".join(str(c.value) for c in at.caption)
    assert "top inputs" not in captions and "最主要的输入" not in captions


@pytest.mark.parametrize(
    ("lang", "column", "yes"),
    [("en", "Velocity within the sensor's noise", "yes"), ("zh", "速度在传感器噪声范围内", "是")],
)
def test_a_site_page_words_its_sensors_noise_flag(
    home: dict[str, str], lang: str, column: str, yes: str
) -> None:
    at = _page(home["geohazard"], lang)
    cells = _cells(at)
    assert column in cells and yes in cells, cells
    assert "within_noise" not in cells and "True" not in cells
