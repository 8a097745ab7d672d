"""Evaluation of monitored-site warnings: lead times, a day bootstrap, every metric.

Scores of the model and of every rule on the same rows (``origin``, ``site_id``,
``method``, ``score``, ``threshold``, ``warned``, ``label``) in; AUC, AP, Brier, ECE,
POD/FAR/TSS/CSI, failures warned and lead times out, with bootstrap CIs that resample
whole local days (the hours of one day are not independent) and paired model-minus-rule
differences.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.metrics import probability_metrics, ranking_metrics, warning_metrics

if TYPE_CHECKING:
    from models.site_fit import SiteModelConfig

KEYS = ["origin", "site_id"]
# the rules the model's lead time per level is paired against
LEAD_RULES = ("velocity", "inverse_velocity", "tangent_angle", "sensor_rules")
LEVEL_NAMES = ("blue", "yellow", "orange", "red")  # levels 1..4 (models.site_levels.LEVELS)
# the rule the site model replaces: its warning levels are the gate's reference at each level
LEVEL_RULE = "sensor_rules"
# what the nowcast issues: the higher of the model's and the sensor rules' level
# (riskwarn.warnings.combine_geohazard_levels)
SERVED = "served"
# ... as the hourly nowcast publishes it (hysteresis against the previous published level
# and the hold, riskwarn.nowcast.publish_levels), against the rules alone as published
PUBLISHED = "published"


def failure_lead_times(
    scores: pd.DataFrame, events: pd.DataFrame, horizon_hours: float
) -> pd.DataFrame:
    """Per failure (``site_id``, ``occurred_at``) and method: hours from the earliest
    warned origin in ``[failure - horizon, failure)`` at that site (NaN = not warned).

    A warning counts only if issued before the failure (DOMAIN.md: lead time is hours from
    the first warning to the event; a warning at the failure's recorded time gives no time
    to act), so one issued at that very time does not warn it, and none after it does."""
    ev = events.dropna(subset=["site_id", "occurred_at"])[["site_id", "occurred_at"]]
    ev = ev.astype({"site_id": str})
    warned = scores.loc[scores["warned"], ["method", "site_id", "origin"]]
    m = ev.merge(warned, on="site_id", how="inner")
    m = m[
        (m["origin"] < m["occurred_at"])
        & (m["origin"] >= m["occurred_at"] - pd.Timedelta(hours=horizon_hours))
    ]
    first = m.groupby(["method", "site_id", "occurred_at"], as_index=False)["origin"].min()
    first["lead_time_hours"] = (first["occurred_at"] - first["origin"]) / pd.Timedelta(hours=1)
    grid = ev.merge(pd.DataFrame({"method": scores["method"].unique()}), how="cross")
    return grid.merge(
        first[["method", "site_id", "occurred_at", "lead_time_hours"]],
        on=["method", "site_id", "occurred_at"],
        how="left",
    )


class DayBootstrap:
    """Bootstrap over local days (whole days resampled, paired across methods).

    Each replicate draws days with replacement; a row's weight is its day's count. AUC and
    the warning table are recomputed from per-day parts, so thousands of replicates over
    hundreds of thousands of rows take well under a second.
    """

    def __init__(self, day: np.ndarray, n_boot: int, seed: int = 0) -> None:
        self.day = np.asarray(day)
        self.n_days = int(self.day.max()) + 1 if self.day.size else 0
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, max(self.n_days, 1), (n_boot, self.n_days))
        self.weights = np.stack([np.bincount(i, minlength=self.n_days) for i in idx]).astype(float)

    def auc(self, y: np.ndarray, s: np.ndarray) -> np.ndarray:
        """AUC of every replicate (ties count one half)."""
        pos = np.asarray(y) == 1
        s = np.asarray(s, dtype=float)
        below = np.zeros((int(pos.sum()), self.n_days))
        for d in range(self.n_days):
            sn = np.sort(s[~pos & (self.day == d)])
            lo = np.searchsorted(sn, s[pos], "left")
            hi = np.searchsorted(sn, s[pos], "right")
            below[:, d] = lo + 0.5 * (hi - lo)
        neg_per_day = np.bincount(self.day[~pos], minlength=self.n_days)
        w_pos = self.weights[:, self.day[pos]]
        with np.errstate(invalid="ignore", divide="ignore"):
            return (w_pos * (self.weights @ below.T)).sum(axis=1) / (
                w_pos.sum(axis=1) * (self.weights @ neg_per_day)
            )

    def table(self, warned: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Hits, misses, false alarms and correct negatives of every replicate
        (replicates x 4), from per-day counts."""
        w, e = np.asarray(warned, bool), np.asarray(y) == 1
        parts = np.stack(
            [
                np.bincount(self.day[m], minlength=self.n_days)
                for m in (w & e, ~w & e, w & ~e, ~w & ~e)
            ],
            axis=1,
        ).astype(float)
        return self.weights @ parts

    def tss(self, warned: np.ndarray, y: np.ndarray) -> np.ndarray:
        """TSS (POD - POFD) of every replicate."""
        return self.warning_scores(warned, y)["tss"]

    def warning_scores(self, warned: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """POD, FAR and TSS of every replicate (the same day resamples for every call, so
        two methods' replicates are paired)."""
        hits, misses, fa, cn = self.table(warned, y).T
        with np.errstate(invalid="ignore", divide="ignore"):
            pod = hits / (hits + misses)
            return {"pod": pod, "far": fa / (fa + hits), "tss": pod - fa / (fa + cn)}


def _ci(values: np.ndarray) -> list[float]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return [float("nan"), float("nan")]
    lo, hi = np.quantile(v, [0.025, 0.975])
    return [float(lo), float(hi)]


def level_warning_comparison(
    scores: pd.DataFrame,
    boot: DayBootstrap,
    others: list[str] | tuple[str, ...],
    model: str = "xgboost",
) -> dict[str, dict[str, dict[str, dict[str, dict[str, Any]]]]]:
    """POD, FAR and TSS at each warning level (warned = level >= k, every row counted) of
    the model against each rule of ``others``, and of the served level (:data:`SERVED`:
    the higher of the model's and the sensor rules' level at each row, what the nowcast
    issues) against the sensor rules; model minus rule on the same rows, 95% CI from the
    same day resamples as the AUC comparison (``boot``, so every difference is paired).

    ``scores`` sorted by method, then ``origin``, ``site_id`` (every method the same rows,
    as :func:`evaluate_site_methods` sorts them). Out: ``{model or "served": {rule:
    {"blue".."red": {"tss"|"pod"|"far": {"model", "rule", "diff", "ci"}}}}}``.
    """
    groups = dict(list(scores.groupby("method", sort=True)))
    if model not in groups:
        return {}
    first = groups[model]
    for g in groups.values():  # row for row the same (origin, site) in every method
        if len(g) != len(first) or not all(
            np.array_equal(g[k].to_numpy(), first[k].to_numpy()) for k in KEYS
        ):
            raise ValueError("every method must score the same rows in the same order")
    level = {str(m): g["level"].to_numpy(float) for m, g in groups.items()}
    y = first["label"].to_numpy()
    if LEVEL_RULE in level:
        level[SERVED] = np.fmax(level[model], level[LEVEL_RULE])
    pairs = [(model, r) for r in others if r in level] + (
        [(SERVED, LEVEL_RULE)] if SERVED in level else []
    )
    out: dict[str, dict[str, dict[str, dict[str, dict[str, Any]]]]] = {}
    for k, name in enumerate(LEVEL_NAMES, start=1):
        reps: dict[str, dict[str, np.ndarray]] = {}
        point: dict[str, dict[str, float]] = {}
        for m in {m for pair in pairs for m in pair}:
            warned = level[m] >= k
            reps[m] = boot.warning_scores(warned, y)
            wm = warning_metrics(warned, y)
            point[m] = {x: float(wm[x]) for x in ("pod", "far", "tss")}
        for a, b in pairs:
            out.setdefault(a, {}).setdefault(b, {})[name] = {
                x: {
                    "model": point[a][x],
                    "rule": point[b][x],
                    "diff": point[a][x] - point[b][x],
                    "ci": _ci(reps[a][x] - reps[b][x]),
                }
                for x in ("tss", "pod", "far")
            }
    return out


def published_level_comparison(
    published: pd.DataFrame, boot: DayBootstrap
) -> dict[str, dict[str, dict[str, Any]]]:
    """POD, FAR and TSS at each level (warned = level k or above, every row counted) of
    the served level as the nowcast publishes it (``served_pub``) minus the rules alone
    as published (``rules_pub``), paired on ``boot``'s day resamples (``published``: the
    model's rows in ``boot``'s order, :func:`riskwarn.nowcast.backtest_published_levels`).
    Out: ``{"blue".."red": {"tss"|"pod"|"far": {"model", "rule", "diff", "ci"}}}``."""
    y = published["label"].to_numpy()
    served = published["served_pub"].to_numpy(float)
    rules = published["rules_pub"].to_numpy(float)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for k, name in enumerate(LEVEL_NAMES, start=1):
        a, b = served >= k, rules >= k
        pa, pb = warning_metrics(a, y), warning_metrics(b, y)
        ra, rb = boot.warning_scores(a, y), boot.warning_scores(b, y)
        out[name] = {
            x: {
                "model": float(pa[x]),
                "rule": float(pb[x]),
                "diff": float(pa[x] - pb[x]),
                "ci": _ci(ra[x] - rb[x]),
            }
            for x in ("tss", "pod", "far")
        }
    return out


def level_gate_comparisons(
    metrics: dict[str, Any], levels_from: str = SERVED
) -> dict[str, dict[str, Any]]:
    """The gate's per-level comparisons with the rule the model replaces
    (:func:`models.gate.gate`'s ``levels_vs_rule``) from :func:`evaluate_site_methods`'s
    ``level_model_minus``: ``levels_from`` :data:`PUBLISHED` (the level the hourly
    nowcast publishes, against the rules alone as published; only when the evaluation
    was given the published levels: else :data:`SERVED`, and the comparisons say so in
    ``levels_from``), :data:`SERVED` (the level the nowcast issues at each hour on its
    own, as scored) or ``"xgboost"`` (the model's own level)."""
    minus = metrics.get("level_model_minus") or {}
    if levels_from == PUBLISHED and PUBLISHED not in minus:
        levels_from = SERVED  # no published levels (a daily domain): the scored served
    per = minus.get(levels_from, {}).get(LEVEL_RULE, {})
    return {
        name: {"against": LEVEL_RULE, "levels_from": levels_from, **per[name]}
        for name in LEVEL_NAMES
        if name in per
    }


def local_day_codes(origins: pd.Series, tz: str) -> np.ndarray:
    """0-based index of each origin's local day."""
    days = pd.DatetimeIndex(origins).tz_convert(tz).tz_localize(None).normalize()
    return pd.factorize(days, sort=True)[0]


def champion_auc_diff(
    scores: pd.DataFrame, champion: pd.DataFrame, config: SiteModelConfig, n_boot: int = 500
) -> dict[str, Any]:
    """The model's AUC minus the champion's on the champion's rows only (``origin``,
    ``site_id``, ``score``: the origins it never saw), paired day bootstrap CI."""
    model = scores.loc[scores["method"] == "xgboost", [*KEYS, "label", "score"]]
    c = model.merge(champion[[*KEYS, "score"]].rename(columns={"score": "champ"}), on=KEYS)
    c = c.sort_values(KEYS).reset_index(drop=True)
    y = c["label"].to_numpy()
    if c.empty or y.min() == y.max():
        return {"diff": float("nan"), "ci": [float("nan"), float("nan")]}
    boot = DayBootstrap(local_day_codes(c["origin"], config.tz), n_boot)
    a, b = c["score"].to_numpy(), c["champ"].to_numpy()
    d = probability_metrics(y, a)["auc"] - probability_metrics(y, b)["auc"]
    return {"diff": float(d), "ci": _ci(boot.auc(y, a) - boot.auc(y, b))}


def evaluate_site_methods(
    scores: pd.DataFrame,
    events: pd.DataFrame,
    config: SiteModelConfig,
    n_boot: int = 500,
    published: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Every metric per method, day-bootstrap CIs and model-minus-other AUC differences.

    ``events`` (``site_id``, ``occurred_at``) are the failures inside the evaluation
    window (for lead times). The serving champion is not compared here: training compares
    it only on the origins it never saw (``models.champion.compare_scores_with_champion``).

    ``published``: the levels the hourly nowcast would have published over the window
    (:func:`riskwarn.nowcast.backtest_published_levels`; the app passes its publishing
    step in, :func:`models.geohazard_sites.finish_site_training`'s ``publish``): then
    ``level_model_minus`` also holds :data:`PUBLISHED` (served as published minus the
    rules alone as published, :func:`published_level_comparison`), what the gate judges
    with ``gate_levels="published"``.
    """
    scores = scores.sort_values(["method", *KEYS]).reset_index(drop=True)
    first = scores[scores["method"] == "xgboost"]
    boot = DayBootstrap(local_day_codes(first["origin"], config.tz), n_boot)
    leads = failure_lead_times(scores, events, config.horizon_hours)
    leads_orange = (
        failure_lead_times(scores.assign(warned=scores["orange"]), events, config.horizon_hours)
        if "orange" in scores
        else leads
    )
    result: dict[str, Any] = {"methods": {}, "headline": "auc"}
    auc_reps: dict[str, np.ndarray] = {}
    tss_reps: dict[str, np.ndarray] = {}
    for m, g in scores.groupby("method", sort=True):
        y, s = g["label"].to_numpy(), g["score"].to_numpy()
        res: dict[str, Any] = dict(
            probability_metrics(y, s) if m == "xgboost" else ranking_metrics(y, s)
        )
        wm = warning_metrics(g["warned"].to_numpy(), y)
        res.update({k: wm[k] for k in ("pod", "far", "tss", "csi", "warned_share")})
        auc_reps[str(m)] = boot.auc(y, s)
        res["auc_ci"] = _ci(auc_reps[str(m)])
        tss_reps[str(m)] = boot.tss(g["warned"].to_numpy(), y)
        res["tss_ci"] = _ci(tss_reps[str(m)])
        lm = leads[leads["method"] == m]["lead_time_hours"]
        res["failures"] = len(lm)
        res["failures_warned"] = int(lm.notna().sum())
        res["median_lead_time_h"] = float(lm.median()) if lm.notna().any() else float("nan")
        if "orange" in g:
            wo = warning_metrics(g["orange"].to_numpy(), y)
            res.update({f"{k}_orange": wo[k] for k in ("pod", "far", "tss", "warned_share")})
            lo = leads_orange[leads_orange["method"] == m]["lead_time_hours"]
            res["failures_warned_orange"] = int(lo.notna().sum())
            # a failure not warned at orange counts with lead time 0 (no warning ahead)
            res["mean_lead_time_orange_h"] = float(lo.fillna(0.0).mean()) if len(lo) else 0.0
            res["median_lead_time_orange_h"] = (
                float(lo.median()) if lo.notna().any() else float("nan")
            )
        res["threshold_last_fit"] = float(g["threshold"].iloc[-1])
        res["n_rows"] = len(g)
        result["methods"][str(m)] = res
    model = auc_reps["xgboost"]
    comps: dict[str, Any] = {}
    for m, reps in auc_reps.items():
        if m == "xgboost":
            continue
        d = result["methods"]["xgboost"]["auc"] - result["methods"][m]["auc"]
        comps[m] = {"diff": float(d), "ci": _ci(model - reps)}
    result["model_minus_baseline"] = comps
    # TSS at each method's own training-row threshold, paired on the same day resamples
    result["model_minus_baseline_tss"] = {
        m: {
            "diff": float(result["methods"]["xgboost"]["tss"] - result["methods"][m]["tss"]),
            "ci": _ci(tss_reps["xgboost"] - reps),
        }
        for m, reps in tss_reps.items()
        if m != "xgboost"
    }
    if "level" in scores:
        from models.site_levels import level_lead_times, level_summary, paired_lead_differences

        ll = level_lead_times(scores, events, config.horizon_hours)
        result["levels"] = level_summary(ll)
        for m, g in scores.groupby("method", sort=True):
            y = g["label"].to_numpy()
            for k in range(1, 5):
                wk = warning_metrics((g["level"] >= k).to_numpy(), y)
                result["levels"].setdefault(str(m), {}).setdefault(k, {}).update(
                    {
                        "pod_rows": wk["pod"],
                        "far_rows": wk["far"],
                        "warned_share": wk["warned_share"],
                    }
                )
        others = [m for m in LEAD_RULES if m in result["methods"]]
        result["lead_model_minus"] = paired_lead_differences(ll, config.tz, others, n_boot=n_boot)
        # POD / FAR / TSS at each level, model (and served level) minus rule, paired
        result["level_model_minus"] = level_warning_comparison(scores, boot, others)
        if published is not None:
            pub = published.sort_values(KEYS).reset_index(drop=True)
            if not (pub[KEYS].to_numpy() == first[KEYS].to_numpy()).all():
                raise ValueError("the published levels must be of the model's scored rows")
            result["level_model_minus"][PUBLISHED] = {
                LEVEL_RULE: published_level_comparison(pub, boot)
            }
    result["n_origins"] = int(first["origin"].nunique())
    result["n_days"] = int(boot.n_days)
    result["n_sites"] = int(first["site_id"].nunique())
    result["base_rate"] = float(first["label"].mean())
    return result


def _weighted_ap(y: np.ndarray, last: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Average precision of every replicate: ``y`` sorted by decreasing score, ``last``
    marks the end of each group of tied scores (one threshold, as sklearn's
    ``average_precision_score``), ``w`` the rows' weights (replicates x rows)."""
    tp = np.cumsum(w * y, axis=1)[:, last]
    fp = np.cumsum(w * (1 - y), axis=1)[:, last]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / (tp + fp)
        recall = tp / tp[:, -1:]
    d_recall = np.diff(np.concatenate([np.zeros((len(w), 1)), recall], axis=1), axis=1)
    return np.nansum(d_recall * precision, axis=1)


def paired_site_bootstrap(
    scores: pd.DataFrame,
    other: str = "sensor_rules",
    model: str = "xgboost",
    n_boot: int = 1000,
    seed: int = 0,
    chunk: int = 50,
    max_ap_cells: float = 4e8,
) -> dict[str, dict[str, Any]]:
    """AP, and POD / FAR at the training-row threshold (``warned``), and POD / FAR / TSS
    at orange (``orange``) and red (``level`` 4), when present, of ``model`` and ``other``
    on the same rows, with the paired difference and its 95% CI from resampling whole
    sites (a site's rows, its failure and its false alarms stay together)."""
    a = scores[scores["method"] == model].sort_values(KEYS).reset_index(drop=True)
    b = scores[scores["method"] == other].sort_values(KEYS).reset_index(drop=True)
    if "level" in a:
        a["red"], b["red"] = a["level"] >= 4, b["level"] >= 4
    if len(a) != len(b) or not (a[KEYS].to_numpy() == b[KEYS].to_numpy()).all():
        raise ValueError("the two methods must score the same rows")
    codes, _ = pd.factorize(a["site_id"].astype(str))
    n_sites = int(codes.max()) + 1
    rng = np.random.default_rng(seed)
    site_w = np.stack(
        [np.bincount(rng.integers(0, n_sites, n_sites), minlength=n_sites) for _ in range(n_boot)]
    ).astype(np.float32)
    y = a["label"].to_numpy(np.float32)
    out: dict[str, dict[str, Any]] = {}

    def record(name: str, va: float, vb: float, ra: np.ndarray, rb: np.ndarray) -> None:
        out[name] = {model: va, other: vb, "diff": va - vb, "ci": _ci(ra - rb)}

    # AP: replicates in chunks of about 2e7 cells (rows x replicates would not fit at once)
    chunk = max(1, min(chunk, int(2e7 // max(len(y), 1))))
    # at most max_ap_cells rows x replicates for AP (the first replicates of the same draw)
    ap_boot = int(min(n_boot, max(100, max_ap_cells // max(len(y), 1))))
    for name, g in ((model, a), (other, b)):
        s = g["score"].to_numpy(float)
        order = np.argsort(-s, kind="stable")
        ys, ss, cs = y[order], s[order], codes[order]
        last = np.r_[ss[1:] != ss[:-1], True]
        reps = np.concatenate(
            [_weighted_ap(ys, last, site_w[i : i + chunk][:, cs]) for i in range(0, ap_boot, chunk)]
        )
        one = _weighted_ap(ys, last, np.ones((1, len(ys)), dtype=np.float32))
        out.setdefault("_ap", {})[name] = (float(one[0]), reps)
    ap = out.pop("_ap")
    (va, ra), (vb, rb) = ap[model], ap[other]
    record("AP", va, vb, ra, rb)
    out["AP"]["replicates"] = ap_boot
    # POD / FAR (/ TSS at a level) from per-site hits, misses, false alarms, negatives
    for col in ("warned", "orange", "red"):
        if col not in a:
            continue
        parts = {}
        for name, g in ((model, a), (other, b)):
            w = g[col].to_numpy(bool)
            e = y == 1
            per = np.stack(
                [
                    np.bincount(codes[m], minlength=n_sites)
                    for m in (w & e, ~w & e, w & ~e, ~w & ~e)
                ],
                axis=1,
            ).astype(float)
            hits, misses, fa, cn = per.sum(axis=0)
            rh, rm, rf, rc = (site_w @ per).T
            with np.errstate(invalid="ignore", divide="ignore"):
                parts[name] = (
                    (hits / (hits + misses), rh / (rh + rm)),
                    (fa / (fa + hits), rf / (rf + rh)),
                    (
                        hits / (hits + misses) - fa / (fa + cn),
                        rh / (rh + rm) - rf / (rf + rc),
                    ),
                )
        tag = "at its training threshold" if col == "warned" else f"at {col}"
        shown = ("POD", "FAR") if col == "warned" else ("POD", "FAR", "TSS")
        for i, what in enumerate(shown):
            record(
                f"{what} {tag}",
                parts[model][i][0],
                parts[other][i][0],
                parts[model][i][1],
                parts[other][i][1],
            )
    return out
