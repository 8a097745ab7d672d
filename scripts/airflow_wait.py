"""Waits of the live Airflow checks (``scripts/backfill_check.sh``, ``scripts/celery_check.sh``)
read the metadata DB directly instead of polling the ``airflow`` CLI.

Each ``airflow`` CLI call starts a Python that imports Airflow (several CPU seconds on
this 2-core machine) and, for ``dags list``, deserializes every DAG; the checks' old
loops made one or two such calls every 3-4 s while the scheduler, DAG processor, API
server and tasks needed the CPU. These functions import only SQLAlchemy.

* ``dags DAG_ID...`` — until the DAG processor has written each DAG (a ``dag`` row and a
  ``serialized_dag`` row) to the metadata DB;
* ``run DAG_ID RUN_ID`` — until the DAG run has ended (``success`` or ``failed``); print
  its last state.

The metadata DB is ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` (exported by the checks).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterable

import sqlalchemy as sa

ENDED = ("success", "failed")


def registered_dags(engine: sa.Engine) -> set[str]:
    """DAG ids with both their ``dag`` row and a serialized DAG (none before the tables exist)."""
    try:
        with engine.connect() as con:
            dag = {r[0] for r in con.execute(sa.text("SELECT dag_id FROM dag"))}
            ser = {r[0] for r in con.execute(sa.text("SELECT DISTINCT dag_id FROM serialized_dag"))}
    except sa.exc.DBAPIError:  # not migrated yet
        return set()
    return dag & ser


def wait_for_dags(
    db_url: str, dag_ids: Iterable[str], timeout_s: float = 270.0, every_s: float = 2.0
) -> float:
    """Seconds until every DAG of ``dag_ids`` was registered; SystemExit naming the
    missing ones after ``timeout_s``."""
    wanted = set(dag_ids)
    engine = sa.create_engine(db_url)
    start = time.monotonic()
    try:
        while True:
            missing = sorted(wanted - registered_dags(engine))
            if not missing:
                return time.monotonic() - start
            if time.monotonic() - start >= timeout_s:
                raise SystemExit(
                    f"DAGs not registered by the DAG processor within {timeout_s:.0f} s: {missing}"
                )
            time.sleep(every_s)
    finally:
        engine.dispose()


def run_state(engine: sa.Engine, dag_id: str, run_id: str) -> str | None:
    with engine.connect() as con:
        state = con.execute(
            sa.text("SELECT state FROM dag_run WHERE dag_id = :d AND run_id = :r"),
            {"d": dag_id, "r": run_id},
        ).scalar()
    return None if state is None else str(state)


def wait_for_run(
    db_url: str, dag_id: str, run_id: str, timeout_s: float = 600.0, every_s: float = 2.0
) -> str | None:
    """The run's state once it has ended, or its last state after ``timeout_s``."""
    engine = sa.create_engine(db_url)
    start = time.monotonic()
    try:
        while True:
            state = run_state(engine, dag_id, run_id)
            if state in ENDED or time.monotonic() - start >= timeout_s:
                return state
            time.sleep(every_s)
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=None, help="seconds")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("dags").add_argument("dag_ids", nargs="+")
    p = sub.add_parser("run")
    p.add_argument("dag_id")
    p.add_argument("run_id")
    args = parser.parse_args(argv)
    db_url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    if args.cmd == "dags":
        waited = wait_for_dags(db_url, args.dag_ids, timeout_s=args.timeout or 270.0)
        print(f"registered: {' '.join(args.dag_ids)} (after {waited:.0f} s)")
        return 0
    state = wait_for_run(db_url, args.dag_id, args.run_id, timeout_s=args.timeout or 600.0)
    print(state or "none")
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
