"""New information (issue 17.3): the same hotspot model with and without each other source.

    .venv/bin/python bench/bench_new_sources.py [--out var/bench/new_sources]
        [--sim var/bench/sim_small] [--only sim,portland] [--section FILE]

Two test beds, one protocol each, the model (``xgboost`` as trained and served: the
booster blended with a stacked baseline input, ``models.backtest.Blend``, the default
``ModelConfig.blend``; default inputs) run once per variant on the same origins and cells; only the ``ctx_*`` inputs of
:mod:`features.context` differ:

* **simulated city** (``riskwarn simulate --size small --seed 7``): forecast violent
  incidents (``violent`` + ``serious_violent``) weekly over the second half of the year.
  Sources: the dispute register (new disputes, failed mediations, escalations, repeat
  parties; pseudonymised party ids only) and dispute-like calls (the public-order
  incidents: disturbance, noise, provocation, drugs). In the simulator, failed mediations
  and escalations set off violent incidents nearby (docs/simulation.md): the truth says
  how many, so a gain is measurable against it.
* **Portland** (calls for service, Aug-Sep 2016): forecast the calls that are not
  dispute-like, daily over September; source: the dispute-like calls (the file's
  ``dispute_proxy`` flag, a function of ``case_desc``).
* **dispute escalation on the simulated city** (``cases``): the case model (escalation of
  an open dispute within 30 days) without and with the incidents near the case's cell
  (all incidents and violent ones, 7 and 28 days, cell and ring:
  :func:`features.context.join_case_context`). The simulator's escalation hazard does
  not depend on incidents (docs/simulation.md), so the truth says the gain is zero here:
  the bed checks that the inputs cost nothing and leak nothing.

For each variant: PAI@5 % and HR@5 % (every event of a window counted) and the paired
bootstrap CI (over forecast windows) of the difference with the variant without the
source (for cases: average precision, bootstrap over cases: a case's rows at every
origin drawn together). Writes
``<out>/new_sources.json`` and the markdown section docs/_sections/new_sources.md
(included by bench/report.py); a bed not run (``--only``) keeps its subsection of the
existing section file, with its own command line.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
DATA = Path(os.environ.get("RISKWARN_SHARED_DATA", ROOT.parent / "shared" / "data"))
SECTION = ROOT / "docs" / "_sections" / "new_sources.md"
PORTLAND = DATA / "portland" / "portland_cfs_2016_aug_sep.csv.gz"
DISPUTE_LIKE_SIM = ("disturbance", "noise", "provocation", "drugs")  # public_order incidents


def _run(events: pd.DataFrame, spec: Any, context: pd.DataFrame | None) -> dict[str, Any]:
    """One backtest; the model's per-window hit table (every event counted) and metrics."""
    from models.backtest import KEYS
    from models.hotspot_backtest import run_hotspot_backtest
    from models.metrics import hotspot_windows

    res = run_hotspot_backtest(events, spec, context=context)
    labels = res.frame[res.frame["origin"].isin(res.eval_origins)][[*KEYS, "label_count"]]
    model = res.scores[res.scores["method"] == "xgboost"].merge(labels, on=KEYS)
    windows = hotspot_windows(model, outside=res.outside).sort_values("origin")
    m = res.metrics["methods"]
    return {
        "windows": windows.reset_index(drop=True),
        "xgboost": {k: m["xgboost"][k] for k in ("pai@0.05", "hit_rate@0.05", "pai@0.01", "auc")},
        "best_baseline": res.metrics["best_baseline"],
        "baseline_pai@0.05": m[res.metrics["best_baseline"]]["pai@0.05"],
        "n_origins": res.metrics["n_origins"],
        "n_cells": res.metrics["n_active_cells"],
        "events": m["xgboost"]["events"],
        "features": len(res.features),
        "total_s": res.timings_s["total_s"],
        "blends": res.metrics.get("blends"),
    }


def compare(events: pd.DataFrame, spec: Any, sources: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """The model without any source, with each source alone and with all of them."""
    from models.metrics import hotspot_statistic, paired_bootstrap_diff

    variants: dict[str, pd.DataFrame | None] = {"none": None, **sources}
    if len(sources) > 1:
        variants["all"] = pd.concat(sources.values(), ignore_index=True)
    runs = {name: _run(events, spec, ctx) for name, ctx in variants.items()}
    base = runs["none"]["windows"]
    out: dict[str, Any] = {}
    for name, r in runs.items():
        row = {k: v for k, v in r.items() if k != "windows"}
        if name != "none":
            for metric in ("pai", "hit_rate"):
                d, lo, hi = paired_bootstrap_diff(
                    r["windows"], base, hotspot_statistic(metric, 0.05), n_boot=2000
                )
                row[f"{metric}@0.05_diff"] = {"diff": d, "ci": [lo, hi]}
        out[name] = row
    return out


def sim_bed(sim: Path) -> dict[str, Any]:
    """Violent incidents of the simulated city with disputes and dispute-like calls."""
    from bench_sim_truth import ensure_sim, read_extracts

    from features.cells import assign_cells
    from features.context import call_context_points, dispute_context_points
    from models.backtest import ModelConfig
    from models.hotspot_backtest import HotspotBacktestSpec

    ensure_sim(sim)
    meta = json.loads((sim / "simulation.json").read_text())
    crs, size = meta["crs"], float(meta["cell_size_m"])
    inc = read_extracts(sim, "sim_incidents.yaml", "incidents.*.csv.gz")
    inc = assign_cells(inc, crs, size).dropna(subset=["cell_x", "cell_y"])
    disputes = assign_cells(read_extracts(sim, "sim_disputes.yaml", "disputes.csv"), crs, size)
    devents = read_extracts(sim, "sim_dispute_events.yaml", "dispute_events.csv")
    violent = inc[inc["category_group"].isin(["violent", "serious_violent"])]
    calls = inc[inc["category"].isin(DISPUTE_LIKE_SIM)]
    sources = {
        "disputes": dispute_context_points(disputes, devents),
        "calls": call_context_points(calls),
    }
    start = pd.Timestamp(meta["start"]) + pd.Timedelta(days=182)
    end = pd.Timestamp(meta["end"]) - pd.Timedelta(days=7)
    spec = HotspotBacktestSpec(
        crs=crs, cell_size_m=size, tz=meta["timezone"], start=start, end=end,
        holiday_country="CN", horizon_days=7, step_days=7, train_step_days=7,
        model=ModelConfig(train_window_days=168, es_origins=4, cal_origins=2, refit_every_days=28),
    )  # fmt: skip
    truth = pd.read_parquet(sim / "truth" / "truth_incidents.parquet")
    v = truth.merge(violent[["record_id"]], on="record_id")
    late = v[pd.to_datetime(v["true_occurred_at"], utc=True) >= start.tz_localize(meta["timezone"])]
    res = compare(violent, spec, sources)
    res["truth"] = {
        "violent_incidents": len(v),
        "violent_from_disputes": int(v["from_dispute"].sum()),
        "violent_in_evaluation": len(late),
        "violent_from_disputes_in_evaluation": int(late["from_dispute"].sum()),
        "kappa": meta["incident_process"].get("dispute_trigger_kappa"),
        "tau_days": meta["incident_process"].get("dispute_tau_days"),
    }
    res["protocol"] = (
        f"violent incidents, weekly origins {start.date()} .. {end.date()}, 250 m cells, "
        "training window 168 days, refit every 28 days"
    )
    return res


def cases_bed(sim: Path) -> dict[str, Any]:
    """Dispute escalation (30 days) without and with incidents near the case."""
    from bench_sim_truth import ensure_sim, read_extracts
    from sklearn.metrics import average_precision_score, roc_auc_score

    from features.cells import assign_cells
    from features.context import ContextParams, call_context_points, join_case_context
    from models.case_models import (
        CaseModelConfig,
        build_case_table,
        case_bootstrap_diff,
        case_features,
        run_case_backtest,
        weekly_origins,
    )

    ensure_sim(sim)
    meta = json.loads((sim / "simulation.json").read_text())
    crs, size, tz = meta["crs"], float(meta["cell_size_m"]), meta["timezone"]
    inc = read_extracts(sim, "sim_incidents.yaml", "incidents.*.csv.gz")
    inc = assign_cells(inc, crs, size).dropna(subset=["cell_x", "cell_y"])
    disputes = read_extracts(sim, "sim_disputes.yaml", "disputes.csv")
    devents = read_extracts(sim, "sim_dispute_events.yaml", "dispute_events.csv")
    config = CaseModelConfig(tz=tz, train_window_days=364)
    first = pd.Timestamp(disputes["opened_at"].min()).tz_convert(tz).tz_localize(None)
    last_day = pd.Timestamp(devents["event_at"].max()).tz_convert(tz).tz_localize(None)
    last = last_day.normalize() - pd.Timedelta(days=config.horizon_days)
    origins = weekly_origins(first + pd.Timedelta(days=7), last, config.step_days, tz)
    table = build_case_table(
        disputes, devents, origins, crs=crs, cell_size_m=size, tz=tz, horizon_days=30
    )
    points = pd.concat(
        [
            call_context_points(inc, kind="incidents"),
            call_context_points(
                inc[inc["category_group"].isin(["violent", "serious_violent"])],
                kind="incidents_violent",
            ),
        ],
        ignore_index=True,
    )
    start = pd.Timestamp(meta["start"]) + pd.Timedelta(days=182)
    eval_origins = origins[origins >= start.tz_localize(tz).tz_convert("UTC")]
    tables = {
        "none": table,
        "incidents": join_case_context(
            table, points, ContextParams(tz=tz), ["incidents", "incidents_violent"]
        ),
    }
    runs: dict[str, pd.DataFrame] = {}
    out: dict[str, Any] = {}
    gate_rows: dict[str, pd.DataFrame] = {}
    for name, t in tables.items():
        t0 = time.perf_counter()
        bt = run_case_backtest(t, eval_origins, config)
        runs[name] = bt.scores[bt.scores["method"] == "xgboost"]
        if name == "none":
            gate_rows = {m: g for m, g in bt.scores.groupby("method")}
        y, sc = runs[name]["label"].to_numpy(), runs[name]["score"].to_numpy()
        out[name] = {
            "features": len(case_features(t)),
            "ap": float(average_precision_score(y, sc)),
            "auc": float(roc_auc_score(y, sc)),
            "rows": len(y),
            "base_rate": float(y.mean()),
            "n_origins": int(runs[name]["origin"].nunique()),
            "total_s": time.perf_counter() - t0,
        }
    out["incidents"]["ap_diff"] = case_bootstrap_diff(
        runs["incidents"], runs["none"], average_precision_score, n_boot=2000
    )
    out["incidents"]["auc_diff"] = case_bootstrap_diff(
        runs["incidents"], runs["none"], roc_auc_score, n_boot=2000
    )
    # what the gate reads: the model minus the failed-mediation rule (AP), case bootstrap
    out["none"]["vs_failed_mediations"] = case_bootstrap_diff(
        gate_rows["xgboost"], gate_rows["failed_mediations"], average_precision_score, n_boot=2000
    )
    out["none"]["cases"] = int(runs["none"]["dispute_id"].nunique())
    out["protocol"] = (
        f"open disputes not yet escalated, weekly origins {eval_origins[0].date()} .. "
        f"{eval_origins[-1].date()}, escalation within 30 days, training window 364 days, "
        "refit every 28 days"
    )
    return out


def portland_bed() -> dict[str, Any]:
    """Portland calls other than dispute-like ones, with the dispute-like calls as source."""
    from features.cells import assign_cells
    from features.context import call_context_points
    from models.backtest import ModelConfig
    from models.hotspot_backtest import HotspotBacktestSpec
    from riskwarn.commands.backtest import read_source

    raw = pd.read_csv(PORTLAND, usecols=["case_desc", "dispute_proxy"])
    flagged = raw.loc[raw["dispute_proxy"].astype(str) == "True", "case_desc"].astype(str)
    dispute_cats = set(
        flagged.str.strip().str.lower().str.replace(r"[^0-9a-z]+", "_", regex=True).str.strip("_")
    )
    calls, tz = read_source(ROOT / "configs" / "sources" / "portland_calls.yaml", PORTLAND)
    calls = assign_cells(calls, "EPSG:32610", 250.0).dropna(subset=["cell_x", "cell_y"])
    is_dispute = calls["category"].isin(dispute_cats)
    spec = HotspotBacktestSpec(
        crs="EPSG:32610", cell_size_m=250.0, tz=tz, start=pd.Timestamp("2016-09-01"),
        end=pd.Timestamp("2016-09-30"), holiday_country="US", horizon_days=1, step_days=1,
        train_step_days=1,
        model=ModelConfig(train_window_days=56, refit_every_days=7),
    )  # fmt: skip
    res = compare(calls[~is_dispute], spec, {"calls": call_context_points(calls[is_dispute])})
    res["protocol"] = (
        f"calls that are not dispute-like ({int((~is_dispute).sum())}), daily origins "
        f"2016-09-01 .. 2016-09-30; source: {int(is_dispute.sum())} dispute-like calls "
        f"({len(dispute_cats)} case types)"
    )
    return res


def _ci(d: dict[str, Any], nd: int = 3) -> str:
    lo, hi = d["ci"]
    return f"{d['diff']:+.{nd}f} [{lo:+.{nd}f}, {hi:+.{nd}f}]"


def section_markdown(res: dict[str, Any]) -> str:
    """Markdown of ``new_sources.json``."""
    names = {"none": "without other sources", "disputes": "+ disputes",
             "calls": "+ dispute-like calls", "all": "+ disputes + calls"}  # fmt: skip
    lines = [
        "## New information: other sources as leading indicators (issue 17.3)",
        "",
        "The same model (`xgboost` as trained and served: the booster blended with a "
        "stacked baseline input, `models.backtest.Blend`; default inputs) run once without and once with each other "
        "source's recent activity per cell and ring of 8 neighbours (`ctx_*` inputs, "
        "features/context.py: new disputes, failed mediations, escalations, "
        "disputes with a repeat party (pseudonyms only), dispute-like calls; 7 and 28 days "
        "before the origin). Every event of a window counted; paired 95% CI: bootstrap over "
        "forecast windows (2000 resamples), both variants on the same resamples.",
        "",
    ]
    for bed, title in BEDS:
        r = res.get(bed)
        if not r:
            continue
        if isinstance(r, str):  # a subsection kept from an earlier run
            lines += [r.rstrip(), ""]
            continue
        if r.get("skipped"):
            lines += [f"### {title}", "", f"Skipped: {r['skipped']}", ""]
            continue
        if bed == "cases":
            lines += [*_cases_markdown(title, r), _produced(r), ""]
            continue
        none = r["none"]
        lines += [
            f"### {title}",
            "",
            f"{r['protocol']}; {none['n_origins']} origins x {none['n_cells']} cells, "
            f"{none['events']:.0f} events. Best baseline without other sources: "
            f"`{none['best_baseline']}` PAI@5% {none['baseline_pai@0.05']:.2f}.",
            "",
        ]
        t = r.get("truth")
        if t:
            lines += [
                f"Truth: {t['violent_from_disputes']} of the {t['violent_incidents']} violent "
                f"incidents of the year ({100 * t['violent_from_disputes'] / max(t['violent_incidents'], 1):.1f}%) "
                "were set off by a dispute event (directly or as a near repeat of one); "
                f"{t['violent_from_disputes_in_evaluation']} of {t['violent_in_evaluation']} in "
                f"the evaluation half. Strength: kappa {t['kappa']} incidents per event, delay "
                f"Exp(mean {t['tau_days']} days).",
                "",
            ]
        lines += [
            "| variant | inputs | PAI@5% | HR@5% | AUC | PAI@5% minus without [95% CI] | "
            "HR@5% minus without [95% CI] |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, v in r.items():
            if name not in names:
                continue
            x = v["xgboost"]
            d_pai = _ci(v["pai@0.05_diff"]) if "pai@0.05_diff" in v else ""
            d_hr = _ci(v["hit_rate@0.05_diff"], 4) if "hit_rate@0.05_diff" in v else ""
            lines.append(
                f"| {names[name]} | {v['features']} | {x['pai@0.05']:.3f} | "
                f"{x['hit_rate@0.05']:.4f} | {x['auc']:.3f} | {d_pai} | {d_hr} |"
            )
        lines.append("")
        for name, v in r.items():
            if name in names and v.get("blends"):
                lines.append(
                    f"Blend chosen at each refit, {names[name]}: {', '.join(str(b) for b in v['blends'])}."
                )
        lines += ["", _produced(r), ""]
    return "\n".join(lines)


BEDS = (
    ("sim", "Simulated city (small, seed 7)"),
    ("portland", "Portland"),
    ("cases", "Dispute escalation on the simulated city: incidents near the case"),
)


def _produced(r: dict[str, Any]) -> str:
    extra = ""
    if r.get("commit"):
        extra += f", code of {r['commit']}"
    if r.get("load"):
        extra += f", load average {r['load'][0]:.1f} at start, {r['load'][1]:.1f} at end"
    return f"Produced by `{r['command']}` ({r['wall_s']:.0f} s wall, {r['when']}{extra})."


def _commit() -> str:
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip()
    except OSError:
        return ""


def _cases_markdown(title: str, r: dict[str, Any]) -> list[str]:
    none, inc = r["none"], r["incidents"]
    return [
        f"### {title}",
        "",
        f"{r['protocol']}; {none['n_origins']} origins, {none['rows']} case x origin rows, "
        f"base rate {100 * none['base_rate']:.2f}%. Inputs added: incidents (all, and violent "
        "ones) in the case's cell and its ring of 8 cells over the 7 and 28 days before the "
        "origin. The simulator's escalation hazard does not use incidents, so the true gain "
        "is zero: this checks that the inputs cost nothing.",
        "",
        "| variant | average precision | AUC | AP minus without [95% CI] | "
        "AUC minus without [95% CI] |",
        "|---|---|---|---|---|",
        f"| without incidents | {none['ap']:.4f} | {none['auc']:.4f} | | |",
        f"| + incidents near the case | {inc['ap']:.4f} | {inc['auc']:.4f} | "
        f"{_ci(inc['ap_diff'], 4)} | {_ci(inc['auc_diff'], 4)} |",
        "",
        f"95% CIs: paired bootstrap over the {none.get('cases', '?')} cases (2000 resamples; "
        "a case's rows at every origin drawn together: a case stays open over several weekly "
        "origins and one escalation labels up to four of them). The gate's comparison on the "
        "same rows, the model (without incidents) minus the failed-mediation rule, AP: "
        + (_ci(none["vs_failed_mediations"], 4) if "vs_failed_mediations" in none else "n/a")
        + ".",
        "",
    ]


def kept_subsections(path: Path) -> dict[str, str]:
    """The ``### `` subsections of an existing section file, by bed."""
    if not path.exists():
        return {}
    out: dict[str, str] = {}
    for chunk in path.read_text().split("\n### ")[1:]:
        head = chunk.splitlines()[0].strip()
        for bed, title in BEDS:
            if head == title:
                out[bed] = "### " + chunk.rstrip() + "\n"
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "new_sources")
    p.add_argument("--sim", type=Path, default=ROOT / "var" / "bench" / "sim_small")
    p.add_argument("--only", default="sim,portland,cases")
    p.add_argument("--section", type=Path, default=SECTION)
    a = p.parse_args(argv)
    # simulated parties are pseudonymised with a throw-away key (never stored)
    os.environ.setdefault("RISKWARN_PSEUDONYM_KEY", secrets.token_hex(32))
    beds = {b.strip() for b in a.only.split(",") if b.strip()}
    command = (
        "python bench/bench_new_sources.py"
        + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    )
    kept = kept_subsections(a.section)
    res: dict[str, Any] = {}
    for bed, _ in BEDS:
        if bed not in beds:
            if bed in kept:
                res[bed] = kept[bed]
            continue
        t0, load0, commit = time.perf_counter(), os.getloadavg()[0], _commit()
        if bed == "sim":
            res[bed] = sim_bed(a.sim)
        elif bed == "cases":
            res[bed] = cases_bed(a.sim)
        else:
            res[bed] = portland_bed() if PORTLAND.exists() else {"skipped": f"{PORTLAND} not found"}
        res[bed]["wall_s"] = time.perf_counter() - t0
        res[bed]["load"] = [load0, os.getloadavg()[0]]
        res[bed]["commit"] = commit  # the code as the bed started
        res[bed]["command"] = command
        res[bed]["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    a.out.mkdir(parents=True, exist_ok=True)
    from riskwarn.commands.backtest import write_json

    write_json(a.out / "new_sources.json", res)
    text = section_markdown(res)
    a.section.parent.mkdir(parents=True, exist_ok=True)
    a.section.write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
