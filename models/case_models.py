"""Dispute-case escalation model (domain ``dispute_cases``): P(escalation within 30 days).

One row per (origin, open not-yet-escalated case) from
:func:`features.disputes.build_dispute_case_features`. The job mirrors the
hotspot domains (:mod:`models.train`) and reuses their pieces:

1. rolling-origin backtest over the latest ``eval_days``: at each refit origin the model
   sees only rows whose 30-day label window ended before it
   (:func:`models.backtest.training_rows`), trees are grown on the older rows,
   stopped early on a later slice and Platt-calibrated on the latest slice;
2. baselines scored on the same rows: the failed-mediation count rule and the category
   base rate (escalation rate per category among training rows);
3. the gate (:func:`models.registry.gate`) on average precision, paired
   bootstrap over cases (a case's rows at every origin together), plus the ECE bound;
4. a final model on every row with a complete label, logged and registered
   (:func:`models.registry.log_training_run`) as ``riskwarn-dispute_cases``.

Objective ``binary:logistic``: panels read the probability of *this* case escalating,
and cases at one origin are few (tens to hundreds), so a per-origin ranking objective
has little to gain. The risk is monotone non-decreasing in failed mediations, the
parties' earlier disputes and escalations, and nearby escalations (behaviour requirement).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from sklearn.metrics import average_precision_score

from features.cells import latest_versions
from models.backtest import FittedModel, ModelConfig, split_by_time, training_rows
from models.boosting import fit_logistic_trees, logistic_params
from models.calibration import fit_calibrator
from models.champion import compare_scores_with_champion
from models.explain import contributions, global_importance
from models.gate import GateResult, champion_check, gate
from models.metrics import (
    ECE_NOISE_DRAWS,
    ece_noise_quantile,
    n_flagged,
    probability_metrics,
    ranking_metrics,
)
from models.recipe import Recipe, code_version, recipe
from models.registry import (
    champion_provenance,
    champion_version,
    load_champion,
    log_training_run,
    model_name,
    settle_gate,
    training_sources,
)
from riskwarn import domains
from riskwarn.contracts import ESCALATION_EVENT_TYPES

log = logging.getLogger(__name__)

CASE_KEYS = ["origin", "dispute_id"]
LABEL = "label_escalation"
# never model inputs: keys, location (used only for the nearby features), labels
NON_FEATURES = {"origin", "dispute_id", "cell_x", "cell_y", LABEL, "label_escalation_count"}
# personal fields that must never become features (names, phones, ID numbers, raw parties)
PERSONAL_MARKERS = ("name", "phone", "id_number", "idcard", "party_ids", "address")
INCREASING = (
    "n_mediations",  # outcomes counted too; a success closes the case, so open = failed
    "n_failed_mediations",
    "party_prior_disputes",
    "party_prior_escalations",
    "nearby_escalations_",
)


@dataclass(frozen=True)
class CaseModelConfig:
    """Settings of the case backtest (a refit schedule and the slices of each fit)."""

    horizon_days: int = 30
    step_days: int = 7
    tz: str = "Asia/Shanghai"
    refit_every_days: int = 28
    train_window_days: int = 728
    es_origins: int = 4
    cal_origins: int = 4
    max_rounds: int = 300
    early_stopping_rounds: int = 30
    params: tuple[tuple[str, Any], ...] = (
        ("max_depth", 3),
        ("learning_rate", 0.05),
        ("min_child_weight", 5.0),
        ("subsample", 0.8),
        ("colsample_bytree", 0.8),
        ("reg_lambda", 1.0),
        ("tree_method", "hist"),
        ("nthread", 1),
        ("seed", 0),
    )

    def window(self) -> ModelConfig:
        """The backtest config whose ``training_rows`` enforces complete label windows."""
        return replace(
            ModelConfig(),
            horizon_days=self.horizon_days,
            tz=self.tz,
            train_window_days=self.train_window_days,
        )


def case_features(frame: pd.DataFrame) -> list[str]:
    """Model inputs of a case table (no keys, labels, location or personal fields)."""
    feats = [c for c in frame.columns if c not in NON_FEATURES and not c.startswith("label_")]
    bad = [f for f in feats if any(m in f.lower() for m in PERSONAL_MARKERS)]
    if bad:
        raise ValueError(f"personal fields must not be features: {bad}")
    return feats


def weekly_origins(start: pd.Timestamp, end: pd.Timestamp, step_days: int, tz: str):
    """Local midnights ``start, start + step, ... <= end`` as UTC timestamps."""
    days = pd.date_range(start.normalize(), end.normalize(), freq=f"{step_days}D")
    return days.tz_localize(tz, nonexistent="shift_forward").tz_convert("UTC")


def build_case_table(
    disputes: pd.DataFrame,
    events: pd.DataFrame,
    origins: Sequence[pd.Timestamp],
    *,
    crs: str,
    cell_size_m: float,
    tz: str,
    horizon_days: int = 30,
    labels_known_at: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Case x origin features + labels from lake ``disputes`` and ``dispute_events``.

    With the earlier versions of corrected records (:func:`riskwarn.lake.read_versions`,
    :func:`riskwarn.lake.read_known`: backtests, refits, the final training and serving)
    each origin's inputs are built from the versions valid at it; without them from the
    rows as they are. The labels are those known at ``labels_known_at`` (None: the
    current versions, the evaluation's truth; a refit relabels its rows at its cut-off:
    :func:`case_training_rows`). One builder
    (:func:`features.disputes.build_dispute_case_features`)."""
    from features.cells import assign_cells
    from features.derived import add_derived_features
    from features.disputes import DisputeCaseParams, build_dispute_case_features

    d = assign_cells(disputes, crs, cell_size_m)
    params = DisputeCaseParams(tz=tz, horizon_days=horizon_days)
    table = build_dispute_case_features(d, events, origins, params, labels_known_at=labels_known_at)
    table["origin"] = table["origin"].astype("datetime64[ns, UTC]")
    return add_derived_features(table, "case", [*CASE_KEYS, "cell_x", "cell_y"])


def _monotone(features: Sequence[str]) -> str:
    return "(" + ",".join("1" if f.startswith(INCREASING) else "0" for f in features) + ")"


def fit_case_model(
    rows: pd.DataFrame, features: list[str], config: CaseModelConfig, refit_origin: pd.Timestamp
) -> FittedModel:
    """Fit (older rows), early-stop (next slice, log loss) and Platt-calibrate (latest slice)."""
    rows = rows.sort_values("origin", kind="stable")
    fit, es, cal = split_by_time(rows, config.es_origins, config.cal_origins)
    model = fit_logistic_trees(
        fit,
        es,
        features,
        logistic_params(config.params, _monotone(features)),
        label=LABEL,
        max_rounds=config.max_rounds,
        early_stopping_rounds=config.early_stopping_rounds,
        trained_until=refit_origin,
        model_class=FittedModel,
    )
    model.calibrator = fit_calibrator(model.raw(cal), cal[LABEL].to_numpy(), "platt")
    return model


def baseline_scores(train: pd.DataFrame, rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """Baselines for ``rows`` knowing only ``train`` (complete-label rows before the origin).

    * ``failed_mediations``: the panels' rule of thumb, more failed mediations = riskier;
    * ``category_rate``: the escalation rate of the case's category (Jeffreys-smoothed).
    """
    cats = [c for c in rows.columns if c.startswith("category_")]
    pos = train[cats].T.to_numpy() @ train[LABEL].to_numpy(float)
    n = train[cats].sum().to_numpy(float)
    rate = (pos + 0.5) / (n + 1.0)
    return {
        "failed_mediations": rows["n_failed_mediations"].to_numpy(float),
        "category_rate": rows[cats].to_numpy(float) @ rate,
    }


@dataclass
class CaseBacktest:
    """Scores per method on the evaluation rows plus the last fitted model."""

    scores: pd.DataFrame  # origin, dispute_id, method, score, label
    last_model: FittedModel
    fits: pd.DataFrame


def case_training_rows(
    table: pd.DataFrame,
    events: pd.DataFrame | None,
    refit_origin: pd.Timestamp,
    config: CaseModelConfig,
) -> pd.DataFrame:
    """The rows a refit at ``refit_origin`` learns from (label window ended, within the
    training window: :func:`models.backtest.training_rows`) with their labels as known at
    ``refit_origin`` (:func:`features.disputes.escalation_labels` of ``events``, the
    ``dispute_events`` the table was built from, with their versions): a correction made
    after the refit's cut-off is not in them, one made before it is. ``events`` None: the
    table's labels as they are (a table built without versions)."""
    from features.disputes import escalation_labels

    rows = training_rows(table, refit_origin, config.window())
    if events is None or rows.empty:
        return rows
    return escalation_labels(rows, events, config.horizon_days, labels_known_at=refit_origin)


def run_case_backtest(
    table: pd.DataFrame,
    eval_origins: Sequence[pd.Timestamp],
    config: CaseModelConfig,
    events: pd.DataFrame | None = None,
) -> CaseBacktest:
    """Rolling-origin backtest of the model and the baselines over ``eval_origins``.

    The evaluation rows keep the table's labels (the current versions); each refit learns
    from its rows labelled as known at its origin (:func:`case_training_rows` with
    ``events``, the ``dispute_events`` the table was built from)."""
    features = case_features(table)
    by_origin = dict(tuple(table.groupby("origin", sort=True)))
    out, fits = [], []
    model: FittedModel | None = None
    next_refit: pd.Timestamp | None = None
    train = table.iloc[:0]
    for origin in sorted(pd.DatetimeIndex(eval_origins)):
        if origin not in by_origin:
            continue
        if next_refit is None or origin >= next_refit - pd.Timedelta(hours=2):
            train = case_training_rows(table, events, origin, config)
            model = fit_case_model(train, features, config, origin)
            fits.append(
                {"refit_origin": origin, "n_train_rows": len(train), "trees": model.best_iteration}
            )
            next_refit = origin + pd.Timedelta(days=config.refit_every_days)
        assert model is not None
        rows = by_origin[origin]
        methods = {"xgboost": model.predict_proba(rows), **baseline_scores(train, rows)}
        for name, score in methods.items():
            out.append(
                pd.DataFrame(
                    {
                        "origin": origin,
                        "dispute_id": rows["dispute_id"].to_numpy(),
                        "method": name,
                        "score": score,
                        "label": rows[LABEL].to_numpy(int),
                    }
                )
            )
    if model is None:
        raise ValueError("no evaluation origin has open cases")
    return CaseBacktest(pd.concat(out, ignore_index=True), model, pd.DataFrame(fits))


Metric = Callable[[np.ndarray, np.ndarray], float]


def case_bootstrap_diff(
    a: pd.DataFrame,
    b: pd.DataFrame,
    metric: Metric = average_precision_score,
    n_boot: int = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """``metric(a) - metric(b)`` with a paired bootstrap CI resampling whole cases.

    ``a`` and ``b``: the same rows (origin, dispute_id, score, label) of two methods.
    A case stays open over several weekly origins and its 30-day label window spans about
    four of them, so one escalation is the label of several rows: the resampling unit is
    the case (every row of a case drawn together, as the site models draw whole sites,
    ``models.site_evaluation.paired_site_bootstrap``). Resampling origins instead kept a
    case's rows in different draws and gave a CI about 2.7 times too narrow on the
    simulated city (review of 2026-12-06). Origins are not resampled as well: the rows of
    one origin are different cases, scored by one model fit, and what ties them (the
    week's conditions) is small beside what ties a case's own rows.

    Returns ``diff``, ``ci`` and what was resampled: ``resampled`` (``"cases"``),
    ``n_clusters`` (cases), ``n_boot``.
    """
    a = a.sort_values(CASE_KEYS).reset_index(drop=True)
    b = b.sort_values(CASE_KEYS).reset_index(drop=True)
    if not a[CASE_KEYS].equals(b[CASE_KEYS]):
        raise ValueError("paired bootstrap needs the same rows for both methods")
    groups = [np.asarray(idx) for idx in a.groupby("dispute_id", sort=True).indices.values()]
    y, sa, sb = a["label"].to_numpy(), a["score"].to_numpy(), b["score"].to_numpy()
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        pick = np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))])
        if 0 < y[pick].sum() < len(pick):
            diffs.append(metric(y[pick], sa[pick]) - metric(y[pick], sb[pick]))
    lo, hi = np.quantile(diffs, [0.025, 0.975]) if diffs else (np.nan, np.nan)
    return {
        "diff": float(metric(y, sa) - metric(y, sb)),
        "ci": [float(lo), float(hi)],
        "resampled": "cases",
        "n_clusters": len(groups),
        "n_boot": int(n_boot),
    }


FLAG_SHARES: tuple[float, ...] = (0.1, 0.2)
"""The event measure's flagged shares: the top 10 % / 20 % of the open cases scored at an
origin (:func:`escalation_recall`)."""


def first_escalations(disputes: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Each dispute's first escalation (petition, violence, litigation) as the records
    are known now (:func:`features.cells.latest_versions`): ``dispute_id``,
    ``escalated_at``, ``opened_at`` (NaT if the case is not in ``disputes``)."""
    ev = latest_versions(events)
    esc = ev[ev["event_type"].astype(str).isin(ESCALATION_EVENT_TYPES)]
    first = (
        pd.to_datetime(esc["event_at"], utc=True)
        .groupby(esc["dispute_id"].astype(str))
        .min()
        .rename("escalated_at")
        .reset_index()
    )
    d = latest_versions(disputes)
    opened = pd.to_datetime(d["opened_at"], utc=True).groupby(d["record_id"].astype(str)).min()
    first["opened_at"] = first["dispute_id"].map(opened)
    return first


def escalations_in_window(
    escalations: pd.DataFrame, eval_origins: Sequence[pd.Timestamp], step_days: int
) -> pd.DataFrame:
    """The first escalations the evaluated weekly origins answer for: from the first
    evaluated origin to one step after the last (each has an evaluated origin as the last
    origin before it), whether or not a row ever scored the case. (Not later: a case
    opened after the last origin is scored by the next one, outside the backtest.)
    :func:`evaluate_case_methods` adds every escalation an evaluated row labels."""
    idx = pd.DatetimeIndex(eval_origins)
    if len(idx) == 0:
        return escalations.iloc[:0]
    lo, hi = idx.min(), idx.max() + pd.Timedelta(days=step_days)
    at = escalations["escalated_at"]
    return escalations[(at >= lo) & (at < hi)].reset_index(drop=True)


def _flag_probability(score: np.ndarray, k: int) -> np.ndarray:
    """Each row's chance of being among the top ``k`` by ``score`` under uniformly random
    tie-breaking (1 above the cut, 0 below, slots left / group size in the tie group at
    the cut: :func:`models.metrics.expected_captured`'s rule, row by row)."""
    n = len(score)
    if k >= n:
        return np.ones(n)
    _, inverse = np.unique(-np.asarray(score, dtype=float), return_inverse=True)
    size = np.bincount(inverse).astype(float)
    before = np.cumsum(size) - size
    return np.clip((k - before) / size, 0.0, 1.0)[inverse]


def escalation_recall(
    scores: pd.DataFrame, escalations: pd.DataFrame, shares: Sequence[float] = FLAG_SHARES
) -> dict[str, dict[str, float]]:
    """The event measure: of the window's escalated cases (``escalations``, every one,
    :func:`escalations_in_window`), how many each method flagged, i.e. ranked in the top
    ``share`` of the open cases scored at an origin whose 30-day window holds the
    escalation (a positive row of the case: an origin before it). A case no row scored
    (opened and escalated between two origins, or escalated after it closed) is a miss
    for every method. Ties at an origin's cut are broken at random (expected counts, each
    origin independently). Per method: ``escalations_flagged@<share>`` and
    ``escalation_recall@<share>`` (flagged / escalations)."""
    ids = set(escalations["dispute_id"].astype(str))
    total = len(ids)
    out: dict[str, dict[str, float]] = {}
    for m, g in scores.groupby("method", sort=True):
        res: dict[str, float] = {}
        origin_rows = [np.asarray(i) for i in g.groupby("origin", sort=False).indices.values()]
        score = g["score"].to_numpy(float)
        case = g["dispute_id"].astype(str).to_numpy()
        counted = (g["label"].to_numpy() == 1) & np.isin(case, list(ids))
        for share in shares:
            p = np.zeros(len(g))
            for rows in origin_rows:
                p[rows] = _flag_probability(score[rows], n_flagged(len(rows), share))
            missed = pd.Series(1.0 - p[counted]).groupby(case[counted]).prod()
            found = float((1.0 - missed).sum())
            res[f"escalations_flagged@{share:g}"] = found
            res[f"escalation_recall@{share:g}"] = found / total if total else float("nan")
        out[str(m)] = res
    return out


def evaluate_case_methods(
    scores: pd.DataFrame, n_boot: int = 500, escalations: pd.DataFrame | None = None
) -> dict[str, Any]:
    """AUC/AP over case x origin rows (all methods), Brier/ECE (the model), model-minus-
    baseline AP with CIs, and, given the window's ``escalations``
    (:func:`escalations_in_window`; with every case a row labels positive), every
    escalation counted: ``escalations`` (cases),
    ``escalations_never_scored`` (no row of the case at any origin before it, so in no
    AP or AUC) and each method's :func:`escalation_recall`, where those are misses."""
    result: dict[str, Any] = {"methods": {}, "headline": "average_precision"}
    for m, g in scores.groupby("method", sort=True):
        y, s = g["label"].to_numpy(), g["score"].to_numpy()
        res = probability_metrics(y, s) if m == "xgboost" else ranking_metrics(y, s)
        res["n_rows"] = len(g)
        result["methods"][m] = res
    model = scores[scores["method"] == "xgboost"]
    result["model_minus_baseline"] = {
        m: case_bootstrap_diff(model, g, n_boot=n_boot)
        for m, g in scores.groupby("method", sort=True)
        if m != "xgboost"
    }
    result["n_origins"] = int(scores["origin"].nunique())
    result["base_rate"] = float(model["label"].mean())
    if escalations is not None:
        # the window's escalations and every escalation an evaluated row labels (a case
        # escalating within 30 days of the last origin but after the window's end)
        scored = set(model.loc[model["label"] == 1, "dispute_id"].astype(str))
        ids = set(escalations["dispute_id"].astype(str)) | scored
        result["escalations"] = len(ids)
        result["escalations_never_scored"] = len(ids - scored)
        every = pd.DataFrame({"dispute_id": sorted(ids)})
        for m, res in escalation_recall(scores, every).items():
            result["methods"][m].update(res)
    return result


def counted_words(metrics: dict[str, Any]) -> str:
    """The words "escalations never scored: 17 of 222" (empty: the run did not count them)."""
    if "escalations" not in metrics:
        return ""
    return (
        f"escalations never scored: {metrics['escalations_never_scored']} of "
        f"{metrics['escalations']}"
    )


def gate_counts(metrics: dict[str, Any], baseline: str) -> dict[str, Any]:
    """What the gate's AP comparison with ``baseline`` carries of the event count
    (:func:`models.gate.counted_words` says it): the window's escalations, those never
    scored, and both methods' escalations flagged in the top 10 %."""
    if "escalations" not in metrics:
        return {}
    key = f"escalations_flagged@{FLAG_SHARES[0]:g}"
    model, other = metrics["methods"]["xgboost"], metrics["methods"][baseline]
    return {
        "events": int(metrics["escalations"]),
        "events_never_scored": int(metrics["escalations_never_scored"]),
        "flagged_share": FLAG_SHARES[0],
        "flagged": {"model": float(model[key]), "baseline": float(other[key])},
    }


def _recall_cell(v: dict[str, Any], share: float, total: Any) -> str:
    found = v.get(f"escalations_flagged@{share:g}")
    return (
        "n/a" if found is None else f"{found:.0f}/{total} ({v[f'escalation_recall@{share:g}']:.2f})"
    )


def case_model_card(
    domain: str, metrics: dict[str, Any], gate_result: GateResult, features: list[str]
) -> str:
    """Markdown model card of the escalation model."""
    total = metrics.get("escalations", "?")
    counted = "escalations" in metrics
    rows = "\n".join(
        f"| {k} | {v['auc']:.3f} | {v['average_precision']:.3f} | {v.get('brier', float('nan')):.4f} |"
        + (
            "".join(f" {_recall_cell(v, share, total)} |" for share in FLAG_SHARES)
            if counted
            else ""
        )
        for k, v in sorted(metrics["methods"].items())
    )
    head = "| method | AUC (rows) | AP (rows) | Brier (rows) |" + (
        "".join(f" escalations flagged, top {share:.0%} |" for share in FLAG_SHARES)
        if counted
        else ""
    )
    sep = "|---|---|---|---|" + ("---|" * len(FLAG_SHARES) if counted else "")
    every = (
        f"- Every escalation counted: {counted_words(metrics)} (no row of the case at any "
        "weekly origin before its escalation: opened and escalated between two origins, or "
        "escalated after it closed). AUC, AP and Brier are over case x origin rows and leave "
        "them out; *escalations flagged* counts the window's escalated cases ranked in the "
        "top 10 % / 20 % of the open cases at an origin within 30 days before the "
        "escalation, the never-scored ones as misses for every method.\n"
        if counted
        else "- AUC, AP and Brier are over case x origin rows (an escalation with no row is "
        "in none of them; this run did not count those).\n"
    )
    return f"""# Model card: {model_name(domain)}

- Task: P(an open, not yet escalated dispute escalates — petition, violence or litigation —
  within 30 days of the origin). XGBoost `binary:logistic`, Platt-calibrated on the latest
  complete-label slice; monotone in failed mediations and the parties' history.
- Evaluation: rolling origins (weekly), {metrics["n_origins"]} origins, base rate
  {metrics["base_rate"]:.3f} (rows); training rows only with label windows closed before each origin.
{every}- Gate: {gate_result.summary()}

{head}
{sep}
{rows}

Features ({len(features)}): {", ".join(features)}. No personal field (names, phones, ID
numbers) is an input; parties are linked only through pseudonyms inside the feature builder.
"""


@dataclass
class CaseTrainReport:
    """Outcome of training ``dispute_cases``."""

    run_id: str
    version: str | None
    gate: GateResult
    promoted: bool
    metrics: dict[str, Any]
    champion_before: str | None
    scores: pd.DataFrame


def case_recipe(
    domain: str, features: list[str], config: CaseModelConfig, *, crs: str, cell_size_m: float
) -> Recipe:
    """The recipe (:mod:`models.recipe`) of the case model."""
    shape = {"crs": crs, "cell_size_m": cell_size_m, "tz": config.tz}
    return recipe(domain, features, config, shape, code_version())


def train_case_domain(
    disputes: pd.DataFrame,
    events: pd.DataFrame,
    client: MlflowClient,
    *,
    domain: str,
    crs: str,
    cell_size_m: float,
    tz: str,
    eval_days: int = 112,
    config: CaseModelConfig | None = None,
    store: Any | None = None,
    max_ece: float = 0.05,
    auto_promote: bool = True,
    n_boot: int = 500,
    artifact_location: str | None = None,
) -> CaseTrainReport:
    """Backtest, fit, log, register and gate a ``dispute_cases`` challenger."""
    from models.train import data_version, importance_figure, reliability_figure

    spec = domains.get(domain)
    config = replace(
        config or CaseModelConfig(horizon_days=spec.horizon_days, step_days=spec.step_days),
        tz=tz,
    )
    if disputes.empty:
        raise ValueError("no disputes rows to train dispute_cases on")
    # the schedule from the records as they are now; each origin's rows from the versions
    # valid at it (``known_from`` / ``known_to``, :func:`build_case_table`)
    first = (
        pd.Timestamp(latest_versions(disputes)["opened_at"].min()).tz_convert(tz).tz_localize(None)
    )
    data_end = pd.Timestamp(latest_versions(events)["event_at"].max())
    data_end = data_end.tz_convert(tz).tz_localize(None)
    last = data_end.normalize() - pd.Timedelta(days=config.horizon_days)
    origins = weekly_origins(first + pd.Timedelta(days=7), last, config.step_days, tz)
    table = build_case_table(
        disputes,
        events,
        origins,
        crs=crs,
        cell_size_m=cell_size_m,
        tz=tz,
        horizon_days=config.horizon_days,
    )
    features = case_features(table)
    eval_origins = origins[origins >= origins[-1] - pd.Timedelta(days=eval_days - 1)]
    bt = run_case_backtest(table, eval_origins, config, events)
    # every escalation of the window, the cases no row scored too (counted as misses)
    escalations = escalations_in_window(
        first_escalations(disputes, events), eval_origins, config.step_days
    )
    metrics = evaluate_case_methods(bt.scores, n_boot=n_boot, escalations=escalations)
    comparisons = {
        m: {**comp, **gate_counts(metrics, m)}
        for m, comp in metrics["model_minus_baseline"].items()
    }
    final_origin = origins[-1] + pd.Timedelta(days=config.horizon_days)
    own = case_recipe(domain, features, config, crs=crs, cell_size_m=cell_size_m)
    before = champion_version(client, domain)
    in_table = sorted({str(x) for x in disputes["source"].dropna()}) if "source" in disputes else []
    judged_on: list[tuple[str, ...]] = []

    def inputs(champ: Any, later: pd.DatetimeIndex) -> pd.DataFrame | None:
        """The champion's serving rows at the compared origins: built from the cases and
        events of the sources it was trained on (its ``trained_on``, as serving builds
        them, :func:`riskwarn.scoring.served_sources`), not the challenger's sources; None
        when those are every source here (the challenger's rows are its own)."""
        own = training_sources(getattr(champ, "trained_on", None)) or training_sources(
            getattr(champ, "sources", None)
        )
        if own is None or set(own) >= set(in_table):
            return None
        judged_on.append(own)
        mine = disputes[disputes["source"].isin(own)]
        theirs = events[events["source"].isin(own)] if "source" in events else events
        if mine.empty or not len(later):
            return table.iloc[:0]
        return build_case_table(
            mine,
            theirs,
            later,
            crs=crs,
            cell_size_m=cell_size_m,
            tz=tz,
            horizon_days=config.horizon_days,
        )

    # the champion only on origins it never saw (at or after its trained_through), on
    # the cases of the sources it was trained on (the rows both may score)
    versus = (
        compare_scores_with_champion(
            champion_provenance(client, domain, before),
            table,
            bt.scores,
            keys=CASE_KEYS,
            load=lambda: load_champion(domain, store),
            measure=lambda later, champ: case_bootstrap_diff(later, champ, n_boot=n_boot),
            recipe_digest=own.digest,
            challenger_through=final_origin,
            event_words="escalation",
            inputs=inputs,
        )
        if before is not None
        else None
    )
    if versus is not None and judged_on:
        versus = replace(versus, compared_cases_of=judged_on[0])
    if versus is not None:
        metrics["champion_comparison"] = champion_check(versus)
    decision = gate(
        comparisons,
        metrics["methods"]["xgboost"]["ece"],
        max_ece=max_ece,
        champion=before,
        base_rate=metrics["methods"]["xgboost"].get("base_rate"),
        n_rows=metrics["methods"]["xgboost"].get("n_rows"),
        not_judged_why=(
            f"no escalation in the evaluation window {eval_origins[0]:%Y-%m-%d} .. "
            f"{eval_origins[-1]:%Y-%m-%d}"
            if bt.scores["label"].sum() == 0
            else None
        ),
        champion_vs=versus,
        ece_noise=ece_noise_quantile(
            bt.scores.loc[bt.scores["method"] == "xgboost", "score"],
            rows_per_event=max(1, config.horizon_days // config.step_days),  # 30 d / 7 d: 4
        ),
        ece_draws=ECE_NOISE_DRAWS,
    )

    final = fit_case_model(
        case_training_rows(table, events, final_origin, config), features, config, final_origin
    )
    sample = table.sample(min(len(table), 5000), random_state=0)
    importance = global_importance(
        contributions(final.booster, sample, final.features, final.best_iteration)
    )
    xgb_rows = bt.scores[bt.scores["method"] == "xgboost"]
    figures = {
        "reliability": reliability_figure(xgb_rows["label"].to_numpy(), xgb_rows["score"]),
        "importance": importance_figure(importance),
    }
    record = log_training_run(
        final,
        domain,
        metrics,
        data_version(disputes.drop(columns=["party_ids"], errors="ignore"), events),
        table,
        figures,
        case_model_card(domain, metrics, decision, features),
        params={
            "eval_origins": len(eval_origins),
            "objective": "binary:logistic",
            "refit_every_days": config.refit_every_days,
        },
        artifact_location=artifact_location,
        trained_through=final_origin,
        recipe=own,
        # the sources of the cases it learned from: the only ones serving reads
        trained_on=(
            sorted({str(x) for x in disputes["source"].dropna()})
            if "source" in disputes.columns
            else None
        ),
    )
    promoted = settle_gate(
        client, domain, record.version, decision, auto_promote=auto_promote, store=store
    )
    return CaseTrainReport(
        record.run_id, record.version, decision, promoted, metrics, before, bt.scores
    )
