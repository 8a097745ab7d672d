"""The overview counts one set of warnings (merge review, 2026-12-06): the KPIs stopped
counting warnings whose validity ended before the week shown, but the red list under them
and the county chart still took them, so the page read "Red warnings 0" above "Red
warnings not on these maps (1)"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import auth
from testkit.dashboard_demo import demo_home
from testkit.dashboard_server import use_dashboard_env

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("stale") / "home"
    city = demo_home(
        home, n_cells=120, weeks=1, n_cases=5, today=pd.Timestamp("2026-03-04 02:00", tz="UTC")
    )
    engine = sa.create_engine(city.store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE warnings SET level = 'blue', level_rank = 1"))
        wid = conn.execute(
            sa.text(
                "SELECT warning_id FROM warnings WHERE domain LIKE 'geohazard%'"
                " ORDER BY warning_id LIMIT 1"
            )
        ).scalar_one()
        # red, but its validity ended long before the week the overview shows: its
        # domain's run is older than the week (a replay judges it at its own origin, so
        # it is in force there: the geohazard data of the demo ends before the city's)
        conn.execute(
            sa.text("UPDATE forecast_runs SET origin = :o WHERE domain LIKE 'geohazard%'"),
            {"o": pd.Timestamp("2019-12-31", tz="UTC").to_pydatetime()},
        )
        conn.execute(
            sa.text(
                "UPDATE warnings SET level = 'red', level_rank = 4, valid_to = :t"
                " WHERE warning_id = :w"
            ),
            {"w": wid, "t": pd.Timestamp("2020-01-01", tz="UTC").to_pydatetime()},
        )
    engine.dispose()
    mp = pytest.MonkeyPatch()
    use_dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


@pytest.mark.parametrize(
    ("lang", "red_list"), [("en", "Red warnings not on"), ("zh", "不在以上地图")]
)
def test_a_stale_red_warning_is_in_no_count_of_the_overview(
    home: Path, lang: str, red_list: str
) -> None:
    at = AppTest.from_file(str(APP), default_timeout=120)
    role, name = auth.DEMO_USERS["scientist"]
    at.session_state["user"] = auth.User(username="scientist", name=name, role=role)
    at.session_state["lang"] = lang
    at.switch_page("pages/overview.py").run()
    assert not at.exception, [e.value for e in at.exception]
    (red,) = [m for m in at.metric if m.label in ("Red warnings", "红色预警")]
    assert red.value == "0"
    # it is in force at its own domain's time, and the KPI's note says it is not counted
    assert [
        c for c in at.caption if ("Not counted this week" in c.value or "未计入本周" in c.value)
    ]
    assert not [m for m in at.markdown if red_list in str(m.value)]
