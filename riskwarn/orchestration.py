"""Airflow wiring: environment, DAG defaults, failure callback and the demo run.

Cheap to import (DAG files import it at parse time): only the standard library here;
everything heavy is imported inside functions.

* :func:`airflow_env` — the environment every Airflow process of riskwarn runs with:
  ``AIRFLOW_HOME`` under ``settings.home``, the repository's ``dags/`` folder, no
  example DAGs, a SQLite metadata database (PostgreSQL by ``RISKWARN_AIRFLOW_DB_URL``),
  the simple auth manager with real users (``riskwarn.service_auth``) on 127.0.0.1.
* :func:`migrate` — ``airflow db migrate`` in that environment.
* :func:`default_args` / :func:`on_task_failure` — retries, timeouts and the
  failure callback that writes the serving store's audit log.
* :func:`run_demo_pipeline` — simulate the small city, then run its DAGs *through
  Airflow* (``airflow dags test`` per DAG, in dependency order; not
  ``lake_maintenance`` nor the public datasets' ingests).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskwarn import domains

if TYPE_CHECKING:
    from riskwarn.settings import Settings

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DAGS_FOLDER = REPO_ROOT / "dags"
SOURCES_DIR = REPO_ROOT / "configs" / "sources"
AIRFLOW_API_PORT = 8080
MLFLOW_PORT = 5000
DASHBOARD_PORT = 8501
TAGS = ["riskwarn"]

# Every DAG's start_date: early enough for a city's whole history (Chicago's public data
# starts in 2010). With catchup off it costs nothing, but a backfill of dates before a
# DAG's start_date creates runs with no task instances that "succeed" having done
# nothing (found by scripts/backfill_check.sh), so keep it earlier than any data.
EARLIEST_START = datetime(2000, 1, 1, tzinfo=UTC)


def airflow_home(settings: Settings) -> Path:
    """``<home>/airflow``: config, metadata DB and logs of riskwarn's Airflow."""
    return (settings.home / "airflow").resolve()


def airflow_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for ``airflow`` processes (a copy of ``base``/os.environ plus ours)."""
    env = dict(os.environ if base is None else base)
    home = airflow_home(settings)
    db_url = env.get("RISKWARN_AIRFLOW_DB_URL") or f"sqlite:///{home / 'airflow.db'}"
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
            # a home whose data is a replay starts its DAGs paused (pause_on_replay)
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": str(
                replay_pause_marker(settings).exists()
            ),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(AIRFLOW_API_PORT),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": (
                f"http://127.0.0.1:{AIRFLOW_API_PORT}/execution/"
            ),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "RISKWARN_HOME": str(settings.home.resolve()),
        }
    )
    # Airflow 3 also opens an async engine; for PostgreSQL it must be told to use
    # psycopg (asyncpg is not installed), and an async URL of another database must not
    # be inherited from the caller's environment
    if db_url.startswith("postgresql+psycopg://"):
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = db_url
    else:
        env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", None)
    # real users, passwords in <home>/secrets (riskwarn.service_auth); nothing on 0.0.0.0
    from riskwarn.service_auth import airflow_auth_env

    env.update(airflow_auth_env(settings))
    # less address space reserved by the allocators, for the tasks' memory budget
    # (riskwarn/allocators.py); values set by the caller win
    from riskwarn.allocators import allocator_env

    for name, value in allocator_env().items():
        env.setdefault(name, value)
    # a task's calls to the execution API (on this host) wait up to 60 s, not Airflow's
    # 5 s: on a loaded 2-core machine the first task of a run failed after four timed-out
    # calls and came back only after its retry delay (scripts/backfill_check.sh, under
    # make test, 2026-12-05); a value set by the caller wins
    env.setdefault("AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT", "60")
    # OpenMP threads that sleep instead of spinning when idle (riskwarn/threads.py)
    from riskwarn.threads import openmp_env

    if "GOMP_SPINCOUNT" not in env:
        for name, value in openmp_env().items():
            env.setdefault(name, value)
    if settings.store_url:
        env["RISKWARN_STORE_URL"] = settings.store_url
    if settings.mlflow_tracking_uri:
        env["RISKWARN_MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri
    if settings.city_area:
        env["RISKWARN_CITY_AREA"] = settings.city_area
    if "train_concurrency" in settings.model_fields_set:  # given, not the default
        env["RISKWARN_TRAIN_CONCURRENCY"] = str(settings.train_concurrency)
    return env


def airflow_bin() -> str:
    """The ``airflow`` executable of this interpreter's environment."""
    return str(Path(sys.executable).with_name("airflow"))


REPLAY_AFTER = domains.REPLAY_AFTER


def replay_pause_marker(settings: Settings) -> Path:
    """The file that says :func:`pause_on_replay` paused this home's DAGs."""
    return settings.home / "run" / "airflow_paused_for_replay"


def replay_origin(settings: Settings, now: datetime | None = None) -> datetime | None:
    """The newest published forecast origin of the home's store when it is over
    :data:`REPLAY_AFTER` before ``now`` (its data is a replay), else None (live, or no
    store or run yet)."""
    import sqlalchemy as sa

    from riskwarn.store import Store

    url = settings.resolved_store_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    store = Store.from_settings(settings)
    try:
        runs = store.runs()
    except sa.exc.SQLAlchemyError:  # a store not created yet
        return None
    finally:
        store.close()
    runs = runs.loc[runs["status"].isin(["published", "superseded"])]
    if runs.empty:
        return None
    import pandas as pd

    newest = pd.to_datetime(runs["origin"], utc=True).max().to_pydatetime()
    now = now or datetime.now(UTC)
    return newest if now - newest > REPLAY_AFTER else None


def pause_on_replay(settings: Settings, env: dict[str, str] | None = None) -> str:
    """Before the services start: on a home whose data is a replay, pause every DAG (and
    have new ones created paused) so the scheduler does not run the live schedules over
    it; ``RISKWARN_LIVE_SCHEDULES=1`` runs them anyway. A live home is left alone (and
    loses the marker). Returns what to tell the operator ('' when nothing was done)."""
    env = dict(os.environ if env is None else env)
    marker = replay_pause_marker(settings)
    newest = replay_origin(settings)
    if newest is None:
        marker.unlink(missing_ok=True)
        return ""
    if env.get("RISKWARN_LIVE_SCHEDULES") == "1":
        # DAGs an earlier `up` paused for the replay (the marker says so) are unpaused:
        # the override runs the schedules, it does not only stop pausing them
        note = ""
        if marker.exists():
            done = _airflow_dags(settings, "unpause")
            note = (
                "; the DAGs an earlier start paused for the replay are unpaused"
                if done.returncode == 0
                else f"; no stored DAG unpaused ({_tail(done)})"
            )
            marker.unlink()  # new DAGs are created unpaused either way
        return (
            f"this home's data is a replay (newest forecast origin {newest:%Y-%m-%d %H:%M}Z); "
            f"RISKWARN_LIVE_SCHEDULES=1: the DAGs run their live schedules on it{note}"
        )
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(newest.isoformat() + "\n")
    done = _airflow_dags(settings, "pause")
    note = "" if done.returncode == 0 else " (none stored yet: new DAGs are created paused)"
    return (
        f"this home's data is a replay (newest forecast origin {newest:%Y-%m-%d %H:%M}Z, over "
        f"{REPLAY_AFTER.days} days ago): Airflow's DAGs are paused{note} so the live schedules "
        "do not publish runs beside it; unpause them in the Airflow UI, or start with "
        "RISKWARN_LIVE_SCHEDULES=1, to run them"
    )


def _airflow_dags(settings: Settings, verb: str) -> subprocess.CompletedProcess[str]:
    """``airflow dags pause|unpause`` of every DAG stored in the metadata DB."""
    return subprocess.run(
        [airflow_bin(), "dags", verb, "--treat-dag-id-as-regex", "-y", ".*"],
        env=airflow_env(settings),
        capture_output=True,
        text=True,
    )


def _tail(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stderr or done.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit {done.returncode}"


def migrate(settings: Settings) -> None:
    """Create or upgrade Airflow's metadata database (``airflow db migrate``)."""
    airflow_home(settings).mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [airflow_bin(), "db", "migrate"],
        env=airflow_env(settings),
        check=True,
        capture_output=True,
        text=True,
    )


# --------------------------------------------------------------------------- DAG defaults


def _address_space_bytes() -> int:
    """This process's current virtual size (``VmSize`` of /proc/self/status), 0 if unknown."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@contextmanager
def memory_budget(megabytes: int) -> Iterator[None]:
    """Cap the address space this process may add inside the block at ``megabytes``.

    Every DAG task runs its work inside one (``Settings.task_memory_mb``): an allocation
    past the budget raises :class:`MemoryError`, so the task fails with a clear message
    (and its retries fail the same way) instead of the kernel killing the worker or
    anything else on the machine. The previous limit is restored on the way out; 0 (or a
    platform without ``RLIMIT_AS``) means no budget.
    """
    import resource

    current = _address_space_bytes()
    if megabytes <= 0 or current == 0:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = current + int(megabytes) * 2**20
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    except MemoryError as exc:
        raise MemoryError(
            f"the task needed more than its memory budget of {megabytes} MB "
            "(RISKWARN_TASK_MEMORY_MB)"
        ) from exc
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def on_task_failure(context: Any) -> None:
    """``on_failure_callback``: record the failed task in the serving store's audit log."""
    from riskwarn.pipeline import record_task_failure
    from riskwarn.settings import load_settings

    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = str(context.get("run_id") or getattr(ti, "run_id", "?"))
    error = repr(context.get("exception"))
    try:
        record_task_failure(load_settings(), dag_id, task_id, run_id, error)
    except Exception:  # a callback must never mask the task's own error
        log.exception("could not write the failure of %s.%s to the audit log", dag_id, task_id)


def on_task_start(context: Any) -> None:
    """``on_execute_callback``: keep passwords out of the task's logs and files private.

    Registers the passwords of the store, MLflow and Airflow database URLs with
    Airflow's secrets masker, redacts every log record riskwarn's code makes
    (``riskwarn.redact``) and sets umask 077 for what the task creates.
    """
    from riskwarn.filemodes import restrict_umask
    from riskwarn.redact import install_log_redaction, url_password

    install_log_redaction()
    restrict_umask()
    from airflow.sdk.log import mask_secret  # Airflow is a dependency: no fallback

    for name in ("RISKWARN_STORE_URL", "RISKWARN_MLFLOW_TRACKING_URI", "RISKWARN_AIRFLOW_DB_URL"):
        password = url_password(os.environ.get(name, ""))
        if password:
            mask_secret(password)


def requested_domains(asked: list[str], known: list[str], dag_id: str) -> list[str]:
    """The ``domains`` param of a DAG run, refused if it names a domain the DAG does not
    handle (silently dropping it would let the run "succeed" having done nothing)."""
    unknown = sorted(set(asked) - set(known))
    if unknown:
        raise ValueError(f"{dag_id} cannot handle {unknown}: it handles {known}")
    return list(asked)


def default_args(retries: int = 2, timeout_minutes: int = 30) -> dict[str, Any]:
    """Retries, timeout and failure callback shared by every riskwarn task."""
    return {
        "owner": "riskwarn",
        "retries": retries,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(minutes=timeout_minutes),
        "on_failure_callback": on_task_failure,
        "on_execute_callback": on_task_start,
    }


def interval_end(context: Any) -> Any:
    """The instant a task works up to: the run's logical date, else its data interval end.

    Scheduled runs of riskwarn's cron *trigger* timetables, backfills and manual runs
    given a logical date (``airflow dags trigger -l``) all carry the tick as logical
    date; a manual run's data interval would be the trigger time instead, which would
    make a re-run of a past day score "now". Asset-triggered runs have no logical date
    and use the data interval end (the asset event).
    """
    return (
        context.get("logical_date")
        or context.get("data_interval_end")
        or context["dag_run"].run_after
    )


def source_mapping_files() -> list[Path]:
    """Source mapping files with a landing folder DAG (listed, never parsed: cheap)."""
    return sorted(SOURCES_DIR.glob("*.yaml"))


def train_concurrency(env: dict[str, str] | None = None) -> int | None:
    """How many mapped trainings one ``train_models`` run may run at once:
    ``RISKWARN_TRAIN_CONCURRENCY`` (``Settings.train_concurrency``, default 2; 0 = no cap,
    returned as None), read at parse time into the train task's
    ``max_active_tis_per_dagrun``. A value that is not a whole number >= 0 raises
    ValueError: the DAG fails to import and Airflow shows why, rather than training
    every domain at once (each holds gigabytes)."""
    from riskwarn.settings import Settings

    raw = (os.environ if env is None else env).get("RISKWARN_TRAIN_CONCURRENCY", "").strip()
    if not raw:
        value = int(Settings.model_fields["train_concurrency"].default)
    else:
        try:
            value = Settings(train_concurrency=raw).train_concurrency  # type: ignore[arg-type]
        except ValueError:
            raise ValueError(
                f"RISKWARN_TRAIN_CONCURRENCY={raw!r} is not a whole number >= 0 "
                "(trainings train_models runs at once; 0 = no cap)"
            ) from None
    return value or None


def nowcast_minutes(env: dict[str, str] | None = None) -> int:
    """The nowcast cadence: ``RISKWARN_NOWCAST_MINUTES`` (10..60, default 60); anything
    else is refused with ValueError naming the value (the DAG's import error says it),
    never silently replaced."""
    raw = (os.environ if env is None else env).get("RISKWARN_NOWCAST_MINUTES", "") or "60"
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 10 <= value <= 60:
        raise ValueError(
            f"RISKWARN_NOWCAST_MINUTES={raw!r} is not a whole number of minutes from 10 to 60 "
            "(the geohazard_nowcast cadence; unset = 60)"
        )
    return value


# --------------------------------------------------------------------------- demo


def airflow_dags_test(
    settings: Settings, dag_id: str, logical_date: str, conf: dict[str, Any] | None = None
) -> None:
    """Run one DAG run in-process through Airflow (``airflow dags test``); raise on failure."""
    import json

    cmd = [airflow_bin(), "dags", "test", dag_id, logical_date]
    if conf:
        cmd += ["-c", json.dumps(conf)]
    log.info("running %s", " ".join(cmd))
    proc = subprocess.run(cmd, env=airflow_env(settings), capture_output=True, text=True)
    tail = (proc.stdout + proc.stderr)[-3000:]
    if proc.returncode != 0 or "state=failed" in tail or "DagRunState.FAILED" in tail:
        raise RuntimeError(f"airflow dags test {dag_id} {logical_date} failed:\n{tail}")


# The demo trains the hotspot and dispute-case domains it scores daily, and the hourly
# site model the nowcast combines with the sensor rules (the daily site model is left to
# the weekly schedule: nothing in the demo reads it).
def demo_conf() -> dict[str, dict[str, Any]]:
    """The demo's DAG run confs: train what some DAG serves, score what score_and_warn does."""
    return {
        domains.TRAIN_DAG: {"domains": list(domains.served())},
        domains.DAILY_SCORING_DAG: {
            "domains": list(domains.names(scored_by=domains.DAILY_SCORING_DAG))
        },
    }


def demo_dag_sequence(source_stems: list[str]) -> list[str]:
    """DAG ids of the demo in dependency order."""
    return [
        *(f"ingest_{s}" for s in source_stems),
        domains.TRAIN_DAG,
        domains.DAILY_SCORING_DAG,
        domains.NOWCAST_DAG,
        "publish",
    ]


def run_demo_pipeline(
    settings: Settings, seed: int = 7, logical_date: str | None = None, size: str = "small"
) -> list[str]:
    """Simulate the small city and run riskwarn's DAGs on it through Airflow (the
    ``ingest_sim_*`` DAGs, ``train_models``, ``score_and_warn``, ``geohazard_nowcast``,
    ``publish``; not ``lake_maintenance`` nor the public datasets' ingests).

    Writes the simulated extracts into ``settings.landing_dir`` (one folder per
    ``sim_*`` source mapping), migrates Airflow's DB, then ``airflow dags test`` each
    DAG in order for ``logical_date`` (default: the day after the simulation ends; the
    nowcast runs at the end of the simulated sensor period).
    Returns the DAG ids run.
    """
    sim_dir = settings.home / "sim"
    if not sim_dir.exists():
        subprocess.run(
            [
                str(Path(sys.executable).with_name("riskwarn")),
                "simulate",
                "--size",
                size,
                "--seed",
                str(seed),
                "--out",
                str(sim_dir),
            ],
            check=True,
        )
    stems = stage_landing_files(settings, sim_dir)
    migrate(settings)
    date = logical_date or demo_logical_date(sim_dir)
    nowcast_date = demo_logical_date(sim_dir, key="sensor_end", tz=settings.display_tz)
    order = demo_dag_sequence(stems)
    for dag_id in order:
        when = nowcast_date if dag_id == "geohazard_nowcast" else date
        conf = demo_conf()
        airflow_dags_test(settings, dag_id, when, conf.get(dag_id))
        if dag_id == domains.TRAIN_DAG:
            bootstrap_champions(settings, conf[domains.TRAIN_DAG]["domains"])
    return order


def bootstrap_champions(settings: Settings, domains: list[str]) -> list[str]:
    """Demo only: a fresh install has no champion; promote the newest version where none is.

    The gate may refuse a first model trained on a small simulated year; scoring would
    then (rightly) fail loudly. For the demo the newest version is promoted through
    ``riskwarn promote --force`` (which writes the audit log with this reason and
    ``forced_over_gate``). Returns the
    domains promoted.
    """
    from mlflow import MlflowClient

    client = MlflowClient(
        tracking_uri=settings.resolved_mlflow_uri, registry_uri=settings.resolved_mlflow_uri
    )
    promoted = []
    for domain in domains:
        name = f"riskwarn-{domain}"
        try:
            client.get_model_version_by_alias(name, "champion")
            continue
        except Exception:
            versions = client.search_model_versions(f"name='{name}'")
        if not versions:
            continue
        newest = max(int(v.version) for v in versions)
        log.warning("demo: %s has no champion; promoting version %s", name, newest)
        subprocess.run(
            [
                str(Path(sys.executable).with_name("riskwarn")),
                "promote",
                domain,
                str(newest),
                "--reason",
                # a recorded reason is shown as written: both languages of the dashboard
                "demo bootstrap: fresh install without a champion"
                " / 演示初始化：新安装，尚无在役模型",
                "--force",  # a first model on a small simulated year may fail its gate
            ],
            env=airflow_env(settings),
            check=True,
        )
        promoted.append(domain)
    return promoted


def stage_landing_files(settings: Settings, sim_dir: Path) -> list[str]:
    """Link the simulator's extracts into ``<landing>/<sim source>/`` folders.

    A file goes to the source whose mapping stem (``sim_<name>``) starts its file
    name after ``sim_``, e.g. ``incidents.csv.gz`` -> ``landing/sim_incidents/``.
    """
    stems = [p.stem for p in source_mapping_files() if p.stem.startswith("sim_")]
    for stem in stems:
        name = stem.removeprefix("sim_")
        target = settings.landing_dir / stem
        target.mkdir(parents=True, exist_ok=True)
        for f in sorted(sim_dir.rglob(f"{name}.*")):
            link = target / f.name
            if not link.exists():
                link.symlink_to(f.resolve())
    return stems


def demo_logical_date(sim_dir: Path, key: str = "end", tz: str | None = None) -> str:
    """The day after the simulated period (or sensor period) ends, from simulation.json.

    With ``tz`` it is that day's local midnight as an ISO time with its offset (the
    simulated readings stop at the local end of the last day; a bare date would be UTC
    midnight, hours after the last reading, and every sensor would look dead).
    """
    import json

    meta = sim_dir / "simulation.json"
    if meta.exists():
        end = json.loads(meta.read_text()).get(key)
        if end:
            import pandas as pd

            day = pd.Timestamp(end) + pd.Timedelta(days=1)
            return day.tz_localize(tz).isoformat() if tz else day.strftime("%Y-%m-%d")
    raise RuntimeError(f"cannot tell the simulated period from {meta}")
