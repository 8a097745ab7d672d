"""Train, evaluate, log and gate a challenger for one domain.

``train_hotspot_domain`` is the whole job for the cell domains (``incidents``,
``incidents_daily``, ``disputes``):

1. a rolling-origin backtest over the latest window (``eval_days`` before the data end)
   scores the model, every baseline and the ex-post ceiling on the same cells and origins;
2. the champion (if any) scores the evaluation rows whose origin is at or after its
   ``trained_through`` (rows it never saw; docs/design.md "Promotion gate");
3. a final model is fitted on every row whose labels are complete at the data end;
4. everything is logged to MLflow (params incl. ``trained_through`` and ``recipe``,
   metrics, data version, features, plots, model card, the model with signature and
   input example) and registered;
5. the gate decides; a passing challenger becomes ``champion`` (audit-logged).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow import MlflowClient

from features.cells import assign_cells, latest_versions
from models.backtest import (
    KEYS,
    BoosterTrainer,
    FittedModel,
    ModelConfig,
    fit_model,
    training_rows,
)
from models.champion import compare_with_champion
from models.explain import contributions, global_importance
from models.gate import ChampionComparison, GateResult, champion_check, gate
from models.hotspot_backtest import (
    FrameBuilder,
    HotspotBacktestResult,
    HotspotBacktestSpec,
    cell_frame,
    domain_spec,
    outside_area_labels,
    run_hotspot_backtest,
    source_names,
)
from models.metrics import (
    AREA_FRACTIONS,
    ECE_NOISE_DRAWS,
    ece_noise_quantile,
    hotspot_windows,
    pai_statistic,
    paired_bootstrap_diff,
    pooled_hotspot_metrics,
    reliability_curve,
)
from models.recipe import Recipe, code_version, recipe
from models.registry import (
    PLOT_DATA,
    ChampionProvenance,
    RunRecord,
    champion_provenance,
    champion_version,
    load_champion,
    log_training_run,
    model_name,
    settle_gate,
    training_sources,
)
from riskwarn import domains

log = logging.getLogger(__name__)


def data_version(frame: pd.DataFrame, *more: pd.DataFrame) -> str:
    """Content hash of the input rows (order independent): the run's data version.

    Several input tables (``more``) are hashed each and combined in the order given.
    """
    if more:
        return combine_versions([data_version(f) for f in (frame, *more)])
    cols = sorted(frame.columns)
    return hashes_version(row_hashes(frame), cols)


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash per row of ``frame`` (its columns in sorted order): a frame read in
    pieces hashes, piece by piece, to the same values as the whole (:func:`data_version`)."""
    cols = sorted(frame.columns)
    return np.array(pd.util.hash_pandas_object(frame[cols], index=False).to_numpy())


def hashes_version(hashed: np.ndarray, columns: list[str]) -> str:
    """:func:`data_version` of a table from its :func:`row_hashes` (all its rows, any order;
    the array is sorted in place when writable) and its sorted column names."""
    if hashed.flags.writeable:
        hashed.sort()
    else:
        hashed = np.sort(hashed)
    digest = hashlib.sha256(hashed.tobytes())
    digest.update(",".join(columns).encode())
    return digest.hexdigest()[:16]


def combine_versions(parts: list[str]) -> str:
    """The data version of several tables from each one's :func:`data_version`, in order."""
    return hashlib.sha256(",".join(parts).encode()).hexdigest()[:16]


@dataclass
class TrainReport:
    """Outcome of ``riskwarn train <domain>``."""

    domain: str
    run: RunRecord
    gate: GateResult
    promoted: bool
    metrics: dict[str, Any]
    champion_before: str | None
    extra: dict[str, Any] = field(default_factory=dict)
    final: FittedModel | None = None
    """The model logged and registered (what serving loads from MLflow)."""
    last_origin_rows: pd.DataFrame | None = None
    """The input rows of the last evaluation origin, as the training path built them."""


def reliability_bins(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """The reliability diagram's points with the number of rows in each bin: the same
    quantile bins as :func:`models.metrics.reliability_curve` (sklearn's
    ``calibration_curve``), empty bins dropped."""
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), 0, 1)
    if p.size == 0:
        return pd.DataFrame(columns=["mean_predicted", "observed_rate", "count"])
    edges = np.percentile(p, np.linspace(0, 100, n_bins + 1))
    ids = np.searchsorted(edges[1:-1], p)
    total = np.bincount(ids, minlength=len(edges))
    keep = total > 0
    return pd.DataFrame(
        {
            "mean_predicted": np.bincount(ids, weights=p, minlength=len(edges))[keep] / total[keep],
            "observed_rate": np.bincount(ids, weights=y, minlength=len(edges))[keep] / total[keep],
            "count": total[keep].astype(int),
        }
    )


def reliability_figure(y: np.ndarray, p: np.ndarray):
    """Reliability diagram (a matplotlib Figure, no pyplot state); its points with their
    counts ride along for ``plots/reliability.json`` (:data:`models.registry.PLOT_DATA`)."""
    curve = reliability_curve(y, p, n_bins=10)
    fig = Figure(figsize=(4, 4))
    ax = fig.subplots()
    ax.plot(
        [0, max(curve["mean_predicted"].max(), 0.01)],
        [0, curve["mean_predicted"].max()],
        "k--",
        lw=1,
    )
    ax.plot(curve["mean_predicted"], curve["observed_rate"], "o-")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title("Reliability")
    fig.tight_layout()
    bins = reliability_bins(y, p, n_bins=10)
    setattr(fig, PLOT_DATA, {"strategy": "quantile", "bins": bins.to_dict("records")})
    return fig


def hit_rate_figure(windows: Mapping[str, pd.DataFrame], fractions=AREA_FRACTIONS):
    """Hit rate vs share of area flagged, one line per method (every event counted), from
    each method's evaluation windows (:func:`hotspot_windows`, as the gate uses them: not
    computed again here, which on the city took the training's peak address space)."""
    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    for method, w in windows.items():
        res = pooled_hotspot_metrics(w, fractions)
        ax.plot(
            [f * 100 for f in fractions],
            [res[f"hit_rate@{f:g}"] for f in fractions],
            marker="o",
            label=method,
        )
    ax.set_xlabel("area flagged (%)")
    ax.set_ylabel("hit rate")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def importance_figure(importance: pd.Series, top: int = 15):
    """Horizontal bar chart of mean |SHAP|; its bars ride along for ``plots/importance.json``
    (feature id -> mean |SHAP|, largest first; :data:`models.registry.PLOT_DATA`)."""
    imp = importance.head(top)[::-1]
    fig = Figure(figsize=(5, 0.3 * len(imp) + 1))
    ax = fig.subplots()
    ax.barh(imp.index, imp.to_numpy())
    ax.set_xlabel("mean |SHAP| (margin)")
    fig.tight_layout()
    bars = [{"feature": str(k), "value": float(v)} for k, v in importance.head(top).items()]
    setattr(fig, PLOT_DATA, {"measure": "mean_abs_shap", "features": bars})
    return fig


def blend_words(model: FittedModel) -> str:
    """How the served score is made: the booster alone or blended with a baseline input."""
    b = model.blend
    if b is None or b.weight == 0:
        return "booster margin alone (blend weight 0)" if b is not None else "booster margin"
    return f"{1 - b.weight:g} x z(booster margin) + {b.weight:g} x z(log1p({b.feature}))"


def model_card(
    domain: str,
    metrics: dict[str, Any],
    gate_result: GateResult | None,
    features: list[str],
    dv: str,
    spec: HotspotBacktestSpec,
    score: str | None = None,
) -> str:
    """Markdown model card: what, trained on what, how good, beside which baselines."""
    m = metrics["methods"]
    rows = "\n".join(
        f"| {k} | {v['pai@0.05']:.2f} [{v['pai@0.05_ci'][0]:.2f}, {v['pai@0.05_ci'][1]:.2f}] "
        f"| {v['hit_rate@0.05']:.3f} | {v.get('auc', float('nan')):.3f} |"
        for k, v in sorted(m.items(), key=lambda kv: -kv[1]["pai@0.05"])
    )
    x = m.get("xgboost", {})
    gate_text = gate_result.summary() if gate_result else "not evaluated"
    return f"""# Model card: {model_name(domain)}

- Task: rank {spec.cell_size_m:g} m cells by the risk of >= 1 event in the next
  {spec.horizon_days} day(s); output a calibrated probability (Platt) and a raw score.
- Model: XGBoost, objective `{spec.model.objective}`, monotone in past-event counts.
- Score: {score or "booster margin"} (blend chosen on the training windows' validation
  slices before the data end; the backtest's refits chose theirs the same way).
- Data version: `{dv}`; time zone {spec.tz}; CRS {spec.crs}.
- Evaluation: rolling-origin backtest {spec.start:%Y-%m-%d} .. {spec.end:%Y-%m-%d},
  {metrics["n_origins"]} origins, {_cells_per_origin(metrics)} cells scored per origin (a
  cell from its first known event on); every event of a window counted
  ({metrics.get("events_outside_area", 0):.0f} in cells not scored at their origin, misses
  for every method).
- Calibration: Brier {x.get("brier", float("nan")):.4f}, ECE {x.get("ece", float("nan")):.4f}.
- Gate: {gate_text}

| method | PAI@5% [95% CI] | HR@5% | AUC |
|---|---|---|---|
{rows}

Features ({len(features)}): {", ".join(features)}

Limits: history-only features; locations snapped to blocks make cells below ~100 m
meaningless; forecasts that steer patrols can feed back into the records.
"""


GATE_FRACTIONS = (0.01, 0.05, 0.1)
"""The area shares at which the candidate may not be worse than the best baseline."""


def not_worse_than_best(
    windows: dict[str, pd.DataFrame], best: str, n_boot: int
) -> dict[str, dict[str, Any]]:
    """PAI of ``xgboost`` minus the ``best`` baseline at each of ``GATE_FRACTIONS``: paired
    bootstrap over the backtest's windows (``windows``: per method, every event counted),
    as :func:`models.gate.gate`'s ``not_worse`` checks."""
    out = {}
    for f in GATE_FRACTIONS:
        d, lo, hi = paired_bootstrap_diff(
            windows["xgboost"], windows[best], pai_statistic(f), n_boot=n_boot
        )
        out[f"pai@{f:g}"] = {"against": best, "diff": d, "ci": [lo, hi]}
    return out


def model_minus_baselines(
    windows: dict[str, pd.DataFrame], baselines: Sequence[str], n_boot: int
) -> dict[str, dict[str, Any]]:
    """PAI@5% of ``xgboost`` minus each baseline with the gate's paired bootstrap
    (:func:`not_worse_than_best`: the same windows, ``n_boot`` draws and seed), so the
    metrics table and the gate's 5% check give one CI for one comparison."""
    out = {}
    for b in baselines:
        d, lo, hi = paired_bootstrap_diff(
            windows["xgboost"], windows[b], pai_statistic(0.05), n_boot=n_boot
        )
        out[b] = {"diff": d, "ci": [lo, hi]}
    return out


def hotspot_recipe(
    domain: str,
    features: list[str],
    cfg: ModelConfig,
    *,
    crs: str,
    cell_size_m: float,
    tz: str,
    max_cells: int | None,
    eval_days: int,
    sources: Sequence[str] | None = None,
) -> Recipe:
    """The recipe (:mod:`models.recipe`) of a cell domain's model; ``sources``: the lake
    sources its rows are built from (None: all; a model on other sources is another
    recipe, as its inputs count other events)."""
    shape = {
        "crs": crs,
        "cell_size_m": cell_size_m,
        "tz": tz,
        "max_cells": max_cells,
        "eval_days": eval_days,
        "sources": training_sources(sources),
    }
    return recipe(domain, features, cfg, shape, code_version())


def _city_rows(
    result: HotspotBacktestResult,
    judged: pd.DataFrame,
    origins: pd.DatetimeIndex,
    ds: domains.Domain,
    grid: tuple[str, float, str],
    *,
    same: bool,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The city's rows at ``origins`` (every cell with an event of any source known before
    the origin: keys, inputs of every source, ``label_count`` / ``label_any`` of every
    source's events) and its windows' events elsewhere (``outside``: keys,
    ``label_count``). ``same``: the backtest's own rows are those (a model on every
    source): reused, not built again."""
    empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in [*KEYS, "label_count"]})
    if same:
        rows = result.frame[result.frame["origin"].isin(origins)]
        labels = result.labels if result.labels is not None else rows
        city = rows.drop(columns=["label_count", "label_any"], errors="ignore").merge(
            labels[[*KEYS, "label_count", "label_any"]], on=KEYS, validate="one_to_one"
        )
        out = result.outside
        if not len(out) or "origin" not in out:
            return city, empty
        return city, out[out["origin"].isin(origins)]
    crs, cell_size_m, tz = grid
    city = (
        cell_frame(ds, judged, origins, crs=crs, cell_size_m=cell_size_m, tz=tz)
        if len(origins)
        else pd.DataFrame()
    )
    if city.empty:
        return empty.assign(label_any=pd.Series(dtype="int8")), empty
    located = judged.rename(columns={ds.time_column: "occurred_at"}).dropna(subset=["lon", "lat"])
    located = assign_cells(located, crs, cell_size_m).dropna(subset=["cell_x", "cell_y"])
    located = located.astype({"cell_x": "int64", "cell_y": "int64"})
    return city, outside_area_labels(located, city[KEYS], origins, result.spec)


def _champion_comparison(
    result: HotspotBacktestResult,
    domain: str,
    prov: ChampionProvenance,
    judged: pd.DataFrame,
    challenger: pd.DataFrame,
    *,
    grid: tuple[str, float, str],
    sources: tuple[str, ...] | None,
    recipe_digest: str,
    trained_through: pd.Timestamp,
    n_boot: int,
    store: Any | None,
) -> tuple[ChampionComparison, float] | None:
    """The champion against the challenger on the evaluation origins at or after the
    champion's ``trained_through`` only (:func:`models.champion.compare_with_champion`),
    with the champion's PAI@5% there (NaN when not compared; None if the champion could
    not be scored).

    Would serving the challenger be better than serving the champion? Both are judged on
    the same rows, the city's: at each origin every cell with an event of any source
    known before it, its window's events of every source (``judged``, the domain's lake
    rows of every source; events elsewhere are misses for both), and each model scores
    them from its own serving inputs: ``challenger`` (its backtest's scores: keys and
    ``score``, from its ``sources``) and the champion on a frame built from its own
    training sources (:attr:`models.registry.RiskModel.sources`, as serving builds it),
    not on the challenger's. A cell a model does not serve (no event of its sources
    before the origin) is never flagged by it."""
    ds = domains.get(domain)
    since = prov.trained_through
    later = pd.DatetimeIndex(result.eval_origins)
    later = later[later >= since]
    city, outside = _city_rows(result, judged, later, ds, grid, same=sources is None)
    events = int(city["label_count"].sum()) + int(outside["label_count"].sum())
    champ_pai: list[float] = []
    champ_sources: list[tuple[str, ...] | None] = []

    def on_city(scored: pd.DataFrame) -> pd.DataFrame:
        """A model's windows on the city's rows (cells it does not serve: never flagged)."""
        rows = city[[*KEYS, "label_count"]].merge(
            scored[[*KEYS, "score"]], on=KEYS, how="left", validate="one_to_one"
        )
        rows["score"] = rows["score"].fillna(-1.0)  # below every probability it serves
        w = hotspot_windows(rows, outside=outside)
        return w.sort_values("origin").reset_index(drop=True)

    def inputs(champ: Any) -> pd.DataFrame:
        """The champion's serving inputs at those origins: a frame of its own sources."""
        asked = training_sources(getattr(champ, "sources", None))
        champ_sources.append(asked)  # as asked (None: every source), as the words say it
        # the frame from the sources it learned from (recorded since 2026-12-07), as
        # serving builds it: not a source the city's lake gained after it was trained
        own = training_sources(getattr(champ, "trained_on", None)) or asked
        none = pd.DataFrame({c: pd.Series(dtype="float64") for c in [*KEYS, *champ.features]})
        if city.empty:
            return none
        if own is None or set(own) >= set(source_names(judged)):
            return city
        mine = judged[judged["source"].isin(own)] if "source" in judged else judged
        crs, cell_size_m, tz = grid
        frame = cell_frame(ds, mine, later, crs=crs, cell_size_m=cell_size_m, tz=tz)
        return frame if len(frame) else none

    def measure(champ: pd.DataFrame) -> dict[str, Any]:
        cw = on_city(champ)
        xw = on_city(challenger[challenger["origin"] >= since])
        d, lo, hi = paired_bootstrap_diff(xw, cw, pai_statistic(0.05), n_boot=n_boot)
        champ_pai.append(float(pai_statistic(0.05)(cw, None)))
        return {"diff": d, "ci": [lo, hi]}

    comp = compare_with_champion(
        prov,
        city,
        origins=pd.DatetimeIndex(result.eval_origins),
        n_events=events,
        keys=KEYS,
        load=lambda: load_champion(domain, store),
        measure=measure,
        recipe_digest=recipe_digest,
        challenger_through=trained_through,
        event_words="event",
        inputs=inputs,
    )
    if comp is None:
        return None
    comp = replace(
        comp,
        counted_on=tuple(source_names(judged)),
        challenger_sources=training_sources(sources),
        champion_sources=champ_sources[0] if champ_sources else None,
        sources_known=bool(champ_sources),
    )
    return comp, champ_pai[0] if champ_pai else float("nan")


def train_hotspot_domain(
    events: pd.DataFrame,
    domain: str,
    client: MlflowClient,
    *,
    crs: str,
    cell_size_m: float,
    tz: str,
    eval_days: int = 84,
    model: ModelConfig | None = None,
    store: Any | None = None,
    max_ece: float = 0.05,
    max_cells: int | None = None,
    auto_promote: bool = True,
    n_boot: int = 1000,
    artifact_location: str | None = None,
    frame_builder: FrameBuilder | None = None,
    trainer: BoosterTrainer | None = None,
    sources: Sequence[str] | None = None,
    judged: pd.DataFrame | None = None,
) -> TrainReport:
    """Backtest, fit, log, register and gate a challenger for a cell domain.

    ``frame_builder`` / ``trainer``: where the model frame is built and the boosters
    grown (default here; a cluster through ``riskwarn.engine``). ``sources``: the lake
    sources ``events`` were read from (None: all), recorded in the recipe, the run and
    the model, so serving builds its inputs from the same ones. ``judged``: the domain's
    lake rows of every source (as ``events``) when ``sources`` are some only: the events
    its forecasts are judged on (the backtest's windows and the champion comparison count
    them, :func:`models.hotspot_backtest.run_hotspot_backtest`); None: ``events``."""
    ds = domains.get(domain)
    if ds.family != "hotspot":
        raise ValueError(f"domain {domain!r} is not a cell hotspot domain")
    ev = events.rename(columns={ds.time_column: "occurred_at"})
    if ev.empty:
        raise ValueError(f"no {ds.event_table} rows to train {domain} on")
    last_day = (
        pd.Timestamp(latest_versions(ev)["occurred_at"].max())
        .tz_convert(tz)
        .tz_localize(None)
        .normalize()
    )
    end = last_day - pd.Timedelta(days=ds.horizon_days)  # last origin with a complete window
    start = end - pd.Timedelta(days=eval_days - 1)
    cfg = replace(
        model or ModelConfig(), horizon_days=ds.horizon_days, refit_every_days=max(eval_days, 28)
    )
    spec = domain_spec(
        ds,
        crs=crs,
        cell_size_m=cell_size_m,
        tz=tz,
        start=start,
        end=end,
        model=cfg,
        max_cells=max_cells,
    )
    every = events if judged is None else judged  # the events the forecasts are judged on
    result = run_hotspot_backtest(
        ev,
        spec,
        frame_builder=frame_builder,
        trainer=trainer,
        judged=None if judged is None else judged.rename(columns={ds.time_column: "occurred_at"}),
    )
    metrics = result.metrics
    metrics["input_sources"] = list(training_sources(sources) or ())  # [] = every source
    labels = (
        result.labels
        if result.labels is not None
        else result.frame[result.frame["origin"].isin(result.eval_origins)][
            [*KEYS, "label_count", "label_any"]
        ]
    )
    merged = result.scores.merge(labels, on=KEYS)
    windows = {  # every event of a window counted, as in the metrics (result.outside)
        m: hotspot_windows(g, outside=result.outside).sort_values("origin").reset_index(drop=True)
        for m, g in merged.groupby("method")
    }
    # the gate: the (blended) candidate is not worse than the best baseline beyond noise at
    # PAI@1/5/10 % (issue 17), and beats the serving champion at PAI@5 %
    not_worse = not_worse_than_best(windows, metrics["best_baseline"], n_boot)
    # the metrics table's model-minus-baseline CIs drawn as the gate's (same windows, draws
    # and seed): evaluate_methods drew them with 500 resamples, so the models page showed
    # two CIs of one comparison ([+0.041, +0.194] beside the gate's [+0.041, +0.200])
    metrics["model_minus_baseline"] = model_minus_baselines(
        windows, list(metrics.get("model_minus_baseline") or {}), n_boot
    )
    # the champion only on origins it never saw (at or after its trained_through)
    final_origin = (end + pd.Timedelta(days=ds.horizon_days)).tz_localize(tz).tz_convert("UTC")
    own = hotspot_recipe(
        domain,
        result.features,
        cfg,
        crs=crs,
        cell_size_m=cell_size_m,
        tz=tz,
        max_cells=max_cells,
        eval_days=eval_days,
        sources=sources,
    )
    before = champion_version(client, domain)
    versus: ChampionComparison | None = None
    if before is not None:
        compared = _champion_comparison(
            result,
            domain,
            champion_provenance(client, domain, before),
            every,
            result.scores.loc[result.scores["method"] == "xgboost", [*KEYS, "score"]],
            grid=(crs, cell_size_m, tz),  # the city's grid (models.frames.CityGrid)
            sources=training_sources(sources),
            recipe_digest=own.digest,
            trained_through=final_origin,
            n_boot=n_boot,
            store=store,
        )
        if compared is not None:
            versus, champ_pai = compared
            metrics["champion_comparison"] = champion_check(versus)
            if np.isfinite(champ_pai):
                metrics["champion_pai@0.05"] = champ_pai
    ece = metrics["methods"]["xgboost"]["ece"]
    decision = gate(
        {},
        ece,
        max_ece=max_ece,
        champion=before,
        base_rate=float(labels["label_any"].mean()),
        n_rows=len(labels),
        ece_noise=ece_noise_quantile(
            merged.loc[merged["method"] == "xgboost", "score"],
            rows_per_event=max(1, ds.horizon_hours // ds.step_hours),  # overlapping windows
        ),
        ece_draws=ECE_NOISE_DRAWS,
        not_worse=not_worse,
        champion_vs=versus,
        not_judged_why=(
            f"no event in the evaluation window {start.date()} .. {end.date()}"
            if labels["label_any"].sum() == 0
            else f"no finite difference in the window {start.date()} .. {end.date()}"
        ),
    )

    # final model: every row whose labels are complete at the end of the data
    best = max(result.model.trials, key=lambda t: t["val_pai"])
    hp = {k: best[k] for k in cfg.grid[0]}
    # labels known before final_origin only (events reported later are not yet known)
    rows = training_rows(result.frame, final_origin, result.spec.model, result.late_labels)
    final, _ = fit_model(rows, result.features, result.spec.model, hp, final_origin, trainer)

    ev_rows = result.frame[result.frame["origin"].isin(result.eval_origins)]
    sample = ev_rows.sample(min(len(ev_rows), 5000), random_state=0)
    importance = global_importance(
        contributions(final.booster, sample, final.features, final.best_iteration)
    )
    xgb_rows = merged[merged["method"] == "xgboost"]
    dv = data_version(events)
    figures = {
        "reliability": reliability_figure(
            xgb_rows["label_any"].to_numpy(), xgb_rows["score"].to_numpy()
        ),
        "hit_rate_curve": hit_rate_figure(windows),
        "importance": importance_figure(importance),
    }
    card = model_card(
        domain, metrics, decision, result.features, dv, result.spec, blend_words(final)
    )
    record = log_training_run(
        final,
        domain,
        metrics,
        dv,
        ev_rows,
        figures,
        card,
        params={
            "eval_start": str(start.date()),
            "eval_end": str(end.date()),
            "objective": cfg.objective,
            "refit_every_days": cfg.refit_every_days,
            "blend": blend_words(final),
        },
        artifact_location=artifact_location,
        trained_through=final_origin,
        recipe=own,
        sources=sources,
        # the sources of the records it learned from (with every source: the lake's now),
        # the only ones serving builds its inputs from (riskwarn.scoring.served_sources)
        trained_on=source_names(events),
    )
    promoted = settle_gate(
        client, domain, record.version, decision, auto_promote=auto_promote, store=store
    )
    return TrainReport(
        domain,
        record,
        decision,
        promoted,
        metrics,
        before,
        {"importance": importance.head(10).to_dict()},
        final,
        ev_rows[ev_rows["origin"] == ev_rows["origin"].max()].reset_index(drop=True),
    )


def _cells_per_origin(metrics: dict[str, Any]) -> str:
    """The span "1466-1654" (the fewest and most cells scored at one origin), or the area's size
    for a run before the per-origin area (2026-12-06)."""
    span = metrics.get("active_cells_per_origin")
    if isinstance(span, list | tuple) and len(span) == 2:
        lo, hi = (int(v) for v in span)
        return f"{lo}" if lo == hi else f"{lo}-{hi}"
    return str(metrics.get("n_active_cells", "?"))
