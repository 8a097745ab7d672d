"""Every red warning the overview counts can be found from the overview (review 2026-12-05).

"Red warnings 1" counted a dispute case's red warning that was on neither hotspot map
nor under "Places to watch": a leader could not find it from the page. Now the count's
help splits it by domain, and the red warnings of domains with no map here are listed
under the headline numbers, each with its domain and place and a link to it on the
review page, in Chinese and English (AppTest on a demo home whose dispute case is red).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from dashboard import auth
from testkit.dashboard_demo import dashboard_env, demo_home

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    home = tmp_path_factory.mktemp("red") / "home"
    city = demo_home(home, n_cells=120, weeks=1, n_cases=10)
    engine = sa.create_engine(city.store_url)
    with engine.begin() as conn:
        case = conn.execute(
            sa.text("SELECT warning_id FROM warnings WHERE domain = 'dispute_cases' LIMIT 1")
        ).scalar_one()
        conn.execute(
            sa.text("UPDATE warnings SET level = 'red' WHERE warning_id = :w"), {"w": case}
        )
    engine.dispose()
    mp = pytest.MonkeyPatch()
    dashboard_env(mp, home, city.store_url)
    yield home, str(case)
    mp.undo()


def _overview(lang: str) -> AppTest:
    role, name = auth.DEMO_USERS["leader"]
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.session_state["user"] = auth.User(username="leader", name=name, role=role)
    at.session_state["lang"] = lang
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize(
    ("lang", "kpi", "heading", "case_domain"),
    [
        ("zh", "红色预警", "隐患点、纠纷案件红色预警", "纠纷案件升级"),
        ("en", "Red warnings", "Red warnings of sites and cases", "Dispute escalation"),
    ],
)
def test_each_counted_red_warning_is_listed_with_a_link(
    home: tuple[Path, str], lang: str, kpi: str, heading: str, case_domain: str
) -> None:
    _, case = home
    at = _overview(lang)
    (red,) = [m for m in at.metric if m.label == kpi]
    n_red = int(str(red.value))
    assert n_red >= 1
    assert case_domain in str(red.proto.help), red.proto.help  # the count split by domain
    listed = [m.value for m in at.markdown if heading in str(m.value)]
    # the old page: no such list (the case's red was on no map and in no place list)
    assert listed, [m.value for m in at.markdown][:20]
    query = urlencode({"warning": case})
    links = [e for e in at.get("page_link") if e.proto.query_string == query]
    assert len(links) == 1, [str(e.proto) for e in at.get("page_link")]
    assert case_domain in links[0].proto.label
