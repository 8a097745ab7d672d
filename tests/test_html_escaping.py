"""Data-controlled text never reaches the browser as HTML (issue 13.13).

The dashboard writes some Markdown with ``unsafe_allow_html`` (level badges, the places to
watch). Place names come from the lake (an ingested admin-units file), so a name holding
markup must arrive escaped: shown as text, never parsed as tags.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import auth
from riskwarn import lake
from testkit.dashboard_demo import demo_home
from testkit.dashboard_server import use_dashboard_env

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
HOSTILE = '<img src=x onerror="alert(1)"><a href="https://evil.example">'


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """The demo home with every admin unit's name prefixed by markup."""
    home = tmp_path / "home"
    city = demo_home(home, n_cells=300, weeks=4, n_cases=60)
    units = lake.read_table(city.lake_dir, "admin_units")
    units = units.assign(name=HOSTILE + units["name"].astype(str))
    lake.upsert(city.lake_dir, "admin_units", "demo", units, batch_id="hostile-names")
    mp = pytest.MonkeyPatch()
    use_dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


def test_place_names_from_the_lake_are_escaped_in_html_markdown(home: Path) -> None:
    role, name = auth.DEMO_USERS["admin"]
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["user"] = auth.User(username="admin", name=name, role=role)
    at.session_state["lang"] = "zh"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    as_html = [m.value for m in at.markdown if m.proto.allow_html]
    for value in as_html:
        assert "<img" not in value and "<a href" not in value, value
    shown = [v for v in as_html if html.escape(HOSTILE) in v]
    assert shown, "the overview's places to watch name no place"  # the test reaches them
