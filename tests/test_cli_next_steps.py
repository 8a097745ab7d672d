"""What ``promote``, ``rollback`` and ``train`` say next (newcomer review of ``make demo``,
7 Dec 2026): a promotion printed "riskwarn-disputes@champion: 1 -> 2" and not that the
published warnings stay the old model's until the next scoring run; a refused promotion
pointed at "the run's model card", which lives only in MLflow; "not promoted; champion
stays 1" gave no next step; versions were "1 -> 2" there and "v1" everywhere else;
``train`` printed the gate's whole summary (~900 characters) on one line and two MLflow
warnings that say nothing about the run. Real MLflow (SQLite) registry and serving
store under ``tmp_path`` (the fixture of tests/test_champion_verification.py)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from click.testing import CliRunner

from riskwarn.cli import KNOWN_LIBRARY_NOISE, cli
from riskwarn.scoring import score_domain
from tests.test_champion_verification import NAME, home  # noqa: F401
from tests.test_cli_models_words import GATE_SUMMARY
from tests.test_scoring import ORIGIN


def _use(home: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("RISKWARN_HOME", str(home["settings"].home))
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", home["settings"].mlflow_tracking_uri)


def _run(*argv: str) -> Any:
    return CliRunner().invoke(cli, list(argv))


def test_a_promotion_says_what_serves_until_the_next_scoring_run(
    home: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _use(home, monkeypatch)
    first = _run("promote", "incidents", "1", "--reason", "first")
    assert first.exit_code == 0, first.output
    assert first.output.splitlines() == [
        "riskwarn-incidents@champion: unset -> v1",
        "no warnings are published yet; the next scoring run uses the new champion: "
        "`riskwarn score incidents --origin ...` or the scheduled score_and_warn DAG",
    ]
    score_domain(home["settings"], "incidents", ORIGIN, store=home["store"])  # v1's warnings
    second = _run("promote", "incidents", "2", "--reason", "better")
    assert second.exit_code == 0, second.output
    assert second.output.splitlines() == [
        "riskwarn-incidents@champion: v1 -> v2",
        "the published warnings stay v1's until the next scoring run, which uses the new "
        "champion: `riskwarn score incidents --origin ...` or the scheduled score_and_warn DAG",
    ]
    again = _run("promote", "incidents", "v2", "--reason", "again")
    assert again.output.strip() == "riskwarn-incidents@champion already at v2"

    back = _run("rollback", "incidents", "--reason", "v2 misbehaves")
    assert back.exit_code == 0, back.output
    assert back.output.splitlines()[0] == "riskwarn-incidents@champion: v2 -> v1"
    assert back.output.splitlines()[1].startswith("the published warnings stay v1's until ")


def test_a_promotion_refused_by_its_gate_points_at_the_checks_riskwarn_prints(
    home: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _use(home, monkeypatch)
    home["client"].set_model_version_tag(NAME, home["v2"], "gate", "fail")
    refused = _run("promote", "incidents", "2", "--reason", "try")
    assert refused.exit_code != 0
    said = refused.output
    assert "failed its promotion gate (its checks: `riskwarn models incidents --checks`)" in said
    assert "model card" not in said


def _fake_training(result: dict[str, Any]) -> Any:
    def train_domain(*_: Any, **__: Any) -> dict[str, Any]:
        # what MLflow logs while logging a riskwarn PythonModel, and one warning of its own
        logging.getLogger("mlflow.pyfunc").warning(
            "Passing a Python object as `python_model` causes it to be serialized using "
            "CloudPickle, it requires exercising caution ..."
        )
        logging.getLogger("mlflow.utils.environment").warning(
            "Failed to resolve installed pip version. ``pip`` will be added to conda.yaml"
            " environment spec without a version specifier."
        )
        logging.getLogger("mlflow.pyfunc").warning("another MLflow warning")
        return result

    return train_domain


@pytest.fixture
def heard() -> Any:
    """The records that reach handlers of the two MLflow loggers (after their filters)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    loggers = [logging.getLogger(name) for name in KNOWN_LIBRARY_NOISE]
    for logger in loggers:
        logger.addHandler(handler)
    yield records
    for logger in loggers:
        logger.removeHandler(handler)
        for f in list(logger.filters):  # leave the loggers as found for other tests
            logger.removeFilter(f)


@pytest.mark.parametrize("promoted", [False, True])
def test_train_says_the_verdict_short_and_the_next_step(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, heard: list[logging.LogRecord], promoted: bool
) -> None:
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    result = {
        "mlflow_run_id": "abc123",
        "version": "2",
        "gate": GATE_SUMMARY,
        "promoted": promoted,
        "champion_before": "1",
    }
    monkeypatch.setattr("riskwarn.pipeline.train_domain", _fake_training(result))
    done = _run("train", "incidents")
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert lines[:2] == ["run abc123: riskwarn-incidents v2", "gate FAIL; failing: beats kde (no)"]
    assert max(len(line) for line in lines) < 200, done.output
    if promoted:
        assert lines[2:] == [
            "promoted to champion (v1 -> v2); the gate's checks: riskwarn models incidents "
            "--checks",
            "the published warnings stay the last scoring run's until the next one, which uses "
            "v2: `riskwarn score incidents --origin ...` or the scheduled score_and_warn DAG",
        ]
    else:
        assert lines[2:] == [
            "not promoted; champion stays v1",
            "to see why: riskwarn models incidents --checks; to serve it anyway: "
            "riskwarn promote incidents v2 --force --reason ...",
        ]
    # the two known MLflow warnings are dropped, nothing else of MLflow's
    assert [r.getMessage() for r in heard] == ["another MLflow warning"]
