"""Warning levels of the site model and of every rule, chosen on training rows only.

The nowcast's sensor rules (:mod:`riskwarn.sensor_rules`: improved tangent angle with
sustained acceleration, the inverse-velocity forecast) are the official practice for a
monitored slope: tangent angle 45-80° yellow, 80-85° orange, >= 85° red. The site model's
level ``k`` (1 blue .. 4 red) warns on as many *training* site-steps as the sensor rules'
level ``k`` or above, so every method is judged at the same warning rate, the way the
city-wide Hong Kong levels are tied to the Observatory's signal rates
(:mod:`models.citywide_nowcast`). The raw rules (velocity, inverse velocity, tangent
angle, rain) get their level thresholds at the same training rates; the sensor rules keep
their own levels. Why: the domain's fixed orange probability (0.35) was never reached by
the calibrated daily model (simulated city 2025: 0 of 289 failures warned orange).

Lead time per level (:func:`level_lead_times`): per failure, hours from the first origin
at that level or above in the ``horizon`` before it (issued before the failure: one at its
recorded time gives no lead); a failure never warned at that level counts 0 h.
Model-minus-rule differences are paired per failure, with a bootstrap that resamples the
failures' local days (failures of one storm stay together).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

LEVELS = ("blue", "yellow", "orange", "red")  # levels 1..4


def rate_threshold(score: np.ndarray, share: float) -> float:
    """The threshold at which ``score`` warns on ``share`` of the rows (inf: never)."""
    score = np.asarray(score, dtype=float)
    if share <= 0 or len(score) == 0:
        return float("inf")
    return float(np.quantile(score, 1.0 - min(share, 1.0)))


def rate_thresholds(score: np.ndarray, shares: list[float]) -> list[float]:
    """:func:`rate_threshold` of each of ``shares``, from one ``np.quantile`` call (one
    partition of ``score`` for every share instead of one each; each quantile is computed
    from the same order statistics by the same interpolation, so bit for bit)."""
    score = np.asarray(score, dtype=float)
    out = [float("inf")] * len(shares)
    live = [i for i, share in enumerate(shares) if share > 0 and len(score)]
    if live:
        qs = np.quantile(score, [1.0 - min(shares[i], 1.0) for i in live])
        for i, q in zip(live, qs, strict=True):
            out[i] = float(q)
    return out


def rule_level_shares(rule_level: np.ndarray) -> list[float]:
    """Share of the (training) rows at each sensor-rule level 1..4 or above."""
    lv = np.nan_to_num(np.asarray(rule_level, dtype=float), nan=0.0)
    return [float(np.mean(lv >= k)) if lv.size else 0.0 for k in range(1, 5)]


def untie_levels(thresholds: list[float] | tuple[float, ...]) -> list[float]:
    """Nested thresholds of levels 1..4 with no dead middle level.

    When the training rows have no orange-only hour (the rules go from yellow straight to
    red), orange's rate equals red's and the two thresholds tie: the model could never
    issue orange (a band 1e-9 wide). Rule: a middle level (orange, then yellow) whose
    finite threshold ties the level above it, while the level below it is lower, is put
    at the geometric mean of its neighbours' thresholds (the arithmetic mean if the lower
    one is 0), so it warns between them. Infinite thresholds (a level no training row
    reached) stay: the model alone never issues that level.
    """
    th = [float(t) for t in thresholds]
    for k in (2, 1):  # orange, then yellow (0-based)
        lo, hi = th[k - 1], th[k + 1]
        if np.isfinite(hi) and th[k] >= hi and lo < hi:
            th[k] = float(np.sqrt(lo * hi)) if lo > 0 else (lo + hi) / 2.0
    return th


def level_thresholds(score: np.ndarray, shares: list[float]) -> list[float]:
    """Thresholds of levels 1..4 warning on ``shares`` of the rows (nested: a higher level
    never has a lower threshold; a tied middle level placed by :func:`untie_levels`)."""
    th = rate_thresholds(score, shares)
    return untie_levels(list(np.maximum.accumulate(np.asarray(th, dtype=float))))


def levels_of(score: np.ndarray, thresholds: list[float]) -> np.ndarray:
    """Level 0..4 of each score: how many of the (nested) thresholds it reaches."""
    s = np.asarray(score, dtype=float)
    return (s[:, None] >= np.asarray(thresholds, dtype=float)[None, :]).sum(axis=1)


def level_lead_times(
    scores: pd.DataFrame, events: pd.DataFrame, horizon_hours: float
) -> pd.DataFrame:
    """Per failure (``site_id``, ``occurred_at``), method and level 1..4: hours from the
    earliest origin at that level or above in ``[failure - horizon, failure)`` (NaN = not
    warned at that level; issued before the failure only, as
    :func:`models.site_evaluation.failure_lead_times`). ``scores`` needs ``method``,
    ``site_id``, ``origin``, ``level``."""
    ev = events.dropna(subset=["site_id", "occurred_at"])[["site_id", "occurred_at"]]
    ev = ev.astype({"site_id": str}).drop_duplicates()
    lv = scores.loc[scores["level"] > 0, ["method", "site_id", "origin", "level"]]
    lv = lv.astype({"site_id": str})
    m = ev.merge(lv, on="site_id", how="inner")
    m = m[
        (m["origin"] < m["occurred_at"])
        & (m["origin"] >= m["occurred_at"] - pd.Timedelta(hours=horizon_hours))
    ]
    parts = []
    for k in range(1, 5):
        first = (
            m[m["level"] >= k]
            .groupby(["method", "site_id", "occurred_at"], as_index=False)["origin"]
            .min()
        )
        first["level"] = k
        parts.append(first)
    first = pd.concat(parts, ignore_index=True)
    first["lead_time_hours"] = (first["occurred_at"] - first["origin"]) / pd.Timedelta(hours=1)
    grid = ev.merge(pd.DataFrame({"method": scores["method"].unique()}), how="cross").merge(
        pd.DataFrame({"level": range(1, 5)}), how="cross"
    )
    return grid.merge(
        first[["method", "site_id", "occurred_at", "level", "lead_time_hours"]],
        on=["method", "site_id", "occurred_at", "level"],
        how="left",
    )


def paired_lead_differences(
    leads: pd.DataFrame,
    tz: str,
    others: list[str],
    model: str = "xgboost",
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, dict[int, dict[str, Any]]]:
    """Mean lead time (0 h if not warned) of ``model`` minus each of ``others``, per level,
    paired per failure; 95% CI by resampling the failures' local days."""
    wide = leads.assign(lead=leads["lead_time_hours"].fillna(0.0)).pivot_table(
        index=["site_id", "occurred_at", "level"], columns="method", values="lead"
    )
    wide = wide.reset_index()
    day = pd.DatetimeIndex(wide["occurred_at"]).tz_convert(tz).tz_localize(None).normalize()
    codes = pd.factorize(day, sort=True)[0]
    n_days = int(codes.max()) + 1 if len(codes) else 0
    rng = np.random.default_rng(seed)
    weights = (
        np.stack(
            [np.bincount(rng.integers(0, n_days, n_days), minlength=n_days) for _ in range(n_boot)]
        ).astype(float)
        if n_days
        else np.zeros((0, 0))
    )
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for other in others:
        if other not in wide:
            continue
        out[other] = {}
        for k in range(1, 5):
            sel = (wide["level"] == k).to_numpy()
            d = (wide.loc[sel, model] - wide.loc[sel, other]).to_numpy(float)
            c = codes[sel]
            if d.size == 0 or n_days == 0:
                out[other][k] = {"diff": float("nan"), "ci": [float("nan")] * 2, "n": 0}
                continue
            sums = np.bincount(c, weights=d, minlength=n_days)
            counts = np.bincount(c, minlength=n_days).astype(float)
            with np.errstate(invalid="ignore", divide="ignore"):
                reps = (weights @ sums) / (weights @ counts)
            reps = reps[np.isfinite(reps)]
            ci = (
                [float(x) for x in np.quantile(reps, [0.025, 0.975])]
                if reps.size
                else [float("nan")] * 2
            )
            out[other][k] = {"diff": float(d.mean()), "ci": ci, "n": int(d.size)}
    return out


def level_summary(leads: pd.DataFrame) -> dict[str, dict[int, dict[str, float]]]:
    """Per method and level: failures warned, mean lead (0 h if not warned), median lead of
    the warned ones."""
    out: dict[str, dict[int, dict[str, float]]] = {}
    for (method, k), g in leads.groupby(["method", "level"], sort=True):
        lt = g["lead_time_hours"]
        out.setdefault(str(method), {})[int(k)] = {
            "failures": float(len(lt)),
            "warned": float(lt.notna().sum()),
            "mean_lead_h": float(lt.fillna(0.0).mean()) if len(lt) else 0.0,
            "median_lead_warned_h": float(lt.median()) if lt.notna().any() else float("nan"),
        }
    return out


def episode_count(site: np.ndarray, flag: np.ndarray) -> int:
    """Warning episodes: runs of flagged rows of one site. Rows must be sorted by site,
    then origin (consecutive rows of a site are consecutive origins)."""
    f = np.asarray(flag, dtype=bool)
    if f.size == 0:
        return 0
    s = np.asarray(site)
    start = f.copy()
    start[1:] &= ~(f[:-1] & (s[1:] == s[:-1]))
    return int(start.sum())


def warning_episodes(
    levels: pd.DataFrame, level: int, hold: pd.Timedelta, step: pd.Timedelta | None = None
) -> pd.DataFrame:
    """Warning episodes at ``level`` or above, per site, as the nowcast serves them.

    ``levels``: ``site_id``, ``at`` (the step's time), ``level`` (0..4). A warning is
    issued at the first step at the level and stays in force for ``hold`` after the last
    one (the nowcast's off-delay, :mod:`riskwarn.level_hold`: a level is lowered only
    after ``lower_after_steps`` consecutive hours below it; at least one ``step``,
    default 1 h): a step at the level no later than that continues the episode, so a
    warning flapping on and off more often than the hold is one episode, not one per
    flap. Columns ``site_id``, ``start`` (issued), ``last`` (last step at the level),
    ``end`` (lifted: in force over ``[start, end)``), sorted by site and start.
    """
    hold = max(pd.Timedelta(hold), pd.Timedelta(step or pd.Timedelta(hours=1)))
    w = levels.loc[levels["level"] >= level, ["site_id", "at"]]
    w = w.astype({"site_id": str}).sort_values(["site_id", "at"], kind="stable")
    new = (w["site_id"] != w["site_id"].shift()) | (w["at"] > w["at"].shift() + hold)
    eps = (
        w.assign(episode=new.cumsum())
        .groupby("episode", sort=True)
        .agg(site_id=("site_id", "first"), start=("at", "min"), last=("at", "max"))
        .reset_index(drop=True)
    )
    eps["end"] = eps["last"] + hold
    return eps


def verify_episodes(
    episodes: pd.DataFrame, events: pd.DataFrame, horizon: pd.Timedelta
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Failures warned and episodes followed by a failure (DOMAIN.md, "How forecasts
    are judged"), each warning episode counted once.

    An episode (:func:`warning_episodes`) covers its site from its issue (exclusive: a
    warning issued at the failure's recorded time gives no lead) until ``horizon`` after
    it was lifted (each hourly issue is a forecast for the ``horizon`` after it). A
    failure (``site_id``, ``occurred_at``) is warned when an episode covers it: one in
    force when it happens, or in force within the horizon before it. Its lead time is the
    hours from the start of the latest episode issued before it (the one in force, if
    any) to the failure; NaN if not warned. An episode is a false alarm when no failure
    at its site falls in its cover.

    Returns (failures with ``warned``, ``lead_time_hours``; episodes with ``failure``).
    """
    horizon = pd.Timedelta(horizon)
    ev = events.dropna(subset=["site_id", "occurred_at"])[["site_id", "occurred_at"]]
    utc = "datetime64[ns, UTC]"  # merge_asof needs one resolution on both sides
    ev = ev.astype({"site_id": str, "occurred_at": utc}).reset_index(drop=True)
    ev["_row"] = np.arange(len(ev))
    eps = episodes.astype({"site_id": str, "start": utc, "end": utc}).reset_index(drop=True)
    # the latest episode issued before each failure (a later one cannot cover it; an
    # earlier one ended before it began, so covers the failure only if it does too)
    latest = pd.merge_asof(
        ev.sort_values("occurred_at"),
        eps[["site_id", "start", "end"]].sort_values("start"),
        left_on="occurred_at",
        right_on="start",
        by="site_id",
        allow_exact_matches=False,
        direction="backward",
    ).sort_values("_row")
    covered = (latest["occurred_at"] < latest["end"] + horizon).to_numpy()
    lead = (latest["occurred_at"] - latest["start"]) / pd.Timedelta(hours=1)
    failures = ev.drop(columns="_row").assign(
        warned=covered, lead_time_hours=np.where(covered, lead.to_numpy(float), np.nan)
    )
    pairs = eps.reset_index(names="_ep").merge(ev, on="site_id", how="inner")
    hit = pairs.loc[
        (pairs["occurred_at"] > pairs["start"]) & (pairs["occurred_at"] < pairs["end"] + horizon),
        "_ep",
    ]
    return failures, eps.assign(failure=eps.index.isin(hit.unique()))


def episode_summary(failures: pd.DataFrame, episodes: pd.DataFrame) -> dict[str, Any]:
    """Counts of :func:`verify_episodes`' output with 95% Wilson intervals (small counts):
    failures, warned, POD, median lead (warned failures), episodes, false episodes,
    false-alarm ratio (false episodes / episodes)."""
    from models.metrics import wilson_interval

    n, k = len(failures), int(failures["warned"].sum())
    n_ep, false = len(episodes), int((~episodes["failure"]).sum())
    lead = failures["lead_time_hours"].dropna()
    return {
        "failures": n,
        "warned": k,
        "pod": k / n if n else float("nan"),
        "pod_ci": wilson_interval(k, n),
        "median_lead_h": float(lead.median()) if len(lead) else float("nan"),
        "episodes": n_ep,
        "false_episodes": false,
        "far": false / n_ep if n_ep else float("nan"),
        "far_ci": wilson_interval(false, n_ep),
    }


def site_day_table(
    levels: pd.DataFrame, episodes: pd.DataFrame, events: pd.DataFrame, tz: str
) -> pd.DataFrame:
    """One row per site and local day of ``levels``' period: ``warned`` (an episode in
    force at some time of the day) and ``failure`` (a failure at the site that day); for
    :func:`models.metrics.warning_metrics` per site-day."""

    def day(t: pd.Series) -> pd.Series:
        return pd.DatetimeIndex(t).tz_convert(tz).tz_localize(None).normalize().to_series()

    at = levels.astype({"site_id": str})
    span = day(at["at"])
    days = pd.date_range(span.min(), span.max(), freq="D") if len(span) else []
    grid = pd.MultiIndex.from_product(
        [sorted(at["site_id"].unique()), days], names=["site_id", "day"]
    ).to_frame(index=False)
    warned = [
        (site, d)
        for site, a, b in zip(
            episodes["site_id"].astype(str),
            day(episodes["start"]),
            day(episodes["end"] - pd.Timedelta(microseconds=1)),
            strict=True,
        )
        for d in pd.date_range(a, b, freq="D")
    ]
    ev = events.dropna(subset=["site_id", "occurred_at"])
    failed = set(zip(ev["site_id"].astype(str), day(ev["occurred_at"]), strict=True))
    keys = list(zip(grid["site_id"], grid["day"], strict=True))
    w = set(warned)
    return grid.assign(warned=[k in w for k in keys], failure=[k in failed for k in keys])


def budget_threshold(score: np.ndarray, site: np.ndarray, budget: int, iters: int = 40) -> float:
    """The lowest threshold at which ``score`` raises at most ``budget`` episodes (rows
    sorted by site, then origin); inf when even the top score alone exceeds it.

    Bisection over the score's quantiles: the episode count falls (almost always) as the
    threshold rises; the returned threshold is one whose count was checked.
    """
    s = np.asarray(score, dtype=float)
    if s.size == 0 or budget <= 0:
        return float("inf")
    qs = np.sort(s)
    lo, hi = 0, len(qs)  # index into qs; threshold qs[i]; hi = never
    best = float("inf")
    for _ in range(iters):
        if lo >= hi:
            break
        mid = (lo + hi) // 2
        if episode_count(site, s >= qs[mid]) <= budget:
            best, hi = float(qs[mid]), mid
        else:
            lo = mid + 1
    return best


def budget_level_thresholds(
    score: np.ndarray,
    site: np.ndarray,
    rule_level: np.ndarray,
    shares: list[float],
) -> list[float]:
    """Levels 1..4 of the model on its training rows (sorted by site, then origin): blue
    and yellow at the sensor rules' training rates (``shares``); orange and red at the
    sensor rules' *episode* budget (no more orange-or-above / red episodes on the training
    rows than the rules raise there). Nested (a higher level never has a lower threshold).
    """
    lv = np.nan_to_num(np.asarray(rule_level, dtype=float), nan=0.0)
    th = [rate_threshold(score, shares[0]), rate_threshold(score, shares[1])]
    for k in (3, 4):
        th.append(budget_threshold(score, site, episode_count(site, lv >= k)))
    return untie_levels(list(np.maximum.accumulate(np.asarray(th, dtype=float))))


def clustered_precision_lower(y: np.ndarray, cluster: np.ndarray, confidence: float) -> np.ndarray:
    """One-sided lower confidence bounds of the precision of the first ``i + 1`` rows, for
    every ``i`` (rows in the order they are added), the rows grouped in ``cluster``s.

    The Wilson score bound of the precision ``p`` (failures / rows) at Kish's effective
    sample size: ``n_eff = p (1 - p) / v``, ``v`` the cluster-robust variance of the
    ratio, ``m / (m - 1) * sum_c (pos_c - p n_c)^2 / N^2`` over the ``m`` clusters with a
    row so far, and never more than ``m`` (so ``m`` when ``v`` is 0: every cluster all
    failures or none; the design effect is then unknown, and ``m`` clusters are at most
    ``m`` pieces of evidence). Why clusters: the training rows of one site in one storm
    are one piece of evidence, not many (hourly 720-site simulation, 2026-12-07: the red
    band of the refit that scored most of the evaluation window's failure hours rested on
    17 held-out training rows at 14 sites, 11 of them failures; the red hours it added
    out of sample were failures 28 % of the time against the rules' 56 %). One cluster:
    -inf (one site says nothing about the others). Running sums: adding a row (failure
    ``e``) to a cluster that held ``n`` rows and ``pos`` failures adds ``2 n + 1`` to
    ``sum n_c^2``, ``2 pos e + e`` to ``sum pos_c^2`` and ``pos + e n + e`` to
    ``sum pos_c n_c``.
    """
    from scipy.stats import norm

    e = np.asarray(y, dtype=float)
    c = pd.factorize(np.asarray(cluster))[0]
    if e.size == 0:
        return np.zeros(0)
    # rows of the same cluster before each row, and their failures (in the given order)
    n_before = pd.Series(c).groupby(c).cumcount().to_numpy(float)
    pos_before = pd.Series(e).groupby(c).cumsum().to_numpy(float) - e
    n_tot = np.arange(1, e.size + 1, dtype=float)
    p = np.cumsum(e) / n_tot
    s_nn = np.cumsum(2.0 * n_before + 1.0)
    s_pp = np.cumsum(2.0 * pos_before * e + e)
    s_pn = np.cumsum(pos_before + e * n_before + e)
    m = np.cumsum(n_before == 0).astype(float)
    ss = np.maximum(s_pp - 2.0 * p * s_pn + p**2 * s_nn, 0.0)
    z = float(norm.ppf(confidence))
    with np.errstate(divide="ignore", invalid="ignore"):
        v = m / (m - 1.0) * ss / n_tot**2
        n = np.where(v > 0, np.minimum(m, p * (1.0 - p) / v), m)
        low = (p + z**2 / (2 * n) - z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))) / (
            1 + z**2 / n
        )
    return np.where(m > 1, low, -np.inf)


def served_threshold(
    score: np.ndarray,
    y: np.ndarray,
    rule_warned: np.ndarray,
    lo: float,
    hi: float,
    min_precision: float = 0.0,
    cluster: np.ndarray | None = None,
    confidence: float = 0.0,
) -> float:
    """The model's threshold of one level, in ``[lo, hi]``: the one at which the *served*
    warning at that level (``score >= t`` or the rules warn) has the highest TSS on these
    rows; ``hi`` (the model adds nothing of its own at this level) unless a lower
    threshold raises that TSS strictly. Ties go to the higher threshold (fewer warnings).

    Lowering ``t`` from ``hi`` adds the rows scored in ``[t, hi)`` that the rules do not
    warn already: TSS(t) - TSS(hi) = their failures / all failures - their non-failures /
    all non-failures, a running sum over those rows by falling score.

    ``min_precision``: only thresholds whose added rows are failures at least this often
    are candidates (the rules' own precision at the level: the served FAR is then not
    above the rules' on these rows).

    ``confidence`` > 0 (with ``min_precision`` > 0): the added rows' precision must reach
    ``min_precision`` at this one-sided confidence, judged by
    :func:`clustered_precision_lower` with the rows grouped by ``cluster`` (the site of
    each row; None: each row its own), not by the point estimate: a threshold chosen as
    the best of many on a handful of failures is otherwise kept by chance.
    """
    s = np.asarray(score, dtype=float)
    e = np.asarray(y) == 1
    n_pos, n_neg = int(e.sum()), int((~e).sum())
    if not np.isfinite(lo) or lo >= hi or n_pos == 0 or n_neg == 0:
        return float(hi)
    m = ~np.asarray(rule_warned, dtype=bool) & (s >= lo) & (s < hi)
    if not m.any():
        return float(hi)
    order = np.argsort(-s[m], kind="stable")
    sm, em = s[m][order], e[m][order]
    gain = np.cumsum(em) / n_pos - np.cumsum(~em) / n_neg
    # a threshold warns every row scored at or above it: only the last row of a run of
    # equal scores is a threshold's gain
    last = np.r_[sm[1:] != sm[:-1], True]
    if confidence > 0 and min_precision > 0:
        cm = np.arange(len(s))[m] if cluster is None else np.asarray(cluster)[m]
        precise = clustered_precision_lower(em, cm[order], confidence) >= min_precision
    else:
        precise = np.cumsum(em) >= min_precision * np.arange(1, len(em) + 1)
    gain = np.where(last & precise, gain, -np.inf)
    i = int(np.argmax(gain))  # the first maximum: the highest threshold among ties
    return float(sm[i]) if gain[i] > 0 else float(hi)


def served_level_thresholds(
    score: np.ndarray,
    y: np.ndarray,
    rule_level: np.ndarray,
    thresholds: list[float],
    far_not_worse: bool = False,
    own_from: int = 1,
    cluster: np.ndarray | None = None,
    far_confidence: float = 0.0,
    far_confidence_from: int = 1,
) -> list[float]:
    """The model's levels 1..4 fitted so that the level served (the higher of the model's
    and the sensor rules', :func:`riskwarn.warnings.combine_geohazard_levels`) does not lose
    TSS to the rules' own level on these (training) rows.

    From red down to blue, level ``k``'s threshold is the :func:`served_threshold` between
    its rate threshold (``thresholds[k]``: the model never warns more than that) and level
    ``k + 1``'s fitted one (red: infinity): the threshold maximising the served TSS at
    level ``k``, or level ``k + 1``'s when no lower one raises it, so the model adds no
    warning of its own at level ``k`` (a rule's level-k warning is served anyway). With
    the model adding nothing the served level is the rules' (difference 0); any threshold
    kept lower raised the served TSS on the training rows. Nested by construction.

    ``far_not_worse``: the warnings the model adds at level ``k`` (the rows a lower
    threshold adds, not warned by the rules at ``k``) must also be failures at least as
    often as the rules' own level-``k`` warnings on these rows (``min_precision`` of
    :func:`served_threshold`), so the served FAR at ``k`` is not above the rules' there:
    a warning of the model's own is as trustworthy as a rule's at that level. Why: the
    TSS alone rewards any addition better than chance; on the 720-site simulation
    (hourly, 2026-12-06) the model's own blue, kept for a training-row TSS gain of
    +0.006..+0.015 with its added rows failures at 0.03-0.31 % against the rules' blue at
    0.04-0.75 %, lowered the served TSS on the evaluation window (served blue -0.016
    [-0.030, -0.003] against the rules': the gate's per-level check failed). It holds on
    these rows only: on that evaluation window the served red's FAR stayed above the
    rules' (+0.096 [+0.023, +0.147]; docs/benchmarks-models.md).

    ``own_from``: the lowest level (1 blue .. 4 red) at which the model may add warnings
    of its own; each level below it gets the threshold of the level above (the model
    adds nothing there: the served level is the rules').

    ``far_confidence`` > 0 (with ``far_not_worse``): the added warnings' precision must
    reach the rules' at that one-sided confidence, the rows grouped by ``cluster`` (their
    sites; :func:`clustered_precision_lower`), instead of by the point estimate, at the
    levels from ``far_confidence_from`` up. Each level below ``far_confidence_from`` is
    decided independently of the bound: its threshold is the one fitted without any bound
    (below the point-fitted levels above it), so bounding red never removes or moves the
    model's own orange or yellow. Why: with the chain fitted below a bounded red (red
    adding nothing, so an infinite ``hi``), the last hourly refit of the 720-site
    simulation moved orange and yellow, and the served yellow failed the gate's check
    (2026-12-07, docs/benchmarks-models.md, "Served red FAR"). The bounded levels then
    sit at or above the highest unbounded one below them (nested): a bounded level
    whose threshold fell below it warns from that one (a subset of its band, its
    highest-scored rows).
    """
    lv = np.nan_to_num(np.asarray(rule_level, dtype=float), nan=0.0)
    e = np.asarray(y) == 1

    def chain(conf_at: float) -> list[float]:
        out = [float(t) for t in thresholds]
        hi = float("inf")
        for k in (4, 3, 2, 1):
            warned = lv >= k
            floor = float(e[warned].mean()) if far_not_worse and warned.any() else 0.0
            if k >= own_from:
                conf = conf_at if k >= far_confidence_from else 0.0
                out[k - 1] = served_threshold(
                    score, y, warned, out[k - 1], hi, floor, cluster, conf
                )
            else:  # below the lowest level of its own: nothing the rules do not warn
                out[k - 1] = hi
            hi = out[k - 1]
        return out

    point = chain(0.0)
    if not (far_confidence > 0 and far_not_worse) or far_confidence_from > 4:
        return point
    bounded = chain(far_confidence)
    out = [point[k - 1] if k < far_confidence_from else bounded[k - 1] for k in (1, 2, 3, 4)]
    return [float(t) for t in np.maximum.accumulate(np.asarray(out, dtype=float))]
