"""The overview's civil-disputes tab with no warning this week (review revA, 2026-12-06)
read "Places to watch: No warnings match.", the review queue's filter wording; it has its
own sentence now, in English and Chinese."""

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
    home = tmp_path_factory.mktemp("noplaces") / "home"
    city = demo_home(
        home, n_cells=120, weeks=1, n_cases=5, today=pd.Timestamp("2026-03-04 02:00", tz="UTC")
    )
    engine = sa.create_engine(city.store_url)
    with engine.begin() as conn:  # no dispute-hotspot warning this week
        conn.execute(sa.text("DELETE FROM warnings WHERE domain = 'disputes'"))
    engine.dispose()
    mp = pytest.MonkeyPatch()
    use_dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


@pytest.mark.parametrize(
    ("lang", "said"),
    [("en", "No place has a warning this week."), ("zh", "本周没有地区有预警。")],
)
def test_no_places_to_watch_has_its_own_words(home: Path, lang: str, said: str) -> None:
    at = AppTest.from_file(str(APP), default_timeout=120)
    role, name = auth.DEMO_USERS["scientist"]
    at.session_state["user"] = auth.User(username="scientist", name=name, role=role)
    at.session_state["lang"] = lang
    at.switch_page("pages/overview.py").run()
    assert not at.exception, [e.value for e in at.exception]
    texts = [str(m.value) for m in at.markdown]
    assert any(said in x for x in texts), texts
    assert not any("No warnings match." in x or "没有符合条件的预警" in x for x in texts)
