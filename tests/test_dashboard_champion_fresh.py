"""The models page shows a new champion at once: it cached the champion for 300 s, so a data
scientist who had just run `riskwarn promote` (or a rollback) saw the old version for up
to 5 minutes (reviewer). The test keeps one page session open (AppTest: the same process,
the same caches, as a served dashboard), moves the alias with models.registry's promote
and rollback (what the CLI calls), and runs the page again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard.auth import DEMO_USERS, User
from testkit.dashboard_server import use_dashboard_env

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A demo home with two registered incidents versions, v1 champion (by force, as
    ``riskwarn promote --force``: neither has a gate tag)."""
    import mlflow

    from models import registry as reg
    from riskwarn.store import Store
    from testkit.dashboard_demo import demo_home

    home = tmp_path / "home"
    city = demo_home(home, n_cells=40, weeks=1, n_cases=4)
    client = reg.configure(f"sqlite:///{home / 'mlflow.db'}")
    name = reg.model_name("incidents")
    reg.ensure_experiment(name, (home / "art").as_uri())
    mlflow.set_experiment(name)
    client.create_registered_model(name)
    for _ in range(2):
        with mlflow.start_run() as run:
            mlflow.log_params({"n_features": "12"})
        client.create_model_version(name, f"runs:/{run.info.run_id}/x", run_id=run.info.run_id)
    store = Store(city.store_url)
    try:
        reg.promote(client, "incidents", "1", store=store, actor="ana", reason="first", force=True)
    finally:
        store.close()
    mp = pytest.MonkeyPatch()
    use_dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


def _verdict(at: AppTest) -> str:
    """The incidents verdict card's title and lines."""
    return "\n".join(
        [*(h.value for h in at.get("html")), *(m.value for m in at.markdown)]
    )  # the card's title is st.html, its lines markdown


def test_a_promotion_and_a_rollback_show_on_the_next_page_run(home: Path) -> None:
    import streamlit as st

    from models import registry as reg
    from riskwarn.store import Store

    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=120)
    username = next(u for u, (r, _) in DEMO_USERS.items() if r == "data_scientist")
    at.session_state["user"] = User(username, "Ana", "data_scientist")
    at.session_state["lang"] = "en"
    at.run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "serving model version 1" in _verdict(at)

    client = reg.configure(f"sqlite:///{home / 'mlflow.db'}")
    store = Store(f"sqlite:///{home / 'serving.db'}")
    try:
        reg.promote(client, "incidents", "2", store=store, actor="bob", reason="v2", force=True)
        at.run()  # the page's next run, a moment later: the new champion, by bob
        text = _verdict(at)
        assert "serving model version 2" in text and "by bob" in text, text
        reg.rollback(client, "incidents", store=store, reason="v2 misbehaves", actor="carol")
        at.run()  # back to v1: its rollback's entry (carol), not its promotion (ana)
        text = _verdict(at)
        assert "serving model version 1" in text and "by carol" in text, text
    finally:
        store.close()
    assert not at.exception, [e.value for e in at.exception]
