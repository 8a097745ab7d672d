"""Write the models section of the benchmarks (docs/benchmarks-models.md) from bench runs.

    .venv/bin/python bench/report.py --chicago var/bench/chicago_weekly \\
        [--chicago-daily var/bench/chicago_daily] [--chicago-daily-full DIR] \\
        [--hongkong var/bench/hongkong] [--threegorges var/bench/threegorges] \\
        [--sim var/bench/sim_truth [--sim DIR2 --sim-city SIMULATION]] \\
        [--cities var/bench/cities] [--run] [--keep] [--out docs/benchmarks-models.md]

With ``--run`` the benchmarks are run first (bench/bench_backtest.py, bench/bench_hongkong.py,
bench/bench_threegorges.py, bench/bench_sim_truth.py); otherwise the folders' JSON files
(``metrics.json``, ``bench.json``, ``hongkong.json``, ``threegorges.json``,
``sim_truth.json``) are read. Those folders live under ``var/`` (not in the repository).

Sections kept as text in the repository (docs/_sections/, included verbatim whenever the
file is present, so edit them there, not in the output): the note on how the cell figures
count (``how_counted.md``, under the title), the multi-city suite (``cities.md``, written
by bench/bench_cities.py; with ``--run --cities DIR`` it is run first), the other sources
(``new_sources.md``), the feedback loop (``feedback.md``) and the geohazard-site section
(``geohazard_sites.md``: kept by hand; bench/bench_geohazard_sites.py ``--markdown FILE``
writes one run's tables, which are pasted into it with their command, time and load).

An existing output document is merged, not overwritten (``--fresh`` overwrites it):
its sections (``## `` headings) that this run does not write are kept as they are, so one
section can be re-run alone, and in a section this run writes, each ``### `` subsection of
the old document whose heading the new text lacks (a hand-written note, an earlier run
kept for the record, a subsection written by a run not repeated) is kept at its place.
To drop such a subsection for good, delete it from the output document (and from its
docs/_sections file if it is one).
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
        "in cells with no event known before their window's origin (outside the active area), "
        "misses for every "
        "method."
    )
    if "hit_rate_active_area@0.05" in x:
        line += (
            " Counted over the active area only (those left out; not comparable with "
            f"published figures), xgboost would read HR@5% {x['hit_rate_active_area@0.05']:.3f} "
            f"and PAI@5% {x['pai_active_area@0.05']:.2f} (metrics.json `*_active_area`)."
        )
    return [line, ""]


def untouched_year_section(
    folder: Path, since: str, n_boot: int = 1000, what: str = "this backtest"
) -> str:
    """The weekly run's windows from ``since`` on: the design (inputs, grid, early stopping)
    was chosen on 2016 origins (docs/_sections/chicago_tries.md), so 2017 is the part of
    the published backtest that no choice looked at. ``what``: the run, in words."""
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
        f"was tried'), inside {what}'s period. The "
        f"{res['n_windows_pooled']} windows from {since} on were not looked at for any "
        "choice; on them alone (bootstrap over those windows, paired):",
        "",
    ]
    lines += [
        f"- PAI@5% xgboost - {b}: {v['diff']:+.3f} (paired 95% CI [{v['ci'][0]:+.3f}, "
        f"{v['ci'][1]:+.3f}])"
        for b, v in sorted(paired.items())
    ]
    lines += ["", untouched_verdict(res), ""]
    lines.append(
        f"Computed by `bench/report.py` from the run folder `{_rel(folder)}` (its "
        "`scores.parquet` and `events_outside_area.parquet`: every event counted), 1000 "
        "paired resamples."
    )
    return "\n".join(lines) + "\n"


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def untouched_verdict(res: dict[str, Any]) -> str:
    """One honest sentence on the untouched windows: does the paired CI of the model minus
    the best baseline there (highest PAI@5% on those windows) exclude zero?"""
    paired = res["model_minus_baseline_pooled"]
    best = max(paired, key=lambda b: res["pai@0.05"][b])
    lo, hi = paired[best]["ci"]
    head = (
        f"On these windows alone, xgboost minus the best baseline `{best}` at PAI@5% is "
        f"{paired[best]['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}]: "
    )
    from models.metrics import paired_verdict

    word = paired_verdict(paired[best]["diff"], lo, hi)
    if word == "win":
        return head + "win: the CI lies above zero, so the gain holds on the untouched windows."
    if word == "loss":
        return head + "loss: the CI lies below zero: worse beyond noise on the untouched windows."
    return head + (
        f"{word}: **the CI includes zero**: on the windows no choice looked at, the model is "
        "not distinguishable from it; the gain over the whole period is not confirmed there "
        "alone."
        + (" On the point estimate the model is behind it." if word == "tie, point below" else "")
    )


def hotspot_section(title: str, metrics: dict[str, Any], bench: dict[str, Any]) -> str:
    """Markdown table of HR / PAI / PEI at 1, 5, 10% per method with CIs."""
    m = metrics["methods"]
    lines = [
        f"## {title}",
        "",
        f"{metrics['n_origins']} forecast origins x {metrics['n_active_cells']} active cells "
        f"(at each origin the cells with an event known before it); objective `{metrics.get('objective')}`, "
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


def pooled_daily_section(pooled: dict[str, Any]) -> str:
    """Chicago daily 2016-2017 pooled from quarterly runs (bench_backtest --daily-full)."""
    m = pooled["methods"]
    cells = pooled["n_active_cells"]
    quarters = pooled.get("quarters") or []
    partial = (
        f" (only the quarters starting {', '.join(quarters)} finished: **not the whole "
        "2016-2017 period**)"
        if quarters and len(quarters) < 8
        else ""
    )
    lines = [
        "## Chicago aggravated assaults: daily forecasts 2016-2017 (quarterly runs pooled)",
        "",
        f"{pooled['n_origins']} daily origins in {pooled['n_runs']} quarterly backtests"
        f"{partial} (one "
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
CITIES_MD = ROOT / "docs" / "_sections" / "cities.md"
NEW_SOURCES_MD = ROOT / "docs" / "_sections" / "new_sources.md"
FEEDBACK_MD = ROOT / "docs" / "_sections" / "feedback.md"
HOW_COUNTED_MD = ROOT / "docs" / "_sections" / "how_counted.md"


def split_level2(text: str) -> list[tuple[str, str]]:
    """(heading, text) of each ``## `` section of a markdown document, in order; the text
    before the first one has the heading ``""``."""
    out: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines(keepends=True):
        if line.startswith("## "):
            out.append((line.strip(), []))
        out[-1][1].append(line)
    return [(h, "".join(body)) for h, body in out if h or "".join(body).strip()]


STALE_COUNT_NOTE = (
    "**Counted over the active area only**: this section comes from a run before the "
    "standard count (events in cells with no earlier event left out, which reads higher); "
    "re-run it (`bench/report.py --run ...`) for every event counted.\n\n"
)


def flag_stale_counting(body: str) -> str:
    """A kept hotspot section written before the standard count (it names active cells but
    not how events are counted) gets :data:`STALE_COUNT_NOTE` under its heading."""
    if (
        ("active cells" not in body and "active area" not in body)
        or "every event of a window count" in body.lower()  # counts / counted
        or STALE_COUNT_NOTE in body
        or "counted over the active area only**" in body.lower()  # flagged already
        or "every landslide counts" in body
    ):
        return body
    head, _, rest = body.partition("\n\n")
    return f"{head}\n\n{STALE_COUNT_NOTE}{rest}"


def split_level3(section: str) -> list[tuple[str, str]]:
    """(heading, text) of each ``### `` subsection of one ``## `` section, in order; the text
    before the first one (the ``## `` heading and its paragraphs) has the heading ``""``.
    Lines inside fenced code blocks never start a subsection."""
    out: list[tuple[str, list[str]]] = [("", [])]
    fenced = False
    for line in section.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("### "):
            out.append((line.strip(), []))
        out[-1][1].append(line)
    return [(h, "".join(body)) for h, body in out]


def keep_subsections(old: str, new: str) -> str:
    """``new`` (one ``## `` section) with every ``### `` subsection of ``old`` (the same
    section as the document had it) whose heading ``new`` lacks, each placed after the
    subsection that preceded it in ``old`` (after the section's opening if none did)."""
    new_parts = split_level3(new)
    have = {h for h, _ in new_parts}
    merged = list(new_parts)
    prev = ""
    for h, body in split_level3(old):
        if h and h not in have:
            at = next(j for j, (mh, _) in enumerate(merged) if mh == prev) + 1
            if not merged[at - 1][1].endswith("\n\n"):
                merged[at - 1] = (merged[at - 1][0], merged[at - 1][1].rstrip("\n") + "\n\n")
            merged.insert(at, (h, body))
            have.add(h)
        if h in have:
            prev = h
    return "".join(body for _, body in merged)


def merge_kept(old: str, new: str) -> str:
    """``new``'s sections, with the sections of ``old`` it does not have kept in place (a
    new section missing from ``old`` goes before the next section of ``new`` that ``old``
    has, else at the end); in a section both have, ``old``'s subsections that ``new``
    lacks are kept (:func:`keep_subsections`)."""
    new_parts = split_level2(new)
    new_map = dict(new_parts)
    merged = [
        (h, keep_subsections(body, new_map[h]) if h and h in new_map else
         new_map.get(h, flag_stale_counting(body)))
        for h, body in split_level2(old)
    ]  # fmt: skip
    have = {h for h, _ in merged}
    for i, (h, body) in enumerate(new_parts):
        if h in have:
            continue
        after = [nh for nh, _ in new_parts[i + 1 :] if nh in have and nh]
        at = next((j for j, (mh, _) in enumerate(merged) if after and mh == after[0]), len(merged))
        merged.insert(at, (h, body))
        have.add(h)
    return "".join(body if body.endswith("\n") else body + "\n" for _, body in merged)


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
    p.add_argument(
        "--cities",
        type=Path,
        help="folder of bench/bench_cities.py runs (with --run: run first); the section is "
        "docs/_sections/cities.md",
    )
    p.add_argument(
        "--new-sources",
        type=Path,
        help="folder of bench/bench_new_sources.py (with --run: run first); the section is "
        "docs/_sections/new_sources.md",
    )
    p.add_argument(
        "--feedback",
        type=Path,
        help="folder of bench/bench_feedback.py (with --run: run first); the section is "
        "docs/_sections/feedback.md, the plot docs/feedback_loop.png",
    )
    p.add_argument("--run", action="store_true", help="run the benchmarks first")
    p.add_argument(
        "--keep",
        action="store_true",
        help="(the default) merge into the existing document: keep its sections this run "
        "does not write and its subsections this run's sections lack",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="overwrite the output document with this run's sections only",
    )
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-models.md")
    p.add_argument("--tail", type=Path, help="markdown appended verbatim (notes, earlier tries)")
    a = p.parse_args(argv)
    a.keep = not a.fresh
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
        if a.cities:
            import bench_cities

            bench_cities.main(["--out", str(a.cities), "--section", str(CITIES_MD)])
        if a.new_sources:
            import bench_new_sources

            bench_new_sources.main(["--out", str(a.new_sources), "--section", str(NEW_SOURCES_MD)])
        if a.feedback:
            import bench_feedback

            bench_feedback.main(["--out", str(a.feedback), "--section", str(FEEDBACK_MD)])
        if a.hongkong:
            import bench_hongkong

            bench_hongkong.main(["--out", str(a.hongkong)])
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
        "the run folder and command named in its section. The run folders live under `var/` "
        "(not in the repository); the sections kept as text are in `docs/_sections/` "
        "(edit them there: they are included verbatim), and a regeneration keeps this "
        "document's sections it does not write and the hand-written `###` subsections its "
        "sections lack (`--fresh` drops both; bench/report.py's docstring).\n",
    ]
    if HOW_COUNTED_MD.exists():
        parts.append(HOW_COUNTED_MD.read_text())
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
    elif not a.keep:
        parts.append(
            "Daily forecasts over every day of 2016-2017 are not in this run (heavy): "
            "`python bench/bench_backtest.py chicago --daily-full --out DIR` runs them, or "
            "`bench/report.py --run --chicago-daily-full DIR ...`.\n"
        )
    for given, path in (
        (a.cities, CITIES_MD),
        (a.new_sources, NEW_SOURCES_MD),
        (a.feedback, FEEDBACK_MD),
    ):
        if path.exists():
            parts.append(path.read_text())
            if path == CITIES_MD and given and (given / "chicago" / "scores.parquet").exists():
                parts.append(  # the blended default on Chicago's untouched year
                    untouched_year_section(
                        given / "chicago", "2017-01-01", what="the multi-city Chicago run"
                    ).replace("### Only", "### Chicago (multi-city run): only", 1)
                )
    if a.hongkong:
        from hongkong_section import section_markdown

        parts.append(section_markdown(json.loads((a.hongkong / "hongkong.json").read_text())))
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
            "## Chicago: tuning history\n\n*Predates 2026-12-06's one-scored-area change "
            "(branch h-active), not re-run: its hotspot rows were the cells active at the "
            "backtest start, at every training and evaluation origin (what the change moves: "
            "the multi-city and simulated-city (small) re-runs in this file).*\n\nWhat was tried to raise the Chicago PAI@5% (a 2016 "
            "proxy, ten variants, and a 2-year-window full run) is in "
            "[_sections/chicago_tries.md](_sections/chicago_tries.md): earlier runs with their "
            "own commands, not rerun by this report.\n"
        )
    if a.tail and a.tail.exists():
        parts.append(a.tail.read_text())
    text = "\n".join(parts)
    if a.keep and a.out.exists():
        text = merge_kept(a.out.read_text(), text)
    a.out.write_text(text)
    sys.stdout.write(f"wrote {a.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
