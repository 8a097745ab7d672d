"""The CLI with a service down or a setting wrong says so in one ``error:`` line and a
nonzero exit, never a traceback or a false answer:

* MLflow unreachable: ``riskwarn models`` said "no registered version", exit 0, after
  4 minutes of MLflow's retries (``registry.versions`` swallowed every MlflowException);
* the store unreachable: ``models``, ``rollback``, ``score``, ``stream ack`` printed a
  SQLAlchemy traceback (one handler in ``riskwarn.cli.main`` now);
* ``RISKWARN_DISPLAY_TZ=Mars/Base`` / ``RISKWARN_CITY_CRS=EPSG:999999``: tracebacks deep
  in ``features build``; ``RISKWARN_DASHBOARD_IDLE_MINUTES=abc`` became 30 minutes and
  ``-5`` six seconds, silently;
* ``stream ack --by ''`` recorded an anonymous acknowledgement; a ``--by`` over 128
  characters was a raw SQL traceback on PostgreSQL.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskwarn.cli import main

UNREACHABLE_STORE = "postgresql+psycopg://nobody@127.0.0.1:1/x"
# a change in force now: a change whose warning has ended is not delivered (its messages
# are logged expired), and only a delivered change can be acknowledged
AT = pd.Timestamp.now(tz="UTC").floor("h")
WARNING = f"geohazard_stream:H1:{AT:%Y%m%dT%H%MZ}"
QUICK = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    for var in (
        "RISKWARN_STORE_URL",
        "RISKWARN_MLFLOW_TRACKING_URI",
        "RISKWARN_DISPLAY_TZ",
        "RISKWARN_CITY_CRS",
        "RISKWARN_DASHBOARD_IDLE_MINUTES",
        *QUICK,
    ):
        monkeypatch.setenv(var, "x")  # recorded, so that the test's end restores it
        monkeypatch.delenv(var)
    return home


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_models_with_mlflow_unreachable_is_an_error_not_an_empty_list(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # quick on the old code too
    assert main(["models", "incidents"]) == 2
    out, err = capsys.readouterr()
    assert "no registered version" not in out
    line = _one_error_line(err)
    assert "cannot read the model registry at http://127.0.0.1:9" in line


def test_models_with_mlflow_unreachable_answers_in_seconds(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """MLflow's defaults (7 retries with backoff) took 4 minutes; the command sets one
    retry and a 10 s timeout unless the user set them, and leaves the environment as
    it was."""
    import os

    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    start = time.monotonic()
    assert main(["models", "incidents"]) == 2
    assert time.monotonic() - start < 60
    _one_error_line(capsys.readouterr().err)
    assert not any(var in os.environ for var in QUICK)


def test_models_of_a_registry_with_no_version_still_says_so(
    home: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["models", "incidents"]) == 0
    assert "no registered version" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["models", "incidents"],
        ["rollback", "incidents", "--reason", "x"],
        ["score", "incidents", "--origin", "2024-01-01"],
        ["stream", "ack", WARNING, "--by", "duty-1"],
    ],
)
def test_an_unreachable_store_is_one_error_line(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, argv: list[str]
) -> None:
    monkeypatch.setenv("RISKWARN_STORE_URL", UNREACHABLE_STORE)
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("error: cannot use the store: ") and "127.0.0.1" in line


@pytest.mark.parametrize(
    ("var", "value", "says"),
    [
        ("RISKWARN_DISPLAY_TZ", "Mars/Base", "not an IANA time zone"),
        ("RISKWARN_CITY_CRS", "EPSG:999999", "not a coordinate reference system"),
        ("RISKWARN_CITY_CRS", "EPSG:4326", "not a projected CRS in metres"),
        ("RISKWARN_DASHBOARD_IDLE_MINUTES", "abc", "valid number"),
        ("RISKWARN_DASHBOARD_IDLE_MINUTES", "-5", "greater than or equal to 1"),
        ("RISKWARN_DASHBOARD_IDLE_MINUTES", "nan", "finite number"),
    ],
)
def test_an_invalid_setting_is_refused_in_one_line(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    var: str,
    value: str,
    says: str,
) -> None:
    monkeypatch.setenv(var, value)
    argv = ["features", "build", "incidents", "--start", "2024-01-01", "--end", "2024-02-01"]
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"{var}={value!r}" in line and says in line


def test_the_dashboard_idle_timeout_is_the_validated_setting() -> None:
    from datetime import timedelta

    from dashboard.sessions import idle_timeout
    from riskwarn.settings import SettingsError

    env = "RISKWARN_DASHBOARD_IDLE_MINUTES"
    assert idle_timeout({}) == timedelta(minutes=30)
    assert idle_timeout({env: "45"}) == timedelta(minutes=45)
    for bad in ("abc", "-5", "0", "721"):
        with pytest.raises(SettingsError, match=env):
            idle_timeout({env: bad})


def _delivered(settings: Any) -> Any:
    """A store with one red change of WARNING delivered to duty-1 (as stream tests do)."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import enqueue, load_config
    from riskwarn.stream.publish import LevelChange

    contacts = settings.home / "contacts.yaml"
    contacts.parent.mkdir(parents=True, exist_ok=True)
    contacts.write_text(
        "escalate_after_minutes: 15\n"
        "contacts:\n"
        "  duty-1: {email: duty1@example.test}\n"
        "routes: {sites: {H1: [duty-1]}}\n"
    )
    store = Store.from_settings(settings)
    store.upgrade()
    change = LevelChange("H1", WARNING, 2, 4, AT)
    assert enqueue(store, load_config(contacts), change, [{"en": "red", "zh": "红色"}]) == 1
    for row in store.due_deliveries():
        store.record_attempt(row["delivery_id"], ok=True)
    return store


@pytest.mark.parametrize("by", ["", "   ", "x" * 129])
def test_ack_refuses_a_blank_or_overlong_by_on_postgresql(
    home: Path,
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    by: str,
) -> None:
    from riskwarn.settings import Settings

    monkeypatch.setenv("RISKWARN_STORE_URL", pg_url)
    monkeypatch.setenv("RISKWARN_PAGING_LANG", "en")  # the English wording is checked
    store = _delivered(Settings(home=home, store_url=pg_url))
    try:
        assert main(["stream", "ack", WARNING, "--by", by]) == 2
        line = _one_error_line(capsys.readouterr().err)
        assert line.startswith("error: --by: ") and "nothing acknowledged" in line
        assert store.acknowledgements(WARNING).empty
        # a name of 128 characters is taken
        assert main(["stream", "ack", WARNING, "--by", "y" * 128]) == 0
        assert list(store.acknowledgements(WARNING)["acknowledged_by"]) == ["y" * 128]
    finally:
        store.close()


@pytest.mark.parametrize(
    "argv",
    [
        ["runs"],
        ["runs", "incidents", "--end-abandoned"],
        ["promote", "incidents", "1", "--reason", "x"],
        ["rollback", "incidents", "--reason", "x"],
        ["score", "incidents", "--origin", "2024-01-01"],
    ],
)
def test_registry_commands_with_mlflow_unreachable_answer_in_seconds(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, argv: list[str]
) -> None:
    """As ``models``: ``runs`` took 269 s and ended in a traceback, ``promote`` and
    ``score`` 265-271 s before their error line (MLflow's 7 retries with backoff); one
    retry now unless the user set it, and the environment left as it was."""
    import os

    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ops")  # promote/rollback name the actor
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "x")
    start = time.monotonic()
    assert main(argv) == 2
    took = time.monotonic() - start
    line = _one_error_line(capsys.readouterr().err)
    print(f"{argv}: {took:.1f} s: {line}")
    assert "127.0.0.1" in line or "Connection refused" in line or "Max retries" in line, line
    assert took < 60, took
    assert not any(var in os.environ for var in QUICK)


@pytest.mark.parametrize(
    ("var", "value", "says"),
    [
        ("RISKWARN_STORE_URL", "notaurl", "not a SQLAlchemy URL"),
        ("RISKWARN_STORE_URL", "mysql://u@127.0.0.1/x", "SQLite or PostgreSQL, not 'mysql'"),
        ("RISKWARN_STORE_URL", "postgresql+nosuchdriver://u@127.0.0.1/x", "unavailable"),
        ("RISKWARN_MLFLOW_TRACKING_URI", "foo://bar", "scheme 'foo'"),
    ],
)
@pytest.mark.parametrize(
    "argv",
    [
        ["models", "incidents"],
        ["score", "incidents", "--origin", "2024-01-01"],
        ["stream", "ack", WARNING, "--by", "duty-1"],
    ],
)
def test_a_malformed_store_or_mlflow_url_is_refused_in_one_line(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    var: str,
    value: str,
    says: str,
    argv: list[str],
) -> None:
    """These were a 46-line ArgumentError traceback (``notaurl``), a ModuleNotFoundError
    (``mysql://``) and MLflow's UnsupportedModelRegistryStoreURIException (``foo://``),
    exit 1: now the settings refuse them, for every command."""
    monkeypatch.setenv(var, value)
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"{var}={value!r}" in line and says in line, line


def test_rollback_of_a_domain_with_no_registered_model_says_so_in_words(
    home: Path, capsys: pytest.CaptureFixture
) -> None:
    """``rollback geohazard`` on a registry that never had the model printed MLflow's
    "Registered Model with name=riskwarn-geohazard not found"; it says what ``models``
    says (no registered version, train one), one error line, exit 2."""
    assert main(["rollback", "geohazard", "--reason", "x"]) == 2
    err = capsys.readouterr().err  # (MLflow's INFO lines creating its database aside)
    assert "Registered Model" not in err and "Traceback" not in err, err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert line == (
        "error: cannot roll back riskwarn-geohazard: no registered version "
        "(train one: riskwarn train geohazard)"
    ), line
