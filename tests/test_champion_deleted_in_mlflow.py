"""The champion's version deleted in MLflow behind riskwarn's back (attack review
2026-12-07).

`riskwarn models` said "no version recorded as champion by riskwarn: nothing serves"
though riskwarn had recorded v1 (now gone), scoring said only "alias champion not
found", and `promote --force` took a version whose MLflow run was deleted (its files may
be collected any time). Now both say the recorded champion no longer exists in MLflow
and what to do, and such a promotion is refused, even with --force. Real MLflow
(SQLite) registry and SQLite serving store in a temporary home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

DOMAIN = "incidents"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    import mlflow

    from models import registry as reg
    from riskwarn.settings import load_settings
    from riskwarn.store import Store

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    for key in ("RISKWARN_STORE_URL", "RISKWARN_MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(key, raising=False)
    settings = load_settings()
    client = reg.configure(settings.resolved_mlflow_uri)
    name = reg.model_name(DOMAIN)
    reg.ensure_experiment(name, (home / "art").resolve().as_uri())
    mlflow.set_experiment(name)
    client.create_registered_model(name)
    runs = []
    for _ in range(2):
        with mlflow.start_run(tags={"riskwarn.domain": DOMAIN}) as run:
            mlflow.log_params({"domain": DOMAIN})
        client.create_model_version(name, f"runs:/{run.info.run_id}/x", run.info.run_id)
        runs.append(run.info.run_id)
    store = Store.from_settings(settings)
    store.upgrade()
    reg.promote(client, DOMAIN, "1", store=store, actor="ana", reason="first", force=True)
    yield {"client": client, "store": store, "name": name, "runs": runs, "settings": settings}
    store.close()


def test_models_and_scoring_say_the_recorded_champion_is_gone(
    home: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from models import registry as reg
    from riskwarn.cli import main

    home["client"].delete_model_version(home["name"], "1")
    assert main(["models", DOMAIN]) == 0
    out = capsys.readouterr().out
    assert "the recorded champion v1 no longer exists in MLflow" in out, out
    assert "promote a version or roll back" in out and "no version recorded" not in out, out
    with pytest.raises(reg.ChampionUnavailable, match="recorded champion v1 no longer exists"):
        reg.serving_champion(home["settings"].resolved_mlflow_uri, DOMAIN, home["store"])


def test_promoting_a_version_whose_run_was_deleted_is_refused_even_by_force(
    home: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from models import registry as reg
    from riskwarn.cli import main

    home["client"].delete_run(home["runs"][1])
    assert main(["promote", DOMAIN, "2", "--force", "--reason", "try"]) != 0
    err = capsys.readouterr().err
    assert "run" in err and "was deleted" in err and len(err.strip().splitlines()) == 1, err
    assert reg.champion_version(home["client"], DOMAIN) == "1"


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", "riskwarn's recorded champion v1 no longer exists in MLflow"),
        ("zh", "riskwarn 登记的服役模型 v1 在 MLflow 中已不存在"),
    ],
)
def test_the_models_page_says_it_too(
    home: dict[str, Any], monkeypatch: pytest.MonkeyPatch, lang: str, words: str
) -> None:
    pytest.importorskip("streamlit")
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dashboard.auth import DEMO_USERS, User
    from testkit.dashboard_server import use_dashboard_env

    settings = home["settings"]
    from dashboard.auth import users_file_path, write_demo_users

    write_demo_users(users_file_path(settings.home), "pw")
    use_dashboard_env(monkeypatch, settings.home, settings.resolved_store_url)
    home["client"].delete_model_version(home["name"], "1")
    st.cache_data.clear()
    app = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
    at = AppTest.from_file(str(app), default_timeout=120)
    username = next(u for u, (r, _) in DEMO_USERS.items() if r == "data_scientist")
    at.session_state["user"] = User(username, "Ana", "data_scientist")
    at.session_state["lang"] = lang
    at.run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    shown = "\n".join(str(w.value) for w in [*at.warning, *at.info])
    assert words in shown, shown
