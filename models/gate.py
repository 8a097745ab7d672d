"""The promotion gate: may a challenger replace the champion? (pure, no MLflow).

:func:`gate` compares the challenger with the champion (paired bootstrap CI of the
headline metric above zero) and, for the hotspot models, with the best baseline (not
worse beyond noise at PAI@1/5/10 %, every event counted) on the latest backtest window,
for the site models with the rule they replace at each warning level (TSS not worse
beyond noise, :func:`level_check`), and checks its calibration; :class:`GateResult` is the decision with its numbers, logged as
``gate.json`` with the version (``models.registry.settle_gate``) and shown by the
dashboard's verdict.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


def ci_bound(value: float) -> str:
    """A CI bound with its sign: 3 decimals, or 2 significant digits when a nonzero bound
    would print as 0.000 (a bound of -0.00047 read "-0.000", hiding which side of 0 it
    lies; the gate's rules turn on that side)."""
    v = float(value)
    if v != 0 and math.isfinite(v) and abs(v) < 0.0005:
        return f"{v:+.{1 - math.floor(math.log10(abs(v)))}f}"
    return f"{v:+.3f}"


def ci_text(lo: float, hi: float) -> str:
    """ "95% CI [lo, hi]" with :func:`ci_bound`'s bounds."""
    return f"95% CI [{ci_bound(lo)}, {ci_bound(hi)}]"


def side_words(diff: float, lo: float, hi: float) -> str:
    """``": win"``, ``": loss"`` or ``": tie, point below"`` (``above``, ``at 0``): the
    comparison read from its CI the same way on both sides
    (:func:`models.metrics.paired_verdict`), said in a check's detail beside the gate's
    own decision, which it never changes (a "not worse" check passes a tie with its point
    below, and says so)."""
    from models.metrics import paired_verdict

    word = paired_verdict(diff, lo, hi)
    return "" if word == "n/a" else f": {word}"


class NothingToLearn(ValueError):
    """A domain's data hold no label a model could learn from before any evaluation
    origin (e.g. no site failure in the training rows): nothing is trained, logged or
    gated, and the champion (if any) keeps serving. ``riskwarn.pipeline.train_domain``
    reports it as *not trained* instead of failing the run. The message is English;
    ``zh`` is the same reason in Chinese (for the dashboard's Chinese pages), if given."""

    def __init__(self, reason: str, zh: str | None = None) -> None:
        super().__init__(reason)
        self.zh = zh


NOT_WORSE_HEADLINE = "pai@0.05"
"""The non-inferiority check shown as the comparison with the best baseline."""


BASELINE_RULE: dict[str, str] = {"hotspot": "not_worse", "case": "beats", "site": "beats"}
"""How the trainer of each model family (``riskwarn.domains.Family``) has :func:`gate`
compare its challenger with the simple methods: ``not_worse`` (the hotspot models,
``models/train.py``, ``not_worse=`` at PAI@1/5/10 % against the best baseline: a check
fails only if the 95 % CI of the difference lies wholly below zero) or ``beats`` (the case
and site models, ``comparisons=``: every baseline, the CI's lower bound above zero; the
site models also each warning level's TSS not worse than the sensor rules,
``levels_vs_rule=``). The dashboard words the gate from it (``dashboard.verdicts``);
tests/test_gate_rule_words.py checks that the trainers call :func:`gate` so."""


NOT_JUDGED = "not_judged"
"""The status of a gate some of whose comparisons could not be computed (no event in the
evaluation window, a non-finite CI) and none of whose judged checks failed."""

DEFAULT_NOT_JUDGED_WHY = "the comparison gave no finite difference (no event in the window?)"

MIN_CHAMPION_ORIGINS = 4
"""The champion is compared only on evaluation origins at or after its ``trained_through``
(out of sample for both models); with fewer such origins than this (or no event among
them) the comparison is not made (:class:`ChampionComparison`)."""

MIN_CHAMPION_EVENTS = 1
"""... and at least this many events (failures, escalations) among those origins."""


@dataclass(frozen=True)
class ChampionComparison:
    """The challenger against the serving champion, out of sample for both.

    ``trained_through``: the champion's training origin (ISO UTC; labels at or after it
    were never seen), from its run's param, else its run's ``trained_until``, else its
    run's start time (``through_source`` says which); ``recipe_same``: the challenger is trained the same
    way (:mod:`models.recipe`), so it is a refresh with newer data (to
    ``challenger_through``); ``n_origins`` of the window's ``window_origins`` come at or
    after ``trained_through``, holding ``n_events`` events (``event_words``: "event",
    "site failure", "escalation"); ``diff`` / ``ci``: challenger minus champion on
    exactly those origins (None when there were too few to compute it).
    """

    version: str
    trained_through: str
    recipe_same: bool
    n_origins: int
    window_origins: int
    n_events: int
    challenger_through: str | None = None
    diff: float | None = None
    ci: tuple[float, float] | list[float] | None = None
    through_source: str = "trained_through"
    event_words: str = "event"
    resampled: str | None = None  # what the measure's bootstrap drew ("cases"), if it says
    n_clusters: int | None = None
    # hotspot domains: the lake sources whose events both were counted on (the city's,
    # every source), and each model's own input sources (None: every source);
    # ``sources_known``: the champion was loaded (its sources read from it)
    counted_on: tuple[str, ...] | None = None
    challenger_sources: tuple[str, ...] | None = None
    champion_sources: tuple[str, ...] | None = None
    sources_known: bool = False
    # case domains: the sources of the cases compared when the champion was trained on
    # fewer than the challenger (the rows both may score); None: every case
    compared_cases_of: tuple[str, ...] | None = None

    @property
    def enough(self) -> bool:
        """Whether the out-of-sample origins are enough to compare on."""
        return self.n_origins >= MIN_CHAMPION_ORIGINS and self.n_events >= MIN_CHAMPION_EVENTS

    def numbers(self) -> dict[str, Any]:
        """What the gate's check records (besides ``diff`` / ``ci``)."""
        return {
            "against": "champion",
            "champion_version": self.version,
            "trained_through": self.trained_through,
            "trained_through_from": self.through_source,
            "recipe_same": bool(self.recipe_same),
            "n_origins": int(self.n_origins),
            "window_origins": int(self.window_origins),
            "n_events": int(self.n_events),
            "min_origins": MIN_CHAMPION_ORIGINS,
            **({"challenger_through": self.challenger_through} if self.challenger_through else {}),
            **self.sources_numbers(),
            **(
                {"compared_cases_of": list(self.compared_cases_of)}
                if self.compared_cases_of
                else {}
            ),
        }

    @property
    def same_data(self) -> bool:
        """The challenger was trained through the champion's own ``trained_through``: a
        refit on the same data, not a refresh with newer data (a champion whose end is its
        run's start time says nothing of its data: not the same)."""
        if self.through_source in DATA_END_UNKNOWN:
            return False
        mine, theirs = _instant(self.challenger_through), _instant(self.trained_through)
        return mine is not None and theirs is not None and mine == theirs

    def sources_numbers(self) -> dict[str, Any]:
        """The sources recorded with the check (hotspot domains): ``counted_on_sources``
        (the events both models were counted on), ``challenger_sources`` and, once the
        champion was loaded, ``champion_sources`` (its inputs; [] = every source)."""
        if self.counted_on is None:
            return {}
        out: dict[str, Any] = {
            "counted_on_sources": list(self.counted_on),
            "challenger_sources": list(self.challenger_sources or ()),
        }
        if self.sources_known:
            out["champion_sources"] = list(self.champion_sources or ())
        return out


def _need() -> str:
    return "an" if MIN_CHAMPION_EVENTS == 1 else str(MIN_CHAMPION_EVENTS)


def _day(iso: str | None) -> str:
    return str(iso or "?")[:10]


RUN_GONE = "run gone"
"""``through_source`` of a champion whose data end cannot be read at all: its version
records none (registered before 2026-12-07) and its run is gone (deleted, collected by
``mlflow gc``); its ``trained_through`` is then its registration time."""

DATA_END_UNKNOWN = ("run start", RUN_GONE)
"""The ``through_source`` values whose ``trained_through`` is not the end of the model's
training data (it may have seen anything before it)."""

OLDER_DATA = "older_than_champion"
"""The ``reason`` of the champion check of a challenger whose training data end before the
serving champion's (:func:`champion_check`): a judged failure, never promoted
automatically (a backfill must not roll the champion back to staler data)."""


def _instant(iso: str | None) -> pd.Timestamp | None:
    """``iso`` as a UTC timestamp (naive: UTC), None if it is missing or unreadable."""
    if not iso:
        return None
    try:
        stamp = pd.Timestamp(iso)
    except (TypeError, ValueError):
        return None
    if stamp is pd.NaT:
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def older_than_champion(c: ChampionComparison) -> bool:
    """Whether the challenger's training data end (``challenger_through``) before the
    champion's (``trained_through``). Only a known data end counts: a champion whose end is
    its run's start time (``through_source`` ``"run start"``, an old run without the param)
    may have been trained on anything before it, so that time says nothing of its data."""
    if c.through_source in DATA_END_UNKNOWN:
        return False
    mine, theirs = _instant(c.challenger_through), _instant(c.trained_through)
    return mine is not None and theirs is not None and mine < theirs


def champion_check(c: ChampionComparison) -> dict[str, Any]:
    """The gate's check of the challenger against the champion (see :func:`gate`)."""
    v, through = f"champion v{c.version}", _day(c.trained_through)
    numbers = c.numbers()
    if older_than_champion(c):
        # a backfill (train --as-of an old date, Airflow's train_models backfill) would
        # otherwise pass as a "refresh" and roll the champion back to staler data
        return {
            "check": "data not older than champion",
            "ok": False,
            "detail": f"trained on data to {_day(c.challenger_through)}, before {v}'s data "
            f"(to {through}): an older model never replaces a newer one automatically; to "
            "roll back to it on purpose, promote it by hand with --force and a reason",
            "reason": OLDER_DATA,
            "compared": False,
            "challenger_through": c.challenger_through,
            **numbers,
        }
    after = (
        f"{c.n_origins} of the window's {c.window_origins} origins after {through}, "
        f"{c.n_events} {c.event_words}(s)"
    ) + (
        f" (the cases of {', '.join(c.compared_cases_of)} only: the sources {v} was "
        "trained on and is served on)"
        if c.compared_cases_of
        else ""
    )
    if c.recipe_same:
        name = "not worse than champion"
        if not c.enough or c.diff is None or c.ci is None:
            return {
                "check": name,
                "ok": True,
                "detail": f"same recipe as {v} (trained to {through}): "
                + (
                    "a refit on the same data"
                    if c.same_data
                    else f"a refresh with data to {_day(c.challenger_through)}"
                )
                + "; nothing to compare out of sample "
                f"({c.n_origins} origins after {through} with {c.n_events} "
                f"{c.event_words}(s), needs {MIN_CHAMPION_ORIGINS} with {_need()} "
                f"{c.event_words}); judged by the rules and calibration checks",
                "compared": False,
                **numbers,
            }
    else:
        name = "beats champion"
        if not c.enough or c.diff is None or c.ci is None:
            comes = "comes" if c.n_origins == 1 else "come"
            held = (
                f"only {c.n_origins} of the window's {c.window_origins} origins {comes} after it"
                if c.n_origins < MIN_CHAMPION_ORIGINS
                else f"the {c.n_origins} of the window's {c.window_origins} origins after it "
                f"hold {c.n_events} {c.event_words}(s)"
            )
            return _not_judged(
                name,
                f"{v} was trained on data to {through}; {held} (needs "
                f"{MIN_CHAMPION_ORIGINS} with {_need()} {c.event_words}): it cannot be compared "
                "out of sample. Wait until the window holds them, or promote by hand",
                reason="champion_out_of_sample",
                compared=False,
                **numbers,
            )
    lo, hi = (float(x) for x in c.ci)
    if not _finite(c.diff, lo, hi):
        return _not_judged(
            name,
            f"no finite difference with {v} on the {after}",
            reason="champion_no_difference",
            compared=False,
            **numbers,
        )
    ok = (hi >= 0) if c.recipe_same else (lo > 0)
    rule = " (fails only if the CI lies below zero)" if c.recipe_same else ""
    unit = {"resampled": c.resampled, "n_clusters": c.n_clusters} if c.resampled else {}
    return {
        "check": name,
        "ok": bool(ok),
        "detail": f"diff {c.diff:+.3f}, {ci_text(lo, hi)}{side_words(c.diff, lo, hi)}{rule}"
        f"{resampled_words(unit)}, out of sample: {after} ({v} trained to {through})",
        "compared": True,
        **numbers,
        "diff": float(c.diff),
        "ci": [lo, hi],
        **unit,
    }


@dataclass
class GateResult:
    """Promotion decision with its reasons (each check and its numbers).

    ``status``: ``pass`` (every check ok), ``fail`` (a check was judged and failed) or
    ``not_judged`` (no judged check failed, but a comparison could not be computed: the
    challenger was never shown to beat what it is compared with, nor to lose).
    ``passed`` is True only for ``pass``: a challenger that was not judged is not promoted
    automatically; a person may promote it by hand with a reason (audited,
    ``riskwarn promote --force``).
    """

    passed: bool
    checks: list[dict[str, Any]] = field(default_factory=list)
    # the serving champion's version the challenger was judged against (None: there was
    # none); promote refuses a pass judged against another champion than the one serving
    champion: str | None = None

    @property
    def judged(self) -> bool:
        """Whether every check could be computed."""
        return all(c.get("judged", True) for c in self.checks)

    @property
    def status(self) -> str:
        if self.passed:
            return "pass"
        failed = [c for c in self.checks if not c["ok"] and c.get("judged", True)]
        return "fail" if failed or self.judged else NOT_JUDGED

    def record(self) -> dict[str, Any]:
        """The decision as JSON-able data (``gate.json`` of the run): ``passed``,
        ``status``, ``judged``, ``champion`` (the version judged against, null: none) and
        each check with its numbers (``against``, ``diff``,
        ``ci``; ``ece``, ``bound``; ``judged: false`` for a comparison not computed)."""
        return {
            "passed": bool(self.passed),
            "status": self.status,
            "judged": self.judged,
            "champion": self.champion,
            "checks": json.loads(json.dumps(self.checks)),
        }

    def summary(self) -> str:
        status = {"pass": "PASS", "fail": "FAIL", NOT_JUDGED: "NOT JUDGED"}[self.status]
        parts = [
            f"{c['check']}: {c['detail']}"  # "not judged: <why>"
            if not c.get("judged", True)
            else f"{c['check']}: {'ok' if c['ok'] else 'no'} ({c['detail']})"
            for c in self.checks
        ]
        return f"gate {status}: " + "; ".join(parts)


def _finite(*values: Any) -> bool:
    try:
        return bool(np.all(np.isfinite(np.asarray(values, dtype=float))))
    except (TypeError, ValueError):
        return False


def _not_judged(check: str, why: str, **numbers: Any) -> dict[str, Any]:
    """A comparison that could not be computed: not ok (never promotes), not a failure."""
    return {"check": check, "ok": False, "judged": False, "detail": f"not judged: {why}", **numbers}


LEVEL_CHECK_METRIC = "tss"
"""The metric each warning level is judged on against the rule the model replaces."""


def level_check(level: str, comp: dict[str, Any], why: str) -> dict[str, Any]:
    """The gate's check of one warning level against the rule the model replaces (see
    :func:`gate`'s ``levels_vs_rule``): TSS not worse beyond noise, POD and FAR shown."""
    against = str(comp["against"])
    whose = {
        "served": "the served level (the higher of the model's and the rule's)",
        "published": "the served level as the nowcast publishes it (hysteresis and hold), "
        "against the rule alone as published",
    }.get(str(comp.get("levels_from")), "the model's own level")
    name = f"not worse than {against} at TSS at {level}"
    tss, pod, far = comp["tss"], comp.get("pod") or {}, comp.get("far") or {}
    lo, hi = (float(x) for x in tss["ci"])
    numbers: dict[str, Any] = {
        "metric": f"{LEVEL_CHECK_METRIC}@{level}",
        "against": against,  # "baseline" until 2026-12-08: readers take both
        "level": level,
        "levels_from": comp.get("levels_from", "xgboost"),
        "pod": {k: pod.get(k) for k in ("model", "rule", "diff", "ci")} if pod else None,
        "far": {k: far.get(k) for k in ("model", "rule", "diff", "ci")} if far else None,
    }
    if not _finite(tss["diff"], lo, hi):
        return _not_judged(name, why, **numbers)

    def shown(x: dict[str, Any]) -> str:
        if not x:
            return "n/a"
        ci = x.get("ci") or [float("nan")] * 2
        return (
            f"{x['model']:.3f} vs {x['rule']:.3f} ({x['diff']:+.3f}, "
            f"{ci_text(float(ci[0]), float(ci[1]))})"
        )

    return {
        "check": name,
        "ok": bool(hi >= 0),
        "detail": f"{whose}: TSS {tss['model']:.3f} vs {tss['rule']:.3f}, diff "
        f"{tss['diff']:+.3f}, {ci_text(lo, hi)}{side_words(float(tss['diff']), lo, hi)} "
        f"(fails only if the CI lies below zero); POD {shown(pod)}, FAR {shown(far)}",
        **numbers,
        "diff": float(tss["diff"]),
        "ci": [lo, hi],
    }


def resampled_words(comp: dict[str, Any]) -> str:
    """What a comparison's bootstrap resampled, when it says (`` (bootstrap over 507
    cases)``: the case model's CI resamples whole cases, ``models.case_models``), else
    ``""``."""
    unit = comp.get("resampled")
    if not unit:
        return ""
    n = comp.get("n_clusters")
    return f" (bootstrap over {n} {unit})" if n is not None else f" (bootstrap over {unit})"


COUNTED_KEYS = ("events", "events_never_scored", "flagged_share", "flagged")
"""What a row-metric comparison may carry of the events it leaves out (the case model:
``models.case_models.gate_counts``): kept in the check, said by :func:`counted_words`."""


def counted_words(comp: dict[str, Any], other: str) -> str:
    """The events a comparison over rows leaves out, when it says (the case model: ``;
    on rows, 17 of 222 escalations never scored (in no row, not in AP); escalations
    flagged in the top 10 %: model 120, failed_mediations 98 of 222 (the never-scored
    ones missed by both)``), else ``""``."""
    if comp.get("events") is None or comp.get("events_never_scored") is None:
        return ""
    words = (
        f"; over case x origin rows: {comp['events_never_scored']} of {comp['events']} "
        "escalations never scored (in no row, so in no AP)"
    )
    flagged = comp.get("flagged") or {}
    if flagged and comp.get("flagged_share") is not None:
        words += (
            f"; escalations flagged in the top {float(comp['flagged_share']):.0%}: model "
            f"{float(flagged['model']):.0f}, {other} {float(flagged['baseline']):.0f} of "
            f"{comp['events']} (the never-scored ones missed by both)"
        )
    return words


def _metric_words(metric: str) -> str:
    """``"pai@0.01"`` -> ``"PAI@1%"``."""
    name, _, frac = metric.partition("@")
    try:
        return f"{name.upper()}@{100 * float(frac):g}%"
    except ValueError:
        return metric


def gate(
    comparisons: dict[str, dict[str, Any]],
    ece: float,
    max_ece: float = 0.05,
    champion: str | None = None,
    base_rate: float | None = None,
    n_rows: int | None = None,
    max_ece_ratio: float = 0.5,
    not_worse: dict[str, dict[str, Any]] | None = None,
    not_judged_why: str | None = None,
    champion_vs: ChampionComparison | None = None,
    ece_noise: float | None = None,
    ece_draws: int | None = None,
    levels_vs_rule: dict[str, dict[str, Any]] | None = None,
) -> GateResult:
    """Decide promotion.

    ``comparisons``: for each baseline, the paired-bootstrap difference
    ``{"diff", "ci": [lo, hi]}`` of the headline metric (challenger minus baseline) on the
    latest backtest window, optionally with ``resampled`` and ``n_clusters`` (what the
    bootstrap drew, e.g. 507 ``"cases"``: kept in the check and said in its detail).
    Every lower bound must be above zero (strictly: a CI touching zero fails), and ECE at most
    ``max_ece``. The champion is never one of them (a ``"champion"`` key raises
    ``ValueError``): it is compared out of sample, ``champion_vs`` below. ``champion``:
    the serving version, if any; when there is one but no ``champion_vs`` (it could not
    be loaded, needs inputs the current table lacks, or gave no probability), the gate
    fails: a challenger that could not be compared with the serving model is never
    promoted automatically.
    With ``base_rate`` (the observed event rate of the ``n_rows`` evaluated rows), ECE must
    also be at most ``max_ece_ratio`` x ``base_rate`` or ``ece_noise``, whichever is larger
    (and never above ``max_ece``): at base rates of a few percent an absolute bound of 0.05
    would pass a model that predicts double the true rate everywhere. ``ece_noise`` is the
    95 % quantile of the ECE of a perfectly calibrated model with the challenger's own
    evaluation predictions (``models.metrics.ece_noise_quantile``, ``ece_draws`` draws of
    Bernoulli labels: consistency resampling, Bröcker & Smith 2007): with few events the
    ECE of a calibrated model is itself of the order of the base rate, so only an ECE
    above that is miscalibration beyond noise (:func:`calibration_check`).

    ``not_worse``: non-inferiority checks, keyed by metric (e.g. ``"pai@0.01"``), each
    ``{"against", "diff", "ci": [lo, hi]}`` of challenger minus ``against`` (the hotspot
    models: the best baseline at PAI@1/5/10 %, every event counted). Each passes unless
    its CI lies wholly below zero (worse beyond noise). Each check names the baseline
    under ``against`` and its ``metric``; the dashboard's verdict compares on the run's
    headline (``NOT_WORSE_HEADLINE``, PAI@5 %) and lists every check (gates before
    2026-12-07 wrote ``baseline`` at the other shares: readers read both).

    A comparison whose difference or CI is not finite (no event in the evaluation window,
    so no AUC or PAI) is *not judged*: its check says ``not judged: <not_judged_why>``
    (the domain's words, e.g. "no site failure in the evaluation window 2025-12-01 ..
    2025-12-28"), has ``judged: False`` and ``ok: False``; the gate then does not pass
    (status ``not_judged`` unless another check really failed, :class:`GateResult`).

    ``champion_vs``: the comparison with the serving champion on the origins it never
    saw (:class:`ChampionComparison`, from ``models.champion.compare_with_champion``;
    never a difference scored on rows the champion was fitted on). A challenger
    with another recipe must beat it (CI above zero; too few out-of-sample origins: *not
    judged*); one with the same recipe (a refresh) must not be worse (fails only if the
    CI lies below zero; too few origins: ok, the other checks judge it). Either fails,
    whatever its numbers, when its training data end before the champion's
    (:func:`older_than_champion`: a backfill's model, reason ``older_than_champion``): it is
    never promoted automatically, only by hand (``riskwarn promote --force`` with a reason).

    ``levels_vs_rule``: the warning levels against the rule the model replaces (the site
    models: the sensor rules), keyed by level (``"blue"`` .. ``"red"``), each
    ``{"against", "levels_from", "tss", "pod", "far"}`` with ``tss`` etc.
    ``{"model", "rule", "diff", "ci": [lo, hi]}`` (challenger minus rule, paired: the
    same day resamples as the AUC comparison, ``models.site_evaluation``). A level fails
    when its TSS CI lies wholly below zero (worse beyond noise, as the non-inferiority
    checks above); POD and FAR are shown in the check. Why: a model must never lose to
    the rule it replaces, at any level it issues, and a better AUC does not show that.
    """
    if "champion" in comparisons:
        raise ValueError(
            "the champion is compared only out of sample: pass champion_vs "
            "(models.champion.compare_with_champion), not comparisons['champion']"
        )
    why = not_judged_why or DEFAULT_NOT_JUDGED_WHY
    judged_against = champion or (champion_vs.version if champion_vs is not None else None)
    checks: list[dict[str, Any]] = []
    for metric, comp in sorted((not_worse or {}).items()):
        lo, hi = comp["ci"]
        # every share names the other method "against" (PAI@1% and @10% wrote "baseline"
        # until 2026-12-07, so readers listed the 5% comparison only; they read both)
        key = "against"
        name = f"not worse than {comp['against']} at {_metric_words(metric)}"
        if not _finite(comp["diff"], lo, hi):
            checks.append(_not_judged(name, why, metric=metric, **{key: comp["against"]}))
            continue
        check = {
            "check": name,
            "ok": bool(np.isfinite(hi) and hi >= 0),
            "detail": f"diff {comp['diff']:+.3f}, {ci_text(lo, hi)}"
            f"{side_words(float(comp['diff']), float(lo), float(hi))} "
            "(fails only if the CI lies below zero)",
            "metric": metric,
            "diff": float(comp["diff"]),
            "ci": [float(lo), float(hi)],
        }
        check[key] = comp["against"]
        checks.append(check)
    if champion_vs is not None:
        checks.append(champion_check(champion_vs))
    elif champion is not None:
        checks.append(
            {
                "check": "beats champion",
                "ok": False,
                "detail": f"champion v{champion} could not be scored on this data (load "
                "failed or its features are missing); compare by hand, then promote",
                "against": "champion",
                "champion_version": str(champion),
                "scored": False,
            }
        )
    for other, comp in sorted(comparisons.items()):
        lo, hi = comp["ci"]
        if not _finite(comp["diff"], lo, hi):
            checks.append(_not_judged(f"beats {other}", why, against=other))
            continue
        check = {
            "check": f"beats {other}",
            "ok": bool(np.isfinite(lo) and lo > 0),
            "detail": f"diff {comp['diff']:+.3f}, {ci_text(lo, hi)}"
            + side_words(float(comp["diff"]), float(lo), float(hi))
            + resampled_words(comp)
            + counted_words(comp, other),
            "against": other,
            "diff": float(comp["diff"]),
            "ci": [float(lo), float(hi)],
        }
        for key in ("resampled", "n_clusters", *COUNTED_KEYS):
            if comp.get(key) is not None:
                check[key] = comp[key]
        checks.append(check)
    for level, comp in (levels_vs_rule or {}).items():
        checks.append(level_check(level, comp, why))
    if not checks:  # compared with nothing: calibration alone never promotes
        checks.append(
            _not_judged("beats the baselines", "no comparison with any method was computed")
        )
    calibration = calibration_check(
        ece, max_ece, base_rate, max_ece_ratio, ece_noise, ece_draws, n_rows
    )
    if not _finite(ece):
        checks.append(
            _not_judged("calibration", f"no calibration error ({why})", bound=calibration["bound"])
        )
        return GateResult(False, checks, judged_against)
    checks.append(calibration)
    return GateResult(all(c["ok"] for c in checks), checks, judged_against)


def _num(x: float) -> str:
    """4 decimals, or 2 significant digits below 0.001 (a bound of 6.3e-05 is not 0.0000)."""
    if not np.isfinite(x) or x == 0 or abs(x) >= 0.001:
        return f"{x:.4f}"
    return f"{x:.{1 - int(np.floor(np.log10(abs(x))))}f}"


def calibration_check(
    ece: float,
    max_ece: float = 0.05,
    base_rate: float | None = None,
    max_ece_ratio: float = 0.5,
    ece_noise: float | None = None,
    ece_draws: int | None = None,
    n_rows: int | None = None,
) -> dict[str, Any]:
    """The gate's calibration check: ok if ``ece`` <= bound, where

    bound = min(``max_ece``, max(``max_ece_ratio`` x ``base_rate``, ``ece_noise``)).

    ``max_ece_ratio`` x ``base_rate`` is the miscalibration tolerated in any case (at a base
    rate of 2 %, ECE 0.01 is a model off by half the rate); ``ece_noise`` (the 95 % ECE of a
    calibrated model with these predictions, consistency resampling) is what the events'
    noise alone gives: with 9 failures in 10**5 rows, a calibrated model's ECE is of the
    order of the base rate, above half of it about as often as not. The absolute cap
    ``max_ece`` still holds: a model whose probabilities are off by more than 0.05 on
    average is not served automatically, even when the data are too few to tell (a person
    may promote it by hand). The old allowance, two standard errors of the observed base
    rate, is gone: with one bin it is about this quantile (1.96 s.e. of the rate under the
    model's own predictions), with several bins it undercounts (ECE adds every bin's
    deviation), and for a model that under-predicts it grows with the events the model
    missed. Without ``base_rate`` the relative part is ``max_ece`` (absolute bound only);
    without ``ece_noise`` there is no noise allowance.

    The check carries ``ece``, ``bound``, ``max_ece``, ``ratio_bound``, ``max_ece_ratio``,
    ``base_rate``, ``noise_q95``, ``noise_draws``, ``n_rows`` (None where not given) and
    words that say which term set the bound.
    """
    rate = float(base_rate) if base_rate is not None and base_rate > 0 else None
    rate = rate if rate is not None and np.isfinite(rate) else None
    noise = float(ece_noise) if ece_noise is not None and np.isfinite(ece_noise) else None
    ratio_bound = max_ece_ratio * rate if rate is not None else None
    allowed = max(ratio_bound if ratio_bound is not None else max_ece, noise or 0.0)
    bound = float(min(max_ece, allowed))
    calibrated = "the 95 % ECE of a calibrated model with these predictions"
    draws = f"{ece_draws} draws" if ece_draws else "draws"
    if rate is None or ratio_bound is None:
        why = "the absolute bound" + (
            f"; {calibrated} is {_num(noise)} ({draws})" if noise is not None else ""
        )
    else:
        ratio_words = f"{max_ece_ratio:g} x base rate {_num(rate)}"
        if noise is not None and noise > ratio_bound:
            why = f"{calibrated}, {draws}; {ratio_words} is {_num(ratio_bound)}"
        else:
            why = ratio_words + (
                f"; {calibrated} is {_num(noise)} ({draws})" if noise is not None else ""
            )
    if bound < allowed:
        why += f"; capped at {max_ece:g}"
    return {
        "check": "calibration",
        "ok": bool(ece <= bound),
        "detail": f"ECE {_num(ece)}, bound {_num(bound)} ({why})",
        "ece": float(ece),
        "bound": bound,
        "max_ece": float(max_ece),
        "ratio_bound": ratio_bound,
        "max_ece_ratio": float(max_ece_ratio),
        "base_rate": rate,
        "noise_q95": noise,
        "noise_draws": int(ece_draws) if ece_draws else None,
        "n_rows": int(n_rows) if n_rows is not None else None,
    }
