"""A promotion during a backup never splits the backup's champion from its audit log
(reviewer's suspicion, confirmed): `riskwarn backup` dumped the serving store, then
MLflow; a `riskwarn promote` between the two dumps wrote its audit entry after the first
and moved the alias before the second, so the restored registry named a champion the
restored audit log never recorded, and scoring on the restored home refused to serve
(`ChampionRefused`: "the alias was moved behind riskwarn's back"). The backup now holds
every champion alias lock (the ones promote and rollback take) across both dumps.

Two real processes at once on one home: a backup whose serving dump, once written, waits
until the other process is about to promote (and then until the alias moves, for at most
10 s), and `riskwarn promote` (the CLI's main). Real SQLite serving store and MLflow
registry; the backup restored into an empty home and checked as scoring checks it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import mlflow
import pytest

from models import registry as reg
from riskwarn.settings import Settings
from riskwarn.store import Store
from tests.test_scoring import CountModel

DOMAIN = "incidents"
NAME = reg.model_name(DOMAIN)
ROOT = Path(__file__).resolve().parents[1]

# process A: riskwarn.backup.backup, its serving dump followed by a wait for process B
BACKUP = textwrap.dedent(
    """
    import sqlite3, sys, time
    from pathlib import Path

    import riskwarn.backup as b
    from riskwarn.settings import load_settings

    marks = Path(sys.argv[1])
    real = b.dump_database
    db = load_settings().home / "mlflow.db"

    def alias():
        with sqlite3.connect(db) as con:
            row = con.execute(
                "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                ("riskwarn-incidents", "champion"),
            ).fetchone()
        return str(row[0]) if row else None

    def dump(url, out):
        got = real(url, out)
        if out.name == "serving":  # between the two dumps: let the promotion come
            (marks / "serving-dumped").touch()
            deadline = time.monotonic() + 120
            while not (marks / "promote-ready").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            deadline = time.monotonic() + 10
            while alias() != "2" and time.monotonic() < deadline:
                time.sleep(0.05)
        return got

    b.dump_database = dump
    print(b.backup(load_settings())["path"])
    """
)

# process B: `riskwarn promote` once the backup is between its dumps
PROMOTE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path

    from riskwarn.cli import main  # imports done before it says it is ready

    marks = Path(sys.argv[1])
    while not (marks / "serving-dumped").exists():
        time.sleep(0.05)
    (marks / "promote-ready").touch()
    sys.exit(main(["promote", "incidents", "2", "--force", "--reason", "during the backup"]))
    """
)


def _settings(home: Path) -> Settings:
    return Settings(
        home=home, mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}", pseudonym_key="k" * 40
    )


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    """incidents v1 (champion, recorded by riskwarn) and v2, in one home."""
    settings = _settings(tmp_path / "home")
    settings.home.mkdir(mode=0o700)
    client = reg.configure(settings.resolved_mlflow_uri)
    reg.ensure_experiment(NAME, (settings.home / "mlartifacts").as_uri())
    mlflow.set_experiment(NAME)
    for feature in ("count_28d", "count_7d"):
        with mlflow.start_run():
            mlflow.pyfunc.log_model(
                name="model",
                python_model=CountModel(feature),
                registered_model_name=NAME,
                pip_requirements=["mlflow"],
            )
    with Store(settings.resolved_store_url) as store:
        store.upgrade()
        reg.promote(client, DOMAIN, "1", store=store, reason="first", force=True)
    return settings


def test_a_promotion_during_a_backup_restores_consistently(home: Settings, tmp_path: Path):
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {
        **os.environ,
        "RISKWARN_HOME": str(home.home),
        "RISKWARN_MLFLOW_TRACKING_URI": home.resolved_mlflow_uri,
        "RISKWARN_PSEUDONYM_KEY": "k" * 40,
        "PYTHONPATH": str(ROOT),  # CountModel is unpickled from tests.test_scoring
    }
    run = {"cwd": ROOT, "env": env, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    a = subprocess.Popen([sys.executable, "-c", BACKUP, str(marks)], text=True, **run)  # type: ignore[call-overload]
    b = subprocess.Popen([sys.executable, "-c", PROMOTE, str(marks)], text=True, **run)  # type: ignore[call-overload]
    t0 = time.monotonic()
    out_a, err_a = a.communicate(timeout=600)
    out_b, err_b = b.communicate(timeout=600)
    assert a.returncode == 0, err_a[-3000:]
    assert b.returncode == 0, err_b[-3000:]
    assert "riskwarn-incidents@champion: v1 -> v2" in out_b, out_b
    assert (marks / "promote-ready").exists(), time.monotonic() - t0
    folder = Path(out_a.strip().splitlines()[-1])
    client = reg.configure(home.resolved_mlflow_uri)
    assert reg.champion_version(client, DOMAIN) == "2"  # the promotion happened (after)

    restored = _settings(tmp_path / "restored")
    from riskwarn.backup import restore

    restore(restored, folder)
    client = reg.configure(restored.resolved_mlflow_uri)
    with Store(restored.resolved_store_url) as store:
        # before: "points at v2, but riskwarn recorded v1 ...: the alias was moved behind
        # riskwarn's back; not serving it"
        version, _, record = reg.checked_champion(client, store, DOMAIN, tmp_path / "dl")
    assert version == record["version"] == "1", (version, record)
    with sqlite3.connect(restored.home / "mlflow.db") as con:
        (alias,) = con.execute(
            "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
            (NAME, "champion"),
        ).fetchone()
    assert str(alias) == "1"
