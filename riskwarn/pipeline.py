"""The package functions the Airflow tasks call: one function per task.

Each takes the :class:`~riskwarn.settings.Settings` and the task's data interval (never
the clock) and returns something small (a path, a run id, a count dict) for XCom.
Each is idempotent for its interval: re-running writes the same files and rows.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskwarn import domains
from riskwarn.scoring import utc

if TYPE_CHECKING:
    from riskwarn.settings import Settings

log = logging.getLogger(__name__)


def local_origin(interval_end: Any, tz: str) -> pd.Timestamp:
    """The forecast origin of a daily interval: the local midnight of its end, in UTC."""
    end = utc(interval_end)
    return end.tz_convert(tz).normalize().tz_convert("UTC")


def nowcast_origin(interval_end: Any, minutes: int) -> pd.Timestamp:
    """The nowcast origin: the interval end floored to the cadence (10..60 minutes)."""
    return utc(interval_end).floor(f"{int(minutes)}min")


# --------------------------------------------------------------------------- ingest


def landing_files(settings: Settings, source_name: str) -> list[Path]:
    """Files waiting in ``<landing>/<source>/`` (sorted, so runs are deterministic)."""
    from riskwarn.ingest.landing import landing_files as files_in

    return files_in(settings.landing_dir / source_name)


def ingest_source(
    settings: Settings, mapping_path: str | Path, interval_end: Any
) -> dict[str, Any]:
    """Ingest every landing file of one source into the lake, one file at a time: each
    file's batch is recorded in the store as soon as it is in the lake, then the file
    moves to ``<home>/archive/<source>/ingested=<interval end>/`` (docs/ingestion.md).

    ``ingested_at`` is the interval end, so a re-run records identical batches.
    Returns summed counts (``files``, ``archived``, ``read``, ``accepted``, ...), the
    files left for the next run as still being written (``still_changing``) and the
    entries never read (``not_read``: sub-folders, non-regular files), each also warned
    about in the task log, and each file's export time from its name (``extracted_at``;
    ``no_export_time``: the files whose name gives none, compared by content only:
    :func:`riskwarn.ingest.landing.export_time`). A file that stored nothing because every row was quarantined
    is recorded and archived like the others, warned about, and then raises
    :class:`riskwarn.ingest.landing.LandingStoredNothing` (its ``totals`` the report):
    the DAG fails the task without retries (docs/ingestion.md).
    """
    from riskwarn.ingest import load_mapping
    from riskwarn.ingest.landing import (
        COUNTS,
        ingest_landing,
        raise_if_stored_nothing,
        warn_unread,
    )
    from riskwarn.store import Store

    mapping = load_mapping(Path(mapping_path))
    folder = settings.landing_dir / Path(mapping_path).stem
    if not landing_files(settings, folder.name):
        log.info("no landing files for %s", mapping.name)
        empty: dict[str, Any] = dict.fromkeys(("files", "archived", *COUNTS), 0)
        return {
            **empty,
            "still_changing": [],
            "not_read": warn_unread(folder),
            "stored_nothing": [],
            "extracted_at": {},
            "no_export_time": [],
            "taken_by_another_run": [],
        }
    store = Store.from_settings(settings)
    store.upgrade()

    from riskwarn.ingest.journal import StoreJournal

    as_of = utc(interval_end).to_pydatetime()
    journal = StoreJournal(store, settings.lake_dir)
    try:
        totals = ingest_landing(mapping, folder, settings, as_of=as_of, journal=journal)
    finally:
        store.close()
    log.info("ingested %s: %s", mapping.name, totals)
    raise_if_stored_nothing(folder.name, totals)  # a file wholly quarantined: not fine
    return totals


# --------------------------------------------------------------------------- models


def _training_context(settings: Settings) -> tuple[Any, Any, str]:
    """MLflow client, migrated serving store and artefact URI shared by every training task.

    Opened under :func:`riskwarn.spill.setup_lock`: trainings started together (the DAG's
    domains, a retrain from the dashboard) never create or upgrade the databases at once."""
    from models.registry import configure
    from riskwarn.spill import setup_lock
    from riskwarn.store import Store

    with setup_lock(settings):
        client = configure(settings.resolved_mlflow_uri)
        client.search_experiments(max_results=1)  # creates mlflow.db's tables if new
        client.search_registered_models(max_results=1)  # the registry's, the same file
        store = Store.from_settings(settings)
        store.upgrade()
    artifacts = (settings.home / "mlartifacts").resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    return client, store, artifacts.as_uri()


@dataclass(frozen=True)
class TrainOptions:
    """Options of one training run (``riskwarn train`` flags; the DAG uses the defaults).

    ``eval_days`` None keeps each domain's own latest-window length (site domains reach
    back from it until it holds ``min_eval_failures`` failures, docs/design.md); ``sources`` limits
    the hotspot domains to some lake sources (None = all).
    """

    eval_days: int | None = None
    auto_promote: bool = True
    max_ece: float = 0.05
    tz: str | None = None
    sources: tuple[str, ...] | None = None


def train_domain(
    settings: Settings, domain: str, interval_end: Any, options: TrainOptions | None = None
) -> dict[str, Any]:
    """Train, backtest, gate and maybe promote a challenger for ``domain`` (models).

    Uses only lake records before the interval end, so a re-run of the same week trains
    on the same data (``data_version`` in MLflow shows it). Returns the run id, version,
    gate decision and whether the champion moved. One training of a domain at a time on
    a home: a second one started meanwhile raises :class:`riskwarn.spill.TrainingBusy`
    (a RuntimeError) at once. Holding that lock it first ends the domain's MLflow runs
    left RUNNING by a training that died (:func:`models.registry.end_abandoned_runs`;
    their ids in ``abandoned_runs_ended``). The one entry point of the
    ``train_models`` DAG and of ``riskwarn train``. When the data hold nothing to learn
    yet (:class:`models.gate.NothingToLearn`, e.g. no site failure in any training rows)
    nothing is logged and the result says ``not_trained`` with the reason (and
    ``not_trained_zh``, the reason in Chinese or None; run id and
    version None, champion unchanged): a rebuild goes on instead of failing.
    """
    opts = options or TrainOptions()
    trainers = {"hotspot": _train_hotspots, "case": _train_cases, "site": _train_sites}
    try:
        family = domains.get(domain).family
        trainer = trainers[family]
    except domains.UnknownDomain as exc:
        raise RuntimeError(f"models cannot train {domain!r}: {exc}") from None
    if opts.sources and family != "hotspot":  # it was ignored, silently (review, stop 41)
        raise ValueError(
            f"--source limits the hotspot domains only; {domain} ({family} family) trains "
            "on every source: nothing trained"
        )
    common: dict[str, Any] = {"max_ece": opts.max_ece, "auto_promote": opts.auto_promote}
    if opts.eval_days is not None:
        common["eval_days"] = opts.eval_days
    from riskwarn.spill import spill_parent, sweep, training_lock, using_parent

    with training_lock(settings, domain):  # TrainingBusy if it is already training here
        parent = spill_parent(settings)
        sweep(parent)  # what trainings killed before left (their owner gone), never a live one
        with using_parent(parent):  # the XGBoost external-memory pages go there too
            return _train_domain(settings, domain, interval_end, opts, trainer, common)


def _train_domain(
    settings: Settings,
    domain: str,
    interval_end: Any,
    opts: TrainOptions,
    trainer: Any,
    common: dict[str, Any],
) -> dict[str, Any]:
    from models.gate import NothingToLearn
    from models.registry import end_abandoned_runs

    client, store, artifact_uri = _training_context(settings)
    try:  # under the domain's training lock: no live training of it owns a run now
        ended = [r["run_id"] for r in end_abandoned_runs(client, domain)]
    except BaseException:
        store.close()
        raise
    common.update(store=store, artifact_location=artifact_uri, tz=opts.tz or settings.display_tz)
    try:
        report = trainer(settings, domain, utc(interval_end), opts, client, common)
    except NothingToLearn as exc:
        # the data hold nothing to learn yet (e.g. no site failure): not a failed run
        return _not_trained(client, domain, exc, ended)
    finally:
        store.close()
    return _trained(domain, report, ended)


def _not_trained(client: Any, domain: str, exc: Any, ended: list[str]) -> dict[str, Any]:
    """:func:`train_domain`'s result when the data hold nothing to learn yet."""
    from models.registry import champion_version

    log.warning("%s not trained: %s", domain, exc)
    before = champion_version(client, domain)
    return {
        "domain": domain,
        "mlflow_run_id": None,
        "version": None,
        "gate": f"not trained: {exc}",
        "promoted": False,
        "champion_before": before,
        "not_trained": str(exc),
        "not_trained_zh": exc.zh,  # the reason in Chinese (None if not given)
        "abandoned_runs_ended": ended,
    }


def _trained(domain: str, report: Any, ended: list[str]) -> dict[str, Any]:
    """:func:`train_domain`'s result of a training report."""
    run_id = report.run.run_id if hasattr(report, "run") else report.run_id
    version = report.run.version if hasattr(report, "run") else report.version
    return {
        "domain": domain,
        "mlflow_run_id": run_id,
        "version": version,
        "gate": report.gate.summary(),
        "promoted": bool(report.promoted),
        "champion_before": report.champion_before,
        "abandoned_runs_ended": ended,  # runs left RUNNING by a dead training, now KILLED
    }


def train_domains(
    settings: Settings,
    names: Sequence[str],
    interval_end: Any,
    options: TrainOptions | None = None,
) -> dict[str, dict[str, Any] | Exception]:
    """:func:`train_group` of each of :func:`riskwarn.domains.training_groups` ``(names)``: per domain (in
    the order of ``names``), :func:`train_domain`'s result or the exception that stopped
    its training; a domain's failure never stops another's."""
    out: dict[str, dict[str, Any] | Exception] = {}
    for group in domains.training_groups(names):
        out.update(train_group(settings, group, interval_end, options))
    return {name: out[name] for name in dict.fromkeys(names)}


def train_group(
    settings: Settings,
    group: Sequence[str],
    interval_end: Any,
    options: TrainOptions | None = None,
    task: str | None = None,
) -> dict[str, dict[str, Any] | Exception]:
    """Train one group of :func:`riskwarn.domains.training_groups`: one domain by :func:`train_domain`,
    several site domains by :func:`train_site_group`. Per domain, its result or the
    exception that stopped it (logged; never raised).

    ``task`` names the Airflow task instance training the group (``"<dag id>/<run id>/<map
    index>"``, the same for each of its tries). Each domain it trains is marked with it in
    MLflow (:func:`models.registry.record_task_result`), and a domain an earlier try of
    the task already trained is not trained again: its recorded result is returned, with
    ``earlier_try`` True. So a retry of a site group whose other domain failed trains only
    the failed one (docs/design.md, "Training the site domains together")."""
    done = _earlier_tries(settings, group, task) if task else {}
    todo = [name for name in group if name not in done]
    results: dict[str, dict[str, Any] | Exception] = {}
    if len(todo) > 1:
        results = train_site_group(settings, todo, interval_end, options)
    elif todo:
        (domain,) = todo
        try:
            results = {domain: train_domain(settings, domain, interval_end, options)}
        except Exception as exc:
            log.exception("training %s failed", domain)
            results = {domain: exc}
    if task:
        _record_tries(settings, results, task)
    merged = {**done, **results}
    return {name: merged[name] for name in group}


def _earlier_tries(
    settings: Settings, group: Sequence[str], task: str
) -> dict[str, dict[str, Any]]:
    """The results an earlier try of ``task`` recorded, per domain of ``group`` (none on a
    home whose MLflow cannot be read: the group is then trained, as without a task)."""
    from models.registry import configure, task_result
    from riskwarn.spill import setup_lock

    done: dict[str, dict[str, Any]] = {}
    try:
        with setup_lock(settings):  # the first try may be creating mlflow.db's tables
            client = configure(settings.resolved_mlflow_uri)
        for name in group:
            result = task_result(client, name, task)
            if result is not None:
                log.warning(
                    "%s: trained by an earlier try of %s (run %s, version %s): not trained again",
                    name,
                    task,
                    result.get("mlflow_run_id"),
                    result.get("version"),
                )
                done[name] = {**result, "earlier_try": True}
    except Exception:
        log.exception("reading %s's earlier tries: training the whole group", task)
        return {}
    return done


def _record_tries(
    settings: Settings, results: dict[str, dict[str, Any] | Exception], task: str
) -> None:
    """Mark each domain trained in ``results`` with ``task`` (:func:`_earlier_tries` reads it);
    a failure to mark only means a retry trains that domain again."""
    from models.registry import configure, record_task_result

    trained = {n: r for n, r in results.items() if isinstance(r, dict) and r.get("mlflow_run_id")}
    if not trained:
        return
    try:
        client = configure(settings.resolved_mlflow_uri)
        for result in trained.values():
            record_task_result(client, result, task)
    except Exception:
        log.exception("marking %s's trained domains %s", task, sorted(trained))


class GroupFailed(RuntimeError):
    """Some domains of a group failed (:func:`group_result`); ``results`` holds every
    domain's result or exception, the others trained and recorded."""

    def __init__(self, message: str, results: dict[str, dict[str, Any] | Exception]) -> None:
        super().__init__(message)
        self.results = results


def group_result(results: dict[str, dict[str, Any] | Exception]) -> dict[str, Any]:
    """What a ``train_models`` task returns for :func:`train_group`'s ``results``: one
    domain's result as :func:`train_domain` returns it (the dashboard reads it), several
    as ``{"domains": {domain: result}}``. Raises if a domain failed: one domain's own
    exception, else :class:`GroupFailed` naming the failed ones (after the others were
    trained and recorded)."""
    failed = {name: r for name, r in results.items() if isinstance(r, Exception)}
    if len(results) == 1:
        (result,) = results.values()
        if isinstance(result, Exception):
            raise result
        return result
    if failed:
        done = {name: r for name, r in results.items() if not isinstance(r, Exception)}
        words = "; ".join(f"{name}: {type(e).__name__}: {e}" for name, e in failed.items())
        trained = ", ".join(
            f"{name} (run {r.get('mlflow_run_id')}, gate {r.get('gate')})"
            for name, r in done.items()
        )
        raise GroupFailed(
            f"training failed for {words}; trained and recorded: {trained or 'none'}", results
        ) from next(iter(failed.values()))
    return {"domains": results}


def train_site_group(
    settings: Settings,
    names: Sequence[str],
    interval_end: Any,
    options: TrainOptions | None = None,
) -> dict[str, dict[str, Any] | Exception]:
    """Train several site domains (``geohazard``, ``geohazard_hourly``) for one interval
    end sharing what they have in common: one spill of the lake's readings
    (:class:`LakeReadings`), one read of each batch of sites and its per-reading and
    per-sensor work (:func:`models.geohazard_sites.train_site_domains`). Each domain keeps
    its own training lock, abandoned-run clean-up, MLflow run, gate and promotion, and
    its result is what :func:`train_domain` of it alone returns (the same run contents,
    tests/test_site_group_training.py; bench/train_outputs.py compares them).

    Per domain, its result or the exception that stopped it: a domain already being
    trained here (:class:`riskwarn.spill.TrainingBusy`) or failing after the shared work
    leaves the others trained; a failure of the shared work (the spill, the site
    tables) is each domain's."""
    from contextlib import ExitStack

    from riskwarn.spill import TrainingBusy, spill_parent, sweep, training_lock, using_parent

    for name in names:
        if domains.get(name).family != "site":
            raise ValueError(f"train_site_group trains site domains only, not {name!r}")
    opts = options or TrainOptions()
    results: dict[str, dict[str, Any] | Exception] = {}
    with ExitStack() as stack:
        held = []
        for name in names:
            try:
                stack.enter_context(training_lock(settings, name))
                held.append(name)
            except TrainingBusy as exc:
                log.error("%s", exc)
                results[name] = exc
        if held:
            parent = spill_parent(settings)
            sweep(parent)  # what trainings killed before left (their owner gone)
            stack.enter_context(using_parent(parent))
            results.update(_train_sites_together(settings, held, utc(interval_end), opts))
    return {name: results[name] for name in names}


def _train_sites_together(
    settings: Settings, names: list[str], end: pd.Timestamp, opts: TrainOptions
) -> dict[str, dict[str, Any] | Exception]:
    from dataclasses import replace

    from models.gate import NothingToLearn
    from models.geohazard_sites import (
        READING_COLUMNS,
        TRAIN_BATCH_SENSORS,
        site_config,
        train_site_domains,
    )
    from models.registry import end_abandoned_runs
    from riskwarn.lake import read_known, table_version
    from riskwarn.nowcast import backtest_published_levels
    from riskwarn.spill import spill_parent

    try:
        client, store, artifact_uri = _training_context(settings)
    except Exception as exc:
        log.exception("training context of %s", names)
        return {name: exc for name in names}
    results: dict[str, dict[str, Any] | Exception] = {}
    ended: dict[str, list[str]] = {}
    try:
        for name in names:  # under each domain's training lock
            try:
                ended[name] = [r["run_id"] for r in end_abandoned_runs(client, name)]
            except Exception as exc:
                log.exception("%s: ending abandoned runs", name)
                results[name] = exc
        live = [name for name in names if name in ended]
        if not live:
            return results
        configs = (
            {name: replace(site_config(name), eval_days=opts.eval_days) for name in live}
            if opts.eval_days is not None
            else None
        )
        try:
            # sites, sensors, failures with the earlier versions of corrected records (each
            # origin sees the ones valid then); readings as they are now
            sites = read_known(settings.lake_dir, "hazard_sites")
            sensors = read_known(settings.lake_dir, "sensors")
            events = read_known(settings.lake_dir, "hazard_events", end)
            version = table_version(settings.lake_dir, "sensor_readings")
            with LakeReadings(
                settings.lake_dir,
                end,
                READING_COLUMNS,
                version=version,
                spill_dir=spill_parent(settings),
            ) as readings:
                reports: dict[str, Any] = train_site_domains(
                    readings,
                    sensors,
                    sites,
                    events,
                    client,
                    domains=live,
                    tz=opts.tz or settings.display_tz,
                    configs=configs,
                    store=store,
                    max_ece=opts.max_ece,
                    auto_promote=opts.auto_promote,
                    artifact_location=artifact_uri,
                    batch_sensors=TRAIN_BATCH_SENSORS,
                    # the gate judges the levels as the nowcast publishes them
                    publish=backtest_published_levels,
                )
        except Exception as exc:  # the shared work: each domain's failure
            log.exception("site training of %s", live)
            reports = {name: exc for name in live}
        for name in live:
            report = reports[name]
            try:
                if isinstance(report, NothingToLearn):
                    results[name] = _not_trained(client, name, report, ended[name])
                elif isinstance(report, Exception):
                    results[name] = report
                else:
                    results[name] = _trained(name, report, ended[name])
            except Exception as exc:
                log.exception("%s: its result", name)
                results[name] = exc
    finally:
        store.close()
    return results


def _train_hotspots(
    settings: Settings,
    domain: str,
    end: pd.Timestamp,
    opts: TrainOptions,
    client: Any,
    common: dict[str, Any],
) -> Any:
    """Cell hotspot domains: the domain's event table, records before the end.

    The model frame is built and the boosters grown on ``settings.engine``
    (:mod:`riskwarn.engine`: here, or a Dask cluster whose workers read the same table
    version of the lake)."""
    from models.train import train_hotspot_domain
    from riskwarn.engine import EventSource, open_engine
    from riskwarn.lake import read_known, table_version

    spec = domains.get(domain)
    table = spec.event_table
    source = EventSource(
        settings.lake_dir,
        table,
        spec.time_column,
        end,
        settings.city_crs,
        settings.cell_size_m,
        sources=tuple(opts.sources) if opts.sources else None,
        version=table_version(settings.lake_dir, table),
    )
    # with the earlier versions of corrected records: each origin sees the one valid then
    # (the read serving makes at its origin, on the sources the model records)
    events = read_known(settings.lake_dir, table, end, opts.sources, version=source.version)
    if events.empty:
        raise ValueError(
            f"no {table} rows before {end} in the lake at {settings.lake_dir}; "
            "run `riskwarn ingest` first"
        )
    # a model on some sources is still judged on every source's events (the city's): its
    # backtest's windows and the champion comparison count them
    judged = (
        read_known(settings.lake_dir, table, end, None, version=source.version)
        if opts.sources
        else None
    )
    with open_engine(settings) as engine:
        return train_hotspot_domain(
            events,
            domain,
            client,
            crs=settings.city_crs,
            cell_size_m=settings.cell_size_m,
            frame_builder=engine.frame_builder(source),
            trainer=engine.trainer(),
            sources=opts.sources,
            judged=judged,
            **common,
        )


def _train_cases(
    settings: Settings,
    domain: str,
    end: pd.Timestamp,
    opts: TrainOptions,
    client: Any,
    common: dict[str, Any],
) -> Any:
    """``dispute_cases``: disputes opened and their events known before the end."""
    from models.case_models import train_case_domain
    from riskwarn.lake import read_known

    # with the earlier versions of corrected records: each origin sees the one valid then
    # (the read serving makes at its origin)
    disputes = read_known(settings.lake_dir, "disputes", end)
    events = read_known(settings.lake_dir, "dispute_events", end)
    return train_case_domain(
        disputes,
        events,
        client,
        domain=domain,
        crs=settings.city_crs,
        cell_size_m=settings.cell_size_m,
        **common,
    )


@dataclass(frozen=True)
class LakeReadings:
    """The lake's ``sensor_readings`` before ``end`` as a training reading source
    (:class:`models.geohazard_sites.TrainingReadings`), never read whole at once.

    One pass streams the table in pieces of ``rows_per_piece`` rows (all reads see table
    ``version``, one snapshot): it computes the :meth:`summary` (row count, first start,
    data end, data version) and spills each sensor's rows to Arrow IPC files (LZ4) in a
    folder of this process under ``spill_dir`` (default :func:`riskwarn.spill.default_parent`;
    training passes :func:`riskwarn.spill.spill_parent`), locked for the process's life
    (:func:`riskwarn.spill.claim`); before spilling it removes the folders there whose
    owner died (:func:`riskwarn.spill.sweep`), never a live one. :meth:`read` then reads
    some sensors' files and returns exactly what ``read_table(..., where={"sensor_id":
    ids})`` would (sorted by key, canonical dtypes), without scanning the table again.
    Use it as a context manager (or call :meth:`close`) to remove the folder."""

    lake_dir: Path
    end: pd.Timestamp
    columns: tuple[str, ...]
    version: int | None = None
    rows_per_piece: int = 2_000_000
    spill_dir: Path | None = None
    _state: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __enter__(self) -> LakeReadings:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the spilled files (and release the folder's lock)."""
        folder = self._state.pop("folder", None)
        self._state.clear()
        if folder is not None:
            folder.close()

    def read(self, sensor_ids: Sequence[str]) -> pd.DataFrame:
        import pyarrow as pa

        from riskwarn.lake.read import sorted_frame

        files = self._spilled()
        paths = [f for sid in sorted(set(map(str, sensor_ids))) for f in files.get(sid, ())]
        tables = [pa.ipc.open_file(f).read_all() for f in paths]
        got = pa.concat_tables(tables) if tables else self._state["schema"].empty_table()
        return sorted_frame(got, "sensor_readings", list(self.columns))

    def summary(self) -> Any:
        """:class:`models.geohazard_sites.ReadingsSummary` of every reading before ``end``:
        equal to ``ReadingsSummary.of_frame`` of the whole table's frame."""
        self._spilled()
        return self._state["summary"]

    def _spilled(self) -> dict[str, list[Path]]:
        if "files" in self._state:
            return self._state["files"]  # type: ignore[no-any-return]
        import pyarrow as pa
        import pyarrow.compute as pc

        from models.geohazard_sites import ReadingsSummary, data_end_of
        from models.train import hashes_version, row_hashes
        from riskwarn.contracts import TABLES
        from riskwarn.lake import layout
        from riskwarn.lake.read import canonical_frame, scan_pieces

        t0 = time.perf_counter()
        cols = list(self.columns)
        scanned = [*cols, *(k for k in TABLES["sensor_readings"].key if k not in cols)]
        from riskwarn import spill

        if "folder" in self._state:  # an earlier spill failed part way: start again
            self._state.pop("folder").close()
        parent = self.spill_dir or spill.default_parent()
        spill.sweep(parent)
        claimed = spill.claim(parent, f"sensor_readings before {self.end.isoformat()}")
        self._state["folder"] = claimed
        folder = claimed.path
        schema = layout.delta_schema(TABLES["sensor_readings"]).empty_table().select(scanned)
        options = pa.ipc.IpcWriteOptions(compression="lz4")
        files: dict[str, list[Path]] = {}
        index: dict[str, int] = {}  # file names (a sensor id may hold any character)
        hashes: list[np.ndarray] = []
        first: pd.Timestamp | None = None
        data_end: pd.Timestamp | None = None
        for n, piece in enumerate(
            scan_pieces(
                self.lake_dir,
                "sensor_readings",
                scanned,
                end=self.end,
                version=self.version,
                rows_per_piece=self.rows_per_piece,
            )
        ):
            schema = piece.schema.empty_table()
            frame = canonical_frame(piece, "sensor_readings", cols)
            hashes.append(row_hashes(frame))
            lo, hi = pd.Timestamp(frame["observed_at"].min()), data_end_of(frame)
            first = lo if first is None or lo < first else first
            data_end = hi if data_end is None or hi > data_end else data_end
            del frame
            piece = piece.filter(pc.is_valid(piece["sensor_id"]))
            piece = piece.take(pc.sort_indices(piece, sort_keys=[("sensor_id", "ascending")]))
            ids = np.asarray(piece["sensor_id"].to_numpy(zero_copy_only=False), dtype=object)
            cuts = np.flatnonzero(ids[1:] != ids[:-1]) + 1 if len(ids) else np.zeros(0, int)
            starts = np.r_[0, cuts] if len(ids) else cuts
            stops = np.r_[cuts, len(ids)] if len(ids) else cuts
            for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
                sid = str(ids[a])
                path = folder / f"{index.setdefault(sid, len(index))}.{n}.arrow"
                with pa.ipc.new_file(path, piece.schema, options=options) as writer:
                    writer.write_table(piece.slice(a, b - a))
                files.setdefault(sid, []).append(path)
            del piece
        every = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64)
        del hashes
        self._state["schema"] = schema.schema
        self._state["summary"] = ReadingsSummary(
            len(every), first, data_end, hashes_version(every, sorted(cols))
        )
        self._state["files"] = files
        log.info(
            "sensor_readings before %s: %d rows summarised and spilled by sensor (%d sensors)"
            " in %.1f s",
            self.end,
            len(every),
            len(files),
            time.perf_counter() - t0,
        )
        return files


def _train_sites(
    settings: Settings,
    domain: str,
    end: pd.Timestamp,
    opts: TrainOptions,
    client: Any,
    common: dict[str, Any],
) -> Any:
    """The monitored-site models (``geohazard``, ``geohazard_hourly``).

    Reads ``hazard_sites``, ``sensors``, ``hazard_events`` (occurred before the end; they
    are only labels) and ``sensor_readings`` taken before the end, the latter never whole:
    by batch of sites (:class:`LakeReadings`, ``TRAIN_BATCH_SENSORS`` sensors a batch).
    """
    from models.geohazard_sites import READING_COLUMNS, TRAIN_BATCH_SENSORS, train_site_domain
    from riskwarn.lake import read_known, table_version
    from riskwarn.nowcast import backtest_published_levels

    # with the earlier versions of corrected records: each origin sees the ones valid then
    sites = read_known(settings.lake_dir, "hazard_sites")
    sensors = read_known(settings.lake_dir, "sensors")
    events = read_known(settings.lake_dir, "hazard_events", end)
    from dataclasses import replace

    from models.geohazard_sites import site_config

    eval_days = common.pop("eval_days", None)  # a field of the site model's config
    if eval_days is not None:
        common["config"] = replace(site_config(domain), eval_days=eval_days)
    version = table_version(settings.lake_dir, "sensor_readings")
    from riskwarn.spill import spill_parent

    with LakeReadings(
        settings.lake_dir, end, READING_COLUMNS, version=version, spill_dir=spill_parent(settings)
    ) as readings:
        return train_site_domain(
            readings,
            sensors,
            sites,
            events,
            client,
            domain=domain,
            batch_sensors=TRAIN_BATCH_SENSORS,
            publish=backtest_published_levels,  # the gate judges the levels as published
            **common,
        )


# --------------------------------------------------------------------------- scoring


def score_and_warn(
    settings: Settings, domain: str, interval_end: Any, airflow_run_id: str | None = None
) -> str:
    """Score ``domain`` at the interval's local-midnight origin; return the run id."""
    from riskwarn.scoring import score_domain

    origin = local_origin(interval_end, settings.display_tz)
    return score_domain(settings, domain, origin, airflow_run_id=airflow_run_id)


# the domain whose scoring publishes the weekly disputes ranking by community beside it
COMMUNITY_DOMAIN = "disputes"


def community_ranking_at(
    disputes: pd.DataFrame, admin_units: pd.DataFrame, origin: Any, settings: Settings
) -> pd.DataFrame:
    """Every community ranked at ``origin`` by the served rule
    (:func:`features.communities.served_ranking`), from the disputes opened before it in
    the versions known then and the admin units as known then (both as
    :func:`riskwarn.lake.read_known` reads them). Empty without a community."""
    from features.cells import versions_at
    from features.communities import CommunityParams, communities, served_ranking

    at = pd.Timestamp(utc(origin))
    units_then = versions_at(admin_units, pd.DatetimeIndex([at]))[0][1]
    if units_then.empty or not (units_then["level"] == "community").any():
        return pd.DataFrame()
    units = communities(units_then, settings.city_crs)
    spec = domains.get(COMMUNITY_DOMAIN)
    params = CommunityParams(
        tz=settings.display_tz, horizon_days=spec.horizon_days, holidays=spec.holiday_calendar
    )
    return served_ranking(disputes, units, at, params)


def publish_communities(
    settings: Settings, interval_end: Any, airflow_run_id: str | None = None
) -> str | None:
    """Publish the weekly disputes ranking by community at the interval's local-midnight
    origin (the disputes forecast's origin) into the serving store; return the status
    (``published``, ``unchanged``, ``replaced``), or None for a lake without communities
    (nothing published; the dashboard says none is).

    The ranking is the served rule (:data:`features.communities.SERVED`, the winner of the
    community backtest), named with its version in the store. Only disputes opened before
    the origin count, each in the version known at it (``read_known``), so a re-run
    of the origin, after later ingests or corrections, publishes the same rows: the store
    then writes nothing. Reads ``opened_at`` and ``admin_code`` of the disputes only."""
    from features.communities import SERVED, SERVED_VERSION
    from riskwarn import lake
    from riskwarn.store import Store

    origin = local_origin(interval_end, settings.display_tz)
    spec = domains.get(COMMUNITY_DOMAIN)
    # what may be known at the origin (lake.read_known: the versions of corrected records)
    units = lake.read_known(settings.lake_dir, "admin_units", origin)
    disputes = lake.read_known(settings.lake_dir, spec.event_table, origin)
    keep = [c for c in ("opened_at", "admin_code", "known_from", "known_to") if c in disputes]
    ranked = community_ranking_at(disputes.loc[:, keep], units, origin, settings)
    if ranked.empty:
        log.warning("no community in the lake's admin_units: no community ranking at %s", origin)
        return None
    versions = {t: lake.table_version(settings.lake_dir, t) for t in ("disputes", "admin_units")}
    run = {
        "origin": origin,
        "horizon_days": spec.horizon_days,
        "method": SERVED,
        "method_version": SERVED_VERSION,
        "data_version": ";".join(f"{t}@v{v}" for t, v in versions.items()),
        "airflow_run_id": airflow_run_id,
    }
    store = Store.from_settings(settings)
    try:
        store.upgrade()
        return store.publish_community_ranking(run, ranked)
    finally:
        store.close()


class CommunityRankingSkipped(Exception):
    """No disputes ranking by community is published: the disputes scoring of its origin
    stored no run (refused or failed). The message says so in one line."""


def publish_communities_after_scoring(
    settings: Settings,
    interval_end: Any,
    scored_run_id: str | None,
    airflow_run_id: str | None = None,
) -> str | None:
    """:func:`publish_communities` after the disputes scoring of the interval's origin,
    only when that scoring stored its run: ``scored_run_id`` is what the scoring returned,
    None when it was refused (no champion, an in-sample origin, a features mismatch: the
    scoring writes nothing) or failed; then :class:`CommunityRankingSkipped` is raised and
    nothing is published.

    The one rule for the score_and_warn DAG's ``communities`` task (the XCom of its
    ``score`` task for disputes; skipped then) and ``riskwarn score disputes`` (which stops
    at the refusal, exit 2): the week's ranking by community is served beside the day's
    disputes forecast, never in place of one the scoring refused."""
    if scored_run_id is None:
        origin = local_origin(interval_end, settings.display_tz)
        why = (
            f"the {COMMUNITY_DOMAIN} scoring at origin {origin:%Y-%m-%d %H:%M}Z stored no run "
            "(refused or failed): no community ranking published for that origin, as "
            f"`riskwarn score {COMMUNITY_DOMAIN}` publishes none"
        )
        log.warning("%s", why)
        raise CommunityRankingSkipped(why)
    return publish_communities(settings, interval_end, airflow_run_id)


def geohazard_nowcast(
    settings: Settings, interval_end: Any, minutes: int = 60, airflow_run_id: str | None = None
) -> str:
    """Nowcast every monitored site at the interval end; return the run id."""
    from riskwarn.nowcast import nowcast_geohazard

    return nowcast_geohazard(
        settings, nowcast_origin(interval_end, minutes), airflow_run_id=airflow_run_id
    )


# --------------------------------------------------------------------------- publish


def export_time(value: Any) -> str | None:
    """A time as the exports write it: ISO 8601 in UTC with ``Z``
    (``2024-03-10T16:00:00Z``; microseconds only when there are any). A naive time is
    UTC (the serving store's convention); None / NaT -> None (docs/serving-store.md,
    "Exports")."""
    if value is None or value is pd.NaT:
        return None
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        return None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    text = ts.strftime("%Y-%m-%dT%H:%M:%S")
    if ts.microsecond:
        text += f".{ts.microsecond:06d}"
    return text + "Z"


def export_times(values: pd.Series) -> pd.Series:
    """:func:`export_time` of every value of a datetime64 column (NaT -> None), as an
    object column, computed once per distinct value: a run's forecasts share one
    ``origin`` and one ``valid_to`` (126,475 rows a day for incidents on the simulated
    city; a Timestamp per row, or even pandas' vectorised ``strftime``, took seconds)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    texts = np.array([export_time(u) for u in uniques] + [None], dtype=object)
    return pd.Series(texts[codes], index=values.index, dtype=object, name=values.name)


def _export_times(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every time column written by :func:`export_time`."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = export_times(out[col])
    return out


def _json_ready(value: Any) -> Any:
    if isinstance(value, (pd.Timestamp, datetime)):
        return export_time(value)
    if hasattr(value, "isoformat"):  # a date
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    return value


GEOJSON_PROPERTIES = (
    "run_id",
    "domain",
    "unit_type",
    "unit_id",
    "origin",
    "valid_to",
    "score",
    "probability",
    "rank",
    "county_code",
    "township_code",
)


def forecasts_geojson(forecasts: pd.DataFrame, warnings: pd.DataFrame) -> dict[str, Any]:
    """GeoJSON FeatureCollection of a run's forecasts (points), with their warning level."""
    levels = warnings.set_index("unit_id")["level"].to_dict() if len(warnings) else {}
    features = []
    ordered = forecasts.sort_values(["rank", "unit_id"])
    # only the columns a feature reads (not, e.g., a case's explanation), the time
    # columns as export_time writes them, once per distinct time (what _json_ready did)
    ordered = ordered[[c for c in ordered.columns if c in (*GEOJSON_PROPERTIES, "lon", "lat")]]
    for r in _export_times(ordered).to_dict("records"):
        if r.get("lon") is None or pd.isna(r.get("lon")):
            continue
        props = {k: _json_ready(r[k]) for k in GEOJSON_PROPERTIES if k in r}
        props["level"] = levels.get(r["unit_id"])
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [float(r["lon"]), float(r["lat"])]},
                "properties": props,
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _json_scalar(value: Any) -> str | None:
    """``value`` as ``json.dumps(..., ensure_ascii=False)`` writes it (NaN and the
    infinities as JSON's ``NaN``/``Infinity``, as ``allow_nan`` does), or None if it is
    not a plain scalar."""
    if isinstance(value, str):
        return encode_basestring(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value == float("inf"):
            return "Infinity"
        if value == -float("inf"):
            return "-Infinity"
        return float.__repr__(value)
    return None


class _NotPlain(Exception):
    """A value :func:`dumps_indent1` does not write itself (json.dumps then does)."""


def _indent1_parts(value: Any, depth: int, out: list[str]) -> None:
    """Append the text of the container ``value`` at nesting ``depth`` to ``out``."""
    inner = "\n" + " " * (depth + 1)
    if isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        if not all(isinstance(k, str) for k in value):
            raise _NotPlain
        sep = "{" + inner
        for key in sorted(value):
            item = value[key]
            text = _json_scalar(item)
            if text is None:
                out.append(sep + encode_basestring(key) + ": ")
                _indent1_parts(item, depth + 1, out)
            else:
                out.append(sep + encode_basestring(key) + ": " + text)
            sep = "," + inner
        out.append("\n" + " " * depth + "}")
        return
    if isinstance(value, list | tuple):
        if not value:
            out.append("[]")
            return
        sep = "[" + inner
        for item in value:
            text = _json_scalar(item)
            if text is None:
                out.append(sep)
                _indent1_parts(item, depth + 1, out)
            else:
                out.append(sep + text)
            sep = "," + inner
        out.append("\n" + " " * depth + "]")
        return
    raise _NotPlain


def dumps_indent1(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1)``, the same text,
    written without the standard library's pure-Python indenting encoder (which an
    ``indent`` forces, and which took most of the daily export's time: a GeoJSON of
    126,475 features a day for incidents on the simulated city). Anything but dicts
    with string keys, lists, tuples, strings, numbers, booleans and None is left to
    ``json.dumps``."""
    text = _json_scalar(value)
    if text is not None:
        return text
    out: list[str] = []
    try:
        _indent1_parts(value, 0, out)
    except _NotPlain:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1)
    return "".join(out)


def blur_case_locations(forecasts: pd.DataFrame, crs: str) -> pd.DataFrame:
    """A case-level domain's forecasts as they may be exported: each case's point
    (``lon``, ``lat``: an address) replaced by the centre of its 1 km square
    (``riskwarn.geo.case_squares``, the blurring the dashboard shows), and its 250 m cell
    (``cell_x``, ``cell_y``: a few buildings) dropped. Exports count as what users see."""
    from riskwarn.geo import case_squares

    out = forecasts.copy()
    if len(out) and {"lon", "lat"} <= set(out.columns):
        _, _, clon, clat = case_squares(out["lon"], out["lat"], crs)
        out["lon"], out["lat"] = clon, clat
    for col in ("cell_x", "cell_y"):
        if col in out:
            out[col] = None
    return out


def _json_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every cell holding a list or a dict (a forecast's ``explanation``, a
    warning's ``reasons`` and ``evidence``: the columns docs/serving-store.md types json)
    written as JSON text, so a partner parsing the CSV reads JSON and not a Python repr."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object and out[col].map(lambda v: isinstance(v, list | dict)).any():
            out[col] = out[col].map(
                lambda v: (
                    json.dumps(v, ensure_ascii=False, sort_keys=True)
                    if isinstance(v, list | dict)
                    else v
                )
            )
    return out


def publish_exports(settings: Settings, only: tuple[str, ...] | None = None) -> list[str]:
    """Export each domain's published run as CSV + GeoJSON under ``exports/<run>/``.

    Keyed on the run id, so re-publishing the same run rewrites identical files. The run,
    its forecasts and its warnings are read from one database snapshot
    (``Store.published_snapshot``): a publish landing between separate reads would put
    the next run's forecasts in the folder named after this one. Returns the written
    directories.
    """
    from riskwarn.store import Store

    store = Store.from_settings(settings)
    store.upgrade()
    out = []
    for domain in only if only is not None else tuple(domains.DOMAINS):
        snap = store.published_snapshot(domain)
        run = snap["run"]
        if run is None:
            continue
        run_id = run["run_id"]
        forecasts = snap["forecasts"]
        if domains.DOMAINS[domain].unit == "case":  # a case's point is an address (privacy)
            forecasts = blur_case_locations(forecasts, settings.city_crs)
        warnings = snap["warnings"]
        folder = settings.exports_dir / domain / run_id.replace(":", "_")
        folder.mkdir(parents=True, exist_ok=True)
        # one time format in every file: ISO 8601 UTC 'Z' (export_time)
        _json_cells(_export_times(forecasts.sort_values(["rank", "unit_id"]))).to_csv(
            folder / "forecasts.csv", index=False
        )
        w = _export_times(warnings.drop(columns=["created_at", "updated_at"], errors="ignore"))
        _json_cells(w).sort_values(["warning_id"]).to_csv(folder / "warnings.csv", index=False)
        geo = forecasts_geojson(forecasts, warnings)
        (folder / "forecasts.geojson").write_text(dumps_indent1(geo), encoding="utf-8")
        out.append(str(folder))
    return out


OBSERVED_WEEKS = 12  # the observed history the overview shows before each forecast


def observed_weeks(
    events: pd.DataFrame,
    time_column: str,
    origin: Any,
    *,
    weeks: int = OBSERVED_WEEKS,
    scored_since: pd.Series | None = None,
) -> pd.DataFrame:
    """The ``weeks`` weeks before ``origin`` (each ``[week_start, week_end)``, the last
    ending at ``origin``): per week the ``events`` rows whose ``time_column`` falls in it
    and the distinct ``unit_id`` among them (None / NA: counted as an event, not a unit).
    Rows at or after ``origin`` are never counted (no leakage into the history the
    forecast is shown against); weeks with no event are there with 0.

    ``scored_since`` (``unit_id`` -> UTC time, or None: every unit counts): from when a
    unit is in the area a forecast scores. A unit then counts in a week only if that
    time is before the week's start, as a forecast made at the week's start would have
    scored it: the cell forecasts cover the cells with an event known before their origin
    (``features.cells.active_cells``), so a cell's first event is in no forecast and
    counting it beside the sum of the probabilities compares different things (the
    demo's disputes: 35 to 48 cells a week, nearly all with their first dispute, against
    2 expected). ``events`` stays every event of the week."""
    origin = utc(origin)
    ends = [origin - pd.Timedelta(days=7 * k) for k in range(weeks - 1, -1, -1)]
    times = pd.to_datetime(events[time_column], utc=True) if len(events) else pd.Series()
    rows = []
    for end in ends:
        start = end - pd.Timedelta(days=7)
        inside = events[((times >= start) & (times < end)).to_numpy()] if len(events) else events
        ids = inside["unit_id"].dropna() if "unit_id" in inside else pd.Series(dtype=object)
        if scored_since is not None:
            since = pd.to_datetime(ids.map(scored_since), utc=True)
            ids = ids[(since < start).to_numpy()]  # NaT (never scored): not counted
        units = ids.nunique()
        rows.append(
            {"week_start": start, "week_end": end, "events": len(inside), "units": int(units)}
        )
    return pd.DataFrame(rows, columns=["week_start", "week_end", "events", "units"])


def publish_observed(
    settings: Settings, only: tuple[str, ...] | None = None, *, weeks: int = OBSERVED_WEEKS
) -> dict[str, int]:
    """For each published hotspot or site run, the observed weekly history before its
    origin into the serving store (``observed_weeks``; the overview's "is it rising"):
    events of the domain's lake table and the units with at least one (250 m cells of the
    city grid, as the forecasts' ``unit_id``; sites by ``site_id``). Cells count only
    from the week after their first known event on (``observed_weeks``'
    ``scored_since``: the area the forecast beside them covers; a first event is in no
    cell forecast). Read from the lake with an end at the origin: nothing after it is
    counted. Idempotent (a re-run replaces the run's rows). Returns domain -> weeks
    written."""
    from features.cells import known_times
    from riskwarn.contracts import TABLES
    from riskwarn.lake import read_table
    from riskwarn.store import Store

    store = Store.from_settings(settings)
    store.upgrade()
    out: dict[str, int] = {}
    try:
        for name in only if only is not None else tuple(domains.DOMAINS):
            spec = domains.DOMAINS[name]
            if spec.family == "case":
                continue
            run = store.published_run(name)
            if run is None:
                continue
            origin = utc(run["origin"])
            start = origin - pd.Timedelta(days=7 * weeks)
            cells = spec.family != "site"
            located = ["lon", "lat"] if cells else ["site_id"]
            reported = ["reported_at"] if "reported_at" in TABLES[spec.event_table].columns else []
            events = read_table(
                settings.lake_dir,
                spec.event_table,
                columns=[spec.time_column, *reported, *located],
                start=None if cells else start,  # cells: the whole history, for scored_since
                end=origin,
            )
            # as the forecast could know them: an event reported after the origin is not
            # in the history shown before it (features.cells.known_times)
            known = known_times(events, spec.time_column)
            events = events[(known < origin).to_numpy()]
            events = events.assign(unit_id=event_units(events, spec.family, settings))
            since = None
            if cells:  # a cell is scored from its first event known on (active_cells)
                first = pd.Series(known[(known < origin).to_numpy()].to_numpy(), index=events.index)
                since = first.groupby(events["unit_id"]).min()
                events = events[(pd.to_datetime(events[spec.time_column], utc=True) >= start)]
            frame = observed_weeks(
                events, spec.time_column, origin, weeks=weeks, scored_since=since
            )
            out[name] = store.write_observed_weeks(name, origin.to_pydatetime(), frame)
    finally:
        store.close()
    log.info("observed weekly history published: %s", out)
    return out


def event_units(events: pd.DataFrame, family: str, settings: Settings) -> pd.Series:
    """The unit of each event as the forecasts name it: its site, or its 250 m cell
    (``c<x>_<y>``, ``features.cells``); None without one."""
    if events.empty:
        return pd.Series([], dtype=object)
    if family == "site":
        return events["site_id"].astype(object).where(events["site_id"].notna(), None)
    from features.cells import assign_cells
    from riskwarn.geo import cell_id

    cells = assign_cells(events, settings.city_crs, settings.cell_size_m)
    ok = (cells["cell_x"].notna() & cells["cell_y"].notna()).to_numpy()
    ids = pd.Series(None, index=events.index, dtype=object)
    ids[ok] = [
        cell_id(x, y) for x, y in zip(cells.loc[ok, "cell_x"], cells.loc[ok, "cell_y"], strict=True)
    ]
    return ids


# --------------------------------------------------------------------------- retention


def personal_sources(mapping_files: Sequence[Path]) -> list[str]:
    """Names of the sources whose raw files hold personal fields: their mapping
    pseudonymises columns or drops personal-looking ones (``looks_personal``: names,
    phones, ID numbers never reach the lake, but the landing file, and so its archive,
    has them)."""
    from riskwarn.ingest import load_mapping
    from riskwarn.sources import looks_personal

    out = []
    for path in mapping_files:
        mapping = load_mapping(path)
        if mapping.pseudonymise or any(looks_personal(c) for c in mapping.drop):
            out.append(Path(path).stem)
    return sorted(out)


def age_quarantine(
    settings: Settings, mapping_files: Sequence[Path], now: pd.Timestamp | None = None
) -> dict[str, int]:
    """Age the lake quarantine's rows stored more than ``settings.archive_personal_days``
    days before ``now`` (:func:`riskwarn.lake.aging.age_quarantine`: the text of their
    originals masked, the rows kept), the id columns of each source's mapping kept.
    Audited (``quarantine_aged``, counts only) when a row was aged."""
    from riskwarn.ingest import load_mapping
    from riskwarn.lake.aging import age_quarantine as age
    from riskwarn.store import Store

    keep: dict[tuple[str, str], dict[str, set[str] | None]] = {}
    for path in mapping_files:
        mapping = load_mapping(path)
        cols = keep.setdefault((mapping.name, mapping.table), {})
        for rule in mapping.columns.values():
            codes = {str(k) for k in rule.map or {}}
            for c in rule.sources if codes else ():
                if c not in cols or cols[c] is not None:
                    cols[c] = {*(cols.get(c) or ()), *codes}
        for c in mapping.id.columns if mapping.id is not None else ():
            cols[c] = None
    done = age(
        settings.lake_dir,
        settings.archive_personal_days,
        keep=keep,
        now=now,
        history_days=settings.lake_history_days,
    )
    if done["aged"]:
        store = Store.from_settings(settings)
        store.upgrade()
        try:
            store.audit(
                "riskwarn",
                "quarantine_aged",
                "lake",
                "_quarantine",
                {**done, "retention_days": settings.archive_personal_days},
            )
        finally:
            store.close()
    return done


PURGING = ".purging-"  # prefix of a folder the purge took out of the archive
# an archive time later than now by more than this is a clock problem, warned about
ARCHIVE_CLOCK_SKEW = pd.Timedelta(hours=1)


def purge_personal_archive(
    settings: Settings, sources: Sequence[str], now: pd.Timestamp | None = None
) -> dict[str, list[str]]:
    """Remove the archived landing files of ``sources`` archived more than
    ``settings.archive_personal_days`` days before ``now``. A folder
    ``<home>/archive/<source>/ingested=<interval end>_archived=<archive time>/`` is aged
    from its archive time, never from its interval end (a backfill archives an old
    interval's files today: they are kept the whole retention from today). A folder
    named ``ingested=<stamp>`` only (archived before 2026-12-05, which recorded no
    archive time) is aged from the later of its stamp and its modification time (the
    last time a file was archived into it; a copy that did not keep it only keeps the
    folder longer).

    Folder by folder: the folder is first renamed to ``.purging-<name>-<id>``
    (the decision: a file archived after it goes into a new folder of the same name,
    which this run leaves alone), then audited ``archive_purge_started`` with its file
    names, then emptied, audited ``archive_purged`` and removed. A folder whose
    removal fails (a file that cannot be removed) is reported and left renamed; the
    others go on, and the next run completes it (its start already audited, its
    ``archive_purged`` written once it is gone). So every removed file is audited, by
    name only, exactly once per step, a crash or kill -9 at any point included.

    A symlinked file is removed as a link: its target, outside the archive, is not the
    archive's and stays (named under ``links`` and in the audit). A folder whose name
    is neither of those is never removed and is warned about (``unnamed``); so is one
    whose archive time is more than :data:`ARCHIVE_CLOCK_SKEW` after ``now`` (a wrong
    clock: kept, ``future``).

    Returns ``removed`` (files, relative to the archive), ``links`` (those of them that
    were symlinks), ``failed`` (one line per folder left for the next run),
    ``unnamed`` and ``future``; a re-run removes nothing more.

    One purge at a time per home (:func:`riskwarn.spill.archive_purge_lock`): a second
    one started meanwhile (``riskwarn lake maintain`` by hand while the DAG runs) waits
    for the first, then finds what it removed gone, neither removed again nor an error;
    a folder removed under a run by anything else counts as gone too."""
    from riskwarn.spill import archive_purge_lock

    with archive_purge_lock(settings):
        return _purge_personal_archive(settings, sources, now)


def _purge_personal_archive(
    settings: Settings, sources: Sequence[str], now: pd.Timestamp | None
) -> dict[str, list[str]]:
    """:func:`purge_personal_archive` under its lock."""
    import uuid
    from datetime import UTC, datetime

    from riskwarn.ingest.landing import archive_folder_times
    from riskwarn.store import Store

    now = utc(now if now is not None else pd.Timestamp.now(tz="UTC"))
    cutoff = now - pd.Timedelta(days=settings.archive_personal_days)
    arch = settings.archive_dir
    out: dict[str, list[str]] = {
        "removed": [],
        "links": [],
        "failed": [],
        "unnamed": [],
        "future": [],
    }
    staged: list[Path] = []
    for source in sources:
        base = arch / source
        if not base.is_dir():
            continue
        for folder in sorted(base.iterdir()):
            if folder.name.startswith(PURGING):  # a run that stopped half-way
                staged.append(folder)
                continue
            try:
                stamp, archived = archive_folder_times(folder.name)
            except ValueError:
                rel = str(folder.relative_to(arch))
                log.warning(
                    "archive retention: %s is not named ingested=<YYYY-MM-DDTHHMMSSZ>"
                    "[_archived=<YYYY-MM-DDTHHMMSSZ>]; "
                    "it is never removed (move its files into a dated folder or remove "
                    "it by hand)",
                    rel,
                )
                out["unnamed"].append(rel)
                continue
            if archived is None:  # named before archive times were: its last change
                changed = datetime.fromtimestamp(folder.stat().st_mtime, UTC)
                archived = max(stamp, changed)
            if pd.Timestamp(archived) > now + ARCHIVE_CLOCK_SKEW:  # kept, but said
                rel = str(folder.relative_to(arch))
                log.warning(
                    "archive retention: %s was archived at %s, after now (%s): a clock "
                    "was wrong when it was archived or is wrong now; it is kept until %d "
                    "days after that time (check the clock, then rename the folder with "
                    "its true archive time)",
                    rel,
                    f"{pd.Timestamp(archived):%Y-%m-%d %H:%M:%S}Z",
                    f"{now:%Y-%m-%d %H:%M:%S}Z",
                    settings.archive_personal_days,
                )
                out["future"].append(rel)
                continue
            if pd.Timestamp(archived) >= cutoff:
                continue
            target = base / f"{PURGING}{folder.name}-{uuid.uuid4().hex[:8]}"
            try:
                folder.rename(target)  # atomic: what is in it now is what is purged
            except FileNotFoundError:  # removed meanwhile by another run: gone, as wanted
                continue
            except OSError as exc:
                out["failed"].append(f"{folder.relative_to(arch)}: {type(exc).__name__}: {exc}")
                continue
            staged.append(target)
    if not staged:
        for line in out["failed"]:
            log.warning("archive retention: %s", line)
        return out
    store = Store.from_settings(settings)
    store.upgrade()
    try:
        for folder in staged:
            try:
                _purge_folder(store, settings, folder, out)
            except OSError as exc:
                out["failed"].append(
                    f"{folder.relative_to(arch)}: {type(exc).__name__}: {exc} "
                    "(left for the next run, which completes it)"
                )
    finally:
        store.close()
    for line in out["failed"]:
        log.warning("archive retention: could not remove %s", line)
    return out


def _purge_folder(store: Any, settings: Settings, folder: Path, out: dict[str, list[str]]) -> None:
    """Audit, empty and remove one folder :func:`purge_personal_archive` renamed."""
    import shutil

    arch = settings.archive_dir
    rel = str(folder.relative_to(arch))
    original = folder.parent.name + "/" + folder.name.removeprefix(PURGING).rsplit("-", 1)[0]
    if not folder.exists():  # removed meanwhile by another run: gone, as wanted
        return
    files = sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink())
    links = [p for p in files if p.is_symlink()]
    names = [str(p.relative_to(arch)).replace(rel, original, 1) for p in files]
    link_names = [str(p.relative_to(arch)).replace(rel, original, 1) for p in links]
    details = {
        "folder": original,
        "files": names,
        "links": link_names,
        "retention_days": settings.archive_personal_days,
    }
    started = store.audit_entries("archive", rel, ("archive_purge_started",))
    if started:  # an earlier run audited the folder's files before it stopped
        details = started[-1]["details"]
        names, link_names = list(details["files"]), list(details["links"])
    else:
        store.audit("riskwarn", "archive_purge_started", "archive", rel, details)
    for p in files:
        p.unlink(missing_ok=True)  # a symlink: the link only, its target is not the archive's
    if not store.audit_entries("archive", rel, ("archive_purged",)):
        store.audit("riskwarn", "archive_purged", "archive", rel, details)
    try:
        shutil.rmtree(folder)  # only empty folders are left in it
    except FileNotFoundError:  # removed meanwhile by another run: gone, as wanted
        if folder.exists():
            raise
    for name in names:
        log.info("archive retention: removed %s", name)
    for name in link_names:
        log.warning(
            "archive retention: %s was a symlink; the link is removed, its target "
            "(outside the archive) is not",
            name,
        )
    out["removed"] += names
    out["links"] += link_names


# --------------------------------------------------------------------------- failures


def record_task_failure(
    settings: Settings, dag_id: str, task_id: str, run_id: str, error: str
) -> None:
    """Write a failed task to the serving store's audit log."""
    from riskwarn.store import Store

    store = Store.from_settings(settings)
    store.upgrade()
    store.audit(
        "airflow",
        "task_failed",
        "airflow_task",
        f"{dag_id}.{task_id}",
        {"dag_id": dag_id, "task_id": task_id, "run_id": run_id, "error": error[:2000]},
    )
