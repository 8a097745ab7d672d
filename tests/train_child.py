"""A training in its own process, for the crash and concurrency tests
(tests/test_training_spill.py): ``python -m tests.train_child HOME DOMAIN END``.

Trains through ``riskwarn.pipeline.train_domain`` exactly as ``riskwarn train`` does
(settings from ``RISKWARN_*`` variables, e.g. ``RISKWARN_SPILL_DIR``), prints its result as
JSON on the last stdout line; exit 3 (message on stderr) when the training is refused or
fails. ``TRAIN_CHILD_PAUSE`` (comma-separated points) makes it stop at each point P
until the file ``$TRAIN_CHILD_GO.P`` exists (the test kills it there, or lets it go on),
after creating ``$TRAIN_CHILD_MARKER.P``:

* ``mlflow_init``: as MLflow starts creating the tables of a new ``mlflow.db``;
* ``spill``: after the first piece of ``sensor_readings`` is spilled (mid-spill);
* ``batch``: at the first batch read from the spilled files (spill complete, features
  being built);
* ``mlflow_run``: in the MLflow run, its tags set, before its params are logged (the run
  shows RUNNING).

No timing: the test waits for the marker, the child for the go file.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.conftest import TEST_PSEUDONYM_KEY


def _pause(point: str) -> None:
    Path(f"{os.environ['TRAIN_CHILD_MARKER']}.{point}").write_text(str(os.getpid()))
    go = Path(f"{os.environ.get('TRAIN_CHILD_GO', '/nonexistent/go')}.{point}")
    deadline = time.monotonic() + 600  # a forgotten child ends by itself
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def main(argv: list[str]) -> int:
    home, domain, end = argv
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    pause = os.environ.get("TRAIN_CHILD_PAUSE", "").split(",")
    if "mlflow_init" in pause:
        import mlflow.store.db.utils as db_utils
        import mlflow.store.model_registry.sqlalchemy_store as registry_store

        real_init = db_utils._initialize_tables

        def init_after_pause(engine: Any) -> None:
            _pause("mlflow_init")
            real_init(engine)

        db_utils._initialize_tables = init_after_pause
        registry_store._initialize_tables = init_after_pause  # type: ignore[attr-defined]
    if "spill" in pause:
        from riskwarn.lake import read

        real_scan = read.scan_pieces

        def scan_then_pause(*a: Any, **k: Any) -> Iterator[Any]:
            n = 0
            for piece in real_scan(*a, **k):
                if n == 1:  # the first piece is spilled
                    _pause("spill")
                yield piece
                n += 1
            if n == 1:  # one piece only: pause once it is spilled
                _pause("spill")

        read.scan_pieces = scan_then_pause  # type: ignore[assignment]
    if "batch" in pause:
        from riskwarn.pipeline import LakeReadings

        real_read = LakeReadings.read
        paused: list[bool] = []

        def read_then_pause(self: Any, sensor_ids: Any) -> Any:
            if not paused:
                paused.append(True)
                _pause("batch")
            return real_read(self, sensor_ids)

        LakeReadings.read = read_then_pause  # type: ignore[method-assign]
    if "mlflow_run" in pause:
        import mlflow

        real_params = mlflow.log_params

        def params_after_pause(*a: Any, **k: Any) -> Any:
            _pause("mlflow_run")
            return real_params(*a, **k)

        mlflow.log_params = params_after_pause  # type: ignore[assignment]
    from riskwarn.pipeline import train_domain
    from riskwarn.settings import load_settings

    settings = load_settings(home=home, pseudonym_key=TEST_PSEUDONYM_KEY)
    try:
        result = train_domain(settings, domain, end)
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
