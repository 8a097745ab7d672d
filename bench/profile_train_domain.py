"""Profile: where one hotspot domain's training spends its CPU, stage by stage.

Trains ``DOMAIN`` in an existing home (as ``bench/bench_train_domain.py``:
``pipeline.train_domain(settings, domain, day_start)``, gated and registered as
``train_models`` would) with a timer around each stage function (wrapped in its module for
this process only: frame building and its parts, the hyperparameter trials, the matrices,
the boosters, the blend choice, scoring, baselines, metrics, bootstraps, the final fit,
SHAP, figures, MLflow logging; for a site domain ``SITE_STAGES``: the site table, the
backtest's refits and their parts, the metrics, the gate's bound, the final fit) and, with ``--cprofile FILE``, cProfile with a CPU timer
(``time.process_time``: every thread of the process) saved to ``FILE``.

    .venv/bin/python bench/profile_train_domain.py --sim /work/lakebench/city \\
        --home /work/lakebench/home [--cprofile out.pstats] [--outputs out.json] \\
        [--max-bin N] incidents

``DOMAIN`` may name several site domains joined by ``+`` (``geohazard+geohazard_hourly``):
they are then trained together as ``train_models`` trains them (``pipeline.train_domains``:
one spill of the readings, one site-table pass), and ``--outputs`` holds each domain's
outputs under its name.

Each stage line: calls, wall and CPU seconds *inclusive* of the stages inside it (the
indentation says which are inside which). ``--outputs FILE``: the trained report's metrics
(without their timings) and the final model's probabilities of the last evaluation
origin's rows (a site domain: its metrics, gate text, refits and a digest of the
backtest's scores), as JSON (sorted keys), to compare two code versions' outputs with ``cmp``.
The stage lines of the matrices, boosters, blends and calibrators count the final fit's
too. cProfile inflates the stages made of many Python calls (docs/benchmarks.md, "Where
``train incidents``' CPU goes").
"""

from __future__ import annotations

# isort: off
import riskwarn  # noqa: F401  (first: its allocator settings precede pyarrow, riskwarn/allocators.py)

# isort: on
import argparse
import cProfile
import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bench_full_day as full_day
import numpy as np
import pandas as pd

# (module, attribute, stage name, depth): the stage functions, looked up where they are called
STAGES: list[tuple[str, str, str, int]] = [
    ("riskwarn.lake", "read_table", "lake read_table", 0),
    ("models.train", "run_hotspot_backtest", "backtest (run_hotspot_backtest)", 0),
    ("models.hotspot_backtest", "assign_cells", "assign_cells", 1),
    ("models.hotspot_backtest", "build_model_frame", "frame (build_model_frame)", 1),
    ("models.hotspot_backtest", "build_cell_features", "build_cell_features", 2),
    ("models.hotspot_backtest", "add_stacked_features", "add_stacked_features", 2),
    ("models.hotspot_backtest", "stacked_baseline_columns", "stacked_baseline_columns", 3),
    ("models.hotspot_backtest", "build_extra_features", "build_extra_features (lr_*)", 3),
    ("models.hotspot_backtest", "add_derived_features", "add_derived_features", 2),
    ("models.hotspot_backtest", "join_context", "join_context", 2),
    ("models.hotspot_backtest", "run_model_backtest", "model backtest (run_model_backtest)", 1),
    ("models.backtest", "choose_hyperparameters", "hyperparameter trials", 2),
    ("models.backtest", "fit_model", "fit_model (backtest)", 3),
    ("models.backtest", "training_rows", "training_rows (backtest)", 3),
    ("models.backtest", "quantile_dmatrix", "quantile_dmatrix (fit matrix)", 4),
    ("models.backtest", "early_stopping_dmatrix", "early_stopping_dmatrix", 4),
    ("models.backtest", "_grow", "xgb.train (_grow)", 4),
    ("models.backtest", "choose_blend", "choose_blend", 4),
    ("models.backtest", "fit_calibrator", "fit_calibrator", 4),
    ("models.hotspot_backtest", "history_cube", "history_cube", 1),
    ("models.hotspot_backtest", "hotspot_baseline_scores", "baseline scores", 1),
    ("models.hotspot_backtest", "ceiling_scores", "ceiling_scores", 1),
    ("models.hotspot_backtest", "loo_ceiling_scores", "loo_ceiling_scores", 1),
    ("models.hotspot_backtest", "outside_area_labels", "outside_area_labels", 1),
    ("models.hotspot_backtest", "evaluate_methods", "evaluate_methods (metrics)", 1),
    ("models.hotspot_backtest", "calibration_per_admin", "calibration_per_admin", 1),
    ("models.train", "hotspot_windows", "hotspot_windows (train)", 0),
    ("models.train", "not_worse_than_best", "bootstrap not_worse_than_best", 0),
    ("models.train", "compare_with_champion", "champion comparison (load, score, measure)", 0),
    ("models.train", "paired_bootstrap_diff", "bootstrap vs champion", 0),
    ("models.train", "training_rows", "training_rows (final)", 0),
    ("models.train", "fit_model", "final fit_model", 0),
    ("models.train", "contributions", "SHAP contributions", 0),
    ("models.train", "global_importance", "global_importance", 0),
    ("models.train", "data_version", "data_version", 0),
    ("models.train", "reliability_figure", "figure reliability", 0),
    ("models.train", "hit_rate_figure", "figure hit_rate", 0),
    ("models.train", "importance_figure", "figure importance", 0),
    ("models.train", "model_card", "model_card", 0),
    ("models.train", "log_training_run", "MLflow log_training_run", 0),
    ("models.train", "settle_gate", "settle_gate", 0),
]

# the monitored-site domains (geohazard, geohazard_hourly): models.geohazard_sites and the
# modules it calls; a function bound in two modules (fit_site_model, best_threshold_tss,
# level_thresholds) is wrapped in each under one name, and the table by caller splits it
SITE_STAGES: list[tuple[str, str, str, int]] = [
    ("riskwarn.pipeline", "LakeReadings.summary", "readings spill + summary (LakeReadings)", 0),
    ("models.train", "row_hashes", "row_hashes (spill's data version)", 1),
    ("riskwarn.lake.read", "canonical_frame", "canonical_frame", 1),
    ("models.geohazard_sites", "build_site_table", "site table (build_site_table)", 0),
    ("models.geohazard_sites", "build_site_tables", "site tables (build_site_tables)", 0),
    ("features.geohazard", "build_site_features_multi", "build_site_features_multi", 1),
    ("riskwarn.pipeline", "LakeReadings.read", "LakeReadings.read (spilled batches)", 2),
    ("riskwarn.lake.read", "sorted_frame", "sorted_frame (sort by key, to pandas)", 3),
    ("models.geohazard_sites", "sensor_rule_levels", "sensor_rule_levels", 2),
    ("models.geohazard_sites", "sensor_rule_levels_multi", "sensor_rule_levels_multi", 2),
    ("riskwarn.sensor_rules", "displacement_kinematics", "displacement_kinematics", 3),
    ("riskwarn.sensor_rules", "sensor_levels", "sensor_levels", 3),
    ("features.geohazard", "_SharedReadings", "_SharedReadings (dedupe, rain, health)", 2),
    ("features.sensor_readings", "_reading_arrays", "_reading_arrays (dedupe)", 3),
    ("features.sensor_readings", "_health_table", "_health_table", 3),
    ("features.geohazard", "_rain_bins", "_rain_bins", 2),
    ("features.geohazard", "_displacement_at", "_displacement_at", 2),
    ("features.sensor_readings", "_displacement_table", "_displacement_table", 3),
    ("features.geohazard", "_health_at", "_health_at", 2),
    ("features.sensor_readings", "_flag_table", "_flag_table", 3),
    ("features.geohazard", "_site_frame", "_site_frame", 2),
    ("features.geohazard", "_site_rain_columns", "_site_rain_columns", 3),
    ("features.geohazard", "_site_labels", "_site_labels", 3),
    ("features.derived", "add_derived_features", "add_derived_features", 1),
    (
        "models.geohazard_sites",
        "finish_site_training",
        "a domain's own work (finish_site_training)",
        0,
    ),
    ("models.geohazard_sites", "run_site_backtest", "backtest (run_site_backtest)", 0),
    ("models.geohazard_sites", "site_training_rows", "site_training_rows", 1),
    ("models.geohazard_sites", "fit_site_model", "fit_site_model", 1),
    ("models.site_fit", "split_training_rows", "split_training_rows", 2),
    ("models.site_fit", "failure_events", "failure_events", 3),
    ("models.boosting", "labelled_matrix", "labelled_matrix (DMatrix)", 3),
    ("models.site_fit", "fit_velocity_prior", "fit_velocity_prior", 2),
    ("models.site_fit", "fit_logistic_trees", "fit_logistic_trees (xgb.train)", 2),
    ("models.site_fit", "site_types_to_defer", "site_types_to_defer", 2),
    ("models.site_fit", "fit_shrunk_platt", "fit_shrunk_platt", 2),
    ("models.site_fit", "level_thresholds", "level_thresholds", 2),
    ("models.site_fit", "best_threshold_tss", "best_threshold_tss", 2),
    ("models.geohazard_sites", "best_threshold_tss", "best_threshold_tss", 2),
    ("models.geohazard_sites", "level_thresholds", "level_thresholds", 2),
    ("models.geohazard_sites", "baseline_scores", "baseline_scores", 1),
    ("models.geohazard_sites", "levels_of", "levels_of", 1),
    ("models.geohazard_sites", "_score_stretch", "_score_stretch", 1),
    ("models.geohazard_sites", "evaluate_site_methods", "evaluate_site_methods (metrics)", 0),
    ("models.site_evaluation", "failure_lead_times", "failure_lead_times", 1),
    ("models.site_evaluation", "DayBootstrap.auc", "DayBootstrap.auc", 1),
    ("models.site_evaluation", "DayBootstrap.tss", "DayBootstrap.tss", 1),
    ("models.site_evaluation", "probability_metrics", "probability_metrics", 1),
    ("models.site_evaluation", "ranking_metrics", "ranking_metrics", 1),
    ("models.site_evaluation", "warning_metrics", "warning_metrics (site_evaluation)", 1),
    ("models.site_levels", "level_lead_times", "level_lead_times", 1),
    ("models.site_levels", "paired_lead_differences", "paired_lead_differences", 1),
    ("models.geohazard_sites", "compare_scores_with_champion", "champion comparison", 0),
    ("models.geohazard_sites", "ece_noise_quantile", "ece_noise_quantile (gate bound)", 0),
    ("models.geohazard_sites", "gate", "gate", 0),
    ("models.geohazard_sites", "global_importance", "global_importance", 0),
    ("models.site_fit", "SiteFittedModel.contributions", "SHAP contributions", 0),
    ("models.train", "reliability_figure", "figure reliability", 0),
    ("models.train", "importance_figure", "figure importance", 0),
    ("models.train", "data_version", "data_version", 0),
    ("models.geohazard_sites", "site_model_card", "model_card", 0),
    ("models.geohazard_sites", "log_training_run", "MLflow log_training_run", 0),
    ("models.geohazard_sites", "settle_gate", "settle_gate", 0),
    ("models.site_fit", "SiteFittedModel.raw", "SiteFittedModel.raw (all predictions)", 0),
]


class Timers:
    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = {}  # name: [calls, wall, cpu]
        # (name, innermost enclosing stage or "-"): [calls, wall, cpu]
        self.by_caller: dict[tuple[str, str], list[float]] = {}
        self.stack: list[str] = []
        self.tag = "-"  # the domain being finished (site domains trained together)
        # (tag, name): [calls, wall, cpu]
        self.by_tag: dict[tuple[str, str], list[float]] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self.stack and self.stack[-1] == name:  # a wrapped call of itself: once
                return fn(*args, **kwargs)
            caller = self.stack[-1] if self.stack else "-"
            self.stack.append(name)
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.stack.pop()
                w, c = time.perf_counter() - t0, time.process_time() - c0
                for s in (
                    self.stats.setdefault(name, [0, 0.0, 0.0]),
                    self.by_caller.setdefault((name, caller), [0, 0.0, 0.0]),
                    self.by_tag.setdefault((self.tag, name), [0, 0.0, 0.0]),
                ):
                    s[0] += 1
                    s[1] += w
                    s[2] += c

        return timed


def install(timers: Timers, stages: list[tuple[str, str, str, int]] | None = None) -> None:
    import importlib

    for module, attr, name, _ in STAGES if stages is None else stages:
        mod = importlib.import_module(module)
        owner: Any = mod
        *path, last = attr.split(".")  # "Class.method": wrapped on the class
        for part in path:
            owner = getattr(owner, part)
        setattr(owner, last, timers.wrap(name, getattr(owner, last)))
    if stages is not None:
        import models.geohazard_sites as gs

        finish = gs.finish_site_training  # the stage timer's wrapper

        @functools.wraps(finish)
        def tagged(plan: Any, *args: Any, **kwargs: Any) -> Any:
            timers.tag = plan.domain
            try:
                return finish(plan, *args, **kwargs)
            finally:
                timers.tag = "-"

        gs.finish_site_training = tagged  # type: ignore[assignment]
        return
    from models.backtest import FittedModel

    FittedModel.margin = timers.wrap("FittedModel.margin (all predictions)", FittedModel.margin)  # type: ignore[method-assign]


def capture_outputs(path: Path) -> None:
    """Wrap ``models.train.train_hotspot_domain`` to write its outputs to ``path``, and
    ``models.train.not_worse_than_best`` to write every method's evaluation windows (the
    gate's per-origin hit tables) to ``path`` with the suffix ``.windows.parquet``."""
    import models.train as train

    inner = train.train_hotspot_domain
    judge = train.not_worse_than_best

    @functools.wraps(judge)
    def keep_windows(windows: dict[str, pd.DataFrame], *args: Any, **kwargs: Any) -> Any:
        # every method's evaluation windows as the gate reads them (one row per origin),
        # for paired comparisons of two runs' models (bench/compare_windows.py)
        table = pd.concat([w.assign(method=m) for m, w in windows.items()], ignore_index=True)
        table.to_parquet(path.with_suffix(".windows.parquet"), index=False)
        return judge(windows, *args, **kwargs)

    train.not_worse_than_best = keep_windows  # type: ignore[assignment]

    @functools.wraps(inner)
    def keep(*args: Any, **kwargs: Any) -> Any:
        report = inner(*args, **kwargs)
        metrics = {k: v for k, v in report.metrics.items() if k != "timings_s"}
        rows = report.last_origin_rows
        proba = report.final.predict_proba(rows) if report.final is not None else np.array([])
        out = {
            "metrics": metrics,
            "gate": report.gate.summary(),
            "final_best_iteration": report.final.best_iteration if report.final else None,
            "final_blend": repr(report.final.blend) if report.final else None,
            "final_calibrator": repr(report.final.calibrator) if report.final else None,
            "last_origin_rows": len(rows) if rows is not None else 0,
            "last_origin_proba": [float(p) for p in proba],
            "importance": report.extra.get("importance"),
        }
        path.write_text(json.dumps(out, default=str, sort_keys=True), encoding="utf-8")
        return report

    train.train_hotspot_domain = keep  # type: ignore[assignment]
    import riskwarn.pipeline  # noqa: F401  (imports train_hotspot_domain inside the function)


def capture_site_outputs(path: Path, group: bool = False) -> None:
    """Wrap ``models.geohazard_sites.train_site_domain`` to write its outputs to ``path``:
    the metrics, the gate text, the backtest's refits and a digest of its scores (every
    method's score, level and warning of every evaluation row). ``group``: the domains
    are trained together (``finish_site_training`` wrapped instead), each one's outputs
    under its name in ``path``."""
    import hashlib

    import models.geohazard_sites as gs

    inner = gs.finish_site_training if group else gs.train_site_domain
    written: dict[str, Any] = {}

    @functools.wraps(inner)
    def keep(*args: Any, **kwargs: Any) -> Any:
        report = inner(*args, **kwargs)
        scores = report.backtest.scores
        h = hashlib.sha256(pd.util.hash_pandas_object(scores, index=False).to_numpy().tobytes())
        out = {
            "metrics": report.metrics,
            "gate": report.gate.summary(),
            "fits": report.backtest.fits.astype(str).to_dict("records"),
            "scores_rows": len(scores),
            "scores_sha256": h.hexdigest(),
        }
        if group:
            written[report.domain] = out
            out = written
        path.write_text(json.dumps(out, default=str, sort_keys=True), encoding="utf-8")
        return report

    if group:
        gs.finish_site_training = keep  # type: ignore[assignment]
    else:
        gs.train_site_domain = keep  # type: ignore[assignment]


def set_max_bin(max_bin: int) -> None:
    """Train the cell domain with its boosters' ``max_bin`` set to ``max_bin`` (the rest of
    ``models.backtest.ModelConfig`` as it is): ``models.train.train_hotspot_domain``
    wrapped for this process to pass that model config."""
    import models.train as train
    from models.backtest import ModelConfig, with_max_bin

    inner = train.train_hotspot_domain

    @functools.wraps(inner)
    def binned(*args: Any, **kwargs: Any) -> Any:
        kwargs["model"] = with_max_bin(kwargs.get("model") or ModelConfig(), max_bin)
        return inner(*args, **kwargs)

    train.train_hotspot_domain = binned  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", type=Path, required=True)
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--cprofile", type=Path, default=None)
    ap.add_argument("--outputs", type=Path, default=None)
    ap.add_argument(
        "--max-bin",
        type=int,
        default=None,
        help="a cell domain's boosters' max_bin (default: models.backtest.ModelConfig's)",
    )
    ap.add_argument("domain")
    args = ap.parse_args(argv)

    from riskwarn import pipeline
    from riskwarn.keys import new_key
    from riskwarn.settings import Settings

    meta = json.loads((args.sim / "simulation.json").read_text(encoding="utf-8"))
    tz = meta.get("timezone", "Asia/Shanghai")
    day_start = pd.Timestamp(meta["end"]).tz_localize(tz)
    settings = Settings(
        home=args.home, pseudonym_key=new_key(), city_area=full_day.SIMULATED_CITY_AREA
    )
    from riskwarn import domains

    group = args.domain.split("+")
    site = all(domains.get(d).family == "site" for d in group)
    if len(group) > 1 and not site:
        ap.error(f"{args.domain}: only site domains are trained together")
    stages = SITE_STAGES if site else STAGES
    timers = Timers()
    install(timers, SITE_STAGES if site else None)
    if args.max_bin is not None:
        if site:
            ap.error("--max-bin: cell domains only (the site models' is models.site_fit's)")
        set_max_bin(args.max_bin)
    if args.outputs is not None:
        if site:
            capture_site_outputs(args.outputs, group=len(group) > 1)
        else:
            capture_outputs(args.outputs)
    print(full_day.load_words(), flush=True)
    prof = cProfile.Profile(time.process_time) if args.cprofile else None
    t0, c0 = time.perf_counter(), time.process_time()
    if prof is not None:
        prof.enable()
    if len(group) > 1:
        out: Any = pipeline.train_domains(settings, group, day_start)
    else:
        out = pipeline.train_domain(settings, args.domain, day_start)
    if prof is not None:
        prof.disable()
        prof.dump_stats(str(args.cprofile))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps(out, default=str), flush=True)
    print(f"train {args.domain}: {wall:.1f} s wall, cpu {cpu:.1f} s", flush=True)
    print(f"{'stage (inclusive)':<52} {'calls':>5} {'wall s':>9} {'cpu s':>9} {'cpu %':>6}")
    shown: set[str] = set()
    for _, _, name, depth in stages:
        if name in timers.stats and name not in shown:
            shown.add(name)
            n, w, c = timers.stats[name]
            label = "  " * depth + name
            print(f"{label:<52} {int(n):>5} {w:9.1f} {c:9.1f} {100 * c / cpu:6.1f}")
    print(f"\n{'stage <- innermost enclosing stage':<80} {'calls':>5} {'wall s':>9} {'cpu s':>9}")
    for (name, caller), (n, w, c) in sorted(timers.by_caller.items(), key=lambda kv: -kv[1][2]):
        label = f"{name} <- {caller}"
        print(f"{label:<80} {int(n):>5} {w:9.1f} {c:9.1f}")
    tags = sorted({tag for tag, _ in timers.by_tag} - {"-"})
    for tag in tags:  # site domains trained together: each one's own stages
        print(
            f"\n{'stage (inclusive), ' + tag + ' only':<52} {'calls':>5} {'wall s':>9} {'cpu s':>9}"
        )
        for _, _, name, depth in stages:
            if (tag, name) in timers.by_tag:
                n, w, c = timers.by_tag[(tag, name)]
                print(f"{'  ' * depth + name:<52} {int(n):>5} {w:9.1f} {c:9.1f}")
    name = "FittedModel.margin (all predictions)"
    if name in timers.stats:
        n, w, c = timers.stats[name]
        print(f"{name:<52} {int(n):>5} {w:9.1f} {c:9.1f} {100 * c / cpu:6.1f}")
    print(full_day.load_words(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
