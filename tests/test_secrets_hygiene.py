"""Passwords stay out of messages, logs and the audit log; data files are private (13.13).

On the old code a bad store URL was echoed with its password, an audit entry kept a
failing task's error text (with the URL it failed on) verbatim, and the lake and the
serving store were created world-readable (umask 022: 0644 files, 0755 folders).
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from riskwarn.cli import main
from riskwarn.store import Store

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus"
PASSWORD = "S3cret-pw_42"


def test_a_bad_store_url_is_reported_without_its_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["db", "upgrade", "--url", f"nosuchdialect://rw:{PASSWORD}@db.local/x"]) == 2
    err = capsys.readouterr().err
    # refused by the settings now (any command), still one line without the password
    assert err.startswith("error: store_url=") and "rw:***@db.local" in err
    assert len(err.strip().splitlines()) == 1, err
    assert PASSWORD not in err


def test_an_unreachable_store_is_reported_without_its_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"postgresql+psycopg://rw:{PASSWORD}@127.0.0.1:1/riskwarn"
    assert main(["db", "current", "--url", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the store") and PASSWORD not in err


def test_the_audit_log_never_stores_a_password(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'serving.db'}")
    store.upgrade()
    error = (
        "OperationalError('could not connect to "
        f"postgresql+psycopg://rw:{PASSWORD}@db.local:5432/riskwarn')"
    )
    store.audit(
        "pipeline",
        "task_failed",
        "task",
        "score_and_warn.score",
        {"error": error, "dsn": f"host=db.local password={PASSWORD}", "nested": [error]},
    )
    entry = store.audit_log().iloc[0]
    store.close()
    text = repr(entry.to_dict())
    assert PASSWORD not in text
    assert "rw:***@db.local" in entry["details"]["error"]
    assert entry["details"]["dsn"] == "host=db.local password=***"


def test_cli_log_records_are_redacted(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    main(["db", "current", "--url", "sqlite:///:memory:"])  # any CLI run installs redaction
    capsys.readouterr()
    with caplog.at_level(logging.INFO):
        logging.getLogger("riskwarn.test").info(
            "connecting to %s", f"postgresql://rw:{PASSWORD}@db/x"
        )
        try:
            raise ConnectionError(f"mlflow at https://ml:{PASSWORD}@mlflow.local refused")
        except ConnectionError:
            logging.getLogger("riskwarn.test").exception("registry down")
    assert PASSWORD not in caplog.text
    assert (
        "postgresql://rw:***@db/x" in caplog.text and "https://ml:***@mlflow.local" in caplog.text
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_lake_and_the_store_are_private_whatever_the_umask(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "RISKWARN_HOME": str(home),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    env.pop("RISKWARN_STORE_URL", None)
    cmd = [
        str(Path(sys.executable).with_name("riskwarn")),
        "ingest",
        "--source",
        str(CORPUS / "incidents.yaml"),
        str(CORPUS / "good.csv"),
    ]
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, preexec_fn=lambda: os.umask(0o022)
    )
    assert proc.returncode == 0, proc.stderr
    created = [home, *home.rglob("*")]
    files = [p for p in created if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files)
    assert (home / "serving.db") in files
    loose = {str(p.relative_to(tmp_path)): oct(mode(p)) for p in created if mode(p) & 0o077}
    assert not loose, f"readable by other users: {loose}"


def test_a_long_bad_store_url_keeps_no_part_of_its_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settings cut a refused value to 80 characters: cut before masking, a URL whose
    password runs past the cut lost its '@' and kept the password's start."""
    long_pw = "Z" * 40 + PASSWORD
    url = f"mysql://some-fairly-long-user-name:{long_pw}@db.local/x"
    monkeypatch.setenv("RISKWARN_STORE_URL", url)
    assert main(["models", "incidents"]) == 2
    err = capsys.readouterr().err
    assert "ZZZZ" not in err and "***" in err, err
