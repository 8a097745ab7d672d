"""Shared fixtures: real-data location, a temporary riskwarn home, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RISKWARN_SHARED_DATA", ROOT.parent / "shared" / "data"))
PG_ADMIN_URL = os.environ.get(
    "RISKWARN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Ingesting the simulated parties needs a pseudonym key, configured as an installation
# must (riskwarn.keys); subprocesses (Airflow tasks, the CLI) inherit it.
TEST_PSEUDONYM_KEY = "test-only-pseudonym-key-not-a-secret-0123456789"

# `make test` runs the suite in 2 processes (pytest-xdist, `-n 2 --dist loadfile
# --no-loadscope-reorder`): each test module is one unit of work that runs whole on one
# worker (its module-scoped fixtures, e.g. test_airflow_live's `live`, run once), handed
# out in collection order as a worker frees up. The longest modules go first, so that
# none starts last on one worker while the other has nothing left: these, longest first
# (seconds per module: the sum of its rows in the `--durations=120` table of a full run,
# 2026-12-05 22:54-23:31 UTC under load 5-9, a lower bound; docs/testing.md), then the other modules with a test
# marked slow, then the rest in file order. Before, modules of 100-150 s (the training,
# review-browser and stream-auth ones) were handed out in file order, late ("test_s...",
# "test_t..."), and one of them could run alone at the end while the other worker idled.
LONGEST_FIRST = (
    "test_airflow_live",  # 313 s
    "test_training_spill",  # 151 s; alone 117 -> 87 s since (docs/testing.md, 2026-12-07)
    "test_training_abandoned_runs",  # 146 s
    "test_stream_supervise",  # 178 s before; x0.72 alone since (docs/testing.md): ~128 s
    "test_review_browser",  # 119 s
    "test_celery",  # 115 s
    "test_site_group_training",  # 103 s before; alone 108-112 s -> 66-97 s since (docs/testing.md)
    "test_stream_auth",  # 101 s
    "test_dashboard_signin",  # 99 s
    "test_replay_pause",  # 92 s
    "test_frame_parity",  # 88 s
    "test_dashboard_map_places_browser",  # 86 s in CI's 30 slowest, 2026-12-07
    "test_dashboard_mlflow_link",  # 150 s before; x0.43-0.65 alone since (docs/testing.md): ~65-97 s
    "test_stream_faults",  # 70 s
    "test_ingest_export_order",  # 177 s in CI, 2026-12-07; CPU x0.4 alone since (forked CLI runs): ~70 s
    "test_dashboard_wrap_browser",  # 62 s in CI's 30 slowest, 2026-12-07
    "test_services_auth",  # 168 s; x0.63, then x0.61 alone (docs/testing.md): ~65 s
    "test_stream_crash",  # 63 s
    "test_geohazard_site_models",  # 51 s
    "test_dashboard_browser",  # 50 s
    "test_dags",  # 46 s
    "test_ingest_older_extract",  # 120 s in CI, 2026-12-07; CPU x0.4 alone since: ~45 s
    "test_champion_out_of_sample",  # 43 s
    "test_stream_rules_batch",  # 41 s
    "test_ingest_crash_record",  # 45 s; CPU x0.55 alone since (forked CLI runs): ~25 s
)


def _module_rank(item: pytest.Item, slow_modules: set[str]) -> int:
    stem = item.path.stem
    if stem in LONGEST_FIRST:
        return LONGEST_FIRST.index(stem)
    return len(LONGEST_FIRST) + (0 if stem in slow_modules else 1)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker: the longest modules first (a stable sort by module, so each
    module's tests stay together and in their order). A serial run keeps file order."""
    if not hasattr(config, "workerinput"):
        return
    slow_modules = {item.path.stem for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: _module_rank(item, slow_modules))


def create_stores(home: Path) -> None:
    """Create the stores of riskwarn home ``home`` (mlflow.db and serving.db, migrated to
    the head) as a training's first call does, in another process (this one's MLflow stays
    unconfigured). MLflow's migrations of a new mlflow.db take 3-40 s here: tests that
    train in many new homes create them once in a template and copy the files."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from riskwarn.pipeline import _training_context\n"
        "from riskwarn.settings import Settings\n"
        "from tests.conftest import TEST_PSEUDONYM_KEY as K\n"
        "_, store, _ = _training_context(Settings(home=sys.argv[1], pseudonym_key=K))\n"
        "store.close()\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(home)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
    )


@pytest.fixture(autouse=True, scope="session")
def pseudonym_key_for_tests() -> Iterator[None]:
    saved = os.environ.get("RISKWARN_PSEUDONYM_KEY")
    os.environ["RISKWARN_PSEUDONYM_KEY"] = saved or TEST_PSEUDONYM_KEY
    yield
    if saved is None:
        os.environ.pop("RISKWARN_PSEUDONYM_KEY", None)


@pytest.fixture(autouse=True, scope="session")
def mlflow_db_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A new SQLite mlflow.db opened in a test process is a copy of one that MLflow
    migrated once per run (testkit/mlflow_template.py: its Alembic history took 4-10 s
    for each new database), kept in the run's temporary folder, which the xdist workers
    share. Subprocesses (the CLI, Airflow tasks, training children) migrate their own."""
    from testkit import mlflow_template

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    mlflow_template.install(shared / "mlflow_template")
    yield
    mlflow_template.uninstall()


@pytest.fixture(autouse=True, scope="session")
def demo_home_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A demo home (testkit.dashboard_demo.demo_home, own SQLite store) is a copy of one
    built once per test process with the same arguments (and local date, for homes that
    follow the wall clock): the dashboard tests build 61, 37 of them with arguments
    seen before (2-6 s each: the store's writes, the users file's scrypt hashes)."""
    from testkit import dashboard_demo

    dashboard_demo.keep_templates(tmp_path_factory.getbasetemp() / "demo_home_templates")
    yield
    dashboard_demo.keep_templates(None)


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``riskwarn ingest`` runs, each a process of its own forked from one that imported
    the command's modules once (testkit/forked_cli.py): a fresh ``python -m riskwarn.cli
    ingest`` spends about 2 of its 2.4 CPU s importing (2026-12-07)."""
    from testkit.forked_cli import ForkedCli

    with ForkedCli(tmp_path_factory.mktemp("forked_cli")) as forked:
        yield forked


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public data folder; tests using it are skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture
def rw_home(tmp_path: Path) -> Path:
    home = tmp_path / "rwhome"
    home.mkdir()
    return home


@pytest.fixture
def settings(rw_home: Path):
    from riskwarn.settings import Settings

    return Settings(home=rw_home, pseudonym_key=TEST_PSEUDONYM_KEY)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty serving database on each backend (a module may define its own)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'serving.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Any]:
    """A :class:`riskwarn.store.Store` on :func:`store_url`, migrated to the newest."""
    from riskwarn.store import Store

    s = Store(store_url)
    s.upgrade()
    yield s
    s.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema-isolated database URL (a new database per test)."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"rw_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # the server is part of this machine; CI starts it
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Any]:
    """A private Mosquitto broker for one test (the stream tests; they skip without one)."""
    from testkit.stream_helpers import Broker

    b = Broker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()
