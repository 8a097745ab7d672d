"""Which warning level to judge a site model by: the model's own, or the one served.

    .venv/bin/python bench/bench_site_served_levels.py --scores DIR [--domain geohazard]
        [--n-boot 1000] [--markdown FILE]

``DIR`` holds a backtest's out-of-sample scores saved by ``bench/bench_geohazard_sites.py
--save-scores DIR`` (``<domain>_scores.parquet``). For each level (blue .. red; warned =
level k or above, every row of the window counted) it prints POD, FAR and TSS of three
ways of issuing the level, each minus the sensor rules' own level, with the paired 95% CI
of the gate's bootstrap (``models.site_evaluation.DayBootstrap``: whole local days,
the same resamples for every option):

* ``model alone``: the model's level (what the gate judged with ``gate_levels="xgboost"``);
* ``served``: the higher of the model's and the rules' level, what the nowcast issues
  (``riskwarn.warnings.combine_geohazard_levels``; the gate's default);
* ``served, no model blue``: the same, but the model raises nothing below yellow on its
  own (its blue is the rules' blue): a remedy measured here, not served.

Those are the levels *as scored* (each hour on its own, what the gate judges). The
nowcast publishes them through hysteresis against the previous published level and a
6-hour hold (:func:`riskwarn.nowcast.publish_levels`); with the backtest's fits
(``<domain>_fits.pkl``, the thresholds serving each origin) and hourly origins, the
table adds ``served, as published`` (:func:`riskwarn.nowcast.published_site_levels`, the
nowcast's own step hour by hour) minus the *rules alone as published* (the nowcast
without a model). With ``<domain>_events.parquet`` it adds the median lead time per level
(hours before a failure of the first warning at that level or above; option (rules)).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def options(model: np.ndarray, rules: np.ndarray) -> dict[str, np.ndarray]:
    """The level of each row under each way of issuing it."""
    return {
        "model alone": model,
        "served": np.fmax(model, rules),
        "served, no model blue": np.fmax(np.where(model >= 2, model, 0), rules),
    }


def published(scores: pd.DataFrame, fits: pd.DataFrame, domain: str) -> pd.DataFrame:
    """``scores``' xgboost rows (sorted by origin and site) with the levels the nowcast
    would publish: ``served_pub`` (model + rules) and ``rules_pub`` (the rules alone),
    each origin served by the latest fit at or before it
    (:func:`riskwarn.nowcast.backtest_published_levels`, what training's gate judges)."""
    from riskwarn.nowcast import backtest_published_levels

    out = backtest_published_levels(scores, fits, domain)
    if out is None:
        raise ValueError("the published levels need hourly origins and at least one fit")
    return out


def compare(
    scores: pd.DataFrame,
    tz: str,
    n_boot: int,
    pub: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    horizon_hours: float = 24.0,
) -> list[dict[str, object]]:
    """One record per level and option: POD / FAR / TSS, minus the rules', paired CI;
    with ``pub`` (:func:`published`) also the served level as published minus the rules
    alone as published; with ``events`` the median lead time per level."""
    from models.metrics import warning_metrics
    from models.site_evaluation import KEYS, LEVEL_NAMES, DayBootstrap, _ci, local_day_codes

    a = scores[scores["method"] == "xgboost"].sort_values(KEYS).reset_index(drop=True)
    b = scores[scores["method"] == "sensor_rules"].sort_values(KEYS).reset_index(drop=True)
    if len(a) != len(b) or not (a[KEYS].to_numpy() == b[KEYS].to_numpy()).all():
        raise ValueError("the model and the sensor rules must score the same rows")
    if pub is not None and not (pub[KEYS].to_numpy() == a[KEYS].to_numpy()).all():
        raise ValueError("the published levels must be of the scored rows")
    y = a["label"].to_numpy()
    boot = DayBootstrap(local_day_codes(a["origin"], tz), n_boot)
    rules = b["level"].to_numpy(float)
    # (basis, option, level per row, the reference rules' level per row)
    ways = [
        ("scored", option, level, rules)
        for option, level in options(a["level"].to_numpy(float), rules).items()
    ]
    if pub is not None:
        ways.append(
            (
                "published",
                "served",
                pub["served_pub"].to_numpy(float),
                pub["rules_pub"].to_numpy(float),
            )
        )
    leads = None
    if events is not None:
        from models.site_levels import level_lead_times

        frames = [
            a[KEYS].assign(method=f"{basis}:{option}", level=level)
            for basis, option, level, _ in ways
        ] + [a[KEYS].assign(method="scored:rules", level=rules)]
        if pub is not None:
            frames.append(a[KEYS].assign(method="published:rules", level=pub["rules_pub"]))
        leads = level_lead_times(pd.concat(frames, ignore_index=True), events, horizon_hours)
    out = []
    for k, name in enumerate(LEVEL_NAMES, start=1):
        for basis, option, level, ref_level in ways:
            ref = warning_metrics(ref_level >= k, y)
            ref_reps = boot.warning_scores(ref_level >= k, y)
            warned = level >= k
            got, reps = warning_metrics(warned, y), boot.warning_scores(warned, y)
            rec: dict[str, object] = {"level": name, "basis": basis, "option": option}
            for x in ("pod", "far", "tss"):
                rec[x] = (got[x], ref[x], got[x] - ref[x], _ci(reps[x] - ref_reps[x]))
            rec["warned_share"] = (got["warned_share"], ref["warned_share"])
            if leads is not None:
                at = leads[leads["level"] == k]
                rec["lead"] = tuple(
                    float(at.loc[at["method"] == m, "lead_time_hours"].median())
                    for m in (f"{basis}:{option}", f"{basis}:rules")
                )
            out.append(rec)
    return out


def markdown(records: list[dict[str, object]], n_boot: int) -> list[str]:
    lead = any("lead" in r for r in records)
    out = [
        f"Each option minus the sensor rules' own level, paired 95% CI from {n_boot} "
        "resamples of local days (the gate's bootstrap); gate: fails if the TSS CI lies "
        "below zero. As scored: each hour's levels on their own (what the gate judges); "
        "as published: through the nowcast's hysteresis and 6-h hold, minus the rules "
        "alone as published.",
        "",
        "| level | as | option | warned share (rules) | POD (rules) | POD diff [95% CI] "
        "| FAR (rules) | FAR diff [95% CI] | TSS (rules) | TSS diff [95% CI] | "
        + ("median lead h (rules) | " if lead else "")
        + "gate |",
        "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if lead else ""),
    ]
    for r in records:
        share = r["warned_share"]
        cells = [f"{share[0]:.5f} ({share[1]:.5f})"]  # type: ignore[index]
        for x in ("pod", "far", "tss"):
            v, ref, d, ci = cast(tuple[float, float, float, list[float]], r[x])
            cells.append(f"{v:.3f} ({ref:.3f}) | {d:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]")
        if lead:
            lv = cast(tuple[float, float], r.get("lead", (np.nan, np.nan)))
            cells.append(f"{lv[0]:.1f} ({lv[1]:.1f})")
        hi = r["tss"][3][1]  # type: ignore[index]
        verdict = "n/a" if not np.isfinite(hi) else ("ok" if hi >= 0 else "**fails**")
        out.append(
            f"| {r['level']} | {r['basis']} | {r['option']} | "
            + " | ".join(cells)
            + f" | {verdict} |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scores", type=Path, required=True)
    parser.add_argument("--domain", default="geohazard")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    from models.geohazard_sites import site_config

    scores = pd.read_parquet(args.scores / f"{args.domain}_scores.parquet")
    config = site_config(args.domain)
    fits_path = args.scores / f"{args.domain}_fits.pkl"
    events_path = args.scores / f"{args.domain}_events.parquet"
    origins = pd.DatetimeIndex(scores["origin"].unique()).sort_values()
    hourly = len(origins) > 1 and origins.to_series().diff().min() == pd.Timedelta(hours=1)
    pub = None
    if fits_path.exists() and hourly:
        pub = published(scores, pd.read_pickle(fits_path), args.domain)
    else:
        print("(no 'as published' rows: they need hourly origins and the saved fits)")
    events = pd.read_parquet(events_path) if events_path.exists() else None
    records = compare(scores, config.tz, args.n_boot, pub, events, config.horizon_hours)
    lines = markdown(records, args.n_boot)
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
