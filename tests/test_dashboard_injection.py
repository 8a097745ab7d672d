"""Data shown on the dashboard is text, never HTML or Markdown (review 2026-12-06).

An admin unit named ``<img src=x onerror=...>`` reached the overview's red lines as raw
HTML for roles without the warnings page (stored XSS); a dispute case id made of a
Markdown image and link rendered as both on the disputes page (an outside address
fetched, a phishing link). Both come from ingested files anyone upstream can write.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import deltalake
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import auth
from testkit.dashboard_demo import demo_home
from testkit.dashboard_server import use_dashboard_env

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
EVIL_NAME = '<img src=x onerror="alert(document.domain)">'
EVIL_ID = "![x](http://127.0.0.1:9/track.png)[check here](http://evil.example/login)"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("inject") / "home"
    city = demo_home(
        home, n_cells=120, weeks=1, n_cases=10, today=pd.Timestamp("2026-03-04 02:00", tz="UTC")
    )
    engine = sa.create_engine(city.store_url)
    with engine.begin() as conn:
        w = conn.execute(
            sa.text(
                "SELECT warning_id, county_code FROM warnings"
                " WHERE domain = 'dispute_cases' ORDER BY warning_id LIMIT 1"
            )
        ).one()
        conn.execute(
            sa.text("UPDATE warnings SET level = 'red', level_rank = 4 WHERE warning_id = :w"),
            {"w": w.warning_id},
        )
        run = conn.execute(
            sa.text(
                "SELECT run_id, unscored FROM forecast_runs WHERE domain = 'dispute_cases'"
                " ORDER BY run_id DESC LIMIT 1"
            )
        ).one()
        unscored = run.unscored if isinstance(run.unscored, dict) else json.loads(run.unscored)
        unscored = dict(unscored or {})
        unscored["already_escalated"] = [*unscored.get("already_escalated", []), EVIL_ID]
        conn.execute(
            sa.text("UPDATE forecast_runs SET unscored = :u WHERE run_id = :r"),
            {"u": json.dumps(unscored), "r": run.run_id},
        )
    engine.dispose()
    units = deltalake.DeltaTable(str(home / "lake" / "admin_units"))
    frame = units.to_pandas()
    at = frame["record_id"] == w.county_code
    assert at.any()
    frame.loc[at, "name"] = EVIL_NAME + frame.loc[at, "name"]
    deltalake.write_deltalake(
        str(home / "lake" / "admin_units"),
        pa.Table.from_pandas(
            frame, preserve_index=False, schema=pa.schema(units.schema().to_arrow())
        ),
        mode="overwrite",
    )
    mp = pytest.MonkeyPatch()
    use_dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


def _page(role: str, page: str, lang: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    r, name = auth.DEMO_USERS[role]
    at.session_state["user"] = auth.User(username=role, name=name, role=r)
    at.session_state["lang"] = lang
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_unit_name_with_a_tag_is_not_html_on_the_overview(home: Path, lang: str) -> None:
    at = _page("scientist", "overview", lang)  # no warnings page: the plain red lines
    shown = [m for m in at.markdown if "onerror" in str(m.value)]
    assert shown, "the red line with the unit's name is not on the page"
    for m in shown:
        if m.proto.allow_html:
            assert "<img" not in m.value, m.value


def test_a_case_id_is_not_markdown_on_the_disputes_page(home: Path) -> None:
    at = _page("reviewer", "disputes", "en")
    shown = [m for m in at.markdown if "evil.example" in str(m.value)]
    assert shown, "the escalated case's id is not on the page"
    for m in shown:
        assert "![x](" not in m.value and "](http://evil.example" not in m.value, m.value
