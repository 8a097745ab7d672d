"""Benchmark: a full day on the city simulation, through the functions the DAGs call.

Two parts, each stage printed with wall time, CPU time (this process, all threads), the
stage's own peak resident memory (``stage peak``: ``VmHWM`` reset at the stage's start
through ``/proc/self/clear_refs``, Linux) and the process's peak so far (``process
peak``: ``ru_maxrss``):

1. **Full rebuild**: a fresh home; every extract of the simulation up to the day before
   its last day lands in ``<home>/landing/<source>/`` and is ingested
   (``pipeline.ingest_source``, the ``ingest_<source>`` DAGs); then every domain the
   ``train_models`` DAG trains is trained, backtested and gated with the data before that
   last day, grouped as the DAG's ``train`` tasks are (``domains.training_groups``: one
   stage ``train geohazard_hourly+geohazard`` for the two site domains, one spill of the
   readings for both, ``pipeline.train_group``; each other domain alone,
   ``pipeline.train_domain``). A domain without a
   champion afterwards gets its newest version promoted the way ``make demo`` does
   (``orchestration.bootstrap_champions``: ``riskwarn promote --force``, audited).
   Target: 10 minutes.
2. **Daily incremental run** of that last day: its files land (the rows of each
   extract dated that day, cut from the simulation's files beforehand), are ingested,
   then every domain of ``score_and_warn`` is scored and warned
   (``pipeline.score_and_warn``: its features are built from the lake inside), the
   hourly geohazard nowcast runs (``pipeline.geohazard_nowcast``) and the published runs
   are exported (``pipeline.publish_exports``). Target: 60 seconds.

    .venv/bin/python bench/bench_full_day.py --sim DIR [--home DIR] [--reading-months N]
        [--domains A,B] [--parallel N] [--wait-before-daily PATH] [--ingest-only]

* ``--sim DIR``: the output of ``riskwarn simulate --size city --out DIR`` (required).
* ``--home DIR``: the riskwarn home to build (default: a temporary folder, removed).
* ``--reading-months N``: land only the last N monthly sensor-reading files (default:
  all 36); a quicker, smaller rebuild, said in the output.
* ``--domains A,B``: train only these domains (default: every domain of ``train_models``);
  a partial rebuild, said in the output.
* ``--parallel N``: the rebuild's trainings as the ``train_models`` DAG runs them under
  its cap (``RISKWARN_TRAIN_CONCURRENCY``, ``max_active_tis_per_dagrun``): N worker
  processes, a fresh one per training (as each Airflow task is its own process), largest
  domain first (``LARGEST_FIRST``); each training's line gives its own process's wall,
  CPU and peaks, and when it started and ended after the trainings began. The rebuild's
  wall is then the ingests + the trainings' elapsed time + champions, its CPU the sum
  over every stage. Default: one training after the other, in this process.
* ``--wait-before-daily PATH``: after the rebuild, wait (polling every 5 s) until
  ``PATH`` exists before the daily run, so that the daily run can be timed on a quiet
  machine (e.g. once other jobs beside a long rebuild have ended); the wait is not
  counted. Each part prints the machine's load average at its start and end.
* ``--ingest-only``: land and ingest the history, then stop (no training, no daily run):
  a home for ``bench/bench_train_domain.py`` or ``bench/profile_train_domain.py``.

Every stage runs under the memory budget of its DAG task (``RISKWARN_TASK_MEMORY_MB``,
default 8192 MB of address space); a stage that fails is printed as FAILED and the run
goes on, as the DAGs' other tasks would.
"""

from __future__ import annotations

# isort: off
import riskwarn  # noqa: F401  (first: its allocator settings precede pyarrow, riskwarn/allocators.py)

# isort: on
import argparse
import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SIMULATED_CITY_AREA = "115.7,29.6,117.4,31.3"  # riskwarn.demo.SIMULATED_CITY_AREA
# --parallel's order, longest training first (the rest keep train_models' order after
# these): the walls of the last full city run before --parallel existed
# (docs/benchmarks.md, 18.3: incidents ~830 s, geohazard_hourly 427 s, geohazard 306 s,
# disputes 269 s); longest first keeps the longest from starting last.
LARGEST_FIRST = ("incidents", "geohazard_hourly", "geohazard", "disputes", "dispute_cases")


def _peak_mb() -> float:
    """Peak resident memory of this process since it started (ru_maxrss), MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _reset_stage_peak() -> bool:
    """Start a new peak-RSS window (Linux: ``5`` to ``/proc/self/clear_refs`` resets
    ``VmHWM`` to the current RSS); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _stage_peak_mb() -> float | None:
    """``VmHWM`` (peak RSS since the last reset), MB; None where /proc is not there."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


@dataclass(frozen=True)
class Measured:
    """One stage's figures, from the process that ran it (picklable: a --parallel worker
    sends it back)."""

    wall: float
    cpu: float
    stage_peak: float | None
    process_peak: float
    outcome: str
    failed: bool
    not_trained: bool = False
    started: float = 0.0  # time.time() at the stage's start
    ended: float = 0.0


def _children_cpu() -> float:
    """CPU seconds of this process's ended and waited-for child processes (e.g. the
    ``riskwarn promote`` subprocess of the champions stage)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def measure(fn: Callable[[], Any], memory_mb: int) -> tuple[Measured, Any]:
    """Run ``fn`` under the memory budget of its DAG task and measure it in this process:
    wall, CPU (this process, all threads, plus the child processes it ran and waited for:
    the champions stage promotes through a ``riskwarn promote`` subprocess), the stage's
    own peak resident memory and the process's peak so far. A failure is caught and said
    in the outcome."""
    from riskwarn.orchestration import memory_budget

    windowed = _reset_stage_peak()
    started = time.time()
    t0, c0 = time.perf_counter(), time.process_time() + _children_cpu()
    failed = False
    try:
        with memory_budget(memory_mb):
            result = fn()
        outcome = _short(result)
    except Exception as exc:  # a failed task: say so, go on
        result = None
        failed = True
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        outcome = f"FAILED ({type(exc).__name__}: {reason})"
    wall, cpu = time.perf_counter() - t0, time.process_time() + _children_cpu() - c0
    m = Measured(
        wall=wall,
        cpu=cpu,
        stage_peak=_stage_peak_mb() if windowed else None,
        process_peak=_peak_mb(),
        outcome=outcome,
        failed=failed,
        not_trained=_not_trained(result),
        started=started,
        ended=started + wall,
    )
    return m, result


def train_unit(settings: Any, unit: str, end: Any) -> Any:
    """One ``train_models`` task: ``unit`` is a domain or a group joined by ``+``
    (:func:`training_units`); what the task returns, or its exception
    (``pipeline.group_result``)."""
    from riskwarn import pipeline

    return pipeline.group_result(pipeline.train_group(settings, unit.split("+"), end))


def training_units(trained: list[str]) -> list[str]:
    """``trained`` as the ``train_models`` DAG's tasks: its groups
    (``riskwarn.domains.training_groups``), each joined by ``+``."""
    from riskwarn.domains import training_groups

    return ["+".join(group) for group in training_groups(trained)]


def train_in_worker(settings: Any, unit: str, end: Any, memory_mb: int) -> Measured:
    """One training task in a --parallel worker process (a fresh process per task)."""
    return measure(partial(train_unit, settings, unit, end), memory_mb)[0]


def largest_first(trained: list[str]) -> list[str]:
    """``trained`` (domains or ``+``-joined groups, ranked by their first domain) in
    --parallel's order: ``LARGEST_FIRST``, then the others as given."""
    rank = {d: i for i, d in enumerate(LARGEST_FIRST)}
    known = sorted(
        (u for u in trained if u.split("+")[0] in rank), key=lambda u: rank[u.split("+")[0]]
    )
    return known + [u for u in trained if u.split("+")[0] not in rank]


def _not_trained(result: Any) -> bool:
    """Whether a training's result says a domain (of a group, any) had nothing to learn."""
    if not isinstance(result, dict):
        return False
    if isinstance(result.get("domains"), dict):
        return any(_not_trained(r) for r in result["domains"].values())
    return bool(result.get("not_trained"))


class Stages:
    """Runs and prints the stages; keeps (part, stage, wall, cpu) for the totals.

    Each stage runs inside the memory budget its DAG task has
    (``orchestration.memory_budget(settings.task_memory_mb)``); a stage that fails (as
    its task would: a ``MemoryError`` past the budget, say) is printed as FAILED with its
    one-line reason and the benchmark goes on with the next stage, so a run always ends
    with every stage's line and the totals (which then say how many stages failed)."""

    def __init__(self, memory_mb: int = 0) -> None:
        self.rows: list[tuple[str, str, float, float]] = []
        self.stage_peaks: list[float | None] = []
        self.failed: list[tuple[str, str]] = []
        self.memory_mb = memory_mb

    def run(self, part: str, stage: str, fn: Callable[[], Any]) -> Any:
        m, result = measure(fn, self.memory_mb)
        self.record(part, stage, m)
        return result

    def record(self, part: str, stage: str, m: Measured, when: str = "") -> None:
        """Keep and print one stage's figures (``when``: a --parallel training's span)."""
        if m.failed:
            self.failed.append((part, stage))
        self.rows.append((part, stage, m.wall, m.cpu))
        self.stage_peaks.append(m.stage_peak)
        rss = f"{m.stage_peak:7,.0f}" if m.stage_peak is not None else "    n/a"
        print(
            f"  {stage:<44} {m.wall:8.1f} s  cpu {m.cpu:8.1f} s  stage peak {rss} MB"
            f"  process peak {m.process_peak:7,.0f} MB  {when}{m.outcome}",
            flush=True,
        )

    def failures(self, part: str) -> str:
        n = sum(1 for p, _ in self.failed if p == part)
        return f"; {n} stage(s) FAILED" if n else ""

    def total(self, part: str) -> tuple[float, float]:
        rows = [r for r in self.rows if r[0] == part]
        return sum(r[2] for r in rows), sum(r[3] for r in rows)


def train_parallel(
    stages: Stages,
    settings: Any,
    trained: list[str],
    end: Any,
    workers: int,
    worker: Callable[[Any, str, Any, int], Measured] = train_in_worker,
) -> tuple[list[str], float]:
    """Train ``trained`` largest first in ``workers`` processes (a fresh one per training,
    started by ``spawn``: no forked copy of this process's threads or memory); print each
    training as it ends. Returns the domains not trained and the elapsed wall.
    ``worker`` (module level, picklable) runs one training; tests pass a stand-in."""
    order = largest_first(trained)
    print(
        f"trainings in {workers} worker process(es), largest first: {', '.join(order)}",
        flush=True,
    )
    not_trained: list[str] = []
    t0, wall0 = time.time(), time.perf_counter()
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        max_tasks_per_child=1,
    )
    with pool:
        futures = {pool.submit(worker, settings, d, end, stages.memory_mb): d for d in order}
        for future in as_completed(futures):
            domain = futures[future]
            try:
                m = future.result()
            except Exception as exc:  # the worker itself died (OOM killer, say)
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
                now = time.time()
                m = Measured(
                    0.0,
                    0.0,
                    None,
                    0.0,
                    f"FAILED ({type(exc).__name__}: {reason})",
                    True,
                    started=now,
                    ended=now,
                )
            when = f"[+{m.started - t0:6.1f} .. +{m.ended - t0:6.1f} s]  "
            stages.record("rebuild", f"train {domain}", m, when)
            if m.not_trained:
                not_trained.append(domain)
    elapsed = time.perf_counter() - wall0
    print(f"  trainings, elapsed (as run in parallel)       {elapsed:8.1f} s", flush=True)
    return not_trained, elapsed


def load_words() -> str:
    """The machine's load average (1, 5, 15 min) as printed beside each part."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


def wait_for(path: Path, poll_s: float = 5.0) -> float:
    """Block until ``path`` exists; returns the seconds waited."""
    t0 = time.perf_counter()
    while not path.exists():
        time.sleep(poll_s)
    return time.perf_counter() - t0


def _short(result: Any) -> str:
    if isinstance(result, dict) and isinstance(result.get("domains"), dict):
        return "; ".join(f"{d}: {_short(r)}" for d, r in result["domains"].items())[:300]
    if isinstance(result, dict) and result.get("not_trained"):
        return f"NOT TRAINED ({result['not_trained']})"[:200]
    if isinstance(result, dict):
        keys = ("files", "read", "accepted", "quarantined", "gate", "promoted", "version")
        return ", ".join(f"{k}={result[k]}" for k in keys if k in result)[:110]
    if isinstance(result, list):
        return f"{len(result)} item(s)"
    return str(result)[:110]


def _time_source_column(mapping: Any) -> str | None:
    from riskwarn.contracts import TABLES

    column = TABLES[mapping.table].time_column
    rule = mapping.columns.get(column) if column else None
    return rule.sources[0] if rule is not None and rule.sources else None


def split_last_day(sim: Path, day: str, work: Path, reading_months: int | None) -> dict:
    """Per source mapping: the history files and the files of ``day`` (``YYYY-MM-DD``,
    local), written under ``work``. The extract holding that day is cut in two."""
    from riskwarn.ingest import load_mapping

    meta = json.loads((sim / "simulation.json").read_text(encoding="utf-8"))
    by_source: dict[str, list[Path]] = {}
    for f in meta["files"]:
        if f["kind"] == "extract":
            by_source.setdefault(f["mapping"], []).append(sim / f["path"])
    plan: dict[str, dict[str, list[Path]]] = {}
    for source, files in by_source.items():
        files = sorted(files)
        if source == "sim_sensor_readings" and reading_months:
            files = files[-reading_months:]
        mapping = load_mapping(ROOT / "configs" / "sources" / f"{source}.yaml")
        column = _time_source_column(mapping)
        if column is None:  # reference tables (areas, sites, sensors): history only
            plan[source] = {"history": files, "day": []}
            continue
        *older, last = files
        hist_path = work / "history" / source / last.name
        ext = ".csv.gz" if last.name.endswith(".csv.gz") else last.suffix
        day_path = work / "day" / source / f"{last.name.split('.')[0]}.{day}{ext}"
        hist_path.parent.mkdir(parents=True, exist_ok=True)
        day_path.parent.mkdir(parents=True, exist_ok=True)
        if last.suffix == ".parquet":
            import pyarrow.compute as pc
            import pyarrow.parquet as pq

            table = pq.read_table(last)
            on_day = pc.equal(pc.strftime(table[column], "%Y-%m-%d"), day)
            pq.write_table(table.filter(pc.invert(on_day)), hist_path)
            pq.write_table(table.filter(on_day), day_path)
        else:
            frame = pd.read_csv(last, dtype=str, keep_default_na=False, encoding=mapping.encoding)
            on_day = frame[column].str.startswith(day)
            for part, path in ((~on_day, hist_path), (on_day, day_path)):
                frame[part].to_csv(path, index=False, encoding=mapping.encoding)
        plan[source] = {"history": [*older, hist_path], "day": [day_path]}
    return plan


def land(settings: Any, source: str, files: list[Path]) -> None:
    folder = settings.landing_dir / source
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        (folder / f.name).symlink_to(f.resolve())


def daily_run(
    stages: Stages, settings: Any, plan: dict, mappings: dict, day: str, day_end: Any
) -> None:
    """Part 2: the day's files land and are ingested, every daily domain is scored and
    warned, the hourly nowcast runs at the day's end and the published runs are exported."""
    from riskwarn import domains, pipeline

    print(f"daily incremental run of {day}; {load_words()}:", flush=True)
    for source, files in plan.items():
        if files["day"]:
            land(settings, source, files["day"])
            stages.run(
                "daily",
                f"ingest {source} (1 file)",
                partial(pipeline.ingest_source, settings, mappings[source], day_end),
            )
    for domain in domains.names(scored_by=domains.DAILY_SCORING_DAG):
        stages.run(
            "daily",
            f"features + score + warn {domain}",
            partial(pipeline.score_and_warn, settings, domain, day_end),
        )
    stages.run(
        "daily",
        "geohazard nowcast (hourly, at the day's end)",
        partial(pipeline.geohazard_nowcast, settings, day_end),
    )
    stages.run("daily", "publish (exports)", partial(pipeline.publish_exports, settings))
    wall, cpu = stages.total("daily")
    print(
        f"daily incremental run: {wall:.1f} s wall, cpu {cpu:.1f} s{stages.failures('daily')}"
        f"; at its end {load_words()}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", type=Path, required=True)
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--reading-months", type=int, default=None)
    ap.add_argument(
        "--domains",
        default=None,
        help="comma list: train only these domains of train_models (default: every one); "
        "a partial rebuild, said in the output",
    )
    ap.add_argument(
        "--parallel",
        type=int,
        default=0,
        metavar="N",
        help="train in N worker processes, largest domain first, as train_models does "
        "with RISKWARN_TRAIN_CONCURRENCY=N (default: one after the other, in this process)",
    )
    ap.add_argument(
        "--wait-before-daily",
        type=Path,
        default=None,
        metavar="PATH",
        help="after the rebuild, wait until PATH exists before the daily run (not counted)",
    )
    ap.add_argument(
        "--rebuild-only",
        action="store_true",
        help="the full rebuild, then stop: a home for --daily-only (copy it first: the daily "
        "run writes to it)",
    )
    ap.add_argument(
        "--daily-only",
        action="store_true",
        help="the daily incremental run only, on --home as --rebuild-only left it",
    )
    ap.add_argument(
        "--ingest-only",
        action="store_true",
        help="land and ingest the history, then stop (a home to train domains in later)",
    )
    args = ap.parse_args(argv)
    if args.parallel < 0:
        ap.error("--parallel: a number of worker processes >= 1")
    if args.daily_only and (args.home is None or not args.home.is_dir()):
        ap.error("--daily-only: --home, a home --rebuild-only built")

    from riskwarn import domains, pipeline
    from riskwarn.keys import ensure_demo_key
    from riskwarn.orchestration import bootstrap_champions
    from riskwarn.settings import Settings

    meta = json.loads((args.sim / "simulation.json").read_text(encoding="utf-8"))
    tz = meta.get("timezone", "Asia/Shanghai")
    last_day = pd.Timestamp(meta["end"])
    day = last_day.strftime("%Y-%m-%d")
    day_start = last_day.tz_localize(tz)  # the daily run's data interval: the last day
    day_end = day_start + pd.Timedelta(days=1)
    tmp = Path(tempfile.mkdtemp(prefix="riskwarn-fullday-"))
    home = args.home or tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    # the pseudonym key: <home>/secrets/pseudonym.key (random, 0600), so that a
    # --daily-only run on the home pseudonymises its day's parties as the rebuild did
    settings = Settings(home=home, city_area=SIMULATED_CITY_AREA)
    ensure_demo_key(settings)
    stages = Stages(settings.task_memory_mb)
    try:
        print(f"cutting {day} (local) out of the extracts of {args.sim} ...", flush=True)
        plan = split_last_day(args.sim, day, tmp / "cut", args.reading_months)
        months = len(plan.get("sim_sensor_readings", {}).get("history", []))
        print(f"home {home}; sensor-reading months landed: {months}", flush=True)
        mappings = {s: ROOT / "configs" / "sources" / f"{s}.yaml" for s in plan}
        if args.daily_only:
            # the day's files were cut just now: let them settle as landing files must
            # (settings.landing_settle_seconds) before the run's clock starts
            time.sleep(settings.landing_settle_seconds + 1.0)
            daily_run(stages, settings, plan, mappings, day, day_end)
            return 1 if stages.failed else 0

        print(
            f"full rebuild (history up to the day before, then training); {load_words()}:",
            flush=True,
        )
        for source, files in plan.items():
            land(settings, source, files["history"])
            stages.run(
                "rebuild",
                f"ingest {source} ({len(files['history'])} files)",
                partial(pipeline.ingest_source, settings, mappings[source], day_start),
            )
        if args.ingest_only:
            wall, cpu = stages.total("rebuild")
            print(
                f"ingest only: {wall:.1f} s wall, cpu {cpu:.1f} s{stages.failures('rebuild')}"
                f"; at its end {load_words()}",
                flush=True,
            )
            return 1 if stages.failed else 0
        trained = list(domains.names(trained_by=domains.TRAIN_DAG))
        if args.domains:
            wanted = [d.strip() for d in args.domains.split(",") if d.strip()]
            unknown = sorted(set(wanted) - set(trained))
            if unknown:
                ap.error(f"--domains: not trained by train_models: {', '.join(unknown)}")
            skipped = [d for d in trained if d not in wanted]
            trained = [d for d in trained if d in wanted]
            print(f"PARTIAL rebuild: not trained here: {', '.join(skipped) or 'none'}", flush=True)
        not_trained: list[str] = []
        overlap = 0.0  # wall the trainings' sum exceeds their elapsed time (parallel)
        units = training_units(trained)  # as the train_models DAG's tasks
        if args.parallel:
            before = len(stages.rows)
            not_trained, elapsed = train_parallel(stages, settings, units, day_start, args.parallel)
            overlap = sum(r[2] for r in stages.rows[before:]) - elapsed
        else:
            for unit in units:
                out = stages.run(
                    "rebuild", f"train {unit}", partial(train_unit, settings, unit, day_start)
                )
                if _not_trained(out):
                    not_trained.append(unit)
        stages.run(
            "rebuild",
            "champions (promote newest where none)",
            partial(bootstrap_champions, settings, trained),
        )
        wall, cpu = stages.total("rebuild")
        wall -= overlap
        print(
            f"full rebuild: {wall:.1f} s wall ({wall / 60:.1f} min), cpu {cpu:.1f} s"
            + (f" (trainings in {args.parallel} processes)" if args.parallel else "")
            + stages.failures("rebuild")
            + (
                f"; not trained (nothing to learn yet): {', '.join(not_trained)}"
                if not_trained
                else ""
            )
            + f"; at its end {load_words()}",
            flush=True,
        )
        if args.wait_before_daily is not None:
            print(f"waiting for {args.wait_before_daily} before the daily run ...", flush=True)
            waited = wait_for(args.wait_before_daily)
            print(f"waited {waited:.0f} s (not counted)", flush=True)

        if args.rebuild_only:
            return 1 if stages.failed else 0
        daily_run(stages, settings, plan, mappings, day, day_end)
    finally:
        if args.home is None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            shutil.rmtree(tmp / "cut", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
