"""Adding a dashboard page is adding one file: ``dashboard/pages/<key>.py`` with its own
``PAGE`` entry (title in both languages, icon, sidebar section, roles, order), read by
:mod:`dashboard.page_index` for the navigation, page access and titles."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import auth, page_index
from dashboard.i18n import ROLE_KEYS, t
from testkit.dashboard_demo import demo_home
from testkit.dashboard_server import use_dashboard_env

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dashboard" / "app.py"

NEW_PAGE = '''"""A throw-away page: written by the test, nowhere else."""

from __future__ import annotations

import streamlit as st

from dashboard.shell import page_context

PAGE = {
    "title": {"zh": "测试页面", "en": "Test page"},
    "icon": ":material/science:",
    "section": "section_science",
    "roles": ["data_scientist", "admin"],
    "order": 60,
}

ctx = page_context("zz_test_page")
st.markdown("throw-away page body")
'''


def test_the_pages_and_who_may_open_them() -> None:
    """The five pages in sidebar order, with the roles they had before page_index."""
    everyone = frozenset(auth.ROLES)
    panels = frozenset({"leader", "reviewer", "admin"})
    assert {k: p.roles for k, p in page_index.pages().items()} == {
        "overview": everyone,
        "warnings": panels,
        "disputes": panels,
        "geohazard": everyone,
        "models": frozenset({"data_scientist", "admin"}),
    }
    for p in page_index.pages().values():
        assert p.roles <= everyone, p.key
        assert t(p.section, "zh") != p.section, p.key  # a known sidebar section
    assert page_index.title("models", "en") == "Models & data quality"
    assert t("page_overview", "zh") == "本周风险总览"
    assert not auth.can_view("admin", "no_such_page")


def test_a_page_without_its_entry_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bare.py").write_text("import streamlit as st\nst.write('x')\n")
    with pytest.raises(ValueError, match="no module-level PAGE"):
        page_index.pages(tmp_path)
    (tmp_path / "bare.py").write_text(NEW_PAGE.replace('    "order": 60,\n', ""))
    with pytest.raises(ValueError, match="exactly the fields"):
        page_index.pages(tmp_path)


@pytest.fixture()
def pages_with_a_new_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The dashboard's pages plus one new file (a copy of the folder: the tree is not
    written), with a populated demo home built for a fixed past day (a replay: each
    domain judged at its own origin, so the demo's geohazard red is in force and the
    overview lists it off the maps, whatever the calendar). The entry point is copied
    beside them: a page links to another by its path from the entry point
    (``pages/warnings.py``, the leader's link to that red), which must be a page of the
    navigation. Run from dashboard/app.py, the link named the tree's file, not the copy's:
    the leader's overview failed whenever a red was off the maps, which with a demo of
    the current week was on Mondays only (its geohazard red is in force for 24 h from
    Monday 00:00 Asia/Shanghai)."""
    folder = tmp_path / "pages"
    shutil.copytree(ROOT / "dashboard" / "pages", folder)
    shutil.copy(APP, tmp_path / "app.py")
    (folder / "zz_test_page.py").write_text(NEW_PAGE, encoding="utf-8")
    monkeypatch.setattr(page_index, "PAGES_DIR", folder)
    city = demo_home(  # a fixed past day (a replay): the same pages whatever the calendar
        tmp_path / "home",
        n_cells=60,
        weeks=1,
        n_cases=10,
        today=pd.Timestamp("2026-03-04 02:00", tz="UTC"),
    )
    use_dashboard_env(monkeypatch, tmp_path / "home", city.store_url)
    yield folder


@pytest.mark.parametrize(("username", "allowed"), [("scientist", True), ("leader", False)])
def test_a_new_page_is_one_file(pages_with_a_new_file: Path, username: str, allowed: bool) -> None:
    """The new file alone puts the page in the navigation, under its title and section,
    open to its roles and refused to the others."""
    assert auth.can_view(auth.DEMO_USERS[username][0], "zz_test_page") is allowed
    role, name = auth.DEMO_USERS[username]
    at = AppTest.from_file(str(pages_with_a_new_file.parent / "app.py"), default_timeout=60)
    at.session_state["user"] = auth.User(username=username, name=name, role=role)
    at.session_state["lang"] = "en"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(str(pages_with_a_new_file / "zz_test_page.py")).run()
    assert not at.exception, [e.value for e in at.exception]
    body = "\n".join(str(m.value) for m in at.markdown)
    if allowed:
        assert [x.value for x in at.title] == ["Test page"]
        assert "throw-away page body" in body
    else:
        refused = t("refused", "en", role=t(ROLE_KEYS[role], "en"))
        assert [e.value for e in at.error] == [refused]
        assert "throw-away page body" not in body
