"""Write the models section of the benchmarks (docs/benchmarks-models.md) from bench runs.

    .venv/bin/python bench/report.py --chicago var/bench/chicago_weekly \\
        [--chicago-daily var/bench/chicago_daily] [--hongkong var/bench/hongkong] \\
        [--run] [--out docs/benchmarks-models.md]

With ``--run`` the backtests are run first (bench/bench_backtest.py); otherwise the
folders' ``metrics.json`` (and ``bench.json`` wall times) are read. Every figure in the
document comes from those files.
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
        "| method | HR@1% | HR@5% [CI] | HR@10% | PAI@1% [CI] | PAI@5% [CI] | PAI@10% [CI] "
        "| PEI@5% | AUC |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in sorted(m, key=lambda k: -m[k]["pai@0.05"]):
        v = m[name]

        def ci(key: str, v: dict[str, Any] = v) -> str:
            lo, hi = v[key]
            return f"[{_f(lo)}, {_f(hi)}]"

        lines.append(
            f"| {name} | {_f(v['hit_rate@0.01'], 3)} | {_f(v['hit_rate@0.05'], 3)} "
            f"{ci('hit_rate@0.05_ci')} | {_f(v['hit_rate@0.1'], 3)} | {_f(v['pai@0.01'])} "
            f"{ci('pai@0.01_ci')} | {_f(v['pai@0.05'])} {ci('pai@0.05_ci')} | "
            f"{_f(v['pai@0.1'])} {ci('pai@0.1_ci')} | {_f(v['pei@0.05'])} | "
            f"{_f(v.get('auc'), 3)} |"
        )
    x = m.get("xgboost", {})
    lines += [
        "",
        f"- Best baseline: `{metrics.get('best_baseline')}`; share of the gap from it to the "
        f"ex-post ceiling closed by xgboost: **{_f(metrics.get('gap_closed_share'))}** "
        "(target 0.5).",
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


def geohazard_section(metrics: dict[str, Any], bench: dict[str, Any]) -> str:
    """City-wide >= 1 / >= 10 landslide-day skill per method and per-cell hit rates."""
    lines = [
        "## Hong Kong landslides: daily city-wide nowcasts 2010-2014",
        "",
        "Rain up to the end of the day, landslide records of earlier days only; yearly "
        "refits on earlier years; warning threshold (max TSS) chosen on the two years before "
        "each evaluation year.",
        "",
        "| method | >=1 AUC | AP | Brier | TSS | POD | FAR | >=10 AUC | AP | TSS | POD | FAR |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = sorted(metrics["methods"].items(), key=lambda kv: -kv[1]["any"]["tss"])
    for name, v in rows:
        a, j = v["any"], v["major"]
        lines.append(
            f"| {name} | {_f(a['auc'], 3)} | {_f(a['average_precision'], 3)} | "
            f"{_f(a['brier'], 3)} | {_f(a['tss'], 3)} | {_f(a['pod'], 3)} | {_f(a['far'], 3)} | "
            f"{_f(j['auc'], 3)} | {_f(j['average_precision'], 3)} | {_f(j['tss'], 3)} | "
            f"{_f(j['pod'], 3)} | {_f(j['far'], 3)} |"
        )
    lines.append("")
    ms = metrics["methods"]
    if "xgboost" in ms:
        for target, label in (("any", ">=1"), ("major", ">=10")):
            for key in ("auc", "tss"):
                base = max(
                    (n for n in ms if n != "xgboost"),
                    key=lambda n, t=target, k=key: ms[n][t][k],  # type: ignore[misc]
                )
                b, x = ms[base][target][key], ms["xgboost"][target][key]
                lines.append(
                    f"- {label} {key.upper()}: xgboost {x:.3f} vs best rule `{base}` {b:.3f}; "
                    f"share of the gap to a perfect forecast (1.0) closed: {(x - b) / (1 - b):.2f}"
                )
    cells = metrics.get("cell_hit_rates_on_event_days", {})
    if cells:
        lines += [
            "",
            f"Per 1 km cell on landslide days ({metrics.get('n_active_cells')} "
            "active cells; cell score = day probability x past-landslide share):",
            "",
        ]
        for name, v in sorted(cells.items()):
            lines.append(
                f"- {name}: HR@1% {_f(v['hit_rate@0.01'], 3)}, HR@5% {_f(v['hit_rate@0.05'], 3)}, "
                f"HR@10% {_f(v['hit_rate@0.1'], 3)}, PAI@5% {_f(v['pai@0.05'])}"
            )
    if bench.get("wall_s"):
        lines.append(f"\n- Wall time {bench['wall_s']:.0f} s. Command: `{bench['command']}`")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chicago", type=Path)
    p.add_argument("--chicago-daily", type=Path)
    p.add_argument("--hongkong", type=Path)
    p.add_argument("--run", action="store_true", help="run the backtests first")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-models.md")
    a = p.parse_args(argv)
    if a.run:
        import bench_backtest as bb

        if a.chicago:
            bb.run(bb.chicago_args(a.chicago, daily=False), a.chicago)
        if a.chicago_daily:
            bb.run(bb.chicago_args(a.chicago_daily, daily=True), a.chicago_daily)
        if a.hongkong:
            bb.run(bb.hongkong_args(a.hongkong), a.hongkong)
    parts = ["# Benchmarks: models\n", "Produced by `bench/report.py` from the runs below.\n"]
    if a.chicago:
        parts.append(
            hotspot_section(
                "Chicago aggravated assaults: weekly forecasts 2016-2017, 250 m cells",
                *_load(a.chicago),
            )
        )
    if a.chicago_daily:
        parts.append(
            hotspot_section(
                "Chicago aggravated assaults: daily forecasts 2016 Q1", *_load(a.chicago_daily)
            )
        )
    if a.hongkong:
        parts.append(geohazard_section(*_load(a.hongkong)))
    a.out.write_text("\n".join(parts))
    sys.stdout.write(f"wrote {a.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
