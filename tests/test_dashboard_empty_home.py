"""A dashboard whose home holds no published run says so, naming the home: on start (one
line) and on its landing page (en/zh). `riskwarn dashboard` started in another folder
reads that folder's `./var`, and the old dashboard then showed only "No published data
yet.", with nothing to tell it was the wrong home. `RISKWARN_DEMO_NO_SERVE=1 make demo`
ends with the command that serves its dashboard (with its home, absolute).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import auth
from riskwarn.cli import main
from riskwarn.settings import load_settings
from testkit.dashboard_demo import DEMO_PASSWORD, demo_home

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "elsewhere" / "var"
    home.mkdir(parents=True, mode=0o700)
    auth.write_demo_users(home / "users.yaml", DEMO_PASSWORD)
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    for var in ("RISKWARN_STORE_URL", "RISKWARN_MLFLOW_TRACKING_URI", "RISKWARN_USERS_FILE"):
        monkeypatch.setenv(var, "x")  # recorded, so that the test's end restores it
        monkeypatch.delenv(var)
    return home


def _start(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """What `riskwarn dashboard` prints before Streamlit replaces its process."""
    execs: list[list[str]] = []
    monkeypatch.setattr(os, "execv", lambda path, argv: execs.append(argv))
    assert main(["dashboard", "--port", "8599"]) == 0
    assert len(execs) == 1  # it went on to serve
    return capsys.readouterr().out


def test_the_dashboard_says_on_start_that_its_home_holds_no_published_run(
    empty_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _start(monkeypatch, capsys)
    notes = [x for x in out.splitlines() if "no published run" in x]
    assert len(notes) == 1, out
    assert f"in the home {empty_home.resolve()} (RISKWARN_HOME)" in notes[0], notes
    assert not (empty_home / "serving.db").exists()  # looked, created nothing


def test_a_home_with_a_published_run_starts_without_the_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    city = demo_home(home, n_cells=120, weeks=1, n_cases=10)
    home.chmod(0o700)
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    monkeypatch.setenv("RISKWARN_STORE_URL", city.store_url)
    out = _start(monkeypatch, capsys)
    assert "no published run" not in out, out


@pytest.mark.parametrize(
    ("lang", "says"),
    [("en", "No published run in this dashboard's home"), ("zh", "中还没有已发布的评分结果")],
)
def test_the_landing_page_names_the_home_that_holds_no_published_run(
    empty_home: Path, lang: str, says: str
) -> None:
    role, name = auth.DEMO_USERS["leader"]
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["user"] = auth.User(username="leader", name=name, role=role)
    at.session_state["lang"] = lang
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    infos = [str(m.value) for m in at.info]
    hits = [x for x in infos if says in x]
    assert len(hits) == 1, infos
    assert f"`{empty_home.resolve()}`" in hits[0], hits


def test_the_demo_ends_with_the_command_that_serves_its_dashboard(
    empty_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shlex

    from riskwarn.demo import serve_command

    monkeypatch.chdir(empty_home.parent)  # the home given relative, as `make demo` does
    monkeypatch.setenv("RISKWARN_HOME", "var")
    words = shlex.split(serve_command(load_settings()))
    assert words[0] == f"RISKWARN_HOME={empty_home.resolve()}", words
    assert Path(words[-2]).name == "riskwarn" and words[-1] == "dashboard", words
