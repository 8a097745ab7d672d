"""The models page's "on data before" is the data end scoring serves the champion on
(models.registry.data_end, one rule for both), read from the version's tags first: it
read the run's ``trained_until`` param alone, so once the run was collected (``mlflow
gc``) the card could not be drawn, and a champion whose data end scoring cannot read
(refused at every origin) read as served on "—" (attack review 2026-12-07).

Real MLflow (SQLite) registry and serving store of a small demo home, in-process
``mlflow gc``, the page run with Streamlit's AppTest."""

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
THROUGH = "2023-12-01T16:00:00+00:00"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A demo home with incidents v1, registered as riskwarn registers a version (its
    run's param and the version's ``riskwarn.trained_through`` tag), gate pass, promoted;
    and v2, registered by hand (its run logged no data end)."""
    import mlflow

    from models import registry as reg
    from riskwarn.store import Store
    from testkit.dashboard_demo import demo_home

    home = tmp_path / "home"
    city = demo_home(home, n_cells=40, weeks=1, n_cases=4)
    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = reg.configure(uri)
    name = reg.model_name(DOMAIN)
    reg.ensure_experiment(name, (home / "art").as_uri())
    mlflow.set_experiment(name)
    client.create_registered_model(name)
    runs = []
    for i in range(2):
        with mlflow.start_run() as run:
            mlflow.log_params({"n_features": "12", "domain": DOMAIN})
            if i == 0:
                mlflow.log_params({"trained_through": THROUGH, "trained_until": THROUGH})
        # the model files outside the run's artifacts (as MLflow 3 keeps a logged
        # model's): collecting the run leaves them, and the version stays servable
        files = home / "models" / f"m{i}"
        files.mkdir(parents=True)
        (files / "model.txt").write_text("weights")
        mv = client.create_model_version(name, files.as_uri(), run.info.run_id)
        runs.append(run.info.run_id)
        if i == 0:
            client.set_model_version_tag(name, mv.version, reg.TRAINED_THROUGH_TAG, THROUGH)
    client.set_model_version_tag(name, "1", "gate", "pass")
    store = Store(city.store_url)
    try:
        reg.promote(client, DOMAIN, "1", store=store, actor="ana", reason="first")
    finally:
        store.close()
    mp = pytest.MonkeyPatch()
    use_dashboard_env(mp, home, city.store_url)
    yield {"client": client, "name": name, "store_url": city.store_url, "uri": uri, "runs": runs}
    mp.undo()


def _card(lang: str = "en") -> str:
    import streamlit as st

    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=120)
    username = next(u for u, (r, _) in DEMO_USERS.items() if r == "data_scientist")
    at.session_state["user"] = User(username, "Ana", "data_scientist")
    at.session_state["lang"] = lang
    at.run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return "\n".join([*(h.value for h in at.get("html")), *(m.value for m in at.markdown)])


def test_the_data_end_is_the_versions_after_its_run_is_collected(home: dict[str, Any]) -> None:
    from click.testing import CliRunner
    from mlflow.cli import gc

    assert "on data before 2 Dec 2023" in _card(), _card()  # Asia/Shanghai: 2 Dec 00:00
    home["client"].delete_run(home["runs"][0])
    got = CliRunner().invoke(gc, ["--backend-store-uri", home["uri"]])
    assert got.exit_code == 0, got.output
    text = _card()
    assert "serving model version 1" in text, text
    assert "on data before 2 Dec 2023" in text, text  # its tag: it outlives the run
    assert "Scoring refuses" not in text, text
    assert "使用 2023年12月2日 之前的数据" in _card("zh")


def test_a_champion_whose_data_end_is_not_recorded_is_said_refused(
    home: dict[str, Any],
) -> None:
    from models import registry as reg
    from riskwarn.store import Store

    store = Store(home["store_url"])
    try:
        reg.promote(home["client"], DOMAIN, "2", store=store, actor="bob", reason="r", force=True)
    finally:
        store.close()
    text = _card()
    assert "on data before —" in text, text
    assert "**Scoring refuses this version at every forecast origin**" in text, text
    assert "v2's training data end cannot be read" in text, text
    assert f"riskwarn promote {DOMAIN} 2 --force --reason" in text, text
    zh = _card("zh")
    assert "**评分在任何预测起点都拒绝使用该版本**" in zh, zh
    assert "无法确认第 2 版训练数据的截止时间" in zh, zh
