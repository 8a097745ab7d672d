"""MLflow: log runs, register models, gate challengers, move the ``champion`` alias.

* Experiment and registered model per domain: ``riskwarn-<domain>``; the serving model
  is ``models:/riskwarn-<domain>@champion``, loaded in one place: :func:`serving_champion`
  (serving) and :func:`load_champion` (training's comparison), both through
  :func:`verified_champion`.
* The logged model is an ``mlflow.pyfunc`` wrapper (:class:`RiskModel`) whose
  ``predict`` returns ``probability`` (calibrated P(at least one event)) and ``score``
  (the raw ranking score); ``explain`` gives SHAP factors and sentences.
* :func:`models.gate.gate` decides whether a challenger may replace the champion;
  :func:`settle_gate` tags the version with the decision and promotes it if it passed.
* :func:`promote` / :func:`rollback` move the alias and nothing else; each move is
  written to the serving store's audit log (authenticated actor, gate tag, digest of the
  model files): its intent before the alias moves, the move itself once it has moved
  (:func:`_move_alias`), and :func:`verified_champion` refuses to serve a champion that
  does not match the newest recorded move. A rollback returns to the version that
  served before, from the chain of recorded moves (:func:`champion_chain`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel

from models.backtest import FittedModel
from models.explain import contributions, explain_rows
from models.gate import DATA_END_UNKNOWN, NOT_JUDGED, RUN_GONE, GateResult
from models.gate import gate as gate  # re-exported: the site model imports it from here
from models.model_env import model_requirements
from models.recipe import Recipe
from riskwarn import domains

log = logging.getLogger(__name__)

CHAMPION = "champion"
# the alias history the old code kept as a registered-model tag (written after the alias
# moved, so a crash or a registry error between the two lost a step); no longer written
# nor read: the rollback chain is the audit log's (champion_chain)
HISTORY_TAG = "riskwarn.champion_history"
GATE_ARTIFACT = "gate.json"  # the promotion gate's decision, logged with the version's run
# version tag: the champion version its gate judged it against ("none": there was none);
# promote refuses a pass judged against another champion than the one serving
GATE_CHAMPION_TAG = "gate_champion"
NO_CHAMPION = "none"
TRAINED_THROUGH = "trained_through"  # run param: the final model's training origin (ISO UTC)
RECIPE = "recipe"  # run param: models.recipe digest; the whole recipe in recipe.json
RECIPE_ARTIFACT = "recipe.json"
# run param and tag: the lake sources a hotspot model was trained on (``riskwarn train
# --source``; "all" without), also carried by the model itself (RiskModel.sources) so
# serving reads the same sources (Champion.sources)
SOURCES = "sources"
SOURCES_TAG = "riskwarn.sources"
ALL_SOURCES = "all"
# run param and tag (since 2026-12-07): the lake sources whose records the model was
# actually trained on (those of its training read: with ``sources`` "all", every source
# in the lake then), also carried by the model (RiskModel.trained_on): serving builds its
# inputs from exactly these, never from a source added to the lake after it was trained
TRAINED_ON = "trained_on_sources"
TRAINED_ON_TAG = "riskwarn.trained_on_sources"
# model version tags (since 2026-12-07), written when the version is registered: the facts
# scoring and the gate read of a version (its data end, recipe and sources), copied from
# its run's params so that they outlive the run (``mlflow gc`` of a deleted run; attack
# review 2026-12-07: the in-sample guard let everything through once the run was gone).
# Read first (:func:`champion_provenance`, :func:`versions`); a version registered before
# has none and is read from its run, as before.
TRAINED_THROUGH_TAG = "riskwarn.trained_through"
RECIPE_TAG = "riskwarn.recipe"
# the local time zone the model's rows were built in (origins at local midnights, label
# windows in local days, night hours): run param and version tag since 2026-12-08, read
# from the run's recipe.json before (its shape's ``tz``); scoring refuses a champion
# whose zone is not the one it builds inputs in (:func:`trained_tz`)
TZ = "tz"
TZ_TAG = "riskwarn.tz"
VERSION_FACT_TAGS = (TRAINED_THROUGH_TAG, RECIPE_TAG, SOURCES_TAG, TRAINED_ON_TAG)
PLOT_DATA = "riskwarn_plot_data"  # a figure's data, logged as plots/<name>.json (dashboard)


def training_sources(sources: Sequence[str] | None) -> tuple[str, ...] | None:
    """The lake sources a model is trained on, as recorded: sorted, without repeats;
    None for every source (None or empty)."""
    return tuple(sorted(set(sources))) if sources else None


def model_name(domain: str) -> str:
    """Registered model (and experiment) name of a domain."""
    return f"riskwarn-{domain}"


class RiskModel(PythonModel):
    """Calibrated risk model: features in, ``probability`` and ``score`` out.

    ``sources``: the lake sources training was asked to read (``riskwarn train --source``;
    None: every source); ``trained_on``: the sources whose records it was trained on
    (with ``sources`` None, every source in the lake then; None on a model logged before
    2026-12-07), from which serving builds its inputs (:attr:`Champion.sources`)."""

    def __init__(
        self,
        fitted: FittedModel,
        domain: str,
        sources: Sequence[str] | None = None,
        trained_on: Sequence[str] | None = None,
    ) -> None:
        self.fitted = fitted
        self.domain = domain
        self.sources = training_sources(sources)
        self.trained_on = training_sources(trained_on)

    @property
    def features(self) -> list[str]:
        return self.fitted.features

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        """``probability`` (calibrated) and ``score`` (raw ranking margin) per row."""
        missing = [f for f in self.fitted.features if f not in model_input.columns]
        if missing:
            raise ValueError(f"missing feature columns: {missing}")
        raw = self.fitted.raw(model_input)
        return pd.DataFrame(
            {"probability": self.fitted.calibrator.predict(raw), "score": raw},
            index=model_input.index,
        )

    def explain(self, frame: pd.DataFrame, top_n: int = 3) -> list[dict[str, Any]]:
        """Top factors and a sentence per row (SHAP contributions)."""
        own = getattr(self.fitted, "contributions", None)  # models with a prior margin
        c = (
            own(frame)
            if callable(own)
            else contributions(
                self.fitted.booster, frame, self.fitted.features, self.fitted.best_iteration
            )
        )
        rows = explain_rows(c, frame, top_n=top_n)
        notes = getattr(self.fitted, "deferral_reasons", None)  # site models deferring to a rule
        if callable(notes):
            for row, note in zip(rows, notes(frame), strict=True):
                if note:
                    row["deferred"] = note
                    row["reason"] = {
                        lang: f"{row['reason'][lang]} {note[lang]}".strip() for lang in ("en", "zh")
                    }
                    row["sentence"] = row["reason"]["en"]
        return rows


def configure(tracking_uri: str, registry_uri: str | None = None) -> MlflowClient:
    """Point MLflow at ``tracking_uri`` and return a client (call at the IO edge)."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(registry_uri or tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri or tracking_uri)


def ensure_experiment(name: str, artifact_location: str | None = None) -> str:
    """Id of experiment ``name``, created with ``artifact_location`` if it does not exist."""
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    return str(mlflow.create_experiment(name, artifact_location=artifact_location))


@dataclass
class RunRecord:
    """What one training run logged and registered."""

    run_id: str
    model_uri: str
    version: str | None


def _flat_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in metrics.items():
        key = f"{prefix}{k}".replace("@", "_at_")
        if isinstance(v, dict):
            out.update(_flat_metrics(v, key + "."))
        elif isinstance(v, int | float | np.floating | np.integer) and np.isfinite(v):
            out[key] = float(v)
        elif (
            isinstance(v, list)
            and len(v) == 2
            and all(isinstance(x, float) and np.isfinite(x) for x in v)
        ):  # a CI; not computed (NaN: e.g. a FAR where nothing was warned) is left out, as
            # a scalar NaN is (MLflow keeps NaN, and NaN never equals NaN in a comparison)
            out[key + "_lo"], out[key + "_hi"] = float(v[0]), float(v[1])
    return out


def log_training_run(
    fitted: FittedModel,
    domain: str,
    metrics: dict[str, Any],
    data_version: str,
    input_example: pd.DataFrame,
    figures: dict[str, Any],
    model_card: str,
    params: dict[str, Any] | None = None,
    register: bool = True,
    artifact_location: str | None = None,
    *,
    trained_through: pd.Timestamp | None = None,
    recipe: Recipe | None = None,
    sources: Sequence[str] | None = None,
    trained_on: Sequence[str] | None = None,
) -> RunRecord:
    """Log params, metrics, data version, features, plots, model card and the model.

    ``trained_through`` (the final model's training origin: labels at or after it were
    never seen) and ``recipe`` (:mod:`models.recipe`) are logged as the params
    ``trained_through`` (ISO UTC) and ``recipe`` (its digest; ``recipe.json`` holds the
    whole recipe): what a later challenger's gate reads (:func:`champion_provenance`).
    ``sources``: the lake sources the model was trained on (None: all), logged as the
    param and tag ``sources`` / ``riskwarn.sources`` (comma-separated, or ``all``) and
    kept in the model (:class:`RiskModel`). ``trained_on``: the sources of the records it
    was trained on (the training read's ``source`` values), logged as the param and tag
    ``trained_on_sources`` / ``riskwarn.trained_on_sources`` and kept in the model:
    serving builds its inputs from exactly these (:func:`served_sources`).

    ``artifact_location`` is used when the domain's experiment is created (e.g. a folder
    under ``Settings.home``); without it MLflow would default to ``./mlruns``.
    """
    name = model_name(domain)
    ensure_experiment(name, artifact_location)
    mlflow.set_experiment(name)
    # the owner's tags with the run itself (one call): a kill can leave no run without them
    with mlflow.start_run(run_name=f"{domain}-challenger", tags=owner_tags(domain)) as run:
        kept = training_sources(sources)
        sources_text = ",".join(kept) if kept else ALL_SOURCES
        learned = training_sources(trained_on)
        learned_tags = {TRAINED_ON_TAG: ",".join(learned)} if learned else {}
        mlflow.set_tags(
            {
                "riskwarn.domain": domain,
                "riskwarn.data_version": data_version,
                SOURCES_TAG: sources_text,
                **learned_tags,
            }
        )
        mlflow.log_params(
            {
                "domain": domain,
                "data_version": data_version,
                SOURCES: sources_text,
                **({TRAINED_ON: ",".join(learned)} if learned else {}),
                "n_features": len(fitted.features),
                "best_iteration": fitted.best_iteration,
                "trained_until": str(fitted.trained_until),
                "n_train_rows": fitted.n_train_rows,
                **{f"xgb.{k}": v for k, v in fitted.params.items()},
                **(params or {}),
            }
        )
        if trained_through is not None:
            mlflow.log_param(TRAINED_THROUGH, iso_utc(trained_through))
        if recipe is not None:
            mlflow.log_param(RECIPE, recipe.digest)
            mlflow.log_dict(recipe.document, RECIPE_ARTIFACT)
        tz = recipe_tz(recipe.document) if recipe is not None else None
        if tz is not None:
            mlflow.log_param(TZ, tz)
        mlflow.log_metrics(_flat_metrics(metrics))
        mlflow.log_dict({"features": fitted.features}, "features.json")
        mlflow.log_dict(json.loads(json.dumps(metrics, default=str)), "metrics.json")
        for fname, fig in figures.items():
            mlflow.log_figure(fig, f"plots/{fname}.png")
            if (data := getattr(fig, PLOT_DATA, None)) is not None:  # the dashboard draws it
                mlflow.log_dict(data, f"plots/{fname}.json")
        mlflow.log_text(model_card, "model_card.md")
        example = input_example[fitted.features].head(5).astype("float32")
        wrapper = RiskModel(fitted, domain, kept, learned)
        signature = mlflow.models.infer_signature(example, wrapper.predict(None, example))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=wrapper,
            signature=signature,
            input_example=example,
            registered_model_name=name if register else None,
            pip_requirements=model_requirements(),
        )
        version = getattr(info, "registered_model_version", None)
        if version:  # the facts scoring reads, on the version itself: they outlive the run
            facts = {
                **(
                    {TRAINED_THROUGH_TAG: iso_utc(trained_through)}
                    if trained_through is not None
                    else {}
                ),
                **({RECIPE_TAG: recipe.digest} if recipe is not None else {}),
                **({TZ_TAG: tz} if tz is not None else {}),
                SOURCES_TAG: sources_text,
                **learned_tags,
            }
            client = MlflowClient()
            for key, value in facts.items():
                client.set_model_version_tag(name, str(version), key, value)
        return RunRecord(run.info.run_id, info.model_uri, str(version) if version else None)


# --------------------------------------------------------------------------- abandoned runs
# A training killed with kill -9 (the OOM killer, a dying Airflow worker) cannot end its
# MLflow run: it would show RUNNING for ever. Each run records who owns it
# (owner_tags); the next training of the domain, holding the domain's training lock, ends
# the runs whose owner is gone (end_abandoned_runs). Never a run whose owner may live.

OWNER_TAG = "riskwarn.owner."  # + host, boot_id, pid, pid_start, lock
ABANDONED_TAG = "riskwarn.abandoned"  # why the run was ended by another process
ABANDONED_FOUND_TAG = "riskwarn.abandoned_found"  # when, and by which process
ABANDONED_STATUS = "KILLED"  # not FAILED: no exception; the process ended without a word


def owner_tags(domain: str) -> dict[str, str]:
    """The tags naming this process as a run's owner (host, boot id, pid, the pid's
    start time) and the training lock of ``domain`` it holds, if any."""
    from riskwarn.spill import held_training_lock, process_identity

    tags = {OWNER_TAG + k: v for k, v in process_identity().items()}
    lock = held_training_lock(domain)
    if lock:
        tags[OWNER_TAG + "lock"] = lock
    return tags


def run_owner_state(tags: dict[str, str], held_lock: str | None) -> tuple[str, str]:
    """``("alive" | "gone" | "unknown", why)`` of a RUNNING run's owner, from its tags.

    Gone: its process is proven gone on this host (:func:`riskwarn.spill.process_state`),
    or (another host) it was started under the training lock ``held_lock`` that the
    caller now holds: the lock is released only when its training ended."""
    from riskwarn.spill import process_state

    identity = {k[len(OWNER_TAG) :]: v for k, v in tags.items() if k.startswith(OWNER_TAG)}
    state, why = process_state(identity)
    if state == "unknown" and held_lock and identity.get("lock") == held_lock:
        return "gone", (
            f"host {identity.get('host')} pid {identity.get('pid')} started it under the "
            f"training lock {held_lock}, which is free again (that training ended)"
        )
    return state, why


def running_runs(client: MlflowClient, domain: str) -> list[Any]:
    """The runs of ``domain``'s experiment that MLflow shows as RUNNING, oldest first."""
    exp = client.get_experiment_by_name(model_name(domain))
    if exp is None:
        return []
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string="attributes.status = 'RUNNING'",
        max_results=1000,
        order_by=["attributes.start_time ASC"],
    )
    return list(runs)


def end_abandoned_runs(
    client: MlflowClient, domain: str, by: str = "training"
) -> list[dict[str, str]]:
    """End as KILLED the RUNNING runs of ``domain`` whose owner is gone; returns them.

    Call it holding the domain's training lock (:func:`riskwarn.spill.training_lock`):
    no training of the domain on this home is live then, and two callers never race.
    Each ended run gets the tags ``riskwarn.abandoned`` (why) and
    ``riskwarn.abandoned_found`` (when, by which host and pid). A run whose owner lives
    or cannot be told (another host without the lock, no owner recorded) is left alone.
    ``by`` names the caller in the ``riskwarn.abandoned_found`` tag."""
    import datetime as dt
    import os
    import socket

    from riskwarn.spill import held_training_lock

    held = held_training_lock(domain)
    ended: list[dict[str, str]] = []
    for run in running_runs(client, domain):
        state, why = run_owner_state(run.data.tags, held)
        if state != "gone":
            if state == "unknown":
                log.info("MLflow run %s of %s shows RUNNING, left alone: %s", run.info.run_id,
                         domain, why)  # fmt: skip
            continue
        now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        found = f"{now} by host {socket.gethostname()} pid {os.getpid()} ({by} {domain})"
        client.set_tag(
            run.info.run_id, ABANDONED_TAG, f"its process ended without ending it: {why}"
        )
        client.set_tag(run.info.run_id, ABANDONED_FOUND_TAG, found)
        client.set_terminated(run.info.run_id, status=ABANDONED_STATUS)
        log.warning(
            "ended MLflow run %s of %s as %s: it showed RUNNING but %s (found %s)",
            run.info.run_id,
            domain,
            ABANDONED_STATUS,
            why,
            found,
        )
        ended.append({"run_id": run.info.run_id, "why": why, "found": found})
    return ended


# A training task's result, kept on its MLflow run so that a retry of the same task (an
# Airflow retry of a site group whose other domain failed) reuses it instead of training
# the domain again (riskwarn.pipeline.train_group).

TASK_TAG = "riskwarn.task"  # the task that trained the run: "<dag id>/<run id>/<map index>"
TASK_RESULT_TAG = "riskwarn.task_result"  # train_domain's result of that task, as JSON


def _tag_literal(text: str) -> str:
    """``text`` as a quoted string of an MLflow search filter (quotes and backslashes are
    not allowed in it: a task key never holds them, and one that did is not searched)."""
    if "'" in text or "\\" in text:
        raise ValueError(f"a task key may hold no quote or backslash: {text!r}")
    return f"'{text}'"


def record_task_result(client: MlflowClient, result: dict[str, Any], task: str) -> bool:
    """Mark ``result``'s run (:func:`riskwarn.pipeline.train_domain`'s result) as trained by
    ``task``; False when the result has no run (nothing was trained). The result is set
    before the task tag, so a run found by its task always has its result."""
    run_id = result.get("mlflow_run_id")
    if not run_id:
        return False
    _tag_literal(task)
    client.set_tag(run_id, TASK_RESULT_TAG, json.dumps(result, sort_keys=True, default=str))
    client.set_tag(run_id, TASK_TAG, task)
    return True


def task_result(client: MlflowClient, domain: str, task: str) -> dict[str, Any] | None:
    """The result :func:`record_task_result` kept for ``domain`` and ``task`` (its newest
    FINISHED run marked with ``task``), or None."""
    exp = client.get_experiment_by_name(model_name(domain))
    if exp is None:
        return None
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=(
            f"tags.`{TASK_TAG}` = {_tag_literal(task)} and attributes.status = 'FINISHED'"
        ),
        max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    for run in runs:
        text = run.data.tags.get(TASK_RESULT_TAG)
        if text:
            return dict(json.loads(text))
    return None


def champion_version(client: MlflowClient, domain: str) -> str | None:
    """The version the ``champion`` alias points at (None if there is none)."""
    try:
        return str(client.get_model_version_by_alias(model_name(domain), CHAMPION).version)
    except MlflowException:
        return None


def iso_utc(instant: Any) -> str:
    """An instant as ISO 8601 UTC (``2026-11-30T16:00:00+00:00``); naive means UTC."""
    stamp = pd.Timestamp(instant)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.isoformat()


@dataclass(frozen=True)
class ChampionProvenance:
    """What the serving champion's final model saw and how it was trained.

    ``trained_through``: the version's ``riskwarn.trained_through`` tag (written at
    registration since 2026-12-07) and its run's ``trained_through`` param, the later of
    the two when both are there (a tag is editable, a param is not: the later end refuses
    more origins as in-sample, never fewer); a champion trained before the param existed
    gets its run's ``trained_until`` (its final fit's origin, which every older run logged
    with its zone; ``through_source`` ``"trained_until"``), else its run's start time
    (``"run start"``: it may have seen anything before it was trained, so no row it saw
    is ever called out of sample). A version with no such tag whose run is gone (deleted
    and collected by ``mlflow gc``) gets its creation time and ``"run gone"``: its data
    end cannot be read at all (scoring refuses it: :func:`riskwarn.scoring.out_of_sample`).
    ``recipe``: the ``riskwarn.recipe`` tag or the run's ``recipe`` param (None if
    neither, or if they differ: unknown, never the same as a challenger's).
    ``run_deleted``: its run was deleted (or is gone)."""

    version: str
    run_id: str | None
    trained_through: pd.Timestamp
    through_source: str
    recipe: str | None
    run_deleted: bool = False

    def same_recipe(self, other: str | None) -> bool:
        return self.recipe is not None and other is not None and self.recipe == other

    @property
    def data_end_known(self) -> bool:
        """Whether ``trained_through`` is the end of its training data (not a time it was
        trained at, nor its registration)."""
        return self.through_source not in DATA_END_UNKNOWN


def _aware(text: str | None) -> pd.Timestamp | None:
    """``text`` as a UTC instant if it parses and carries a zone (``trained_until`` of
    older runs: ``str`` of the final fit's origin); None otherwise (a zone-less time could
    be local: not trusted)."""
    if not text:
        return None
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        return None
    if stamp is pd.NaT or stamp.tzinfo is None:
        return None
    return stamp.tz_convert("UTC")


def _utc_instant(text: str | None) -> pd.Timestamp | None:
    """A recorded ``trained_through`` (ISO; naive: UTC) as a UTC instant, None if absent
    or unreadable."""
    if not text:
        return None
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        return None
    if stamp is pd.NaT:
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def version_run(client: MlflowClient, run_id: str | None) -> tuple[Any | None, bool]:
    """A version's MLflow run and whether it was deleted: ``(run, False)``; ``(run,
    True)`` deleted but not yet collected; ``(None, True)`` gone (collected by ``mlflow
    gc``, or never there); ``(None, False)`` without a run id. A registry that fails is
    raised."""
    if not run_id:
        return None, False
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return None, True
    return run, run.info.lifecycle_stage == "deleted"


def champion_provenance(client: MlflowClient, domain: str, version: str) -> ChampionProvenance:
    """:class:`ChampionProvenance` of ``domain``'s version ``version``: its version tags
    first, then its MLflow run."""
    mv = client.get_model_version(model_name(domain), str(version))
    run, deleted = version_run(client, mv.run_id)
    return provenance_of(mv, run, deleted)


def provenance_of(mv: Any, run: Any | None, deleted: bool) -> ChampionProvenance:
    """:class:`ChampionProvenance` of the model version ``mv`` from it and its run as
    read (:func:`version_run`): one rule for scoring, the models page and ``riskwarn
    models``."""
    version = str(mv.version)
    tags = dict(mv.tags or {})
    params: dict[str, str] = dict(run.data.params or {}) if run is not None else {}
    start = pd.Timestamp(run.info.start_time, unit="ms", tz="UTC") if run is not None else None
    until = _aware(params.get("trained_until"))
    # the run's trained_until (its final fit's origin, logged with its zone by every
    # riskwarn run, as immutable as the param) bounds a tag too: a version whose run logged
    # no trained_through param (before 2026-12-07) tagged by hand with an earlier end was
    # read on the tag alone, letting origins inside its training data through
    named = [
        t
        for t in (
            _utc_instant(tags.get(TRAINED_THROUGH_TAG)),
            _utc_instant(params.get(TRAINED_THROUGH)),
        )
        if t is not None
    ]
    if named:  # recorded on the version and/or its run: the latest, if they differ
        stamp, source = max([*named, *([until] if until is not None else [])]), TRAINED_THROUGH
    elif until is not None:  # an older champion: its final fit's origin, logged with a zone
        stamp, source = until, "trained_until"
    elif run is not None:  # an older champion: it may have seen everything before it was trained
        stamp, source = (start if start is not None else created_at(mv)), "run start"
    elif mv.run_id and deleted:  # nothing recorded survives its run
        stamp, source = created_at(mv), RUN_GONE
    else:  # registered by hand without a run: what it saw is its registration's bound
        stamp, source = created_at(mv), "run start"
    recipes = {r for r in (tags.get(RECIPE_TAG), params.get(RECIPE)) if r}
    recipe = next(iter(recipes)) if len(recipes) == 1 else None
    return ChampionProvenance(str(version), mv.run_id, stamp, source, recipe, deleted)


# the key of an alias move's record (since 2026-12-07): the data end riskwarn read when it
# moved the alias (ISO UTC; None: none could be read then); :func:`data_end` holds the
# version to it, so a ``riskwarn.trained_through`` tag edited after the promotion (its run
# collected: nothing else to read it from) is found, not believed
DATA_END_RECORD = "trained_through"
UNKNOWN_END = "unknown"  # :attr:`DataEnd.problem`: no data end can be read
CHANGED_END = "changed"  # ...: the data end read differs from the one riskwarn recorded


@dataclass(frozen=True)
class DataEnd:
    """The training data end a version is served on: the one rule scoring's in-sample
    guard (:func:`riskwarn.scoring.out_of_sample`) and the dashboard's models page
    (:func:`dashboard.model_reads.serving_model`) both read (:func:`data_end`).

    ``at``: the end (origins before it are in-sample); None when ``problem`` is set:
    :data:`UNKNOWN_END` (nothing recorded says it) or :data:`CHANGED_END` (it differs
    from the one riskwarn recorded when it promoted the version). ``read_from``: the
    provenance's ``through_source``; ``recorded``: the end of riskwarn's record (None:
    none recorded, or a record older than 2026-12-07); ``words``: the refusal in one
    English line (the CLI's and the audit log's), None when served."""

    version: str
    at: pd.Timestamp | None
    read_from: str
    run_id: str | None = None
    run_deleted: bool = False
    recorded: pd.Timestamp | None = None
    problem: str | None = None
    words: str | None = None
    read: pd.Timestamp | None = None  # what the version says now, when it says anything


def data_end(
    client: MlflowClient, domain: str, version: str, record: Mapping[str, Any] | None = None
) -> DataEnd:
    """The training data end ``domain``'s version ``version`` is served on, read as
    :func:`champion_provenance` reads it (the version's ``riskwarn.trained_through`` tag,
    its run's ``trained_through`` param, the later of the two; a zoned ``trained_until``),
    and held to ``record`` (riskwarn's newest alias move, :func:`recorded_champion`) when
    that record is of this version and names a data end (moves since 2026-12-07).

    A problem (``at`` None; scoring refuses the version at every origin, audited):

    * no data end can be read: the version has no tag and its run either logged none (a
      version registered by hand or by an older riskwarn: its run's start time says
      nothing of its data) or is gone (deleted, collected by ``mlflow gc``);
    * the end read differs from the one recorded when the version was promoted (a tag
      edited, added or removed since: moved earlier, it would let an in-sample origin
      through), or none could be read then and one is read now (a tag set since: promote
      it again, which records it under the promoter's name).
    """
    prov = champion_provenance(client, domain, version)
    name = f"{model_name(domain)} v{version}"
    now = prov.trained_through if prov.data_end_known else None
    held = (
        record is not None
        and str(record.get("version")) == str(version)
        and DATA_END_RECORD in record
    )
    recorded = _utc_instant(record.get(DATA_END_RECORD)) if held and record else None
    base = DataEnd(
        str(version),
        now,
        prov.through_source,
        prov.run_id,
        prov.run_deleted,
        recorded,
        read=now,
    )
    if held and now != recorded:
        when = ""
        if record is not None and record.get("at") is not None:
            when = f" ({record.get('action', 'move')} by {record.get('actor')} at {pd.Timestamp(record['at']):%Y-%m-%d %H:%M}Z)"
        moment = "when it promoted it"
        seen = (record or {}).get("data_end_seen")
        if isinstance(seen, dict):  # a move before 2026-12-07: scoring's first read of it
            moment = "when scoring first served it"
            when = (
                f" ({seen.get('by')} at {pd.Timestamp(seen.get('at')):%Y-%m-%d %H:%M}Z; its "
                f"{(record or {}).get('action', 'move')} of {pd.Timestamp((record or {}).get('at')):%Y-%m-%d %H:%M}Z recorded none)"
            )
        again = (
            f"`riskwarn promote {domain} {version} --reason ...` (--force if its gate did not pass)"
        )
        if recorded is None and now is not None:
            words = (
                f"{name} now carries a training data end ({iso_utc(now)}) that riskwarn did "
                f"not record when it promoted it{when}: none could be read then, so its "
                f"{TRAINED_THROUGH_TAG} tag was set since; not serving it until it is "
                f"recorded: promote it again, {again}"
            )
        elif now is None and recorded is not None:
            words = (
                f"{name}'s training data end cannot be read now ({_unread_why(prov)}), but "
                f"riskwarn recorded {iso_utc(recorded)} {moment}{when}; not "
                f"serving it (tag the version {TRAINED_THROUGH_TAG}={iso_utc(recorded)} in "
                "the MLflow UI, as recorded)"
            )
        else:
            words = (
                f"{name}'s training data end reads {iso_utc(now)} now, but riskwarn "
                f"recorded {iso_utc(recorded)} {moment}{when}: its "
                f"{TRAINED_THROUGH_TAG} tag was edited since; not serving it (set the tag "
                f"back to {iso_utc(recorded)}, or promote it again to record the new end: "
                f"{again})"
            )
        return replace(base, at=None, problem=CHANGED_END, words=words)
    if now is None:
        if prov.through_source == RUN_GONE:
            fix = "promote or roll back to a version whose run is kept"
        else:
            fix = (
                f"tag the version {TRAINED_THROUGH_TAG}=<the end of its training data, ISO "
                "UTC> in the MLflow UI, then promote it again to record it: "
                f"`riskwarn promote {domain} {version} --force --reason ...`; or promote a "
                "version trained by riskwarn"
            )
        words = (
            f"{name}'s training data end cannot be read: {_unread_why(prov)}, so whether a "
            f"forecast is in-sample cannot be told; not scoring it ({fix})"
        )
        return replace(base, problem=UNKNOWN_END, words=words)
    return base


def _unread_why(prov: ChampionProvenance) -> str:
    """Why a version's data end cannot be read, in words."""
    if prov.through_source == RUN_GONE:
        return (
            f"its MLflow run {prov.run_id} is gone (deleted, then collected by mlflow gc) and "
            f"the version has no {TRAINED_THROUGH_TAG} tag (registered before 2026-12-07)"
        )
    if prov.run_id is None:
        return f"it has no MLflow run and no {TRAINED_THROUGH_TAG} tag (registered by hand)"
    return (
        f"neither its {TRAINED_THROUGH_TAG} tag nor its MLflow run {prov.run_id} records it "
        "(registered by hand, or by a riskwarn older than 2026-12-07)"
    )


def move_data_end(client: MlflowClient, domain: str, version: str) -> str | None:
    """The data end an alias move records (:data:`DATA_END_RECORD`): ISO UTC, None when
    none can be read."""
    prov = champion_provenance(client, domain, version)
    return iso_utc(prov.trained_through) if prov.data_end_known else None


def created_at(mv: Any) -> pd.Timestamp:
    """When model version ``mv`` was registered (UTC)."""
    return pd.Timestamp(int(mv.creation_timestamp), unit="ms", tz="UTC")


def load_champion(domain: str, store: Any | None = None) -> RiskModel:
    """The serving model of a domain (raises ``MlflowException`` if it is missing).

    With ``store`` (what the pipeline passes) the champion is first checked against
    riskwarn's record (:func:`verified_champion`, :class:`ChampionRefused` if it does not
    match) and the verified files are loaded: a training run that compares its
    challenger with the champion never unpickles a model moved in behind its back.
    """
    if store is None:
        model = mlflow.pyfunc.load_model(f"models:/{model_name(domain)}@{CHAMPION}")
        return model.unwrap_python_model()
    client = MlflowClient(
        tracking_uri=mlflow.get_tracking_uri(), registry_uri=mlflow.get_registry_uri()
    )
    _, model = _load_verified(client, store, domain)
    return model.unwrap_python_model()


def _load_verified(client: MlflowClient, store: Any, domain: str) -> tuple[str, Any]:
    """The champion's version and pyfunc model, loaded from the files just verified."""
    from riskwarn.spill import owned_tempdir

    with owned_tempdir("champion download") as tmp:  # the files in a folder of their own
        version, folder = verified_champion(client, store, domain, tmp / "download")
        return version, mlflow.pyfunc.load_model(str(folder))


class PromotionRefused(ValueError):
    """An alias move riskwarn will not make (gate failed without ``force``, no audit, ...).

    ``refusal`` names the kind in the ``promotion_refused`` audit entry; ``details`` are
    facts the entry carries besides the version, reason, via and why."""

    refusal = "refused"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = dict(details or {})


class GateRefused(PromotionRefused):
    """The version's gate failed, could not judge it, or never settled: ``--force`` only."""

    refusal = "gate"


class UnknownVersion(PromotionRefused):
    """The model has no such version (or no registered model at all)."""

    refusal = "unknown_version"


class ForeignModel(PromotionRefused):
    """The version's run belongs to another domain: refused even with ``--force``."""

    refusal = "foreign_model"


class DeletedRun(PromotionRefused):
    """The version's MLflow run was deleted: its files may be collected any time (``mlflow
    gc``); refused even with ``force`` (attack review 2026-12-07)."""

    refusal = "run_deleted"


class StaleGate(PromotionRefused):
    """The version passed its gate against another champion than the one serving now (or
    against one not recorded): refused without ``--force``, audited as ``promotion_refused``."""

    refusal = "stale_gate"


class PersonalDataRefused(PromotionRefused):
    """A promotion's or rollback's reason holds personal data of a dispute party (a phone
    or ID number: :func:`riskwarn.redact.personal_data`): nothing moves and the reason is
    written nowhere; the refusal is audited with what was found (``found``), never the
    text, as a warning review's is (:class:`riskwarn.store.PersonalDataError`). Refused,
    not masked: whoever moves a model stays accountable for the words recorded.
    ``message`` in ``en`` and ``zh``."""

    refusal = "personal_data"

    def __init__(self, name: str, found: list[str]) -> None:
        from riskwarn.store.reviews import PERSONAL_WORDS

        en = " and ".join(PERSONAL_WORDS[k]["en"] for k in found)
        zh = "和".join(PERSONAL_WORDS[k]["zh"] for k in found)
        self.message = {
            "en": f"{name}: the reason contains {en}. Personal data of the parties (names, "
            "phone and ID numbers) is not recorded: remove it and try again. Nothing was "
            "changed.",
            "zh": f"{name}：理由中含有{zh}。当事人的个人信息（姓名、电话、身份证号）不予记录："
            "请删除后重试。本次未做任何更改。",
        }
        super().__init__(self.message["en"], {"found": list(found)})


UNKNOWN = object()  # gate_judged_against: which champion is not recorded


def gate_judged_against(client: MlflowClient, mv: Any, record: Any = UNKNOWN) -> Any:
    """The champion version model version ``mv``'s gate judged it against: its
    ``gate_champion`` tag (None for ``"none"``: there was no champion); for a version
    judged before the tag existed, its run's ``gate.json`` (its champion check's
    ``champion_version``; no champion check: there was none); :data:`UNKNOWN` when neither
    says (no ``gate.json``, or a champion check naming no version). ``record``: the run's
    ``gate.json`` when the caller has read it already (:func:`gate_record`)."""
    tag = (mv.tags or {}).get(GATE_CHAMPION_TAG)
    if tag is not None:
        return None if tag == NO_CHAMPION else str(tag)
    if record is UNKNOWN:
        record = gate_record(client, mv.run_id)
    if record is None:  # no gate.json (never judged, or registered by hand), run gone
        return UNKNOWN
    if "champion" in record:
        return None if record["champion"] is None else str(record["champion"])
    for check in record.get("checks") or []:
        if isinstance(check, dict) and check.get("against") == "champion":
            version = check.get("champion_version")
            return str(version) if version is not None else UNKNOWN
    return None  # no champion check: the gate only omits it when there was no champion


def gate_record(client: MlflowClient, run_id: str | None) -> dict[str, Any] | None:
    """The run's ``gate.json`` (the promotion gate's decision and its checks), or None."""
    if not run_id:
        return None
    from riskwarn.spill import owned_tempdir

    try:
        with owned_tempdir("gate record") as tmp:
            path = client.download_artifacts(run_id, GATE_ARTIFACT, str(tmp))
            record = json.loads(Path(path).read_text())
    except Exception:  # never judged, registered by hand, or the run is gone
        return None
    return record if isinstance(record, dict) else None


MODEL_METHOD = "xgboost"  # the model's own entry among a run's metrics.json methods


def run_metrics(client: MlflowClient, run_id: str | None) -> dict[str, Any]:
    """The run's ``metrics.json`` ({} without: never evaluated, registered by hand, or the
    run is gone)."""
    if not run_id:
        return {}
    from riskwarn.spill import owned_tempdir

    try:
        with owned_tempdir("run metrics") as tmp:
            path = client.download_artifacts(run_id, "metrics.json", str(tmp))
            record = json.loads(Path(path).read_text())
    except Exception:
        return {}
    return record if isinstance(record, dict) else {}


def model_values(
    client: MlflowClient,
    run_id: str | None,
    metrics: list[str],
    record: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """The model's own value of each of ``metrics`` in the run's ``metrics.json`` (its
    ``methods["xgboost"]``; ``record``: the file already read): what ``riskwarn models
    --checks`` compares with a random pick (a gate check passed against a baseline says
    nothing of that); {} without."""
    if not run_id or not metrics:
        return {}
    got = run_metrics(client, run_id) if record is None else record
    own = (got.get("methods") or {}).get(MODEL_METHOD) or {}
    out = {}
    for m in metrics:
        v = own.get(m) if isinstance(own, dict) else None
        if isinstance(v, int | float) and v == v:
            out[m] = float(v)
    return out


def event_counts(record: Mapping[str, Any] | None) -> dict[str, float]:
    """The model's ``events`` and ``events_active_area`` in a run's ``metrics.json``
    (``record``): every event of the backtest's windows and those in its scored cells,
    from which ``riskwarn models --checks`` gets what a random choice of the scored cells
    scores (:func:`dashboard.verdicts.random_reference`); {} when not recorded."""
    own = ((record or {}).get("methods") or {}).get(MODEL_METHOD) or {}
    out = {}
    for key in ("events", "events_active_area"):
        v = own.get(key) if isinstance(own, dict) else None
        if isinstance(v, int | float) and v == v:
            out[key] = float(v)
    return out


def champion_compared(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Whether the gate of ``record`` (a run's ``gate.json``) compared the version with the
    champion it was judged against on forecast origins after the champion's data
    (``models.gate.champion_check``): ``{"compared": bool, "n_origins": int | None}``, or
    None when the record holds no such check (no champion, or an older gate). A same-recipe
    refresh with too few origins after the champion's data passes without a comparison:
    "gate pass (against v1)" said it had been compared when it never was."""
    for check in (record or {}).get("checks") or []:
        if isinstance(check, dict) and check.get("against") == "champion":
            n = check.get("n_origins")
            return {
                "compared": bool(check.get("compared", True)),
                "n_origins": int(n) if isinstance(n, int | float) else None,
            }
    return None


def versions(client: MlflowClient, store: Any, domain: str) -> list[dict[str, Any]]:
    """Every registered version of ``domain``'s model, newest first, as a data scientist
    compares them before a promotion or rollback: when and from which run it was trained,
    data through when, its gate tag and which champion the gate judged it against, the
    gate's checks, whether MLflow's ``champion`` alias points at it and whether riskwarn's
    record (what scoring serves) names it (``riskwarn models``), and the newest recorded
    alias move to it (``promotion``: :func:`move_summary`; None if riskwarn never moved
    the alias to it) and its history (``history``, oldest first: every recorded move to
    it and every rollback away from it, each a :func:`move_summary`), and the sources of
    the records it was trained on (``trained_on_sources``, the only ones it is scored on;
    None when its run does not record them: a site model, or one before 2026-12-07)."""
    name = model_name(domain)
    try:
        found = client.search_model_versions(f"name = '{name}'")
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return []  # never registered; a registry that cannot be reached is raised
        raise
    alias = champion_version(client, domain) if found else None
    recorded = recorded_champion(store, name) if store is not None else None
    served = str(recorded["version"]) if recorded and recorded.get("version") else None
    moves = _committed_moves(store, name) if store is not None and found else []
    basis = COMPARISON_BASIS.get(domains.get(domain).family) if domain in domains.DOMAINS else None
    out: list[dict[str, Any]] = []
    for mv in sorted(found, key=lambda m: int(m.version), reverse=True):
        params: dict[str, str] = {}
        run, run_deleted = version_run(client, mv.run_id)
        if run is not None:
            params = dict(run.data.params)
        # the facts recorded on the version first (they outlive its run), then its run's
        tags = mv.tags or {}
        params = {
            **params,
            **{
                key: tags[tag]
                for key, tag in (
                    ("recipe", RECIPE_TAG),
                    (TRAINED_THROUGH, TRAINED_THROUGH_TAG),
                    (SOURCES, SOURCES_TAG),
                )
                if tags.get(tag)
            },
        }
        record = gate_record(client, mv.run_id)  # read once: checks and, untagged, the champion
        against = gate_judged_against(client, mv, record)
        summaries = [
            check_summary(c, basis)
            for c in (record or {}).get("checks") or []
            if isinstance(c, dict)
        ]
        compared = sorted({str(c["metric"]) for c in summaries if c.get("metric")})
        hotspot = basis is COMPARISON_BASIS["hotspot"]
        figures = run_metrics(client, mv.run_id) if compared or hotspot else {}
        counted = figures.get("counted_on_sources")
        out.append(
            {
                "version": str(mv.version),
                "created": iso_utc(pd.Timestamp(int(mv.creation_timestamp), unit="ms", tz="UTC")),
                "run_id": mv.run_id,
                "recipe": params.get("recipe"),
                # the data end scoring reads (the later of tag and run param; None when
                # none can be read: scoring refuses such a version)
                "trained_through": iso_utc(prov.trained_through)
                if (prov := provenance_of(mv, run, run_deleted)).data_end_known
                else None,
                "gate": (mv.tags or {}).get("gate"),
                "gate_champion": "unknown" if against is UNKNOWN else against,
                "checks": summaries,
                # the model's own value of each compared metric (a pass against a
                # baseline can still be below random: riskwarn models --checks says so)
                "model_values": model_values(client, mv.run_id, compared, figures),
                "event_counts": event_counts(figures),
                # hotspot domains: its input sources (run param, "all" = every source; None
                # if not recorded) and the sources whose events its metrics counted (None
                # before 2026-12-07: then its inputs' events)
                "sources": params.get(SOURCES) if hotspot else None,
                "counted_on_sources": list(counted) if hotspot and counted is not None else None,
                # the sources of the records it was trained on (run param, since
                # 2026-12-07; hotspot and case domains): the only ones it is scored on
                "trained_on_sources": (
                    list(training_sources(params[TRAINED_ON].split(",")) or ())
                    if params.get(TRAINED_ON)
                    else None
                ),
                "gate_compared": champion_compared(record),
                "alias": str(mv.version) == alias,
                "recorded": str(mv.version) == served,
                # its MLflow run was deleted (or is gone): promote and rollback refuse it,
                # and its files may be removed at any time (mlflow gc)
                "run_deleted": run_deleted,
                "promotion": next(
                    (
                        move_summary(m)
                        for m in moves
                        if str((m["details"] or {}).get("version")) == str(mv.version)
                    ),
                    None,
                ),
                "history": [
                    move_summary(m)
                    for m in reversed(moves)  # oldest first
                    if str((m["details"] or {}).get("version")) == str(mv.version)
                    or (
                        m["action"] == "rollback"
                        and str((m["details"] or {}).get("previous")) == str(mv.version)
                    )
                ],
            }
        )
    return out


# Each family's gate compares the model with another method (a baseline, the rule it
# replaces, the champion) as a difference with a paired-bootstrap 95% CI: on the run's
# headline metric (metrics.json "headline") unless the check names its own ("metric":
# PAI@1/5/10 %, TSS at a level), resampling whole forecast origins (hotspot: one window
# each, models.hotspot_evaluation; cases before 2026-12-06, whose checks do not record
# it; since then whole cases, recorded in the check, models.case_models.
# case_bootstrap_diff) or whole local days (sites: models.site_evaluation; hours of a day
# are not independent).
COMPARISON_BASIS: dict[str, tuple[str, str]] = {
    "hotspot": ("pai@0.05", "paired bootstrap over forecast origins"),
    "case": ("average_precision", "paired bootstrap over forecast origins"),
    "site": ("auc", "paired bootstrap over local days"),
}


def check_summary(check: Mapping[str, Any], basis: tuple[str, str] | None) -> dict[str, Any]:
    """A gate check as ``riskwarn models`` lists it: ``check``, ``ok``, ``judged``,
    ``detail``; a comparison (a difference with a 95% CI) also ``metric`` (the check's own,
    else the family's headline, :data:`COMPARISON_BASIS`) and ``ci_resampled`` (what its
    bootstrap resampled). The gate's "beats caine: diff -0.015, 95% CI [...]" named
    neither."""
    out = {k: check.get(k) for k in ("check", "ok", "judged", "detail")}
    if "counted_on_sources" in check:  # a hotspot champion check's sources (since 2026-12-07)
        for k in ("champion_version", "counted_on_sources", "challenger_sources"):
            out[k] = check.get(k)
        if "champion_sources" in check:  # the champion was loaded and scored
            out["champion_sources"] = check["champion_sources"]
    ci = check.get("ci")
    if isinstance(ci, list | tuple) and len(ci) == 2:
        out["metric"] = check.get("metric") or (basis[0] if basis else None)
        out["ci"] = [float(ci[0]), float(ci[1])]
        if check.get("diff") is not None:
            out["diff"] = float(check["diff"])
        # a check that records what it resampled (the case gates since 2026-12-06: whole
        # cases) says so itself; older gates resampled what their family's basis says
        unit, n = check.get("resampled"), check.get("n_clusters")
        if unit:
            out["ci_resampled"] = (
                f"paired bootstrap over {n} {unit}" if n else f"paired bootstrap over {unit}"
            )
        else:
            out["ci_resampled"] = basis[1] if basis else None
    return out


# a reason's phone or ID number as `riskwarn models` shows it (the record is unchanged)
MASKED_PERSONAL = {"phone": "[phone removed]", "id_number": "[ID number removed]"}


def move_summary(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded alias move (an audit entry of :func:`_committed_moves`) as ``riskwarn
    models`` shows it: ``action`` (promote or rollback), ``version`` (moved to),
    ``previous`` (the version that served before, None for the first), ``actor``, ``at`` (ISO UTC),
    ``reason`` (a phone or ID number in it masked: one recorded before such reasons were
    refused), ``gate`` (the version's gate tag when it moved) and ``forced``: None, or
    why ``--force`` was needed: ``"gate"`` (the gate failed, could not judge it, or never
    ran: ``gate`` says which) or ``"stale_gate"`` (its pass was judged against another
    champion than the serving one; ``stale_gate`` holds ``gate_champion`` and ``serving``)."""
    from riskwarn.redact import mask_personal

    details = entry.get("details") or {}
    stale = details.get("forced_over_stale_gate")
    forced = (
        "gate"
        if details.get("forced_over_gate")
        else "stale_gate"
        if isinstance(stale, dict)
        else None
    )
    reason = details.get("reason")
    version, previous = details.get("version"), details.get("previous")
    return {
        "action": entry.get("action"),
        "version": None if version is None else str(version),
        "previous": None if previous is None else str(previous),
        "actor": entry.get("actor"),
        "at": iso_utc(entry["at"]) if entry.get("at") is not None else None,
        "reason": None if reason is None else mask_personal(str(reason), MASKED_PERSONAL),
        "gate": details.get("gate"),
        "forced": forced,
        "stale_gate": stale if isinstance(stale, dict) else None,
    }


def foreign_domain(client: MlflowClient, domain: str, mv: Any) -> str | None:
    """The other domain whose training run made model version ``mv`` (its run's
    ``domain`` param or ``riskwarn.domain`` tag), or None: it is ``domain``'s, or its run
    names no domain (registered by hand) or is gone. A model of another domain's features
    cannot score this domain's frame."""
    if not mv.run_id:
        return None
    try:
        run = client.get_run(mv.run_id)
    except MlflowException:
        return None
    named = run.data.params.get("domain") or run.data.tags.get("riskwarn.domain")
    return named if named and named != domain else None


def recipe_tz(document: Mapping[str, Any] | None) -> str | None:
    """The time zone of a recipe's document (its ``shape``'s ``tz``; every family's
    recipe records it), None when it records none."""
    shape = (document or {}).get("shape")
    tz = shape.get("tz") if isinstance(shape, Mapping) else None
    return str(tz) if tz else None


@dataclass(frozen=True)
class TrainedTz:
    """The local time zone(s) a version's rows were built in, as recorded: ``zones``
    every distinct zone read from its version's ``riskwarn.tz`` tag, its run's ``tz``
    param and, when the run has none (logged before 2026-12-08), its run's
    ``recipe.json`` (``shape.tz``); empty when nothing records one (a version registered
    by hand or before recipes, or whose run is gone). ``read_from`` names where."""

    version: str
    zones: tuple[str, ...]
    read_from: tuple[str, ...]

    def differs_from(self, tz: str) -> bool:
        """Whether a recorded zone is not ``tz`` (unrecorded: not, assumed ``tz``)."""
        return any(z != tz for z in self.zones)


def trained_tz(client: MlflowClient, domain: str, version: str) -> TrainedTz:
    """:class:`TrainedTz` of ``domain``'s version ``version``. The run's record is read
    whatever the tag says (a tag is editable, a param is not), and several zones that
    differ are all kept: scoring refuses the version unless each is its own."""
    mv = client.get_model_version(model_name(domain), str(version))
    run, _ = version_run(client, mv.run_id)
    found: dict[str, str] = {}
    tag = (mv.tags or {}).get(TZ_TAG)
    if tag:
        found.setdefault("tag " + TZ_TAG, tag)
    param = run.data.params.get(TZ) if run is not None else None
    if param:
        found.setdefault("run param " + TZ, param)
    if not param and run is not None and mv.run_id and RECIPE in run.data.params:
        from riskwarn.spill import owned_tempdir

        try:
            with owned_tempdir("run recipe") as tmp:
                path = client.download_artifacts(mv.run_id, RECIPE_ARTIFACT, str(tmp))
                document = json.loads(Path(path).read_text())
        except Exception:  # no artifact (removed, unreadable): nothing recorded
            document = None
        tz = recipe_tz(document if isinstance(document, dict) else None)
        if tz is not None:
            found[RECIPE_ARTIFACT] = tz
    zones = tuple(dict.fromkeys(found.values()))
    return TrainedTz(str(version), zones, tuple(found))


class ChampionRefused(RuntimeError):
    """The champion alias does not match what riskwarn recorded: it is not served."""


# --------------------------------------------------------------------------- alias moves
# Every move of the champion alias is written to riskwarn's audit log, with the
# authenticated actor, the version's gate tag and a digest of its model files: its intent
# before the alias moves, the move once it has moved (_move_alias). Scoring serves a
# champion only if the alias, the gate tag and the files match the newest recorded move
# (verified_champion): an alias moved behind riskwarn's back, a gate tag edited or a model
# file replaced is refused before anything is unpickled.

MOVE_ACTIONS = ("promote", "rollback")
FAILED_MOVE = "alias_move_failed"
# the intent of a move, written before the alias moves; its promote/rollback entry (same
# move_id) once it moved (since 2026-12-06; before, the promote/rollback entry was written
# first, and a crash after it left a record of a move never made)
MOVE_STARTED = "alias_move_started"


def authenticated_actor(registry_uri: str) -> str:
    """Who moves the alias, as authenticated by the system that performs the move.

    Through an MLflow server: its basic-auth user (``mlflow:<user>``; the server
    refuses the call if the password is wrong), and no move without credentials. On a
    registry the process opens itself (SQLite file, database URL): the operating-system
    account running it (``os:<user>``, from the process's uid, not ``$USER``;
    ``os:uid=<n>`` for a uid with no account name: :func:`riskwarn.store.base.os_actor`).
    """
    import os
    from urllib.parse import urlparse

    from riskwarn.store.base import os_actor

    if urlparse(registry_uri).scheme in ("http", "https"):
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        if not user:
            raise PromotionRefused(
                "the MLflow server is used without credentials: set MLFLOW_TRACKING_USERNAME "
                "and MLFLOW_TRACKING_PASSWORD (riskwarn records who moves the champion alias)"
            )
        return f"mlflow:{user}"
    return os_actor()  # a uid without a passwd entry raised KeyError: no promote, rollback


def model_digest(folder: Path) -> str:
    """SHA-256 over a model folder: every file's relative path and content, sorted."""
    outer = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        inner = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                inner.update(block)
        outer.update(path.relative_to(folder).as_posix().encode() + b"\0")
        outer.update(inner.digest())
    return outer.hexdigest()


def download_version(name: str, version: str, dst: Path) -> Path:
    """The model files of ``name`` v``version``, downloaded into ``dst`` (created)."""
    import mlflow.artifacts

    dst.mkdir(parents=True, exist_ok=True)

    return Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}", dst_path=str(dst)
        )
    )


def version_digest(name: str, version: str) -> str:
    """:func:`model_digest` of a registered version's files."""
    from riskwarn.spill import owned_tempdir

    with owned_tempdir("model digest") as tmp:  # not beside owner.lock: the digest is the folder's
        return model_digest(download_version(name, version, tmp / "download"))


def _committed_moves(store: Any, name: str) -> list[dict[str, Any]]:
    """The alias moves of ``name`` riskwarn recorded as made (``promote``/``rollback``
    entries without an ``alias_move_failed`` of their ``move_id``), newest first."""
    log = store.audit_entries("model", name, (*MOVE_ACTIONS, FAILED_MOVE))
    failed = {
        e["details"].get("move_id") for e in log if e["action"] == FAILED_MOVE and e["details"]
    }
    return [
        e
        for e in log
        if e["action"] in MOVE_ACTIONS and (e["details"] or {}).get("move_id") not in failed
    ]


def _run_deleted(client: MlflowClient, run_id: str) -> bool:
    """Whether the MLflow run ``run_id`` was deleted (or is gone altogether)."""
    try:
        return bool(client.get_run(run_id).info.lifecycle_stage == "deleted")
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise  # the registry failed: not a refusal
        return True


def recorded_version_gone(client: MlflowClient, store: Any, name: str) -> str | None:
    """The version riskwarn recorded as ``name``'s champion when MLflow no longer has it
    (deleted in MLflow behind riskwarn's back), else None."""
    recorded = recorded_champion(store, name) if store is not None else None
    version = str(recorded["version"]) if recorded and recorded.get("version") else None
    if version is None:
        return None
    try:
        client.get_model_version(name, version)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return version
        raise
    return None


def gone_words(name: str, version: str) -> str:
    """What is said when riskwarn's recorded champion is not in the MLflow registry read:
    deleted there, or the tracking URI points at another registry."""
    return (
        f"{name}@champion: the recorded champion v{version} no longer exists in MLflow "
        "(deleted, or this tracking URI is another registry): nothing serves; promote a "
        "version or roll back"
    )


def recorded_champion(store: Any, name: str) -> dict[str, Any] | None:
    """The newest alias move of ``name`` in riskwarn's audit log that did not fail.

    Returns its details plus ``action`` (promote or rollback), ``actor`` and ``at``; None
    if riskwarn never moved it. A move whose intent was recorded but whose alias move was
    never confirmed (:data:`MOVE_STARTED` alone: a crash in between) is not one. A move
    made before 2026-12-07 names no data end; the end scoring first read for it
    (:data:`DATA_END_SEEN`, :func:`note_first_seen_end`) is given as its
    :data:`DATA_END_RECORD`, with ``data_end_seen`` (who read it, when).
    """
    for entry in _committed_moves(store, name):  # newest first
        record = {
            **(entry["details"] or {}),
            "action": entry["action"],
            "actor": entry["actor"],
            "at": entry["at"],
        }
        if DATA_END_RECORD not in record:
            seen = _first_seen(store, name, move_key(record), str(record.get("version")))
            if seen is not None:
                record[DATA_END_RECORD] = seen["details"].get(DATA_END_RECORD)
                record["data_end_seen"] = {"by": seen["actor"], "at": seen["at"]}
        return record
    return None


# the audit action of the data end scoring first read for a champion whose move names none
# (moved before 2026-12-07): later reads are held to it, as to a move's record
DATA_END_SEEN = "data_end_first_seen"


def move_key(record: Mapping[str, Any]) -> str:
    """Which alias move a record is: its ``move_id`` (since 2026-12-06), else its action
    and time (older moves have no id)."""
    if record.get("move_id"):
        return str(record["move_id"])
    at = record.get("at")
    return f"{record.get('action')}@{iso_utc(at) if at is not None else '?'}"


def _first_seen(store: Any, name: str, move: str, version: str) -> dict[str, Any] | None:
    """The oldest :data:`DATA_END_SEEN` entry of ``name``'s move ``move`` of ``version``."""
    for entry in reversed(store.audit_entries("model", name, (DATA_END_SEEN,))):  # oldest first
        details = entry["details"] or {}
        if details.get("move") == move and str(details.get("version")) == version:
            return {**entry, "details": details}
    return None


def note_first_seen_end(store: Any, name: str, record: Mapping[str, Any], end: DataEnd) -> bool:
    """Record in the audit log (:data:`DATA_END_SEEN`) the data end ``end`` scoring just
    read for a champion whose alias move names none (``record``: riskwarn's newest move,
    made before 2026-12-07): a tag edited after this first read is then found
    (:func:`data_end` holds later reads to it) without refusing a champion that works.
    Nothing when the move names an end (or one was seen for it), when ``end`` is not of
    the move's version, or when no end can be read (refused:
    :func:`riskwarn.scoring.out_of_sample`). Returns whether it wrote."""
    if DATA_END_RECORD in record or end.at is None or end.problem is not None:
        return False
    if str(record.get("version")) != str(end.version):
        return False
    details = {
        "move": move_key(record),
        "version": str(end.version),
        DATA_END_RECORD: iso_utc(end.at),
        "read_from": end.read_from,
    }
    store.audit("pipeline", DATA_END_SEEN, "model", name, details)
    log.info("%s v%s: the data end %s first read (its %s names none): recorded",
             name, end.version, details[DATA_END_RECORD], record.get("action"))  # fmt: skip
    return True


def champion_chain(store: Any, name: str) -> list[str]:
    """The versions a rollback returns to, the nearest last: replayed from riskwarn's
    recorded moves, oldest first (a promote stacks the version that served before it, its
    ``previous``; a rollback to v returns to v, dropping it and what was stacked above it).

    It is what the old registered-model tag ``riskwarn.champion_history`` held, taken
    from the audit log alone (older logs included): the tag was written after the alias
    moved, so a crash or a registry error between the two made a rollback skip the
    version that served."""
    chain: list[str] = []
    for entry in reversed(_committed_moves(store, name)):  # oldest first
        details = entry["details"] or {}
        version = str(details.get("version"))
        previous = details.get("previous")
        if entry["action"] == "promote":
            if previous is not None and str(previous) != version:
                chain.append(str(previous))
        elif version in chain:  # a rollback to it (and past those it skipped)
            del chain[len(chain) - 1 - chain[::-1].index(version) :]
    return chain


def _alias_of(client: MlflowClient, name: str) -> str | None:
    """The version ``name``'s champion alias points at (None: no alias)."""
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def pending_moves(store: Any, name: str) -> list[dict[str, Any]]:
    """Intents of alias moves (:data:`MOVE_STARTED`) of ``name`` with neither their move
    nor its failure recorded, newest first: a promote or rollback that died (killed, the
    serving store gone) between recording its intent and recording its move."""
    log = store.audit_entries("model", name, (*MOVE_ACTIONS, FAILED_MOVE, MOVE_STARTED))
    settled = {(e["details"] or {}).get("move_id") for e in log if e["action"] != MOVE_STARTED}
    return [
        e
        for e in log
        if e["action"] == MOVE_STARTED and (e["details"] or {}).get("move_id") not in settled
    ]


def settle_pending_moves(
    client: MlflowClient, store: Any, name: str, actor: str | None = None
) -> list[dict[str, Any]]:
    """Record how the interrupted alias moves of ``name`` ended (:func:`pending_moves`);
    returns the entries written. Call it holding the alias lock (no move is live then):
    promote and rollback do, first.

    The newest one whose version MLflow's alias points at moved the alias: its move is
    recorded (``promote``/``rollback``, its intent's actor and details, ``recovered``:
    who found it, when it started); the others never moved it: ``alias_move_failed``
    (``interrupted``). A re-run after a crash so leaves riskwarn's record and MLflow's
    alias agreeing, and the audit log saying once what happened.

    An intent whose owner (``owner``: host, boot id, pid and its start time, recorded
    since 2026-12-07) still runs is left alone: that move is live, not interrupted (a
    process of an older riskwarn moving the alias without the serving store's lock)."""
    from riskwarn.spill import process_identity, process_state

    me = process_identity()
    pending = [
        e
        for e in pending_moves(store, name)
        if not (
            isinstance(owner := (e["details"] or {}).get("owner"), dict)
            and owner != me
            and process_state(owner)[0] == "alive"
        )
    ]
    if not pending:
        return []
    alias = _alias_of(client, name)
    finder = actor or authenticated_actor(mlflow.get_registry_uri())
    written: list[dict[str, Any]] = []
    for i, entry in enumerate(pending):
        intent = {
            k: v for k, v in (entry["details"] or {}).items() if k not in ("db_user", "owner")
        }
        action = intent.pop("action", None)
        version = str(intent.get("version"))
        started = iso_utc(entry["at"]) if entry.get("at") is not None else None
        if i == 0 and alias == version and action in MOVE_ACTIONS:
            details = {**intent, "recovered": {"by": finder, "started": started}}
            store.audit(entry["actor"], action, "model", name, details)
            written.append({"action": action, **details, "actor": entry["actor"]})
            log.warning("%s: an interrupted %s of v%s had moved the alias: recorded now",
                        name, action, version)  # fmt: skip
            continue
        failed = {
            "move_id": intent.get("move_id"),
            "version": version,
            "error": f"interrupted before the alias moved (it points at v{alias}), found by "
            f"{finder}",
            "interrupted": True,
            "started": started,
        }
        store.audit(finder, FAILED_MOVE, "model", name, failed)
        written.append({"action": FAILED_MOVE, **failed})
        log.warning("%s: an interrupted %s of v%s never moved the alias (it points at v%s): "
                    "recorded as failed", name, action, version, alias)  # fmt: skip
    return written


def _move_alias(
    client: MlflowClient,
    store: Any,
    *,
    action: str,
    name: str,
    version: str,
    actor: str,
    details: dict[str, Any],
) -> dict[str, Any]:
    """Record the intent, move the alias, record the move.

    The intent (:data:`MOVE_STARTED`, the whole record) is written before the alias moves,
    the move (``action``, what :func:`recorded_champion` and scoring read) once it has
    moved. A crash in between leaves the intent alone, settled by the next promote or
    rollback (:func:`settle_pending_moves`) from where the alias really points. A failed
    alias call is checked against the alias: it moved (the answer was lost) and the move
    is recorded, or it did not and ``alias_move_failed`` is, then the error is raised."""
    if store is None:
        raise PromotionRefused(
            f"{name}: the champion alias only moves with riskwarn's audit log (no store given)"
        )
    mv = client.get_model_version(name, version)
    record = {
        **details,
        "model": name,
        "version": version,
        "gate": (mv.tags or {}).get("gate"),
        # the champion the gate judged it against, as tagged (None: untagged, judged
        # before the tag existed or never): a gate fact like the outcome
        "gate_champion": (mv.tags or {}).get(GATE_CHAMPION_TAG),
        "digest": version_digest(name, version),
        # the data end scoring holds the version to (data_end): a tag edited since is found
        DATA_END_RECORD: move_data_end(client, name.removeprefix("riskwarn-"), version),
        "move_id": uuid.uuid4().hex,
    }
    from riskwarn.spill import process_identity

    # the intent names its owner: settle_pending_moves leaves a live owner's move alone
    intent = {**record, "action": action, "owner": process_identity()}
    store.audit(actor, MOVE_STARTED, "model", name, intent)
    try:
        client.set_registered_model_alias(name, CHAMPION, version)
    except Exception as exc:
        try:
            moved = _alias_of(client, name) == version
        except Exception:  # the registry cannot say: left to settle_pending_moves
            raise exc from None
        if not moved:
            store.audit(
                actor,
                FAILED_MOVE,
                "model",
                name,
                {"move_id": record["move_id"], "version": version, "error": repr(exc)},
            )
            raise
        log.warning("%s: moving the alias to v%s raised %r, but it points there", name,
                    version, exc)  # fmt: skip
    store.audit(actor, action, "model", name, record)  # the move, made
    return record


ALIAS_LOCK_WAIT_S = 60.0  # a move takes seconds (it digests the version's files)


class ChampionBusy(PromotionRefused):
    """Another promote or rollback of the model held its alias lock longer than we waited."""

    refusal = "busy"


def alias_lock_folder(lock_dir: Path | None = None, registry_uri: str | None = None) -> Path:
    """Where the alias locks are: ``lock_dir`` if given; beside a SQLite registry (its
    folder's ``run/``: ``<home>/run``, with the training locks, for the home's
    ``mlflow.db``), else the riskwarn home's ``run/``. The registry is ``registry_uri``,
    by default MLflow's current one."""
    if lock_dir is not None:
        return Path(lock_dir)
    uri = registry_uri or mlflow.get_registry_uri()
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).parent / "run"
    from riskwarn.settings import load_settings

    return load_settings().home / "run"


@contextmanager
def alias_lock(name: str, lock_dir: Path | None = None, store: Any | None = None) -> Iterator[None]:
    """Hold ``name``'s alias lock (:func:`riskwarn.spill.alias_lock`) while its champion
    alias moves: the history tag's read-modify-write and "audit, then move the alias" of
    two moves at once could leave the alias and the newest audit record disagreeing.
    With ``store``, its lock of the alias too (``Store.alias_move_lock``, taken after the
    file's): the file is the home's, and two homes sharing one MLflow and one serving
    store were not serialized by it. Waits up to :data:`ALIAS_LOCK_WAIT_S` for each, then
    :class:`ChampionBusy`."""
    from contextlib import nullcontext

    from riskwarn.spill import AliasBusy
    from riskwarn.spill import alias_lock as file_lock

    try:
        with (
            file_lock(alias_lock_folder(lock_dir), name, ALIAS_LOCK_WAIT_S),
            store.alias_move_lock(name, ALIAS_LOCK_WAIT_S) if store is not None else nullcontext(),
        ):
            yield
    except AliasBusy as exc:
        raise ChampionBusy(str(exc)) from None


@contextmanager
def all_alias_locks(
    registry_uri: str,
    purpose: str,
    wait_s: float = ALIAS_LOCK_WAIT_S,
    lock_dir: Path | None = None,
    store: Any | None = None,
) -> Iterator[None]:
    """Hold the alias lock of every domain's model (in name order, one at a time as a move
    takes one: no deadlock) of the registry ``registry_uri``: no promote or rollback moves
    a champion alias, nor writes its audit entry, meanwhile. ``riskwarn backup`` holds them
    across its dumps of the serving store and MLflow, so the restored audit log records
    the alias the restored registry holds. With ``store``, each model's lock in it too
    (:func:`alias_lock`'s order: the file's, then the store's). :class:`ChampionBusy`
    after ``wait_s``."""
    from contextlib import ExitStack

    from riskwarn import domains
    from riskwarn.spill import AliasBusy
    from riskwarn.spill import alias_lock as file_lock

    folder = alias_lock_folder(lock_dir, registry_uri)
    try:
        with ExitStack() as stack:
            for name in sorted(model_name(d) for d in domains.names()):
                stack.enter_context(file_lock(folder, name, wait_s, purpose))
                if store is not None:
                    stack.enter_context(store.alias_move_lock(name, wait_s, purpose))
            yield
    except AliasBusy as exc:
        raise ChampionBusy(str(exc)) from None


class ReasonRefused(PromotionRefused):
    """A promotion's or rollback's reason the audit log will not keep: longer than a
    review reason may be (:data:`riskwarn.review_text.REASON_MAX_CHARS`; attack review
    2026-12-07: 130,000 characters were stored twice and printed by every ``riskwarn
    models``), or holding a control character such as NUL. Refused before anything is
    looked up, audited without the text (``length``); ``refusal`` is
    :func:`riskwarn.review_text.reason_problem`'s key."""

    def __init__(self, message: str, problem: str, length: int) -> None:
        super().__init__(message, {"length": length})
        self.refusal = problem


def _given_reason(reason: str | None, action: str, name: str) -> str:
    """``reason`` stripped; :class:`PromotionRefused` if it is blank (the audit log keeps
    why every alias move was made, as warning reviews refuse a blank reason);
    :class:`ReasonRefused` if it is longer than a review reason may be or holds a control
    character (the review's own check: :func:`riskwarn.review_text.reason_problem`)."""
    from riskwarn.review_text import REASON_MAX_CHARS, reason_problem

    problem = reason_problem(reason)
    reason = (reason or "").strip()
    if problem == "reason_required" or not reason:
        raise PromotionRefused(
            f"{name}: a {action} needs a reason (it is written to the audit log)"
        )
    if problem == "reason_too_long":
        raise ReasonRefused(
            f"{name}: a {action} reason is at most {REASON_MAX_CHARS} characters, as a "
            f"review's (this one has {len(reason):,}): shorten it. Nothing was changed.",
            problem,
            len(reason),
        )
    if problem is not None:
        raise ReasonRefused(
            f"{name}: a {action} reason cannot hold control characters (e.g. NUL): remove "
            "them. Nothing was changed.",
            problem,
            len(reason),
        )
    return reason


def _personal_refusal(reason: str, name: str) -> PersonalDataRefused | None:
    """The refusal of a ``reason`` holding a phone or ID number, or None."""
    from riskwarn.redact import personal_data

    found = personal_data(reason)
    return PersonalDataRefused(name, found) if found else None


def promote(
    client: MlflowClient,
    domain: str,
    version: str,
    *,
    store: Any,
    reason: str,
    actor: str | None = None,
    force: bool = False,
    via: str = "riskwarn promote",
    lock_dir: Path | None = None,
) -> dict[str, Any]:
    """Point ``champion`` at ``version``; the audit entry is written before the alias moves.

    ``actor`` defaults to :func:`authenticated_actor` of the registry. A version not tagged
    ``gate=pass`` by its training run (tagged ``fail``, ``not_judged``, or never judged) is
    refused unless
    ``force`` (then the audit entry says ``forced_over_gate``). A version tagged ``pass``
    whose gate judged it against another champion than the one serving now
    (:func:`gate_judged_against`: e.g. an old version over a newer champion, or one judged
    when no champion served) is refused (:class:`StaleGate`, audited as
    ``promotion_refused``) unless ``force`` (the entry then says
    ``forced_over_stale_gate``). Promoting the version already served with a matching
    record changes nothing; if the alias points at it but riskwarn's record does not
    match (moved behind its back, or another serving store), the move is recorded.

    Runs under the model's alias lock (:func:`alias_lock`): a concurrent promote or
    rollback of the same model waits for it, up to :data:`ALIAS_LOCK_WAIT_S`
    (:class:`ChampionBusy`).

    Every refusal (:class:`PromotionRefused`: a gate not passed, an unknown version,
    another domain's model, a stale pass, the lock held too long) leaves one audit entry
    ``promotion_refused`` (version, reason, via, ``refusal`` kind, ``why``: the message)
    in ``store``, then is raised. A blank reason is refused before anything is looked up
    and is not audited (the audit log keeps why a move was tried; there is no why). A
    reason holding a phone or ID number (:class:`PersonalDataRefused`) is refused before
    anything is looked up too, audited without its text (``found``: what it holds).
    """
    name = model_name(domain)
    try:
        reason = _given_reason(reason, "promotion", name)
    except ReasonRefused as exc:  # audited without the text
        _audit_refusal(store, actor, name, str(version), None, via, exc)
        raise
    personal = _personal_refusal(reason, name)
    if personal is not None:  # audited without the text (it is what must not be stored)
        _audit_refusal(store, actor, name, str(version), None, via, personal)
        raise personal
    try:
        with alias_lock(name, lock_dir, store):
            return _promote(
                client,
                domain,
                version,
                store=store,
                reason=reason,
                actor=actor,
                force=force,
                via=via,
            )
    except PromotionRefused as exc:
        _audit_refusal(store, actor, name, str(version), reason, via, exc)
        raise


def _audit_refusal(
    store: Any,
    actor: str | None,
    name: str,
    version: str | None,
    reason: str | None,
    via: str,
    exc: PromotionRefused | RollbackRefused,
    action: str = "promotion_refused",
) -> None:
    """The ``promotion_refused`` entry of a refused promote (``action``: the
    ``rollback_refused`` of a refused rollback, no version: none was chosen; none without
    a store: the library called with none moves nothing either). ``reason`` None: left
    out (one holding personal data). An actor the registry cannot authenticate (an MLflow
    server without credentials: itself a refusal) is written ``unauthenticated``."""
    if store is None:
        return
    if actor is None:
        try:
            actor = authenticated_actor(mlflow.get_registry_uri())
        except PromotionRefused:
            actor = "unauthenticated"
    details = {
        **({} if version is None else {"version": version}),
        **({} if reason is None else {"reason": reason}),
        "via": via,
        "refusal": exc.refusal,
        "why": str(exc).splitlines()[0] if str(exc) else exc.refusal,
        **exc.details,
    }
    store.audit(actor, action, "model", name, details)


def _promote(
    client: MlflowClient,
    domain: str,
    version: str,
    *,
    store: Any,
    reason: str,
    actor: str | None,
    force: bool,
    via: str,
) -> dict[str, Any]:
    """:func:`promote`, holding the alias lock."""
    name = model_name(domain)
    version = str(version)
    if not version.isdigit():  # MLflow's versions are whole numbers (it refuses "abc"
        # as INVALID_PARAMETER_VALUE): refused here, and so audited as every refusal
        raise UnknownVersion(
            f"{name} has no version {version!r}: a version is a whole number "
            f"(`riskwarn models {domain}` lists them)"
        )
    try:
        mv = client.get_model_version(name, version)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise  # the registry failed: not a refusal
        raise UnknownVersion(
            f"{name} has no version {version} (`riskwarn models {domain}` lists them)"
        ) from exc
    other = foreign_domain(client, domain, mv)
    if other is not None:  # even with --force: scoring could not feed it
        raise ForeignModel(
            f"{name} v{version} was trained for the domain {other!r}, not {domain!r} (its "
            "run's domain): its features are not this domain's scoring frame; not promoting it",
            {"trained_for": other},
        )
    if mv.run_id and _run_deleted(client, mv.run_id):
        raise DeletedRun(
            f"{name} v{version}'s MLflow run {mv.run_id} was deleted: its model files may "
            "be removed at any time (mlflow gc); restore the run (mlflow runs restore) or "
            "promote another version; not promoting it, even with --force",
            {"run_id": mv.run_id},
        )
    gate = (mv.tags or {}).get("gate")
    if store is not None:  # a move a crash interrupted: recorded as it ended, first
        settle_pending_moves(client, store, name, actor)
    previous = champion_version(client, domain)
    # what serves is what riskwarn recorded (as rollback has it); an alias moved behind
    # riskwarn's back is named apart, never taken as the champion a gate is checked against
    recorded = recorded_champion(store, name) if store is not None else None
    if (
        previous == version
        and recorded is not None
        and recorded.get("version") == version
        and recorded.get("gate") == gate
        and recorded.get("gate_champion", (mv.tags or {}).get(GATE_CHAMPION_TAG))
        == (mv.tags or {}).get(GATE_CHAMPION_TAG)
        and recorded.get("digest") == version_digest(name, version)
        # a data end read now that the record lacks (a tag set since, or a record older
        # than 2026-12-07) is recorded by promoting again: data_end holds it to the record
        and DATA_END_RECORD in recorded
        and recorded[DATA_END_RECORD] == move_data_end(client, domain, version)
    ):
        # it serves already, as recorded (a version promoted over its gate with --force
        # included): nothing to move and nothing refused; asked again without --force it
        # was told "failed its promotion gate ... only with --force" (review, stop 37)
        return {"model": name, "version": version, "previous": previous, "changed": False}
    # only a version its training tagged gate=pass goes in without --force: one without a
    # gate tag (its training died between registering it and settling the gate, or it was
    # registered by hand) was never judged
    failed_gate = gate != "pass"
    # when it served before (riskwarn's record): said in a refusal, with what to do
    spell = served_before(store, name, version) if store is not None else None
    if failed_gate and not force:
        why = (
            f"failed its promotion gate (its checks: `riskwarn models {domain} --checks`)"
            if gate == "fail"
            else "could not be judged by its promotion gate (a comparison could not be "
            f"computed, e.g. no event in the evaluation window; see "
            f"`riskwarn models {domain} --checks`)"
            if gate == NOT_JUDGED
            else "has no gate outcome (its training did not finish judging it)"
        )
        again = (
            f"; it served before ({spell['text']}), and its gate outcome has not changed "
            "since, so promoting it back needs --force again"
            if spell is not None
            else ""
        )
        raise GateRefused(
            f"{name} v{version} {why}{again}; promote it anyway only with "
            f"`riskwarn promote {domain} {version} --force --reason ...`",
            {"gate": gate, **({"served_before": spell["until"]} if spell else {})},
        )
    serving = str(recorded["version"]) if recorded and recorded.get("version") else previous
    stale: dict[str, Any] = {}
    if gate == "pass" and serving is not None and serving != version:
        against = gate_judged_against(client, mv)
        if against != serving:
            stale = {
                "gate_champion": None if against is UNKNOWN else against,
                "serving": serving,
            }
            if previous != serving:
                stale["alias_was"] = previous
            judged = (
                "against a champion it does not record"
                if against is UNKNOWN
                else "with no champion serving"
                if against is None
                else f"against champion v{against}"
            )
            force_it = (
                f"`riskwarn promote {domain} {version} --force --reason ...` (recorded as "
                "forced over a stale gate)"
            )
            if spell is None:
                why = (
                    f"{name} v{version} passed its gate {judged}, but v{serving} serves now: "
                    f"its gate never compared it with v{serving}; retrain it (its gate then "
                    f"judges it against the serving champion) or promote it anyway only with "
                    f"{force_it}"
                )
            else:  # a former champion: what the gate requires, and the ways back to it
                back = (
                    f"`riskwarn rollback {domain} --from {serving} --reason ...` (it is "
                    f"the version that served before v{serving}), or "
                    if store is not None and champion_chain(store, name)[-1:] == [version]
                    else ""
                )
                why = (
                    f"{name} v{version} served before ({spell['text']}), but its gate judged "
                    f"it {judged}, not against v{serving}, which serves now: promoting it "
                    f"back would replace v{serving} with no comparison of the two, and a "
                    "promotion needs a pass against the serving champion (docs/design.md, "
                    f'"A pass is a pass against one champion"). To serve it again: {back}'
                    f"{force_it}, or retrain it (its gate then judges it against v{serving})"
                )
            if not force:  # audited by promote, as every refusal
                said = {"served_before": spell["until"]} if spell is not None else {}
                raise StaleGate(why, {**stale, **said})
    details: dict[str, Any] = {"previous": serving, "reason": reason, "via": via}
    if previous != serving:
        details["alias_was"] = previous  # None: the alias was missing (deleted outside)
        if previous is None:
            details["alias_missing"] = True
    if failed_gate:
        details["forced_over_gate"] = True  # the record's "gate" says fail or None
    if stale:  # --force over a pass judged against another champion than the serving one
        details["forced_over_stale_gate"] = stale
    actor = actor or authenticated_actor(mlflow.get_registry_uri())
    record = _move_alias(
        client,
        store,
        action="promote",
        name=name,
        version=version,
        actor=actor,
        details=details,
    )
    return {**record, "changed": True}


def settle_gate(
    client: MlflowClient,
    domain: str,
    version: str | None,
    decision: GateResult,
    *,
    auto_promote: bool = True,
    store: Any | None = None,
) -> bool:
    """After training: tag the version with the gate's outcome, then promote it if the gate
    passed (and ``auto_promote``). Returns whether the champion was moved to it.

    The tag comes first: the promotion records it, and scoring checks it is unchanged.
    """
    if version is None:
        return False
    # which champion it was judged against, before the outcome: a version tagged pass
    # always says it (promote compares it with the champion serving then)
    client.set_model_version_tag(
        model_name(domain), version, GATE_CHAMPION_TAG, decision.champion or NO_CHAMPION
    )
    # pass | fail | not_judged (a comparison could not be computed: never promoted
    # automatically, told apart from a real failure by the pages and by promote)
    client.set_model_version_tag(model_name(domain), version, "gate", decision.status)
    # the decision with its numbers, for readers that must say why (the dashboard's verdict)
    run_id = client.get_model_version(model_name(domain), version).run_id
    if run_id:
        client.log_dict(run_id, decision.record(), GATE_ARTIFACT)
    if not (decision.passed and auto_promote):
        return False
    try:
        promote(
            client,
            domain,
            version,
            store=store,
            reason=gate_reason(decision.summary()),
            via="riskwarn train (gate passed)",
        )
    except StaleGate as exc:  # another champion was promoted while it trained (audited)
        log.warning("not promoting %s v%s: %s", model_name(domain), version, exc)
        return False
    return True


def gate_reason(summary: str) -> str:
    """The gate's summary as the reason of its automatic promotion, within the reasons'
    limit (:data:`riskwarn.review_text.REASON_MAX_CHARS`): a longer one (a gate of many
    checks) is cut, and says where it is in full (the run's ``gate.json``)."""
    from riskwarn.review_text import REASON_MAX_CHARS

    summary = summary.strip()
    if len(summary) <= REASON_MAX_CHARS:
        return summary
    tail = f"... (cut; in full: the run's {GATE_ARTIFACT})"
    return summary[: REASON_MAX_CHARS - len(tail)].rstrip() + tail


class RollbackRefused(ValueError):
    """No earlier champion a rollback may return to (audited as ``rollback_refused``)."""

    refusal = "no_previous_champion"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = dict(details or {})


class RollbackNotFrom(RollbackRefused):
    """``rollback --from VERSION`` while another version serves, and the newest recorded
    move is not a rollback from VERSION: nothing rolled back (``rollback_refused``)."""

    refusal = "not_from"


class RollbackRunDeleted(RollbackRefused):
    """The version a rollback would return to has its MLflow run deleted: refused as
    :func:`promote` refuses it (:class:`DeletedRun`), audited as ``rollback_refused``."""

    refusal = "run_deleted"


def rollback(
    client: MlflowClient,
    domain: str,
    *,
    store: Any,
    reason: str,
    actor: str | None = None,
    lock_dir: Path | None = None,
    from_version: str | None = None,
) -> dict[str, Any]:
    """Return ``champion`` to the version that served before (:func:`champion_chain`);
    its intent is audited before it moves, the move once it has. Returns the move's
    record with ``changed`` True, or with ``changed`` False when nothing moved:

    * ``settled``: an interrupted rollback had moved the alias and is recorded now
      (:func:`settle_pending_moves`): that was the rollback asked for, re-run after its
      crash; nothing more is rolled back (it went a second step back).
    * ``already``: ``from_version`` given, another version serves, and the newest recorded
      move is the rollback from ``from_version`` to it: a retried task or re-run whose
      rollback was made (a crash after it was recorded). Another version serving
      otherwise is refused (:class:`RollbackNotFrom`); ``from_version`` serving rolls back.

    Under the model's alias lock, as :func:`promote`. A reason holding a phone or ID
    number is refused (:class:`PersonalDataRefused`) before anything is looked up,
    audited as ``rollback_refused`` without its text. Any other refusal (no earlier
    champion to return to, :class:`RollbackRefused`; the lock held too long,
    :class:`ChampionBusy`) leaves one ``rollback_refused`` entry too (reason, via,
    ``refusal`` kind, ``why``), as a refused promote leaves ``promotion_refused``; a blank
    reason is not audited."""
    name = model_name(domain)
    try:
        reason = _given_reason(reason, "rollback", name)
    except ReasonRefused as exc:  # audited without the text
        _audit_refusal(store, actor, name, None, None, "riskwarn rollback", exc, "rollback_refused")
        raise
    personal = _personal_refusal(reason, name)
    if personal is not None:  # audited without the text, as promote's
        _audit_refusal(
            store, actor, name, None, None, "riskwarn rollback", personal, "rollback_refused"
        )
        raise personal
    try:
        with alias_lock(name, lock_dir, store):
            return _rollback(
                client,
                domain,
                store=store,
                reason=reason,
                actor=actor,
                from_version=bare_version(from_version),
            )
    except (RollbackRefused, ChampionBusy) as exc:
        _audit_refusal(
            store, actor, name, None, reason, "riskwarn rollback", exc, "rollback_refused"
        )
        raise


def bare_version(version: str | None) -> str | None:
    """``v2`` / ``V2`` / ``2`` as ``2`` ("v2", as every message and page writes it, is
    version 2); None stays None. ``riskwarn promote`` and ``rollback --from`` read it."""
    if version is None:
        return None
    version = str(version).strip()
    return version[1:] if version[:1] in ("v", "V") and version[1:].isdigit() else version


def _rollback(
    client: MlflowClient,
    domain: str,
    *,
    store: Any,
    reason: str,
    actor: str | None,
    from_version: str | None = None,
) -> dict[str, Any]:
    """:func:`rollback`, holding the alias lock."""
    name = model_name(domain)
    # the registry first: unreachable, or no such model, is its error (not "no previous
    # champion", as the chain read from the serving store alone would say)
    client.get_registered_model(name)
    if store is not None:  # a move a crash interrupted: recorded as it ended, first
        settled = settle_pending_moves(client, store, name, actor)
        back = next((w for w in settled if w["action"] == "rollback"), None)
        if back is not None:  # the rollback asked for, interrupted: recorded, and no more
            return {**back, "changed": False, "settled": True}
    history = champion_chain(store, name) if store is not None else []
    current = champion_version(client, domain)
    # what served before is what riskwarn recorded; an alias moved behind riskwarn's back
    # (scoring refused it) is named apart, never reported as the version rolled back from
    recorded = recorded_champion(store, name) if store is not None else None
    previous = str(recorded["version"]) if recorded and recorded.get("version") else current
    if from_version is not None and previous != from_version:
        if (
            recorded is not None
            and recorded.get("action") == "rollback"
            and str(recorded.get("previous")) == from_version
        ):  # made already (a retry, or a re-run after a crash once it was recorded)
            return {**recorded, "changed": False, "already": True}
        serving = f"v{previous}" if previous is not None else "no version"
        raise RollbackNotFrom(
            f"{name}: {serving} serves, not v{from_version} (--from {from_version}), and "
            f"the last recorded move is not a rollback from v{from_version}: nothing rolled "
            "back",
            {"serving": previous, "from": from_version},
        )
    skipped: list[str] = []
    while history:
        target = history.pop()
        try:
            mv = client.get_model_version(name, target)
        except MlflowException:  # deleted since it served
            skipped.append(f"v{target} (no longer registered)")
            continue
        other = foreign_domain(client, domain, mv)
        if other is None:
            break
        skipped.append(f"v{target} (trained for {other!r})")
    else:
        raise RollbackRefused(
            f"{name} has no previous champion to roll back to"
            + (f" (skipped {', '.join(skipped)})" if skipped else "")
            + _nothing_before(domain, previous, recorded),
            {"serving": previous, **({"skipped": skipped} if skipped else {})},
        )
    target_run = client.get_model_version(name, target).run_id
    if target_run and _run_deleted(client, target_run):  # as promote, even forced, refuses it
        raise RollbackRunDeleted(
            f"{name} v{target} (the version that served before v{previous}): its MLflow run "
            f"{target_run} was deleted: its model files may be removed at any time (mlflow "
            "gc); restore the run (mlflow runs restore) or promote another version; not "
            "rolled back",
            {"serving": previous, "version": target, "run_id": target_run},
        )
    details: dict[str, Any] = {"previous": previous, "reason": reason, "via": "riskwarn rollback"}
    if previous != current:
        details["alias_was"] = current
    if skipped:
        details["skipped"] = skipped
    if (client.get_model_version(name, target).tags or {}).get("gate") != "pass":
        # back to a version that failed its gate or was never judged: the pages keep saying so
        details["forced_over_gate"] = True
    record = _move_alias(
        client,
        store,
        action="rollback",
        name=name,
        version=target,
        actor=actor or authenticated_actor(mlflow.get_registry_uri()),
        details=details,
    )
    return {**record, "changed": True}


def _nothing_before(domain: str, serving: str | None, recorded: dict[str, Any] | None) -> str:
    """The rest of a refused rollback's message: what serves, why nothing served before
    it, and what to do instead (promote a version)."""
    promote = (
        f"`riskwarn promote {domain} VERSION --reason ...` (`riskwarn models {domain}` "
        "lists the versions and their gates)"
    )
    if recorded is None or serving is None:
        return f": riskwarn has recorded no champion of it yet; promote a version with {promote}"
    how = recorded.get("action")
    came = (
        f"it serves since the rollback from v{recorded.get('previous')} by {recorded['actor']} "
        f"at {recorded['at']:%Y-%m-%d %H:%M}Z"
        if how == "rollback"
        else f"promoted by {recorded['actor']} at {recorded['at']:%Y-%m-%d %H:%M}Z"
    )
    return (
        f": v{serving} serves ({came}) and no version served before it, so there is nothing "
        f"to roll back to; to serve another version "
        + (
            f"(v{recorded.get('previous')}, rolled back from, included) "
            if how == "rollback"
            else ""
        )
        + f"promote it: {promote}"
    )


def served_before(store: Any, name: str, version: str) -> dict[str, Any] | None:
    """When ``version`` last served as champion before, by riskwarn's recorded moves: a
    ``text`` to say it ("champion from ... until ..., when a rollback moved the champion to
    v1") and ``until``, the replacing move (``action``, ``version``, ``at`` ISO); None if
    it never served, or serves now."""
    moves = list(reversed(_committed_moves(store, name)))  # oldest first
    for i in range(len(moves) - 1, -1, -1):
        if str((moves[i]["details"] or {}).get("version")) != str(version):
            continue
        if i + 1 == len(moves):
            return None  # it serves now
        start, end = moves[i], moves[i + 1]
        to = str((end["details"] or {}).get("version"))
        return {
            "text": f"champion from {start['at']:%Y-%m-%d %H:%M}Z until "
            f"{end['at']:%Y-%m-%d %H:%M}Z, when a {end['action']} by {end['actor']} moved "
            f"the champion to v{to}",
            "until": {"action": end["action"], "version": to, "at": end["at"].isoformat()},
        }
    return None


def verified_champion(client: MlflowClient, store: Any, domain: str, dst: Path) -> tuple[str, Path]:
    """The champion's version and its model files (in ``dst``), checked against riskwarn's
    record before anything is loaded (:func:`checked_champion`)."""
    version, folder, _ = checked_champion(client, store, domain, dst)
    return version, folder


def checked_champion(
    client: MlflowClient, store: Any, domain: str, dst: Path
) -> tuple[str, Path, dict[str, Any]]:
    """The champion's version, its model files (in ``dst``) and riskwarn's record of the
    alias move they match (:func:`recorded_champion`), checked before anything is loaded:
    what scoring serves and what the dashboard's models page names.

    :class:`ChampionRefused` if riskwarn never recorded a move of the alias, or the alias,
    the version's gate tag or the files' digest differ from the newest record.
    ``MlflowException`` if there is no champion alias at all.
    """
    name = model_name(domain)
    version = str(client.get_model_version_by_alias(name, CHAMPION).version)
    record = recorded_champion(store, name)
    how = f"`riskwarn promote {domain} VERSION --reason ...`"
    if record is None:
        raise ChampionRefused(
            f"{name}@{CHAMPION} points at v{version}, but riskwarn's audit log records no "
            f"move of that alias: not serving it (promote a version with {how})"
        )
    when = f"v{record['version']} by {record['actor']} at {record['at']:%Y-%m-%d %H:%M}Z"
    if record.get("version") != version:
        interrupted = next(
            (
                e
                for e in pending_moves(store, name)
                if str((e["details"] or {}).get("version")) == version
            ),
            None,
        )
        if interrupted is not None:  # a crash between moving the alias and recording it
            kind = (interrupted["details"] or {}).get("action") or "move"
            raise ChampionRefused(
                f"{name}@{CHAMPION} points at v{version}, but riskwarn recorded {when}: a "
                f"{kind} of v{version} by {interrupted['actor']} was interrupted before it "
                f"was recorded; not serving it (run `riskwarn {kind} {domain} ...` again: it "
                "records how that move ended first)"
            )
        raise ChampionRefused(
            f"{name}@{CHAMPION} points at v{version}, but riskwarn recorded {when}: the alias "
            f"was moved behind riskwarn's back; not serving it (move it with {how})"
        )
    tags = client.get_model_version(name, version).tags or {}
    gate_tag = tags.get("gate")
    if gate_tag != record.get("gate"):
        raise ChampionRefused(
            f"{name} v{version} has gate tag {gate_tag!r}, but riskwarn recorded "
            f"{record.get('gate')!r} when it promoted {when}: not serving it"
        )
    # recorded since 2026-12-05 (older records do not name it, and are not held to it)
    if "gate_champion" in record and tags.get(GATE_CHAMPION_TAG) != record["gate_champion"]:
        raise ChampionRefused(
            f"{name} v{version} has {GATE_CHAMPION_TAG} tag {tags.get(GATE_CHAMPION_TAG)!r}, "
            f"but riskwarn recorded {record['gate_champion']!r} when it promoted {when}: "
            "not serving it"
        )
    folder = download_version(name, version, dst)
    if model_digest(folder) != record.get("digest"):
        raise ChampionRefused(
            f"{name} v{version}: its model files differ from those riskwarn promoted ({when}): "
            "not serving it"
        )
    return version, folder, record


# --------------------------------------------------------------------------- serving


class ChampionUnavailable(RuntimeError):
    """The registry cannot be reached or the domain has no (verified) champion model."""


@dataclass(frozen=True)
class Champion:
    """A loaded champion model, where it came from and the inputs it takes.

    ``sources``: the lake sources it was trained on, the only ones its inputs are built
    from when it is served (:func:`served_sources_of`); None: not recorded (a model
    logged before 2026-12-07 on every source, or not a riskwarn-trained model).
    ``sources_basis``: where ``sources`` was read (the model's own record, its
    ``--source`` selection, its run's ``counted_on_sources``)."""

    domain: str
    name: str
    version: str
    model: Any
    feature_names: list[str] | None
    feature_dtypes: dict[str, Any] | None = None
    sources: tuple[str, ...] | None = None
    sources_basis: str | None = None

    def python_model(self) -> Any:
        """The wrapped :class:`RiskModel` (or the site model's wrapper), or None."""
        try:
            return self.model.unwrap_python_model()
        except Exception:
            return None


def serving_champion(uri: str, domain: str, store: Any) -> Champion:
    """Load the champion of ``domain`` for serving, checked against riskwarn's record.

    The alias, the version's gate tag and its model files must match the newest alias
    move in the serving store's audit log (:func:`verified_champion`) before the model is
    unpickled; a refused champion is audited. :class:`ChampionUnavailable` if the model
    is missing, unreachable or refused.
    """
    from riskwarn.redact import redact

    name = model_name(domain)
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)  # models:/ URIs resolve against the registry URI
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        version, model = _load_verified(client, store, domain)
    except ChampionRefused as exc:
        store.audit("pipeline", "champion_refused", "model", name, {"reason": str(exc)})
        raise ChampionUnavailable(f"refusing to serve {name}: {exc}") from exc
    except Exception as exc:  # registry down, model missing, alias missing, artefact lost
        try:  # the recorded champion deleted in MLflow: said as such, not "alias not found"
            gone = recorded_version_gone(client, store, name)
        except Exception:
            gone = None
        if gone is not None:
            raise ChampionUnavailable(gone_words(name, gone)) from exc
        first = str(exc).splitlines()[0] if str(exc) else ""
        try:  # its run deleted: its files collected by mlflow gc, most likely
            run_id = client.get_model_version_by_alias(name, CHAMPION).run_id
            deleted = version_run(client, run_id)[1]
        except Exception:
            deleted = False
        if deleted:
            raise ChampionUnavailable(
                redact(
                    f"cannot load champion model {name}@{CHAMPION}: its MLflow run {run_id} was "
                    "deleted and its model files cannot be read (removed by mlflow gc?): "
                    f"nothing new is served; promote or roll back to a version whose run is "
                    f"kept ({type(exc).__name__}: {first})"
                )
            ) from exc
        raise ChampionUnavailable(
            redact(
                f"cannot load champion model {name}@{CHAMPION} from {uri}: "
                f"{type(exc).__name__}: {first}"
            )
        ) from exc
    champion = Champion(domain, name, version, model, None)
    features = getattr(champion.python_model(), "features", None)
    schema = model.metadata.get_input_schema()
    if features is None and schema is not None:
        features = schema.input_names()
    dtypes = None
    if schema is not None and schema.has_input_names():
        # cast to the logged signature (e.g. float32) so schema enforcement accepts the frame
        dtypes = dict(zip(schema.input_names(), schema.numpy_types(), strict=True))
    sources, basis = (None, None)
    # sites: not restricted. A site's inputs are its own sensors' readings, one per
    # (sensor, quantity, start) after de-duplication (a second source delivering the
    # same readings adds nothing), and a site of a new source is a monitored slope to
    # warn on, not counts to leave out (docs/operations.md, "The sources the champion
    # was trained on, no other")
    if domain in domains.DOMAINS and domains.get(domain).family != "site":
        sources, basis = served_sources_of(champion.python_model(), client, model.metadata.run_id)
    return Champion(
        domain, name, version, model, list(features) if features else None, dtypes, sources, basis
    )


def served_sources_of(
    python_model: Any, client: MlflowClient, run_id: str | None
) -> tuple[tuple[str, ...] | None, str | None]:
    """The lake sources a champion was trained on, and where that was read: the model's
    ``trained_on`` (since 2026-12-07); else its ``--source`` selection (``sources``,
    trained on those alone); else, for a model trained on every source, its run's
    ``counted_on_sources`` (metrics.json since 2026-12-07: the sources of its training
    events); ``(None, None)`` when none is recorded."""
    learned = training_sources(getattr(python_model, "trained_on", None))
    if learned:
        return learned, "recorded at training"
    asked = training_sources(getattr(python_model, "sources", None))
    if asked:
        return asked, "its --source selection"
    if python_model is None or not hasattr(python_model, "fitted"):
        return None, None  # not a riskwarn-trained model: nothing recorded
    counted = run_metrics(client, run_id).get("counted_on_sources")
    if isinstance(counted, list) and counted:
        return training_sources([str(c) for c in counted]), "its run's counted_on_sources"
    return None, None


def champion_expected(uri: str, domain: str) -> bool:
    """Whether a missing champion is an outage: True when the registry cannot be asked or
    the registered model exists (so its champion was deleted or cannot be loaded), False
    only when the registry answers that the model was never registered (a fresh install).
    """
    try:
        MlflowClient(tracking_uri=uri, registry_uri=uri).get_registered_model(model_name(domain))
    except MlflowException as exc:
        return getattr(exc, "error_code", "") != "RESOURCE_DOES_NOT_EXIST"
    except Exception:
        return True
    return True
