"""Monitored-site geohazard models on the simulated city: backtest and nowcast outcome.

    .venv/bin/python bench/bench_geohazard_sites.py --home DIR [--eval-days 92]
        [--n-boot 1000] [--markdown FILE]

``DIR`` is a riskwarn home whose lake holds the simulated city's geohazard tables
(``hazard_sites``, ``sensors``, ``sensor_readings``, ``hazard_events``, ingested with the
``configs/sources/sim_*.yaml`` mappings). For the site x day (``geohazard``) and site x
hour (``geohazard_hourly``) models it runs the rolling-origin backtest of
:mod:`models.geohazard_sites` over the last ``--eval-days`` of complete labels
and prints, for the model and every baseline: AUC and TSS with 95% CIs (bootstrap over
local days), AP, POD/FAR at the threshold chosen on the training rows, failures warned
and the median lead time.

Nowcast outcome (hourly): the model's out-of-sample probability turned into levels by the
``geohazard_hourly`` thresholds (no hysteresis), combined with the nowcast's sensor rules
(max of the two, as ``riskwarn.nowcast.nowcast_geohazard`` does) against the sensor rules
alone; failures warned orange/red (an episode, held as the nowcast holds a level, in
force when it happens or within 72 h before), median lead time and the false-alarm ratio
of orange/red episodes (``bench_nowcast.evaluate``).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def _fmt(x: float, nd: int = 3) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def method_table(metrics: dict[str, Any]) -> list[str]:
    """Markdown rows: one per method, model first."""
    head = [
        "| method | AUC [95% CI] | TSS [95% CI] | AP | POD | FAR | failures warned | "
        "median lead (h, warned failures) | orange: POD / FAR | orange: failures warned | "
        "orange: mean lead (h, 0 if not warned) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = ["xgboost", *sorted(m for m in metrics["methods"] if m != "xgboost")]
    rows = []
    for m in order:
        v = metrics["methods"][m]
        rows.append(
            f"| {m} | {_fmt(v['auc'])} [{_fmt(v['auc_ci'][0])}, {_fmt(v['auc_ci'][1])}] "
            f"| {_fmt(v['tss'], 2)} [{_fmt(v['tss_ci'][0], 2)}, {_fmt(v['tss_ci'][1], 2)}] "
            f"| {_fmt(v['average_precision'])} | {_fmt(v['pod'], 2)} | {_fmt(v['far'], 2)} "
            f"| {v['failures_warned']}/{v['failures']} | {_fmt(v['median_lead_time_h'], 1)} "
            f"| {_fmt(v.get('pod_orange', math.nan), 2)} / {_fmt(v.get('far_orange', math.nan), 2)} "
            f"| {v.get('failures_warned_orange', 0)}/{v['failures']} "
            f"| {_fmt(v.get('mean_lead_time_orange_h', math.nan), 1)} |"
        )
    return head + rows


LEVEL_NAMES = {1: "blue", 2: "yellow", 3: "orange", 4: "red"}
LEAD_METHODS = ("xgboost", "sensor_rules", "velocity", "inverse_velocity", "tangent_angle")


def level_table(metrics: dict[str, Any], fits: pd.DataFrame) -> list[str]:
    """Markdown: lead time per level for the model and the displacement rules, and the
    paired model-minus-rule mean lead (0 h for a failure not warned at that level)."""
    if "levels" not in metrics:
        return []
    lv = metrics["levels"]
    shares = fits["level_shares"].tolist() if "level_shares" in fits else []
    rate = (
        " / ".join(
            f"{LEVEL_NAMES[k]} {pd.Series([s[k - 1] for s in shares]).median():.5f}"
            for k in range(1, 5)
        )
        if shares
        else "n/a"
    )
    out = [
        "Lead time per level (levels chosen on each refit's training rows; median training "
        f"warning share over refits: {rate}). Per failure: hours from the first origin at "
        "that level or above in the horizon before it; mean over all failures with 0 h for "
        "a failure not warned at that level; FAR over warned rows.",
        "",
        "| method | "
        + " | ".join(f"{LEVEL_NAMES[k]}: warned / mean lead (h) / FAR" for k in range(1, 5))
        + " |",
        "|---|---|---|---|---|",
    ]
    for m in LEAD_METHODS:
        if m not in lv:
            continue
        cells = []
        for k in range(1, 5):
            c = lv[m].get(k, {})
            cells.append(
                f"{c.get('warned', 0):.0f}/{c.get('failures', 0):.0f} / "
                f"{_fmt(c.get('mean_lead_h', math.nan), 1)} / {_fmt(c.get('far_rows', math.nan), 3)}"
            )
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    diffs = metrics.get("lead_model_minus", {})
    if diffs:
        out += [
            "",
            "Model minus rule, mean lead time (h), paired per failure, 95% CI resampling the "
            "failures' local days:",
            "",
            "| rule | " + " | ".join(LEVEL_NAMES[k] for k in range(1, 5)) + " |",
            "|---|---|---|---|---|",
        ]
        for rule, per in diffs.items():
            out.append(
                f"| {rule} | "
                + " | ".join(
                    f"{per[k]['diff']:+.2f} [{_fmt(per[k]['ci'][0], 2)}, {_fmt(per[k]['ci'][1], 2)}]"
                    for k in range(1, 5)
                )
                + " |"
            )
    return out


def served_lead_lines(
    scores: pd.DataFrame, events: pd.DataFrame, horizon_hours: float, tz: str, n_boot: int
) -> list[str]:
    """Markdown: failures warned and mean lead time per level of the *served* level (the
    higher of the model's and the sensor rules' level, what the nowcast issues) against
    the sensor rules' own, paired per failure (95% CI resampling the failures' local
    days), as :func:`level_table` pairs the model alone."""
    from models.site_levels import level_lead_times, level_summary, paired_lead_differences

    m = scores[scores["method"] == "xgboost"].sort_values(["origin", "site_id"])
    r = scores[scores["method"] == "sensor_rules"].sort_values(["origin", "site_id"])
    if m.empty or r.empty or "level" not in scores:
        return []
    served = m.assign(method="served", level=m["level"].to_numpy().clip(r["level"].to_numpy()))
    both = pd.concat([served, r], ignore_index=True)
    ll = level_lead_times(both, events, horizon_hours)
    lv = level_summary(ll)
    d = paired_lead_differences(ll, tz, ["sensor_rules"], model="served", n_boot=n_boot)
    out = [
        "Served level (the higher of the model's and the rules') against the sensor rules: "
        "failures warned / mean lead (h, 0 if not warned) per level, and served minus rules "
        "paired per failure (95% CI resampling the failures' local days):",
        "",
        "| level | served: warned / mean lead (h) | sensor_rules: warned / mean lead (h) | "
        "lead difference [95% CI] |",
        "|---|---|---|---|",
    ]
    for k in range(1, 5):
        a, b, c = lv["served"][k], lv["sensor_rules"][k], d["sensor_rules"][k]
        out.append(
            f"| {LEVEL_NAMES[k]} | {a['warned']:.0f}/{a['failures']:.0f} / "
            f"{_fmt(a['mean_lead_h'], 1)} | {b['warned']:.0f}/{b['failures']:.0f} / "
            f"{_fmt(b['mean_lead_h'], 1)} | {c['diff']:+.2f} [{_fmt(c['ci'][0], 2)}, "
            f"{_fmt(c['ci'][1], 2)}] |"
        )
    return out


def failures_per_refit(table: pd.DataFrame, fits: pd.DataFrame, cfg: Any) -> str:
    """Distinct failures in each refit's training rows (first, median, last)."""
    from models.geohazard_sites import failure_events, site_training_rows

    n = [
        failure_events(site_training_rows(table, o, cfg), cfg.horizon_hours)
        for o in fits["refit_origin"]
    ]
    return f"first {n[0]}, median {int(pd.Series(n).median())}, last {n[-1]}" if n else "none"


def deferred_summary(fits: pd.DataFrame) -> str:
    """How many refits deferred each site type to the rule."""
    if "deferred" not in fits:
        return "n/a"
    kinds = pd.Series([k for d in fits["deferred"] for k in d.split(",") if k])
    if kinds.empty:
        return "none"
    counts = kinds.str.removeprefix("hazard_type_").value_counts().sort_index()
    return ", ".join(f"{k} in {v}/{len(fits)} refits" for k, v in counts.items())


def margin_vs_probability(scores: pd.DataFrame) -> str:
    """The model's AUC on its raw margin and on the calibrated probability (Platt is
    increasing, so they must agree; a gap means calibration created ties or flipped)."""
    from models.metrics import ranking_metrics

    g = scores[scores["method"] == "xgboost"]
    y = g["label"].to_numpy()
    a_raw = ranking_metrics(y, g["raw"].to_numpy())["auc"]
    a_cal = ranking_metrics(y, g["score"].to_numpy())["auc"]
    return f"xgboost AUC on the raw margin {a_raw:.3f}, on the calibrated probability {a_cal:.3f}"


def nowcast_outcome(
    table: pd.DataFrame, scores: pd.DataFrame, events: pd.DataFrame, policy: str = "rule_rates"
):
    """(model + rules, rules only) outcome of orange/red warnings on the evaluation hours."""
    from bench_nowcast import evaluate

    from models.geohazard_sites import KEYS, RULE_COLUMN
    from riskwarn import domains
    from riskwarn.warnings import probability_levels

    model = scores.loc[scores["method"] == "xgboost", [*KEYS, "score", "level"]]
    rows = model.merge(table[[*KEYS, RULE_COLUMN]], on=KEYS, how="left")
    model_rank = probability_levels(rows["score"], domains.get("geohazard_hourly").levels.raise_at)
    rules = rows[RULE_COLUMN].fillna(0).astype(int)
    calibrated = rows["level"].astype(int)
    tag = {"rule_budget": "episode-budget"}.get(policy, "training-rate")
    out = {}
    for name, level in (
        (
            "model (domain probabilities) + rules",
            pd.concat([model_rank, rules], axis=1).max(axis=1),
        ),
        (
            f"model ({tag} levels) + rules",
            pd.concat([calibrated, rules], axis=1).max(axis=1),
        ),
        (f"model alone ({tag} levels)", calibrated),
        ("rules only", rules),
    ):
        lv = pd.DataFrame({"site_id": rows["site_id"], "at": rows["origin"], "level": level})
        out[name] = evaluate(lv, events)
    return out


def outcome_detail(
    levels: pd.DataFrame, events: pd.DataFrame, window_h: float = 72.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``bench_nowcast.evaluate``'s counting, per failure and per episode: failures
    (``occurred_at``, ``detected``: an orange/red episode at its site in force when it
    happens or within ``window_h`` before it) and orange/red episodes (held as the
    nowcast holds a level; ``start``, ``false``: no failure at the site from the start to
    ``window_h`` after the warning was lifted): models.site_levels.verify_episodes."""
    from models.site_levels import verify_episodes, warning_episodes
    from riskwarn.level_hold import BATCH_HYSTERESIS

    hold = pd.Timedelta(hours=BATCH_HYSTERESIS.lower_after_steps)
    ev = events.dropna(subset=["site_id"])[["site_id", "occurred_at"]].reset_index(drop=True)
    failures, episodes = verify_episodes(
        warning_episodes(levels, 3, hold), ev, pd.Timedelta(hours=window_h)
    )
    ev["detected"] = failures["warned"].to_numpy()
    return ev, episodes.assign(false=~episodes["failure"])


def paired_outcome(
    a: pd.DataFrame,
    b: pd.DataFrame,
    events: pd.DataFrame,
    start: pd.Timestamp,
    n_boot: int = 1000,
    block_days: int = 7,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """POD, FAR and orange/red episodes of level frames ``a`` minus ``b`` (``site_id``,
    ``at``, ``level``) with 95% CIs from resampling ``block_days`` blocks of time (a
    failure by its time, an episode by its start; the same blocks for both)."""
    import numpy as np

    def block(t: pd.Series) -> np.ndarray:
        return ((t - start) // pd.Timedelta(days=block_days)).to_numpy(int)

    da, db = outcome_detail(a, events), outcome_detail(b, events)
    n_blocks = 1 + max(
        [
            int(block(x).max())
            for x in (da[0]["occurred_at"], da[1]["start"], db[1]["start"])
            if len(x)
        ]
        or [0]
    )
    rng = np.random.default_rng(seed)
    wts = np.stack(
        [
            np.bincount(rng.integers(0, n_blocks, n_blocks), minlength=n_blocks)
            for _ in range(n_boot)
        ]
    ).astype(float)
    ones = np.ones((1, n_blocks))

    def stats(d: tuple[pd.DataFrame, pd.DataFrame], w: np.ndarray) -> dict[str, np.ndarray]:
        ev, ep = d
        fail = np.bincount(block(ev["occurred_at"]), minlength=n_blocks)
        det = np.bincount(block(ev["occurred_at"]), weights=ev["detected"], minlength=n_blocks)
        n_ep = np.bincount(block(ep["start"]), minlength=n_blocks)
        fa = np.bincount(block(ep["start"]), weights=ep["false"].astype(float), minlength=n_blocks)
        with np.errstate(invalid="ignore", divide="ignore"):
            return {
                "POD": (w @ det) / (w @ fail),
                "FAR": (w @ fa) / (w @ n_ep),
                "episodes": w @ n_ep,
            }

    pa, pb, ra, rb = stats(da, ones), stats(db, ones), stats(da, wts), stats(db, wts)
    out = {}
    for k in ("POD", "FAR", "episodes"):
        d = ra[k] - rb[k]
        d = d[np.isfinite(d)]
        out[k] = {
            "a": float(pa[k][0]),
            "b": float(pb[k][0]),
            "diff": float(pa[k][0] - pb[k][0]),
            "ci": [float(x) for x in np.quantile(d, [0.025, 0.975])] if d.size else [math.nan] * 2,
        }
    return out


def level_rule_lines(metrics: dict[str, Any], n_boot: int) -> list[str]:
    """Markdown: POD, FAR and TSS at each level of the model alone and of the served level
    (the higher of the model's and the sensor rules'), minus the sensor rules', paired day
    bootstrap (the gate's ``levels_vs_rule`` check: TSS CI below zero fails)."""
    from models.site_evaluation import LEVEL_NAMES, LEVEL_RULE, SERVED

    per = metrics.get("level_model_minus") or {}
    if not per:
        return []
    out = [
        f"Warning levels against the sensor rules, every site-{'day' if metrics.get('step_hours', 24) == 24 else 'hour'} "
        "of the window counted (warned = level k or above; FAR over warned rows, TSS = POD - "
        f"POFD); model minus rules paired, 95% CI from {n_boot} resamples of local days (the "
        "gate's bootstrap). `served` = the higher of the model's and the rules' level, what "
        "the nowcast issues. Gate: fails if the TSS CI lies below zero.",
        "",
        "| level | levels of | POD (rules) | POD diff [95% CI] | FAR (rules) | "
        "FAR diff [95% CI] | TSS (rules) | TSS diff [95% CI] | gate |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in LEVEL_NAMES:
        for who in ("xgboost", SERVED):
            c = per.get(who, {}).get(LEVEL_RULE, {}).get(name)
            if not c:
                continue
            cells = []
            for x in ("pod", "far", "tss"):
                v = c[x]
                cells.append(
                    f"{_fmt(v['model'])} ({_fmt(v['rule'])}) | {v['diff']:+.3f} "
                    f"[{v['ci'][0]:+.3f}, {v['ci'][1]:+.3f}]"
                )
            hi = c["tss"]["ci"][1]
            verdict = "n/a" if not math.isfinite(hi) else ("ok" if hi >= 0 else "**fails**")
            out.append(
                f"| {name} | {'model alone' if who == 'xgboost' else 'served'} | "
                + " | ".join(cells)
                + f" | {verdict} |"
            )
    return out


def site_bootstrap_lines(scores: pd.DataFrame, n_boot: int) -> list[str]:
    """Markdown: AP and POD/FAR of the model and the sensor rules, paired site bootstrap."""
    from models.site_evaluation import paired_site_bootstrap

    r = paired_site_bootstrap(scores, "sensor_rules", n_boot=n_boot)
    sites = scores["site_id"].nunique()
    out = [
        f"Model minus sensor rules, paired, 95% CI from {n_boot} resamples of the {sites} "
        f"sites ({r['AP']['replicates']} of them for AP; a site's rows, failure and false "
        "alarms stay together):",
        "",
        "| metric | xgboost | sensor_rules | difference [95% CI] |",
        "|---|---|---|---|",
    ]
    for k, v in r.items():
        out.append(
            f"| {k} | {_fmt(v['xgboost'])} | {_fmt(v['sensor_rules'])} | "
            f"{v['diff']:+.3f} [{_fmt(v['ci'][0])}, {_fmt(v['ci'][1])}] |"
        )
    return out


def budget_lines(
    table_rules: pd.DataFrame,
    scores: pd.DataFrame,
    events: pd.DataFrame,
    n_boot: int,
    label: str,
) -> list[str]:
    """Markdown: the model's levels (``level`` of its scores) alone and with the rules,
    each minus the rules alone: POD, FAR, episodes, week-block bootstrap CIs."""
    from models.geohazard_sites import KEYS, RULE_COLUMN

    model = scores.loc[scores["method"] == "xgboost", [*KEYS, "level"]]
    rows = model.merge(table_rules[[*KEYS, RULE_COLUMN]], on=KEYS, how="left")
    rules = rows[RULE_COLUMN].fillna(0).astype(int)
    lv = rows["level"].astype(int)

    def frame(level: pd.Series) -> pd.DataFrame:
        return pd.DataFrame({"site_id": rows["site_id"], "at": rows["origin"], "level": level})

    start = rows["origin"].min()
    out = [
        f"Paired against the rules alone ({label}; 95% CI from {n_boot} resamples of 7-day "
        "blocks: a failure by its time, an episode by its start):",
        "",
        "| levels | POD | minus rules [95% CI] | FAR | minus rules [95% CI] | episodes | minus rules [95% CI] |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, level in (
        ("model alone", lv),
        ("model + rules", pd.concat([lv, rules], axis=1).max(axis=1)),
    ):
        r = paired_outcome(frame(level), frame(rules), events, start, n_boot=n_boot)
        cells = []
        for k, nd in (("POD", 3), ("FAR", 3), ("episodes", 0)):
            v = r[k]
            cells.append(
                f"{v['a']:.{nd}f} (rules {v['b']:.{nd}f}) | {v['diff']:+.{nd}f} "
                f"[{v['ci'][0]:+.{nd}f}, {v['ci'][1]:+.{nd}f}]"
            )
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def _override_dead_after_hours(hours: float) -> None:
    """Every site table of this run built with ``SiteFeatureParams.dead_after_hours`` =
    ``hours`` instead of the domain's: ``models.geohazard_sites.feature_params`` (the one
    function training, backtests and serving take their parameters from) wrapped for the
    run. The sensor rules' level keeps its own dead time (``HealthRules``)."""
    from models import geohazard_sites

    domain_params = geohazard_sites.feature_params

    def with_dead_time(config: Any) -> Any:
        return replace(domain_params(config), dead_after_hours=float(hours))

    geohazard_sites.feature_params = with_dead_time  # type: ignore[assignment]
    geohazard_sites.unknowable_inputs.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None, help="a riskwarn home (its lake)")
    parser.add_argument(
        "--sim",
        default=None,
        help="SEED,SITES,DAYS,ONSET_SHIFT: the simulator's geohazard component in memory "
        "at hourly resolution (bench/sim_sites.py) instead of a lake",
    )
    parser.add_argument("--eval-days", type=int, default=92)
    parser.add_argument(
        "--refit-days", type=int, default=None, help="default: the domain's (3 daily, 7 hourly)"
    )
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument(
        "--levels",
        choices=["rule_rates", "rule_budget", "domain"],
        default="rule_rates",
        help="level thresholds: every method's level k on as many training rows as the sensor "
        "rules' level >= k (default); rule_budget: orange/red at the rules' episode budget on "
        "the training rows; or the model's at the domain's probabilities",
    )
    parser.add_argument(
        "--train-window-days", type=int, default=None, help="default: the config's (730)"
    )
    parser.add_argument("--domains", default="geohazard,geohazard_hourly")
    parser.add_argument("--since", default=None, help="use readings from this UTC date on")
    parser.add_argument("--until", default=None, help="use readings before this UTC date")
    parser.add_argument(
        "--train-every-hours",
        type=int,
        default=None,
        help="spacing of training origins before the evaluation window (default: the config's)",
    )
    parser.add_argument(
        "--cache", type=Path, default=None, help="keep built site tables here (Parquet)"
    )
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument(
        "--save-scores",
        type=Path,
        default=None,
        help="write each domain's out-of-sample scores, fits and evaluation events here "
        "(Parquet/pickle) for the paired site-bootstrap and level-policy analyses",
    )
    parser.add_argument(
        "--served-far-confidence",
        type=float,
        default=None,
        help="SiteModelConfig.served_levels_far_confidence for this run (default: the "
        "config's; the site-clustered precision bound at the levels from "
        "served_levels_far_confidence_from up, the levels below fitted as without it)",
    )
    parser.add_argument(
        "--dead-after-hours",
        type=float,
        default=None,
        help="SiteFeatureParams.dead_after_hours of this run's tables (a displacement sensor "
        "silent for longer is dead at the origin: its kinematics missing, dead_sensor_flag 1); "
        "default: the domain's (models.geohazard_sites.feature_params)",
    )
    parser.add_argument(
        "--no-prior",
        action="store_true",
        help="grow the trees from a constant instead of the velocity prior (the old model)",
    )
    parser.add_argument(
        "--paired-from",
        type=Path,
        default=None,
        help="no backtest: the paired site bootstrap (and, hourly, the alarm-budget table) "
        "from scores a run saved with --save-scores",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.paired_from is not None:
        md = []
        for domain in args.domains.split(","):
            d = args.paired_from
            scores = pd.read_parquet(d / f"{domain}_scores.parquet")
            md += [f"### {domain} (from {d})", "", *site_bootstrap_lines(scores, args.n_boot), ""]
            if "level" in scores:
                from models.geohazard_sites import evaluate_site_methods, site_config

                cfg = site_config(domain, eval_days=args.eval_days)
                m = evaluate_site_methods(
                    scores, pd.read_parquet(d / f"{domain}_events.parquet"), cfg, args.n_boot
                )
                fits = d / f"{domain}_fits.pkl"
                md += [
                    *level_table(m, pd.read_pickle(fits) if fits.exists() else pd.DataFrame()),
                    "",
                    *served_lead_lines(
                        scores,
                        pd.read_parquet(d / f"{domain}_events.parquet"),
                        cfg.horizon_hours,
                        cfg.tz,
                        args.n_boot,
                    ),
                    "",
                    *level_rule_lines(m, args.n_boot),
                    "",
                ]
            if domain == "geohazard_hourly":
                md += [
                    *budget_lines(
                        pd.read_parquet(d / f"{domain}_rule_levels.parquet"),
                        scores,
                        pd.read_parquet(d / f"{domain}_events.parquet"),
                        args.n_boot,
                        f"model levels as saved in {d}",
                    ),
                    "",
                ]
        print("\n".join(md))
        if args.markdown:
            args.markdown.write_text("\n".join(md) + "\n", encoding="utf-8")
        return
    logging.getLogger("models.geohazard_sites").setLevel(logging.INFO)
    from models.geohazard_sites import (
        READING_COLUMNS,
        build_site_table,
        data_end_of,
        evaluate_site_methods,
        run_site_backtest,
        site_config,
        table_origins,
    )
    from riskwarn import lake

    if args.dead_after_hours is not None:
        _override_dead_after_hours(args.dead_after_hours)
    t0 = time.perf_counter()
    if args.sim:
        from sim_sites import sim_site_frames

        seed, n_sites, days, shift = args.sim.split(",")
        names = ("readings", "sensors", "sites", "events")
        spec = args.sim.replace(",", "-")
        kept = {n: args.cache / f"sim_{spec}_{n}.parquet" for n in names} if args.cache else {}
        if kept and all(p.exists() for p in kept.values()):
            frames = {n: pd.read_parquet(p) for n, p in kept.items()}
        else:
            frames = sim_site_frames(int(seed), int(n_sites), int(days), onset_shift=float(shift))
            for n, p in kept.items():
                p.parent.mkdir(parents=True, exist_ok=True)
                frames[n].to_parquet(p, index=False)
        readings, sensors = frames["readings"], frames["sensors"]
        sites, events = frames["sites"], frames["events"]
        source = f"--sim {args.sim}"
    else:
        if args.home is None:
            parser.error("give --home or --sim")
        lake_dir = args.home / "lake"
        readings = lake.read_table(lake_dir, "sensor_readings", columns=list(READING_COLUMNS))
        sensors = lake.read_table(lake_dir, "sensors")
        sites = lake.read_table(lake_dir, "hazard_sites")
        events = lake.read_table(lake_dir, "hazard_events")
        source = f"--home {args.home}"
    if args.since:
        readings = readings.loc[readings["observed_at"] >= pd.Timestamp(args.since, tz="UTC")]
    if args.until:
        readings = readings.loc[readings["observed_at"] < pd.Timestamp(args.until, tz="UTC")]
    first, end = readings["observed_at"].min(), data_end_of(readings)
    events = events.loc[(events["occurred_at"] >= first) & (events["occurred_at"] < end)]
    print(
        f"simulated city ({source}): {len(sites)} sites, {len(sensors)} sensors, "
        f"{len(readings):,} readings {first:%Y-%m-%d}..{end:%Y-%m-%d}, "
        f"{events['site_id'].notna().sum()} failures at monitored sites "
        f"(read in {time.perf_counter() - t0:.0f} s)"
    )
    md = [
        "## Monitored-site geohazard models (simulated city)",
        "",
        f"Command: `.venv/bin/python bench/bench_geohazard_sites.py {source} "
        f"--eval-days {args.eval_days} --n-boot {args.n_boot} --domains {args.domains}"
        f"{' --refit-days ' + str(args.refit_days) if args.refit_days else ''}"
        f"{' --train-window-days ' + str(args.train_window_days) if args.train_window_days else ''}"
        f"{' --levels ' + args.levels if args.levels != 'rule_rates' else ''}"
        f"{' --since ' + args.since if args.since else ''}"
        f"{' --until ' + args.until if args.until else ''}"
        f"{' --train-every-hours ' + str(args.train_every_hours) if args.train_every_hours else ''}"
        f"{' --no-prior' if args.no_prior else ''}"
        f"{' --dead-after-hours ' + format(args.dead_after_hours, 'g') if args.dead_after_hours is not None else ''}"
        f"{' --served-far-confidence ' + str(args.served_far_confidence) if args.served_far_confidence is not None else ''}"
        f"`. {len(sites)} sites, "
        f"sensor readings {first:%Y-%m-%d}..{end:%Y-%m-%d} ({len(readings):,} rows); "
        f"rolling-origin backtest over the last {args.eval_days} days, refit every "
        f"{args.refit_days or '3 (daily) / 7 (hourly)'} days; thresholds = max TSS on the "
        "training rows; CIs: bootstrap over local days.",
        "",
    ]
    for domain in args.domains.split(","):
        t1 = time.perf_counter()
        cfg = site_config(domain, eval_days=args.eval_days)
        if args.refit_days:
            cfg = replace(cfg, refit_every_days=args.refit_days)
        cfg = replace(cfg, level_policy=args.levels)
        if args.train_window_days:
            cfg = replace(cfg, train_window_days=args.train_window_days)
        if args.train_every_hours:
            cfg = replace(cfg, train_every_hours=args.train_every_hours)
        if args.no_prior:
            cfg = replace(cfg, prior_column=None)
        if args.served_far_confidence is not None:
            cfg = replace(cfg, served_levels_far_confidence=args.served_far_confidence)
        origins, evals = table_origins(first, end, cfg)
        cached = (
            args.cache
            / (
                f"{domain}_{(args.sim or 'lake').replace(',', '-')}_{args.since or 'all'}"
                f"{'_' + args.until if args.until else ''}"
                f"{'_t' + str(args.train_every_hours) if args.train_every_hours else ''}"
                f"{'_dead' + format(args.dead_after_hours, 'g') if args.dead_after_hours is not None else ''}"
                f"_{args.eval_days}.parquet"
            )
            if args.cache
            else None
        )
        if cached is not None and cached.exists():
            table = pd.read_parquet(cached)
        else:
            table = build_site_table(readings, sensors, sites, events, origins, cfg)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                table.to_parquet(cached, index=False)
        t_build = time.perf_counter() - t1
        bt = run_site_backtest(table, evals, cfg)
        in_eval = events.dropna(subset=["site_id"])
        in_eval = in_eval[
            (in_eval["occurred_at"] >= evals[0])
            & (in_eval["occurred_at"] < evals[-1] + pd.Timedelta(hours=cfg.horizon_hours))
        ]
        if args.save_scores is not None:
            args.save_scores.mkdir(parents=True, exist_ok=True)
            from models.geohazard_sites import KEYS, RULE_COLUMN

            bt.scores.to_parquet(args.save_scores / f"{domain}_scores.parquet", index=False)
            in_eval.to_parquet(args.save_scores / f"{domain}_events.parquet", index=False)
            table[[*KEYS, RULE_COLUMN]].to_parquet(
                args.save_scores / f"{domain}_rule_levels.parquet", index=False
            )
            pd.to_pickle(bt.fits, args.save_scores / f"{domain}_fits.pkl")
        m = evaluate_site_methods(bt.scores, in_eval, cfg, n_boot=args.n_boot)
        wall = time.perf_counter() - t1
        title = (
            f"{domain}: site x {'day' if cfg.step_hours == 24 else 'hour'}, "
            f"{m['n_origins']} origins x {m['n_sites']} sites, base rate {m['base_rate']:.5f}, "
            f"{len(bt.fits)} refits (failures in the training rows: "
            f"{failures_per_refit(table, bt.fits, cfg)}; positive rows "
            f"{bt.fits['train_failures'].tolist()}; trees {bt.fits['trees'].tolist()}; "
            f"site types deferred to the velocity rule: {deferred_summary(bt.fits)}), "
            f"table {len(table):,} rows built in {t_build:.0f} s, total {wall:.0f} s"
        )
        print("\n" + title)
        lines = method_table(m)
        print("\n".join(lines))
        gaps = ", ".join(
            f"{k} {v['diff']:+.3f} [{_fmt(v['ci'][0])}, {_fmt(v['ci'][1])}]"
            for k, v in sorted(m["model_minus_baseline"].items())
        )
        print(f"model - baseline AUC (95% CI): {gaps}")
        tss_gaps = ", ".join(
            f"{k} {v['diff']:+.3f} [{_fmt(v['ci'][0])}, {_fmt(v['ci'][1])}]"
            for k, v in sorted(m.get("model_minus_baseline_tss", {}).items())
        )
        print(f"model - baseline TSS (95% CI): {tss_gaps}")
        ranks = margin_vs_probability(bt.scores)
        print(ranks)
        lead_lines = level_table(m, bt.fits)
        print("\n".join(lead_lines))
        site_lines = site_bootstrap_lines(bt.scores, args.n_boot)
        print("\n".join(site_lines))
        served_lines = served_lead_lines(bt.scores, in_eval, cfg.horizon_hours, cfg.tz, args.n_boot)
        print("\n".join(served_lines))
        rule_lines = level_rule_lines(m, args.n_boot)
        print("\n".join(rule_lines))
        lead_lines += ["", *site_lines, "", *served_lines, "", *rule_lines]
        md += [
            f"### {title}",
            "",
            *lines,
            "",
            f"Model minus baseline AUC (95% CI): {gaps}. {ranks}.",
            "",
            f"Model minus baseline TSS, each at its own max-TSS threshold from the training "
            f"rows (95% CI, paired day bootstrap): {tss_gaps}.",
            "",
            *lead_lines,
            "",
        ]
        if domain == "geohazard_hourly":
            outcome = nowcast_outcome(table, bt.scores, in_eval, args.levels)
            print(
                "\nnowcast outcome on the evaluation hours (orange/red in force, or in force "
                "within 72 h before; episodes held as the nowcast holds a level):"
            )
            md += [
                "### Nowcast outcome (hourly, evaluation window)",
                "",
                "| levels | failures warned orange/red | POD | median lead (h, warned failures) | "
                "orange/red episodes | false-alarm ratio |",
                "|---|---|---|---|---|---|",
            ]
            for name, r in outcome.items():
                line = (
                    f"| {name} | {r['warned']}/{r['failures']} | "
                    f"{_fmt(r['pod'], 2)} | {_fmt(r['median_lead_h'], 1)} | "
                    f"{r['episodes']} | {_fmt(r['far'], 2)} |"
                )
                print(line)
                md.append(line)
            md.append("")
            blines = budget_lines(table, bt.scores, in_eval, args.n_boot, f"--levels {args.levels}")
            print("\n".join(blines))
            md += [*blines, ""]
    print(f"\nwall time: {time.perf_counter() - t0:.0f} s")
    if args.markdown:
        args.markdown.write_text("\n".join(md) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
