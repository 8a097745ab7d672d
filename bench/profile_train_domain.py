"""Profile: where one hotspot domain's training spends its CPU, stage by stage.

Trains ``DOMAIN`` in an existing home (as ``bench/bench_train_domain.py``:
``pipeline.train_domain(settings, domain, day_start)``, gated and registered as
``train_models`` would) with a timer around each stage function (wrapped in its module for
this process only: frame building and its parts, the hyperparameter trials, the matrices,
the boosters, the blend choice, scoring, baselines, metrics, bootstraps, the final fit,
SHAP, figures, MLflow logging) and, with ``--cprofile FILE``, cProfile with a CPU timer
(``time.process_time``: every thread of the process) saved to ``FILE``.

    .venv/bin/python bench/profile_train_domain.py --sim /work/lakebench/city \\
        --home /work/lakebench/home [--cprofile out.pstats] [--outputs out.json] incidents

Each stage line: calls, wall and CPU seconds *inclusive* of the stages inside it (the
indentation says which are inside which). ``--outputs FILE``: the trained report's metrics
(without their timings) and the final model's probabilities of the last evaluation
origin's rows, as JSON (sorted keys), to compare two code versions' outputs with ``cmp``.
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


class Timers:
    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = {}  # name: [calls, wall, cpu]

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                s = self.stats.setdefault(name, [0, 0.0, 0.0])
                s[0] += 1
                s[1] += time.perf_counter() - t0
                s[2] += time.process_time() - c0

        return timed


def install(timers: Timers) -> None:
    import importlib

    for module, attr, name, _ in STAGES:
        mod = importlib.import_module(module)
        setattr(mod, attr, timers.wrap(name, getattr(mod, attr)))
    from models.backtest import FittedModel

    FittedModel.margin = timers.wrap("FittedModel.margin (all predictions)", FittedModel.margin)  # type: ignore[method-assign]


def capture_outputs(path: Path) -> None:
    """Wrap ``models.train.train_hotspot_domain`` to write its outputs to ``path``."""
    import models.train as train

    inner = train.train_hotspot_domain

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", type=Path, required=True)
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--cprofile", type=Path, default=None)
    ap.add_argument("--outputs", type=Path, default=None)
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
    timers = Timers()
    install(timers)
    if args.outputs is not None:
        capture_outputs(args.outputs)
    print(full_day.load_words(), flush=True)
    prof = cProfile.Profile(time.process_time) if args.cprofile else None
    t0, c0 = time.perf_counter(), time.process_time()
    if prof is not None:
        prof.enable()
    out = pipeline.train_domain(settings, args.domain, day_start)
    if prof is not None:
        prof.disable()
        prof.dump_stats(str(args.cprofile))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps(out, default=str), flush=True)
    print(f"train {args.domain}: {wall:.1f} s wall, cpu {cpu:.1f} s", flush=True)
    print(f"{'stage (inclusive)':<52} {'calls':>5} {'wall s':>9} {'cpu s':>9} {'cpu %':>6}")
    for _, _, name, depth in STAGES:
        if name in timers.stats:
            n, w, c = timers.stats[name]
            label = "  " * depth + name
            print(f"{label:<52} {int(n):>5} {w:9.1f} {c:9.1f} {100 * c / cpu:6.1f}")
    name = "FittedModel.margin (all predictions)"
    if name in timers.stats:
        n, w, c = timers.stats[name]
        print(f"{name:<52} {int(n):>5} {w:9.1f} {c:9.1f} {100 * c / cpu:6.1f}")
    print(full_day.load_words(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
