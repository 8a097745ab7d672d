"""The models page names the champion scoring serves, with its own gate (reviewer): the
card showed the raw MLflow alias as the "serving model" and took the gate badge from the
run's gate.json, so an alias moved behind riskwarn's back and tagged gate=pass read
"serving model version 2 — Passes its gate" while `riskwarn score` refused it; a version
registered again from a judged run (no gate tag of its own) read "Passes its gate" beside
"never judged by its gate"; and a rollback was called a promotion by force.

Real MLflow (SQLite) registry and serving store of a small demo home, the page run with
Streamlit's AppTest, the alias moved with models.registry (what the CLI calls) or
directly in MLflow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard.auth import DEMO_USERS, User
from testkit.dashboard_server import use_dashboard_env

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
DOMAIN = "incidents"
PASSED_GATE = {"passed": True, "status": "pass", "checks": []}


@pytest.fixture
def home(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A demo home with incidents v1 (its run's gate passed, tagged gate=pass, promoted)
    and v2, registered again from v1's run (no gate tag of its own)."""
    import mlflow

    from models import registry as reg
    from riskwarn.store import Store
    from testkit.dashboard_demo import demo_home

    home = tmp_path / "home"
    city = demo_home(home, n_cells=40, weeks=1, n_cases=4)
    client = reg.configure(f"sqlite:///{home / 'mlflow.db'}")
    name = reg.model_name(DOMAIN)
    reg.ensure_experiment(name, (home / "art").as_uri())
    mlflow.set_experiment(name)
    client.create_registered_model(name)
    with mlflow.start_run() as run:
        # a data end logged as riskwarn logs it: scoring refuses a version without one
        # (tests/test_dashboard_data_end_pages.py), and this module is about the alias
        mlflow.log_params(
            {"n_features": "12", "domain": DOMAIN, "trained_through": "2023-12-01T16:00:00+00:00"}
        )
        mlflow.log_dict(PASSED_GATE, "gate.json")
    for _ in range(2):
        client.create_model_version(name, f"runs:/{run.info.run_id}/x", run_id=run.info.run_id)
    client.set_model_version_tag(name, "1", "gate", "pass")
    store = Store(city.store_url)
    try:
        reg.promote(client, DOMAIN, "1", store=store, actor="ana", reason="first")
    finally:
        store.close()
    mp = pytest.MonkeyPatch()
    use_dashboard_env(mp, home, city.store_url)
    yield {"client": client, "name": name, "store_url": city.store_url}
    mp.undo()


def _page() -> AppTest:
    import streamlit as st

    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=120)
    username = next(u for u, (r, _) in DEMO_USERS.items() if r == "data_scientist")
    at.session_state["user"] = User(username, "Ana", "data_scientist")
    at.session_state["lang"] = "en"
    at.run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _card(at: AppTest) -> str:
    """The incidents verdict card's title (st.html) and lines (markdown)."""
    return "\n".join([*(h.value for h in at.get("html")), *(m.value for m in at.markdown)])


def test_an_alias_moved_behind_riskwarns_back_is_not_named_the_serving_model(
    home: dict[str, Any],
) -> None:
    client, name = home["client"], home["name"]
    client.set_model_version_tag(name, "2", "gate", "pass")
    client.set_registered_model_alias(name, "champion", "2")  # not through riskwarn
    text = _card(_page())
    assert "serving model version 2" not in text, text
    assert "Passes its gate" not in text, text
    assert "points at version 2, which is not served" in text, text
    assert "points at v2, but riskwarn recorded v1" in text, text  # scoring's own refusal


def test_a_version_without_its_own_gate_tag_does_not_pass_its_runs_gate(
    home: dict[str, Any],
) -> None:
    from models import registry as reg
    from riskwarn.store import Store

    store = Store(home["store_url"])
    try:
        reg.promote(home["client"], DOMAIN, "2", store=store, actor="bob", reason="r", force=True)
    finally:
        store.close()
    text = _card(_page())
    assert "serving model version 2" in text, text
    assert "No gate result recorded" in text, text
    assert "Passes its gate" not in text and "Every gate check passed" not in text, text
    assert "never judged by its gate and was promoted by force" in text, text


def test_a_rollback_is_called_a_rollback(home: dict[str, Any]) -> None:
    from models import registry as reg
    from riskwarn.store import Store

    store = Store(home["store_url"])
    try:
        reg.promote(home["client"], DOMAIN, "2", store=store, actor="bob", reason="r", force=True)
        reg.rollback(
            home["client"], DOMAIN, store=store, actor="carol", reason="review: wrong model"
        )
    finally:
        store.close()
    text = _card(_page())
    assert (
        "serving model version 1" in text and "Passes its gate, rolled back to version 1" in text
    ), text
    assert "Rolled back to this version by carol" in text, text
    assert "wrong model" in text, text  # the rollback's reason (markdown-escaped)
    assert "promoted by force" not in text.lower() and "Promoted by" not in text, text


# Every place that names a domain's champion names what scoring serves (one read,
# dashboard.model_reads.serving_model): the Champion tab and the overview's map note
# read the raw MLflow alias, so an alias moved behind riskwarn's back was shown there as
# the champion (its metrics, plots and card) while the verdict card above said scoring
# refuses it, and the overview said nothing.


def _page_as(page: str, role: str = "data_scientist", lang: str = "en") -> AppTest:
    import streamlit as st

    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=120)
    username = next(u for u, (r, _) in DEMO_USERS.items() if r == role)
    at.session_state["user"] = User(username, "Ana", role)
    at.session_state["lang"] = lang
    at.run()
    if page != "overview":
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(at: AppTest) -> str:
    parts = [
        *(h.value for h in at.get("html")),
        *(m.value for m in at.markdown),
        *(c.value for c in at.caption),
        *(w.value for w in at.warning),
        *(i.value for i in at.info),
    ]
    return "\n".join(str(p) for p in parts)


def test_the_champion_tab_does_not_name_a_refused_alias_the_champion(
    home: dict[str, Any],
) -> None:
    client, name = home["client"], home["name"]
    client.set_model_version_tag(name, "2", "gate", "pass")
    client.set_registered_model_alias(name, "champion", "2")  # not through riskwarn
    text = _texts(_page_as("models"))
    assert f"**{name}** · version 2" not in text, text  # the tab's champion heading
    assert (
        "MLflow's champion alias points at version 2, but riskwarn's record says version 1: "
        "scoring refuses it, so no model is served"
    ) in text, text


def test_the_champion_tab_names_the_served_version(home: dict[str, Any]) -> None:
    text = _texts(_page_as("models"))
    assert f"**{home['name']}** · version 1" in text, text
    assert "scoring refuses it" not in text, text


def test_the_overview_says_when_mlflow_and_riskwarns_record_disagree(
    home: dict[str, Any],
) -> None:
    client, name = home["client"], home["name"]
    text = _texts(_page_as("overview", "leader"))
    # the demo's published runs were scored by version 3; v1 serves now
    assert "The next scoring run uses model version 1." in text, text
    client.set_model_version_tag(name, "2", "gate", "pass")
    client.set_registered_model_alias(name, "champion", "2")  # not through riskwarn
    text = _texts(_page_as("overview", "leader"))
    assert (
        "Note: MLflow's champion alias (version 2) and riskwarn's record (version 1) "
        "disagree: the next scoring run refuses it"
    ) in text, text
    zh = _texts(_page_as("overview", "leader", "zh"))
    assert "与系统的上线记录（第 1 版）不一致" in zh, zh


def test_a_pass_forced_over_a_newer_champion_is_called_so(home: dict[str, Any]) -> None:
    """v2 passed its gate when nothing served (gate_champion none); promoting it over v1
    needs --force (models.registry.StaleGate), and the card said only "Passes its gate"."""
    from models import registry as reg
    from riskwarn.store import Store

    client, name = home["client"], home["name"]
    client.set_model_version_tag(name, "2", reg.GATE_CHAMPION_TAG, reg.NO_CHAMPION)
    client.set_model_version_tag(name, "2", "gate", "pass")
    store = Store(home["store_url"])
    try:
        reg.promote(client, DOMAIN, "2", store=store, actor="bob", reason="hand", force=True)
    finally:
        store.close()
    text = _card(_page())
    assert "serving model version 2" in text and "Passes its gate, promoted by force" in text
    assert "Its gate passed with no model serving, never against version 1 it replaced" in text


def test_a_refused_alias_with_no_run_published_says_nothing_is_served(
    home: dict[str, Any],
) -> None:
    """The refused card said "the last published run stays served" with no run of the
    domain published (as `riskwarn score` did: test_settings_refusals); now it says, as
    score does, that nothing is served for it; with a run published, that it stays."""
    import sqlalchemy as sa

    client, name = home["client"], home["name"]
    client.set_model_version_tag(name, "2", "gate", "pass")
    client.set_registered_model_alias(name, "champion", "2")  # not through riskwarn
    assert "the last published run stays served" in _card(_page())
    with sa.create_engine(home["store_url"]).begin() as conn:  # no run of incidents published
        conn.execute(sa.text("DELETE FROM publications WHERE domain = :d"), {"d": DOMAIN})
    text = _card(_page())
    assert "points at version 2, which is not served" in text, text
    assert "stays served" not in text, text
    assert "no run of it is published yet, so nothing is served for it" in text, text
