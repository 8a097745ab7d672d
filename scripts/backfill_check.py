"""Steps of ``scripts/backfill_check.sh`` that need Python (one subcommand each).

Run with the Airflow environment of the check already exported (the shell script
sources ``scripts/airflow_env.sh``) and the repository on ``PYTHONPATH``:

* ``prepare SIM_DIR`` — ingest the simulated city's admin units, grid cells and
  incidents into the lake and register a transparent incidents champion;
* ``originals FROM TO OUT`` — once the DAG processor has registered every DAG of the
  folder (``scripts/airflow_wait.py``), the original forecasts: ``dag.test()`` of
  ``score_and_warn`` for every local midnight FROM..TO, in order, then a snapshot;
* ``wait-backfill DAG_ID`` — poll the metadata DB until the DAG's newest backfill is
  complete; print its runs;
* ``snapshot OUT`` — forecasts, warnings and runs of the serving store as pickles;
* ``compare ORIGINAL AFTER`` — row-for-row identity of what a re-run must reproduce
  (below) and no duplicates; exit 1 if not;
* ``retrain BASE_URL OUT`` — the dashboard's Airflow client against the live API:
  token, trigger a retrain of incidents, follow it until the train task runs.

What ``compare`` compares (:data:`COMPARED`): a backfill re-runs the scoring, so what
the scoring writes must come out the same, and what the store keeps *about* a warning
since it was raised need not:

* forecasts: every column;
* runs: every column but ``published_at`` (when the run was (re)published);
* warnings: the content a run writes (``riskwarn.store.models.WARNING_CONTENT``: id, run,
  unit, origin, validity, level, probability, score, reasons, evidence, lead time,
  county and township) and whether the warning is **in force** (``withdrawn_at`` null).
  Not the review and publication bookkeeping: ``state``, ``reviewed_level``,
  ``version``, ``created_at``, ``updated_at``, ``withdrawn_at/by/reason``. A panel's
  decision between the two snapshots, or a warning withdrawn by an operator's correction
  re-run and raised again by the backfill (state 'new', version + 1, new
  ``updated_at``) is no difference; before, the whole table was compared and it was. A
  warning the backfill's re-run no longer raises is withdrawn by it: it was in force
  and is not, and that stays a difference (the re-run did not reproduce the original),
  reported as ``withdrawn by the backfill``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from riskwarn.store.models import WARNING_CONTENT

DOMAIN = "incidents"
CONF = {"domains": [DOMAIN]}
# Columns that legitimately change when a run is published again: when the run was
# (re)published; the warnings' review and publication bookkeeping (module doc).
VOLATILE = {"runs": ["published_at"], "forecasts": [], "warnings": []}
WARNING_COMPARED = [*WARNING_CONTENT, "in_force"]
KEYS = {
    "forecasts": ["run_id", "unit_id"],
    "warnings": ["warning_id"],
    "runs": ["run_id"],
}


def week_logical_dates(first: str, last: str, tz: str = "Asia/Shanghai") -> list[pd.Timestamp]:
    """Local midnights ``first``..``last`` (inclusive) as UTC: score_and_warn's ticks."""
    start, end = (pd.Timestamp(x) for x in (first, last))
    start = start.tz_localize(tz) if start.tzinfo is None else start.tz_convert(tz)
    end = end.tz_localize(tz) if end.tzinfo is None else end.tz_convert(tz)
    days = pd.date_range(start, end, freq="D")
    return [d.tz_convert("UTC") for d in days]


def prepare(sim_dir: Path) -> None:
    """Lake from the simulated city's extracts; an incidents champion in the registry."""
    from riskwarn import orchestration, pipeline
    from riskwarn.settings import load_settings
    from riskwarn.store import Store
    from scripts.check_champion import adopt_champion, register

    settings = load_settings()
    orchestration.stage_landing_files(settings, sim_dir)
    as_of = orchestration.demo_logical_date(sim_dir)
    for stem in ("sim_admin_units", "sim_grid_cells", "sim_incidents"):
        totals = pipeline.ingest_source(settings, orchestration.SOURCES_DIR / f"{stem}.yaml", as_of)
        print(f"ingested {stem}: {totals}")
    artifacts = (settings.home.parent / "artifacts").as_uri()
    version = register(settings.resolved_mlflow_uri, artifacts, DOMAIN, "count_28d")
    with Store.from_settings(settings) as store:  # scoring serves recorded champions only
        store.upgrade()
        adopt_champion(settings.resolved_mlflow_uri, store, DOMAIN)
    print(f"champion riskwarn-{DOMAIN} v{version}")


def run_originals(first: str, last: str) -> list[str]:
    """``dag.test()`` of score_and_warn for each day, oldest first; return the run ids."""
    from airflow.dag_processing.dagbag import DagBag

    from riskwarn.orchestration import DAGS_FOLDER
    from scripts.airflow_wait import wait_for_dags

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    waited = wait_for_dags(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], bag.dag_ids)
    print(f"registered by the DAG processor: {len(bag.dag_ids)} DAGs ({waited:.0f} s)", flush=True)
    dag = bag.get_dag("score_and_warn")
    run_ids = []
    for when in week_logical_dates(first, last):
        dr = dag.test(logical_date=when.to_pydatetime(), run_conf=CONF)
        state = str(dr.state)
        print(f"original {when.isoformat()} {dr.run_id}: {state}", flush=True)
        if "success" not in state.lower():
            raise SystemExit(f"original run of {when} did not succeed: {state}")
        run_ids.append(str(dr.run_id))
    return run_ids


def store_tables() -> dict[str, pd.DataFrame]:
    """Every forecast, warning and run of the domain, sorted by key."""
    import sqlalchemy as sa

    from riskwarn.settings import load_settings

    engine = sa.create_engine(load_settings().resolved_store_url)
    queries = {
        "forecasts": "SELECT * FROM forecasts WHERE domain = :d",
        "warnings": "SELECT * FROM warnings WHERE domain = :d",
        "runs": "SELECT * FROM forecast_runs WHERE domain = :d",
    }
    with engine.connect() as con:
        tables = {
            name: pd.read_sql(sa.text(q), con, params={"d": DOMAIN})
            .sort_values(KEYS[name])
            .reset_index(drop=True)
            for name, q in queries.items()
        }
    engine.dispose()
    return tables


def snapshot(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in store_tables().items():
        frame.to_pickle(out / f"{name}.pkl")
        print(f"snapshot {out.name}/{name}: {len(frame)} rows")


def load_snapshot(folder: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_pickle(folder / f"{name}.pkl") for name in KEYS}


def compared(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The columns of a snapshot's table that a re-run must reproduce (module doc)."""
    if name == "warnings":
        frame = frame.assign(in_force=frame["withdrawn_at"].isna())
        return frame[WARNING_COMPARED].reset_index(drop=True)
    return frame.drop(columns=VOLATILE[name])


def differences(original: dict[str, pd.DataFrame], after: dict[str, pd.DataFrame]) -> list[str]:
    """What differs between two snapshots in what a re-run must reproduce; [] = identical."""
    problems = []
    gone = set(original["warnings"].loc[original["warnings"]["withdrawn_at"].isna(), "warning_id"])
    gone &= set(after["warnings"].loc[after["warnings"]["withdrawn_at"].notna(), "warning_id"])
    if gone:
        problems.append(f"warnings: {len(gone)} withdrawn by the backfill: {sorted(gone)[:10]}")
    for name, keys in KEYS.items():
        a = compared(name, original[name])
        b = compared(name, after[name])
        for label, frame in (("original", a), ("after backfill", b)):
            dups = int(frame.duplicated(keys).sum())
            if dups:
                problems.append(f"{name}: {dups} duplicate keys {keys} {label}")
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        except AssertionError as exc:
            problems.append(f"{name} differ: {str(exc)[:600]}")
    return problems


def compare(original_dir: Path, after_dir: Path) -> int:
    original, after = load_snapshot(original_dir), load_snapshot(after_dir)
    problems = [f"{name}: no rows to compare" for name, f in original.items() if f.empty]
    problems += differences(original, after)
    for p in problems:
        print(f"MISMATCH {p}")
    if problems:
        return 1
    republished = (
        original["runs"]["published_at"].to_numpy() != after["runs"]["published_at"].to_numpy()
    ).sum()
    print(
        f"identical: {len(after['forecasts'])} forecasts, {len(after['warnings'])} warnings,"
        f" {len(after['runs'])} runs; {republished} runs republished by the backfill"
    )
    return 0


def wait_backfill(dag_id: str, timeout_s: float = 480.0) -> int:
    """Poll until the newest backfill of ``dag_id`` is complete; print its runs."""
    import sqlalchemy as sa

    engine = sa.create_engine(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    deadline = time.monotonic() + timeout_s
    runs: list[Any] = []
    done = None
    while time.monotonic() < deadline:
        with engine.connect() as con:
            bf = con.execute(
                sa.text(
                    "SELECT id, completed_at FROM backfill WHERE dag_id = :d ORDER BY id DESC"
                    " LIMIT 1"
                ),
                {"d": dag_id},
            ).first()
            if bf is not None:
                done = bf.completed_at
                runs = list(
                    con.execute(
                        sa.text(
                            "SELECT r.run_id, r.logical_date, r.state, r.run_type,"
                            " r.clear_number, count(ti.task_id) AS n_tasks,"
                            " sum(CASE WHEN ti.state IN ('success', 'skipped') THEN 1 ELSE 0 END) AS n_ok,"
                            " max(ti.try_number) AS tries"
                            " FROM dag_run r LEFT JOIN task_instance ti"
                            " ON ti.dag_id = r.dag_id AND ti.run_id = r.run_id"
                            " WHERE r.backfill_id = :b"
                            " GROUP BY r.run_id, r.logical_date, r.state, r.run_type,"
                            " r.clear_number ORDER BY r.logical_date"
                        ),
                        {"b": bf.id},
                    )
                )
        if done is not None or any(r.state == "failed" for r in runs):
            break
        time.sleep(3)
    engine.dispose()
    for r in runs:
        print(
            f"backfill run {r.logical_date.isoformat()} {r.run_id}: {r.state}"
            f" ({r.run_type}, cleared {r.clear_number}x,"
            f" {r.n_ok}/{r.n_tasks} task instances succeeded or skipped, try {r.tries})"
        )
    # a run with no task instance "succeeds" too (e.g. a date before the DAG's start_date);
    # a task skipped by design is done (score_and_warn's `communities` when disputes are
    # not scored)
    ok = (
        done is not None
        and bool(runs)
        and all(r.state == "success" and r.n_tasks and r.n_ok == r.n_tasks for r in runs)
    )
    print(f"backfill complete: {bool(ok)} ({len(runs)} runs)")
    return 0 if ok else 1


def retrain(base_url: str, out: Path, timeout_s: float = 240.0) -> int:
    """Trigger and follow a retrain of incidents with the dashboard's Airflow client."""
    import requests

    from dashboard import airflow_api

    cfg = airflow_api.config(base_url)
    report: dict[str, Any] = {"dag_id": cfg.dag_id, "reachable": airflow_api.reachable(cfg)}
    wrong = airflow_api.AirflowConfig(cfg.base_url, cfg.username, cfg.password + "x", cfg.dag_id)
    try:
        airflow_api.token(wrong)
        report["status_wrong_password"] = 201
    except requests.HTTPError as exc:
        report["status_wrong_password"] = exc.response.status_code
    jwt = airflow_api.token(cfg)
    report["token_parts"] = len(jwt.split("."))
    dag_url = f"{cfg.base_url}/api/v2/dags/{cfg.dag_id}"
    report["status_without_token"] = requests.get(dag_url, timeout=30).status_code
    report["status_with_token"] = requests.get(
        dag_url, headers={"Authorization": f"Bearer {jwt}"}, timeout=30
    ).status_code
    print(
        "retrain auth: wrong password {status_wrong_password}, no token {status_without_token},"
        " token {status_with_token}".format(**report)
    )
    run = airflow_api.trigger(cfg, DOMAIN, "backfill_check")
    report["run"] = {k: run.get(k) for k in ("dag_run_id", "state", "conf", "run_type")}
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            prog = airflow_api.progress(cfg, str(run["dag_run_id"]))
        except requests.RequestException as exc:  # a busy API server: ask again
            print(f"retrain progress: no answer ({type(exc).__name__})", flush=True)
            time.sleep(2)
            continue
        if not seen or prog != seen[-1]:
            seen.append(prog)
            print(f"retrain progress: {prog['state']} {prog['tasks']}", flush=True)
        if prog["state"] in ("success", "failed"):
            break
        if prog["tasks"].get("train") in ("running", "success"):
            break  # training a real model takes minutes: following it this far is enough
        time.sleep(2)
    report["progress"] = seen
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"retrain report: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("prepare").add_argument("sim_dir", type=Path)
    p = sub.add_parser("originals")
    p.add_argument("first")
    p.add_argument("last")
    p.add_argument("out", type=Path)
    sub.add_parser("wait-backfill").add_argument("dag_id")
    sub.add_parser("snapshot").add_argument("out", type=Path)
    p = sub.add_parser("compare")
    p.add_argument("original", type=Path)
    p.add_argument("after", type=Path)
    p = sub.add_parser("retrain")
    p.add_argument("base_url")
    p.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "prepare":
        prepare(args.sim_dir)
    elif args.cmd == "originals":
        run_originals(args.first, args.last)
        snapshot(args.out)
    elif args.cmd == "wait-backfill":
        return wait_backfill(args.dag_id)
    elif args.cmd == "snapshot":
        snapshot(args.out)
    elif args.cmd == "compare":
        return compare(args.original, args.after)
    elif args.cmd == "retrain":
        return retrain(args.base_url, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
