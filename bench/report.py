"""Write the models section of the benchmarks (docs/benchmarks-models.md) from bench runs.

    .venv/bin/python bench/report.py --chicago var/bench/chicago_weekly \\
        [--chicago-daily var/bench/chicago_daily] [--chicago-daily-full DIR] \\
        [--hongkong var/bench/hongkong] [--threegorges var/bench/threegorges] \\
        [--sim var/bench/sim_truth [--sim DIR2 --sim-city SIMULATION]] \\
        [--run] [--out docs/benchmarks-models.md]

With ``--run`` the benchmarks are run first (bench/bench_backtest.py,
bench/bench_threegorges.py, bench/bench_sim_truth.py); otherwise the folders' JSON files
(``metrics.json``, ``bench.json``, ``uncertainty.json``, ``threegorges.json``,
``sim_truth.json``) are read. Every figure in the document comes from those files. The
geohazard-site section is included from docs/_sections/geohazard_sites.md when present
(written by bench/bench_geohazard_sites.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def _load(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    metrics = json.loads((folder / "metrics.json").read_text())
    bench = folder / "bench.json"
    return metrics, json.loads(bench.read_text()) if bench.exists() else {}


def _f(x: Any, nd: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def _loo_lines(m: dict[str, Any], base: str | None, share_loo: float | None) -> list[str]:
    """What the ex-post ceiling's lead is made of, from the leave-one-window-out oracle."""
    if "ceiling_loo" not in m or "ceiling" not in m or base not in m:
        return []
    ceil, loo, b = m["ceiling"]["pai@0.05"], m["ceiling_loo"]["pai@0.05"], m[base]["pai@0.05"]
    half = b + 0.5 * (ceil - b)
    own = (ceil - loo) / (ceil - b) if ceil > b else float("nan")
    if loo <= b:
        return [
            f"- `ceiling_loo` (ex post, leave-one-window-out: each window's cells ranked by "
            "their realised events in every *other* window of the run) reaches PAI@5% "
            f"{_f(loo)}, below `{base}` ({_f(b)}): the run's other windows hold too few "
            "events to know a cell's intensity better than the long history does, so this "
            "oracle says nothing about how much of the ceiling is reachable here; the "
            f"ceiling's lead over `{base}` comes from knowing the scored windows' own events.",
        ]
    return [
        f"- `ceiling_loo` (ex post, leave-one-window-out): each window's cells ranked by their "
        "realised events in every *other* window of the backtest (the period's true "
        "intensities, future included, without the window's own events). PAI@5% "
        f"{_f(loo)} vs the ceiling's {_f(ceil)}: {_f(own)} of the gap from `{base}` to the "
        "ceiling is each window's own chance variation, which only a forecast that knew "
        f"that window's events could use. Half the gap means PAI@5% {_f(half)}; knowing the "
        f"whole period's intensities reaches {_f(loo)}. As a diagnostic only (not the "
        f"issue's target, which is measured to the ceiling above): xgboost closes "
        f"{_f(share_loo)} of the gap from `{base}` to `ceiling_loo`.",
    ]


def _counting_lines(metrics: dict[str, Any]) -> list[str]:
    """How events are counted: every event of a window (the standard count)."""
    x = metrics["methods"].get("xgboost") or next(iter(metrics["methods"].values()))
    if "events_active_area" not in x:
        return [
            "**Counted over the active area only** (a run from before the standard count: "
            "events in cells with no earlier event are left out, which reads higher).",
            "",
        ]
    outside = metrics.get("events_outside_area", 0.0)
    line = (
        f"Every event of a window counts, as open_cp and published comparisons count: "
        f"{x['events']:.0f} events, {outside:.0f} of them ({100 * outside / x['events']:.1f}%) "
        "in cells with no event before the start (outside the active area), misses for every "
        "method."
    )
    if "hit_rate_active_area@0.05" in x:
        line += (
            " Counted over the active area only (those left out; not comparable with "
            f"published figures), xgboost would read HR@5% {x['hit_rate_active_area@0.05']:.3f} "
            f"and PAI@5% {x['pai_active_area@0.05']:.2f} (metrics.json `*_active_area`)."
        )
    return [line, ""]


def untouched_year_section(folder: Path, since: str, n_boot: int = 1000) -> str:
    """The weekly run's windows from ``since`` on: the design (inputs, grid, early stopping)
    was chosen on 2016 origins (docs/_sections/chicago_tries.md), so 2017 is the part of
    the published backtest that no choice looked at."""
    import bench_backtest

    if not (folder / "scores.parquet").exists():
        return ""
    res = bench_backtest.pooled_window_cis([folder], n_boot=n_boot, origins_from=since)
    if not res:
        return ""
    paired = res["model_minus_baseline_pooled"]
    lines = [
        f"### Only the windows never looked at while tuning (origins from {since})",
        "",
        "The model's design was chosen on the 53 weekly origins of 2016 (see 'Chicago: what "
        "was tried'), inside this backtest's period. The "
        f"{res['n_windows_pooled']} windows from {since} on were not looked at for any "
        "choice; on them alone (bootstrap over those windows, paired):",
        "",
    ]
    lines += [
        f"- PAI@5% xgboost - {b}: {v['diff']:+.3f} (paired 95% CI [{v['ci'][0]:+.3f}, "
        f"{v['ci'][1]:+.3f}])"
        for b, v in sorted(paired.items())
    ]
    return "\n".join(lines) + "\n"


def hotspot_section(title: str, metrics: dict[str, Any], bench: dict[str, Any]) -> str:
    """Markdown table of HR / PAI / PEI at 1, 5, 10% per method with CIs."""
    m = metrics["methods"]
    lines = [
        f"## {title}",
        "",
        f"{metrics['n_origins']} forecast origins x {metrics['n_active_cells']} active cells "
        f"(cells with an event before the start); objective `{metrics.get('objective')}`, "
        f"{metrics.get('refits')} refits. Pooled over origins; 95% CIs: bootstrap over "
        "forecast windows.",
        "",
        *_counting_lines(metrics),
    ]
    order = sorted(m, key=lambda k: -m[k]["pai@0.05"])
    for metric, label, digits in (("pai", "PAI", 2), ("hit_rate", "HR", 3), ("pei", "PEI", 2)):
        head = " | ".join(f"{label}@{p}% [95% CI]" for p in (1, 5, 10))
        auc = metric == "pai"
        lines += [
            f"| method | {head} |" + (" AUC |" if auc else ""),
            "|---|---|---|---|" + ("---|" if auc else ""),
        ]
        for name in order:
            v = m[name]
            cells = []
            for f in ("0.01", "0.05", "0.1"):
                lo_hi = v.get(f"{metric}@{f}_ci")
                interval = f" [{_f(lo_hi[0], digits)}, {_f(lo_hi[1], digits)}]" if lo_hi else ""
                cells.append(f"{_f(v[f'{metric}@{f}'], digits)}{interval}")
            row = f"| {name} | " + " | ".join(cells) + " |"
            lines.append(row + (f" {_f(v.get('auc'), 3)} |" if auc else ""))
        lines.append("")
    x = m.get("xgboost", {})
    lines += [
        f"- Best baseline: `{metrics.get('best_baseline')}`; share of the gap from it to the "
        f"ex-post ceiling closed by xgboost: **{_f(metrics.get('gap_closed_share'))}** "
        "(target 0.5).",
        *_loo_lines(m, metrics.get("best_baseline"), metrics.get("gap_closed_share_loo")),
        f"- xgboost calibration: Brier {_f(x.get('brier'), 4)}, ECE {_f(x.get('ece'), 4)}.",
    ]
    by_admin = metrics.get("calibration_by_admin") or []
    if by_admin:
        eces = [r["ece"] for r in by_admin if r.get("ece") is not None]
        worst = max(by_admin, key=lambda r: r.get("ece") or 0)
        lines.append(
            f"- Calibration per admin unit ({len(by_admin)} units): ECE {min(eces):.4f} to "
            f"{max(eces):.4f} (worst: {worst['admin_code']}, mean p "
            f"{worst['mean_probability']:.3f} vs observed {worst['base_rate']:.3f})."
        )
    for b, d in sorted(metrics.get("model_minus_baseline", {}).items()):
        lines.append(
            f"- PAI@5% xgboost - {b}: {d['diff']:+.3f} (paired 95% CI "
            f"[{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}])"
        )
    t = metrics.get("timings_s", {})
    wall = bench.get("wall_s")
    lines.append(
        f"- Time: features {_f(t.get('features_s'), 0)} s, model (all refits) "
        f"{_f(t.get('model_s'), 0)} s, baselines {_f(t.get('baselines_s'), 0)} s, "
        f"total {_f(t.get('total_s'), 0)} s"
        + (f"; command wall time {wall:.0f} s" if wall else "")
        + " on the shared 2-core machine."
    )
    if bench.get("command"):
        lines.append(f"- Command: `{bench['command']}`")
    return "\n".join(lines) + "\n"


def _ci(v: dict[str, Any], nd: int = 3) -> str:
    lo, hi = v["ci"]
    return f"{_f(v['value'], nd)} [{_f(lo, nd)}, {_f(hi, nd)}]"


def geohazard_section(
    metrics: dict[str, Any], bench: dict[str, Any], unc: dict[str, Any] | None = None
) -> str:
    """City-wide >= 1 / >= 10 landslide-day skill per method (with CIs) and per-cell skill."""
    lines = [
        "## Hong Kong landslides: daily city-wide nowcasts 2010-2014",
        "",
        "Rain up to the end of the day, landslide records of earlier days only; yearly "
        "refits on earlier years; warning threshold (max TSS) chosen on the two years before "
        "each evaluation year.",
        "",
    ]
    if unc:
        lines += [
            f"95% CIs: block bootstrap over the {unc['n_blocks']} calendar months "
            f"({unc['n_boot']} resamples, whole months drawn with replacement). Days are not "
            "independent (storms last several days and antecedent rain carries over), so "
            "resampling single days would understate the uncertainty; a month holds whole "
            "storm sequences and months are close to independent of each other. Paired "
            "differences use the same resamples for both methods.",
            "",
            "Ex-post ceilings (knowledge no forecast has): `ceiling_month` gives each day its "
            "calendar month's realised share of landslide days in the backtest window (which months "
            "turned out wet, no day-to-day information); `ceiling_refit` is the same XGBoost "
            "model (same inputs, depth 2, monotone in rain) fitted for "
            f"{unc.get('ceiling_refit_rounds', 'n/a')} rounds on the "
            "backtest days themselves and scored on them (it knows the answers within the "
            "capacity of the model class). Both warn at their own ex-post max-TSS threshold. "
            "A per-day oracle would be trivially perfect, so it is not used. The share of "
            "the gap closed is measured to the higher ceiling.",
            "",
            "`ceiling_crossfit` is the same learner fitted on the *other* years of the "
            "backtest window and scored on the held-out year (rounds chosen ex post: "
            f"{unc.get('ceiling_crossfit_rounds', 'n/a')}): it knows how rain turned into "
            "landslides over the whole period, future years included, but not the answers of "
            "the days it scores. The distance between it and `ceiling_refit` is what the "
            "in-sample refit gains by memorising the evaluated days' own outcomes; the share "
            "of the gap to `ceiling_crossfit` is reported beside the headline share.",
            "",
        ]
    for target, label in (("any", ">= 1 landslide"), ("major", ">= 10 landslides")):
        lines += [
            f"### {label} days",
            "",
            "| method | AUC [CI] | AP [CI] | Brier [CI] | TSS [CI] | POD [CI] | FAR [CI] |",
            "|---|---|---|---|---|---|---|",
        ]
        if unc:
            ms = unc[target]["methods"]
            for name in sorted(ms, key=lambda k: -ms[k]["auc"]["value"]):
                v = ms[name]
                lines.append(
                    f"| {name} | {_ci(v['auc'])} | {_ci(v['average_precision'])} | "
                    f"{_ci(v['brier'], 4)} | {_ci(v['tss'])} | {_ci(v['pod'])} | "
                    f"{_ci(v['far'])} |"
                )
            lines += [
                "",
                "Paired differences xgboost - other (95% CI; Brier: negative = xgboost better). "
                "`ceiling_month` does not see the day's rain, so a rain nowcast can beat it; "
                "it is not an upper bound here, `ceiling_refit` is.",
                "",
            ]
            for name, d in sorted(unc[target]["reference_minus"].items()):
                parts = [
                    f"{k.upper() if k != 'average_precision' else 'AP'} {d[k]['diff']:+.3f} "
                    f"[{d[k]['ci'][0]:+.3f}, {d[k]['ci'][1]:+.3f}]"
                    for k in ("auc", "average_precision", "brier", "tss")
                ]
                lines.append(f"- xgboost - {name}: " + "; ".join(parts))
            for key in ("auc", "tss"):
                sig = [
                    n
                    for n, d in sorted(unc[target]["reference_minus"].items())
                    if not n.startswith("ceiling") and d[key]["ci"][0] > 0
                ]
                lines.append(
                    f"- {key.upper()}: paired CI of xgboost - baseline entirely above zero "
                    "against: " + (", ".join(f"`{n}`" for n in sig) if sig else "none")
                )
            oracle = unc[target].get("oracle")
            for name, d in sorted(unc[target].get("oracle_minus", {}).items()):
                lines.append(
                    f"- {oracle} - {name} (ex post, for scale): "
                    + "; ".join(
                        f"{k.upper()} {d[k]['diff']:+.3f} "
                        f"[{d[k]['ci'][0]:+.3f}, {d[k]['ci'][1]:+.3f}]"
                        for k in ("auc", "tss")
                    )
                )
            lines.append("")
            for key, g in unc[target]["gap"].items():
                lines.append(
                    f"- {key.upper() if key != 'average_precision' else 'AP'}: xgboost "
                    f"{g['model']:.3f}, best baseline `{g['best_baseline']}` {g['baseline']:.3f}, "
                    f"ceiling (`{g['ceiling_method']}`) {g['ceiling']:.3f}: share of the gap "
                    f"closed **{_f(g['gap_closed'], 2)}** (target 0.5)"
                    + (
                        f"; diagnostic, to `ceiling_crossfit` "
                        f"({g['ceilings']['ceiling_crossfit']:.3f}): "
                        f"{_f(g['gap_closed_by_ceiling']['ceiling_crossfit'], 2)}"
                        if "ceiling_crossfit" in g.get("ceilings", {})
                        else ""
                    )
                )
        else:
            for name, v in sorted(metrics["methods"].items(), key=lambda kv: -kv[1][target]["auc"]):
                a = v[target]
                lines.append(
                    f"| {name} | {_f(a['auc'], 3)} | {_f(a['average_precision'], 3)} | "
                    f"{_f(a['brier'], 4)} | {_f(a['tss'], 3)} | {_f(a['pod'], 3)} | "
                    f"{_f(a['far'], 3)} |"
                )
        lines.append("")
    native = metrics.get("native_thresholds") or {}
    if native:
        lines += [
            "Caine and Guzzetti as published (warn when the day's rain exceeds the "
            "intensity-duration curve, ratio >= 1; no calibration, no chosen threshold):",
            "",
        ]
        for name, by_target in sorted(native.items()):
            lines.append(
                f"- `{name}`: "
                + "; ".join(
                    f"{label}: TSS {_f(w['tss'], 3)}, POD {_f(w['pod'], 3)}, FAR "
                    f"{_f(w['far'], 3)}, warned {_f(100 * w['warned_share'], 1)}% of days"
                    for label, w in ((">= 1", by_target["any"]), (">= 10", by_target["major"]))
                )
            )
        lines.append("")
    cells = metrics.get("cell_hit_rates_on_event_days", {})
    if cells:
        any_m = next(iter(cells.values()))
        n_days = metrics["methods"].get("xgboost", {}).get("n_days")
        lines += [
            "### Per 1 km cell",
            "",
            f"{metrics.get('n_active_cells')} active cells (a landslide before the backtest "
            "start); "
            f"{int(any_m.get('n_events', 0))} landslides in active cells on "
            f"{int(any_m.get('n_event_days', 0))} landslide days. Cell score = the method's "
            "city-wide day probability x the cell's susceptibility prior (its share of "
            "landslides before the evaluation year, Gaussian-smoothed with sigma 0.5 cell, "
            "+0.5 per cell); the same prior for every method.",
            "",
            "Within a landslide day every method ranks the cells by the prior alone (a "
            "city-wide day probability cannot reorder cells), so per-day hit rates measure "
            "the prior and are identical across methods. What separates the methods is the "
            f"ranking of all cell-days together (top k% of the {n_days} days x cells flagged): "
            "the day probability has to pick the landslide days and the prior the cells.",
            "",
            "| method | cell-day HR@1% | HR@5% | HR@10% | PAI@1% | PAI@5% | cell-day AUC |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in sorted(cells, key=lambda k: -cells[k]["st_hit_rate@0.05"]):
            v = cells[name]
            lines.append(
                f"| {name} | {_f(v['st_hit_rate@0.01'], 3)} | {_f(v['st_hit_rate@0.05'], 3)} | "
                f"{_f(v['st_hit_rate@0.1'], 3)} | {_f(v['st_pai@0.01'])} | "
                f"{_f(v['st_pai@0.05'])} | {_f(v['st_auc'], 3)} |"
            )
        v = any_m
        lines += [
            "",
            f"Within landslide days (the prior, all methods): HR@1% {_f(v['day_hit_rate@0.01'], 3)}, "
            f"HR@5% {_f(v['day_hit_rate@0.05'], 3)}, HR@10% {_f(v['day_hit_rate@0.1'], 3)}, "
            f"HR@20% {_f(v['day_hit_rate@0.2'], 3)} (PAI@5% {_f(v['day_pai@0.05'])}; "
            "a random ranking gives HR@k = k).",
        ]
        if unc and unc.get("prior_within_day"):
            lines += [
                "",
                "Choice of the prior's smoothing (within-day HR of the prior alone; sigma in "
                "cells; chosen on 2005-2009, before the backtest; 2010-2014 shown for the "
                "record):",
                "",
                "| period | sigma | HR@1% | HR@5% | HR@10% | HR@20% |",
                "|---|---|---|---|---|---|",
            ]
            for period, by in unc["prior_within_day"].items():
                for sm, hv in by.items():
                    if sm == "n_active_cells":
                        continue
                    lines.append(
                        f"| {period} | {sm} | {_f(hv['day_hit_rate@0.01'], 3)} | "
                        f"{_f(hv['day_hit_rate@0.05'], 3)} | {_f(hv['day_hit_rate@0.1'], 3)} | "
                        f"{_f(hv['day_hit_rate@0.2'], 3)} |"
                    )
    if bench.get("wall_s"):
        lines.append(f"\n- Wall time {bench['wall_s']:.0f} s. Command: `{bench['command']}`")
    if unc:
        lines.append(
            f"- CIs, ceilings and the prior comparison: `python bench/bench_backtest.py "
            f"hongkong --out DIR --post-only` ({unc['wall_s']:.0f} s; run without "
            "`--post-only` it runs the backtest first)."
        )
    return "\n".join(lines) + "\n"


def pooled_daily_section(pooled: dict[str, Any]) -> str:
    """Chicago daily 2016-2017 pooled from quarterly runs (bench_backtest --daily-full)."""
    m = pooled["methods"]
    cells = pooled["n_active_cells"]
    lines = [
        "## Chicago aggravated assaults: daily forecasts 2016-2017 (quarterly runs pooled)",
        "",
        f"{pooled['n_origins']} daily origins in {pooled['n_runs']} quarterly backtests (one "
        "process for all of them ran out of memory on this shared machine); each quarter's "
        f"active area is the cells with an event before it ({min(cells)} to {max(cells)} "
        "cells). Hit rates pooled over all origins (captured events / events); PAI = pooled "
        "HR / mean area share. 95% CIs: bootstrap over all the daily windows of all "
        "quarters (paired across methods), when the runs publish `ceiling_loo` (a window's "
        "counts are `ceiling` - `ceiling_loo`, plus each run's `events_outside_area.parquet`).",
        "",
        (
            f"Every event of a window counts: {m['xgboost']['events']:.0f} events, "
            f"{pooled['events_outside_area']:.0f} of them in cells with no event before their "
            "quarter (outside its active area), misses for every method."
            if pooled.get("counted_every_event")
            else "**Counted over each quarter's active area only** (runs from before the "
            "standard count; reads higher)."
        ),
        "",
        "| method | HR@1% | HR@5% | HR@10% | PAI@1% | PAI@5% | PAI@10% | AUC (mean of runs) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in sorted(m, key=lambda k: -m[k]["pai@0.05"]):
        v = m[name]
        lines.append(
            f"| {name} | {_f(v['hit_rate@0.01'], 3)} | {_f(v['hit_rate@0.05'], 3)} | "
            f"{_f(v['hit_rate@0.1'], 3)} | {_f(v['pai@0.01'])} | {_f(v['pai@0.05'])} | "
            f"{_f(v['pai@0.1'])} | {_f(v.get('auc_mean_of_runs'), 3)} |"
        )
    lines += [
        "",
        f"- Best baseline: `{pooled['best_baseline']}`; share of the gap to the ex-post "
        f"ceiling closed by xgboost: **{_f(pooled['gap_closed_share'])}** (target 0.5).",
        *_loo_lines(m, pooled["best_baseline"], pooled.get("gap_closed_share_loo")),
        *(
            [
                "- PAI@5% with 95% CI over all "
                f"{pooled.get('n_windows_pooled')} days: "
                + "; ".join(
                    f"{name} {m[name]['pai@0.05']:.2f} [{lo:.2f}, {hi:.2f}]"
                    for name, (lo, hi) in sorted(
                        pooled["pai@0.05_ci"].items(), key=lambda kv: -m[kv[0]]["pai@0.05"]
                    )
                ),
                "- PAI@5% xgboost - baseline over all days (paired 95% CI): "
                + "; ".join(
                    f"`{b}` {d['diff']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]"
                    for b, d in sorted(pooled["model_minus_baseline_pooled"].items())
                ),
            ]
            if pooled.get("pai@0.05_ci")
            else []
        ),
        f"- Per quarter, PAI@5% xgboost - `{pooled['best_baseline']}` (paired 95% CI over "
        "the quarter's days): "
        + "; ".join(
            f"{r['diff']:+.3f} [{r['ci'][0]:+.3f}, {r['ci'][1]:+.3f}]"
            for r in pooled.get("per_run", [])
            if r.get("diff") is not None
        )
        + ".",
        f"- Wall time of the runs: {pooled['wall_s']:.0f} s in total. Produced by "
        "`python bench/bench_backtest.py chicago --daily-full --out DIR` (`--reuse` keeps "
        "finished quarters, e.g. the 2016 Q1 run above); the figures come from these runs:",
        "",
        *[f"  - `{c}`" for c in pooled["commands"]],
    ]
    return "\n".join(lines) + "\n"


def include_section(path: Path, missing: str) -> str:
    """A markdown section written by another bench script, or a note that it is missing."""
    return path.read_text() if path.exists() else missing


GEOHAZARD_SITES_MD = ROOT / "docs" / "_sections" / "geohazard_sites.md"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chicago", type=Path)
    p.add_argument("--chicago-daily", type=Path)
    p.add_argument("--chicago-daily-full", type=Path, help="Chicago daily over 2016-2017")
    p.add_argument("--hongkong", type=Path)
    p.add_argument("--threegorges", type=Path)
    p.add_argument(
        "--sim",
        type=Path,
        action="append",
        default=[],
        help="folder of bench/bench_sim_truth.py output (repeatable); with --run the first "
        "is made from a small simulation, the second (if any) from --sim-city",
    )
    p.add_argument("--sim-city", type=Path, help="city-scale simulation folder (second --sim)")
    p.add_argument("--geohazard-sites", type=Path, default=GEOHAZARD_SITES_MD)
    p.add_argument(
        "--oracles",
        type=Path,
        default=ROOT / "var" / "bench" / "oracles",
        help="folder of bench/bench_oracles.py output (with --run and --chicago: made first)",
    )
    p.add_argument("--run", action="store_true", help="run the benchmarks first")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-models.md")
    p.add_argument("--tail", type=Path, help="markdown appended verbatim (notes, earlier tries)")
    a = p.parse_args(argv)
    if a.run:
        import bench_backtest as bb

        if a.chicago:
            import bench_oracles

            bench_oracles.main(["--out", str(a.oracles)])
            bb.run(bb.chicago_args(a.chicago, daily=False), a.chicago)
        if a.chicago_daily:
            bb.run(bb.chicago_args(a.chicago_daily, daily=True), a.chicago_daily)
        if a.chicago_daily_full:
            bb.run_daily_quarters(a.chicago_daily_full)
        if a.hongkong:
            bb.main(["hongkong", "--out", str(a.hongkong)])
        if a.threegorges:
            import bench_threegorges

            bench_threegorges.main(["--out", str(a.threegorges)])
        if a.sim:
            import bench_sim_truth

            bench_sim_truth.main(["--out", str(a.sim[0])])
            if a.sim_city and len(a.sim) > 1:
                city_args = ["--sim", str(a.sim_city), "--size", "city"]
                city_args += ["--domains", "disputes,dispute_cases"]
                bench_sim_truth.main(["--out", str(a.sim[1]), *city_args])
    parts = [
        "# Benchmarks: models\n",
        "Produced by `bench/report.py` from the runs below (`make benchmarks` runs "
        "`python bench/report.py --run ...` through bench/run_all.py); every figure comes from "
        "the run folder and command named in its section.\n",
    ]
    if a.chicago:
        parts.append(
            hotspot_section(
                "Chicago aggravated assaults: weekly forecasts 2016-2017, 250 m cells",
                *_load(a.chicago),
            )
        )
        parts.append(untouched_year_section(a.chicago, "2017-01-01"))
        if (a.oracles / "oracles.json").exists():
            import bench_oracles

            oracles = json.loads((a.oracles / "oracles.json").read_text())
            parts.append(bench_oracles.section_markdown(oracles))
    if a.chicago_daily:
        parts.append(
            hotspot_section(
                "Chicago aggravated assaults: daily forecasts 2016 Q1", *_load(a.chicago_daily)
            )
        )
    if a.chicago_daily_full:
        pooled_path = a.chicago_daily_full / "pooled.json"
        if pooled_path.exists():
            parts.append(pooled_daily_section(json.loads(pooled_path.read_text())))
        else:
            parts.append(
                hotspot_section(
                    "Chicago aggravated assaults: daily forecasts 2016-2017",
                    *_load(a.chicago_daily_full),
                )
            )
    else:
        parts.append(
            "Daily forecasts over every day of 2016-2017 are not in this run (heavy): "
            "`python bench/bench_backtest.py chicago --daily-full --out DIR` runs them, or "
            "`bench/report.py --run --chicago-daily-full DIR ...`.\n"
        )
    if a.hongkong:
        metrics, bench = _load(a.hongkong)
        unc_path = a.hongkong / "uncertainty.json"
        unc = json.loads(unc_path.read_text()) if unc_path.exists() else None
        parts.append(geohazard_section(metrics, bench, unc))
    if a.threegorges:
        import bench_threegorges

        tg = json.loads((a.threegorges / "threegorges.json").read_text())
        parts.append(bench_threegorges.section_markdown(tg))
    for folder in a.sim:
        import bench_sim_truth

        sim = json.loads((folder / "sim_truth.json").read_text())
        parts.append(bench_sim_truth.section_markdown(sim))
    parts.append(
        include_section(
            a.geohazard_sites,
            "## The simulated city: geohazard sites\n\n"
            f"Not in this run: the section is included from `{a.geohazard_sites.name}` "
            "(docs/_sections/, written by bench/bench_geohazard_sites.py) when present.\n",
        )
    )
    tries = ROOT / "docs" / "_sections" / "chicago_tries.md"
    if tries.exists():
        parts.append(
            "## Chicago: tuning history\n\nWhat was tried to raise the Chicago PAI@5% (a 2016 "
            "proxy, ten variants, and a 2-year-window full run) is in "
            "[_sections/chicago_tries.md](_sections/chicago_tries.md): earlier runs with their "
            "own commands, not rerun by this report.\n"
        )
    if a.tail and a.tail.exists():
        parts.append(a.tail.read_text())
    a.out.write_text("\n".join(parts))
    sys.stdout.write(f"wrote {a.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
