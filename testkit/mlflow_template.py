"""Tests only: a new SQLite ``mlflow.db`` is a copy of one migrated once per test run.

MLflow creates the tables of a new database by running its whole Alembic history
(``mlflow.store.db.utils._initialize_tables``: 4-10 s on this 2-core machine under the
suite's load, and dozens of tests each open MLflow on a new home: 32 such databases,
181 s of the 344 s of seven registry and promotion test modules, 2026-12-06). In the
test process (not in the subprocesses tests start: the CLI, Airflow tasks, training
children), :func:`install` makes that step copy, with SQLite's backup API, a database
that the real step built once per run in ``folder`` (under a file lock, so the xdist
workers build it once between them). The copy holds the same tables, indexes, Alembic
revision and rows as a database MLflow migrates itself; any other database (PostgreSQL,
an in-memory SQLite) is migrated by MLflow as before.
"""

from __future__ import annotations

import fcntl
import importlib.abc
import importlib.machinery
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

UTILS = "mlflow.store.db.utils"
TEMPLATE_NAME = "mlflow_template.db"

_state: dict[str, Any] = {"folder": None, "original": None}


def _sqlite_file(engine: Any) -> str | None:
    """The file of a SQLite engine, else None (other databases, in-memory SQLite)."""
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return str(database)


def _template(original: Callable[[Any], None], folder: Path) -> Path:
    """The migrated template database in ``folder``, built by ``original`` if absent."""
    import sqlalchemy

    template = folder / TEMPLATE_NAME
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{TEMPLATE_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not template.exists():
            building = folder / f"{TEMPLATE_NAME}.{os.getpid()}.building"
            building.unlink(missing_ok=True)
            engine = sqlalchemy.create_engine(f"sqlite:///{building}")
            try:
                original(engine)
            finally:
                engine.dispose()
            building.rename(template)
    return template


def _initialize_tables(engine: Any) -> None:
    original = _state["original"]
    folder = _state["folder"]
    if folder is None or _sqlite_file(engine) is None:
        original(engine)
        return
    template = _template(original, Path(folder))
    source = sqlite3.connect(f"file:{template}?mode=ro", uri=True)
    try:
        with engine.connect() as conn:
            target = conn.connection.driver_connection
            source.backup(target)
    finally:
        source.close()


def _patch(utils: ModuleType) -> None:
    if _state["original"] is None:
        _state["original"] = utils._initialize_tables  # type: ignore[attr-defined]
    utils._initialize_tables = _initialize_tables  # type: ignore[attr-defined]
    # the registry's store imports the name; it is patched when imported after this
    registry = sys.modules.get("mlflow.store.model_registry.sqlalchemy_store")
    if registry is not None:
        registry._initialize_tables = _initialize_tables  # type: ignore[attr-defined]


class _Finder(importlib.abc.MetaPathFinder):
    """Patches ``mlflow.store.db.utils`` as it is imported (MLflow stays unimported
    in a test process that never uses it)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != UTILS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_patch(module: ModuleType) -> None:
            exec_module(module)
            _patch(module)

        loader.exec_module = exec_and_patch  # type: ignore[method-assign]
        return spec


def install(folder: Path) -> None:
    """New SQLite MLflow databases of this process copy the template kept in ``folder``."""
    _state["folder"] = str(folder)
    if UTILS in sys.modules:
        _patch(sys.modules[UTILS])
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def uninstall() -> None:
    """MLflow migrates every new database itself again."""
    _state["folder"] = None
