"""The serving model's verdict in plain words: does it pass its gate, against what, by how much.

Pure functions over what training recorded: the champion version's MLflow run (params,
start time, the version's ``gate`` tag), its ``gate.json`` (the gate's checks with their
numbers, :func:`models.registry.GateResult.record`), its ``metrics.json`` (every
method's headline metric) and the serving store's audit entry of the promotion (who moved
the alias, why, and ``forced_over_gate``). :func:`verdict` gathers the facts,
:func:`verdict_lines` says them in the reader's language.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from dashboard.i18n import fmt_date, fmt_datetime, fmt_int, t
from dashboard.text import md_line, shown_reason

# Ex-post references are not methods a forecaster could use (models.backtest:
# is_ex_post); "champion" is the serving model itself when a challenger is compared.
NOT_A_METHOD_PREFIXES = ("ceiling", "champion")
MODEL_METHOD = "xgboost"
AUTO_PROMOTER = "riskwarn train"  # how models.registry.settle_gate's promotion says "via"


def promoted_automatically(promotion: Mapping[str, Any] | None) -> bool:
    """Whether an audit entry is the training's own promotion after a passed gate: its
    ``details.via`` starts with "riskwarn train" (the actor is whoever ran the training,
    e.g. ``os:airflow``; older entries named "riskwarn train" as the actor)."""
    entry = dict(promotion or {})
    via = str(dict(entry.get("details") or {}).get("via") or "")
    return via.startswith(AUTO_PROMOTER) or entry.get("actor") == AUTO_PROMOTER


@dataclass(frozen=True)
class Comparison:
    """The model minus one other method on the headline metric, with its 95% CI."""

    against: str
    diff: float
    lo: float
    hi: float
    resampled: str | None = None  # what the bootstrap drew, when the gate says ("cases")
    n_clusters: int | None = None
    metric: str | None = None  # the gate check's metric (None: the run's headline)

    @property
    def verdict(self) -> str:
        """``better`` (CI above 0), ``worse`` (CI below 0) or ``tie`` (CI spans 0)."""
        if math.isfinite(self.lo) and self.lo > 0:
            return "better"
        if math.isfinite(self.hi) and self.hi < 0:
            return "worse"
        return "tie"


@dataclass(frozen=True)
class Verdict:
    """What the models page says about one domain's serving model."""

    domain: str
    version: str
    status: str  # pass | fail | not_judged (a comparison not computed) | unknown (no gate)
    forced: bool
    metric: str | None = None
    model_value: float | None = None
    best_baseline: str | None = None
    baseline_value: float | None = None
    versus_best: Comparison | None = None
    rank: int | None = None
    n_methods: int | None = None
    failed: list[dict[str, Any]] = field(default_factory=list)
    not_judged: list[dict[str, Any]] = field(default_factory=list)
    # passed comparisons behind on the point estimate (tie, point below)
    point_below: list[dict[str, Any]] = field(default_factory=list)
    trained_at: pd.Timestamp | None = None
    trained_until: pd.Timestamp | None = None
    # the data end scoring refuses the version over (models.registry.data_end's problem:
    # "unknown", "changed"), the end riskwarn recorded at promotion and the one read now,
    # scoring's English words, and whether the version's run is gone
    data_end_problem: str | None = None
    data_end_recorded: pd.Timestamp | None = None
    data_end_read: pd.Timestamp | None = None
    data_end_words: str | None = None
    data_end_run_gone: bool = False
    n_train_rows: int | None = None
    n_features: int | None = None
    data_version: str | None = None
    eval_start: str | None = None
    eval_end: str | None = None
    n_origins: int | None = None
    # site domains: failures in the backtest, and why the window reaches back (if it does)
    eval_failures: int | None = None
    eval_default_start: str | None = None
    eval_extended_for: str | None = None
    eval_limited_by: str | None = None
    eval_min_failures: int | None = None
    # case domains: the window's escalated cases, and those no row ever scored
    escalations: int | None = None
    escalations_never_scored: int | None = None
    promoted_by: str | None = None
    promoted_at: pd.Timestamp | None = None
    promotion_reason: str | None = None
    promoted_auto: bool = False
    rolled_back: bool = False  # the alias move that made it the champion was a rollback
    # the gate's comparison with the previous serving model (models/gate.py:champion_check)
    champion: dict[str, Any] | None = None
    # promoted with --force over a pass judged against another champion than the one it
    # replaced (the audit entry's forced_over_stale_gate: gate_champion, serving)
    stale_gate: dict[str, Any] | None = None
    # hotspot domains: the run's param ``sources`` (its inputs; "all" = every source,
    # None: not recorded) and the sources whose events its metrics counted
    # (metrics.json ``counted_on_sources``; None: not recorded, before 2026-12-07)
    input_sources: str | None = None
    counted_on: tuple[str, ...] | None = None
    # hotspot domains: what a random choice of the scored cells scores on the headline
    # (:func:`random_reference`; None: not a share-of-area metric, or a run before
    # metrics.json recorded ``events_active_area``) and the events it rests on
    random_ref: float | None = None
    events: int | None = None
    events_outside: int | None = None


def is_method(name: str) -> bool:
    """Whether ``name`` is a usable forecasting method (not a ceiling, not the champion)."""
    return not name.startswith(NOT_A_METHOD_PREFIXES)


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _given(value: Any) -> str | None:
    """A logged param, None for absent or ``none``."""
    return None if value in (None, "", "none") else str(value)


def _time(value: Any) -> pd.Timestamp | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _unit(comp: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """What a comparison's bootstrap resampled and how many of them (None: not said)."""
    n = comp.get("n_clusters")
    return (str(comp["resampled"]) if comp.get("resampled") else None), (
        int(n) if n is not None else None
    )


def resampled_line(c: Comparison, lang: str) -> str | None:
    """The sentence saying what a comparison's CI resampled (the case model: whole cases),
    or None when the gate did not say."""
    if c.resampled == "cases":
        return t("vd_ci_resampled_cases", lang, n=fmt_int(c.n_clusters, lang))
    return None


def comparisons(
    gate: Mapping[str, Any] | None, metrics: Mapping[str, Any] | None
) -> list[Comparison]:
    """Model-minus-other comparisons: the gate's checks, else the metrics' table. A check
    names the other method ``against``; gates before 2026-12-07 wrote ``baseline`` at
    PAI@1% and @10% (and at each warning level): both are read, and each comparison keeps
    its check's ``metric``."""
    out: list[Comparison] = []
    for c in (gate or {}).get("checks", []):
        other = c.get("against") or c.get("baseline")
        if other and "diff" in c and c.get("ci"):
            lo, hi = c["ci"]
            metric = str(c["metric"]) if c.get("metric") else None
            out.append(
                Comparison(
                    str(other), float(c["diff"]), float(lo), float(hi), *_unit(c), metric=metric
                )
            )
    if out:
        return out
    for other, comp in ((metrics or {}).get("model_minus_baseline") or {}).items():
        lo, hi = comp.get("ci", [math.nan, math.nan])
        c = Comparison(str(other), float(comp["diff"]), float(lo), float(hi), *_unit(comp))
        if all(math.isfinite(x) for x in (c.diff, c.lo, c.hi)):  # NaN: nothing was judged
            out.append(c)
    return out


def headline_comparisons(
    gate: Mapping[str, Any] | None, metrics: Mapping[str, Any] | None, headline: str | None
) -> dict[str, Comparison]:
    """:func:`comparisons` on the run's ``headline`` metric, by the other method (a check
    at another share of the area, e.g. PAI@10%, is not the headline's comparison)."""
    return {
        c.against: c
        for c in comparisons(gate, metrics)
        if c.metric is None or headline is None or c.metric == headline
    }


def table_ci_differs(
    gate: Mapping[str, Any] | None, metrics: Mapping[str, Any] | None
) -> list[tuple[Comparison, Comparison]]:
    """The gate's comparisons on the headline whose CI differs from the metrics table's
    for the same method (``model_minus_baseline``): runs before 2026-12-07 drew the
    table's with 500 bootstrap resamples, the gate's with 1000 (the same diff, another
    CI). Since then training records the gate's draws in both; [] then."""
    headline = (metrics or {}).get("headline")
    gated = headline_comparisons(gate, None, headline if isinstance(headline, str) else None)
    table = {c.against: c for c in comparisons(None, metrics)}
    return [
        (g, table[name])
        for name, g in gated.items()
        if name in table
        and (abs(g.lo - table[name].lo) > 1e-9 or abs(g.hi - table[name].hi) > 1e-9)
    ]


def table_ci_words(
    gate: Mapping[str, Any] | None, metrics: Mapping[str, Any] | None, lang: str
) -> str | None:
    """Under the models page's metrics table: which CI of a comparison the gate judged when
    the table (``model_minus_baseline``) holds another for the same comparison
    (:func:`table_ci_differs`: runs before 2026-12-07); None when they agree."""
    pairs = table_ci_differs(gate, metrics)
    if not pairs:
        return None
    sep = "；" if lang == "zh" else "; "
    return t(
        "vd_table_ci_differs",
        lang,
        pairs=sep.join(
            t(
                "vd_table_ci_pair",
                lang,
                other=method_name(g.against, lang),
                gate_lo=comparison_numbers(g.diff, g.lo, g.hi)["lo"],
                gate_hi=comparison_numbers(g.diff, g.lo, g.hi)["hi"],
                lo=comparison_numbers(c.diff, c.lo, c.hi)["lo"],
                hi=comparison_numbers(c.diff, c.lo, c.hi)["hi"],
            )
            for g, c in pairs
        ),
    )


GATE_STATUSES = ("pass", "fail", "not_judged")


def gate_status(gate: Mapping[str, Any] | None, tag: str | None = None) -> str:
    """``pass``, ``fail``, ``not_judged`` or ``unknown`` from a run's gate.json (its
    ``status``; older ones only say ``passed``) or else the version's ``gate`` tag."""
    if gate is not None and "passed" in gate:
        status = gate.get("status")
        if status in GATE_STATUSES:
            return str(status)
        return "pass" if gate.get("passed") else "fail"
    return tag if tag in GATE_STATUSES else "unknown"


def judged_failures(gate: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The gate's checks that were computed and failed."""
    return [
        c for c in (gate or {}).get("checks", []) if not c.get("ok", True) and c.get("judged", True)
    ]


def passed_point_below(gate: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The gate's comparisons that passed while the model is behind on the point estimate
    with a CI reaching 0 ("tie, point below": a "not worse" check lets it through; the
    page names it instead of counting it among plain passes)."""
    out = []
    for c in (gate or {}).get("checks", []):
        ci, diff = c.get("ci"), c.get("diff")
        if not c.get("ok") or c.get("judged", True) is False or diff is None:
            continue
        if (
            isinstance(ci, list | tuple)
            and len(ci) == 2
            and float(diff) < 0
            and float(ci[0]) < 0 <= float(ci[1])
        ):
            out.append(dict(c))
    return out


def unjudged_checks(gate: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The gate's checks that could not be computed (``judged: false``)."""
    return [c for c in (gate or {}).get("checks", []) if c.get("judged", True) is False]


def champion_of(gate: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The gate's out-of-sample comparison with the previous serving model, if it made one
    (``recipe_same`` marks it: older gates compared in-sample and do not carry it)."""
    for c in (gate or {}).get("checks", []):
        if c.get("against") == "champion" and "recipe_same" in c:
            return dict(c)
    return None


def _champion_out_of_sample_unjudged(check: Mapping[str, Any]) -> bool:
    return check.get("reason") == "champion_out_of_sample"


def _same_data(check: Mapping[str, Any]) -> bool:
    """The challenger was trained through the champion's own ``trained_through`` (the
    same data), as the gate's check records it (``challenger_through``; older gates do
    not carry it: not the same)."""
    mine, theirs = check.get("challenger_through"), check.get("trained_through")
    if not mine or not theirs:
        return False
    return bool(_time(mine) == _time(theirs))


def champion_words(
    check: Mapping[str, Any] | None, lang: str, tz: str, domain: str = "DOMAIN"
) -> str | None:
    """The comparison with the previous serving model in plain words (None: nothing to say,
    e.g. it failed: :func:`check_words` says that)."""
    if not check:
        return None
    through = fmt_datetime(_time(check.get("trained_through")), lang, tz)
    numbers = {
        "v": check.get("champion_version", "?"),
        "through": through,
        "n": check.get("n_origins", 0),
        "total": check.get("window_origins", "?"),
        "min": check.get("min_origins", 4),
        "domain": domain,
    }
    if _champion_out_of_sample_unjudged(check):
        return t("vd_gate_not_judged_champion", lang, **numbers)
    if not check.get("ok") or check.get("judged") is False:
        return None
    # "with newer data" only when the challenger was trained through a later time (a
    # retrain on the same lake is a refit on the same data: review of 2026-12-07)
    same = _same_data(check)
    if not check.get("compared"):
        return t(
            "vd_champion_refresh_same_data" if same else "vd_champion_refresh", lang, **numbers
        )
    lo, hi = check["ci"]
    if check.get("recipe_same"):
        key = "vd_champion_not_worse_same_data" if same else "vd_champion_not_worse"
    else:
        key = "vd_champion_better"
    words = t(
        key,
        lang,
        **numbers,
        **comparison_numbers(float(check["diff"]), float(lo), float(hi)),
    )
    c = Comparison("champion", float(check["diff"]), float(lo), float(hi), *_unit(check))
    unit = resampled_line(c, lang)
    return f"{words}{'' if lang == 'zh' else ' '}{unit}" if unit else words


def headline_values(metrics: Mapping[str, Any] | None) -> tuple[str | None, dict[str, float]]:
    """The headline metric's name and each usable method's value of it."""
    if not metrics:
        return None, {}
    name = metrics.get("headline")
    if not isinstance(name, str):
        return None, {}
    values = {
        m: v
        for m, res in (metrics.get("methods") or {}).items()
        if is_method(m) and (v := _num((res or {}).get(name))) is not None
    }
    return name, values


def data_end_words(v: Verdict, lang: str, tz: str = "UTC") -> str | None:
    """When scoring refuses the serving version at every forecast origin because of its
    training data end (:func:`models.registry.data_end`): why and what fixes it, in
    bold; None when it is served. English: scoring's own line; Chinese: the same facts
    (:func:`data_end_refusal`, the one wording of every page)."""
    return data_end_refusal(
        {
            "problem": v.data_end_problem,
            "words": v.data_end_words,
            "recorded": v.data_end_recorded,
            "read": v.data_end_read,
            "run_gone": v.data_end_run_gone,
        },
        v.version,
        v.domain,
        lang,
        tz,
    )


def data_end_refusal(
    data_end: Mapping[str, Any] | None, version: Any, domain: str, lang: str, tz: str = "UTC"
) -> str | None:
    """Scoring's refusal of ``domain``'s ``version`` over its training data end, in bold,
    with why and the fix (``data_end``: :func:`dashboard.model_reads.serving_model`'s,
    :func:`models.registry.data_end` read as scoring reads it); None when it has no
    problem (or the registry could not say). The models page's verdict card, its
    district panel and every page's model caption (the overview's) say it in these
    words. English: scoring's own line; Chinese: the same facts."""
    problem = (data_end or {}).get("problem")
    if data_end is None or problem is None:
        return None
    if lang == "en" and data_end.get("words"):
        return t("vd_data_end_refused", lang, why=md_line(str(data_end["words"])))
    recorded, read = _time(data_end.get("recorded")), _time(data_end.get("read"))
    if problem == "changed" and recorded is not None:
        key = "vd_data_end_unreadable_recorded" if read is None else "vd_data_end_edited"
    elif problem == "changed":
        key = "vd_data_end_unrecorded"
    else:
        key = "vd_data_end_run_gone" if data_end.get("run_gone") else "vd_data_end_unknown"
    why = t(
        key,
        lang,
        v=version,
        domain=domain,
        recorded=fmt_datetime(recorded, lang, tz),
        read=fmt_datetime(read, lang, tz),
    )
    return t("vd_data_end_refused", lang, why=why)


def serving_refusal(
    serving: Mapping[str, Any], domain: str, lang: str, tz: str = "UTC"
) -> str | None:
    """:func:`data_end_refusal` of what scoring would serve for ``domain`` now
    (``serving``: :func:`dashboard.model_reads.serving_model`): the champion passes the
    alias check (``served``) but scoring refuses it at every origin over its training
    data end; None otherwise. A page that would show that champion as the live model (the
    district panel's calibration, the overview's model note) says this instead."""
    if not serving.get("served"):
        return None
    return data_end_refusal(serving.get("data_end"), serving.get("version"), domain, lang, tz)


def verdict(
    domain: str,
    champion: Mapping[str, Any],
    gate: Mapping[str, Any] | None,
    metrics: Mapping[str, Any] | None,
    promotion: Mapping[str, Any] | None,
    data_end: Mapping[str, Any] | None = None,
) -> Verdict:
    """The facts of one domain's serving model (see the module docstring for the inputs).

    ``champion``: ``version``, ``gate_tag``, ``trained_at`` and ``params`` (as
    :func:`dashboard.queries.champion` returns); ``promotion``: the audit entry
    (``actor``, ``at``, ``details``) that pointed the alias at this version, if any;
    ``data_end``: :func:`dashboard.model_reads.serving_model`'s, the training data end
    scoring serves the version on (:func:`models.registry.data_end`: its version's tags
    first, so it outlives its run); None: the registry could not say (shown as unknown,
    never read from the run alone: train and serve read one rule).
    """
    # the version's own gate tag (what promote and scoring check), not its run's gate.json:
    # a version registered again from a judged run, or a tag edited, has the run's file
    tag = champion.get("gate_tag")
    status = str(tag) if tag in GATE_STATUSES else "unknown"
    if gate_status(gate) != status:
        gate = None  # the run's gate.json judged something else: none of its checks apply
    details = dict((promotion or {}).get("details") or {})
    stale = details.get("forced_over_stale_gate")
    forced = bool(details.get("forced_over_gate")) or isinstance(stale, dict)
    name, values = headline_values(metrics)
    comps = headline_comparisons(gate, metrics, name)
    baselines = {m: v for m, v in values.items() if m != MODEL_METHOD}
    best = (metrics or {}).get("best_baseline")
    if best not in baselines:
        best = max(baselines, key=lambda m: baselines[m]) if baselines else None
    model_value = values.get(MODEL_METHOD)
    rank = (
        1 + sum(v > model_value for m, v in values.items() if m != MODEL_METHOD)
        if model_value is not None
        else None
    )
    params = champion.get("params") or {}
    eval_failures = _num(params.get("eval_failures"))
    rows = _num(params.get("n_train_rows"))
    feats = _num(params.get("n_features"))
    origins = _num(params.get("eval_origins") or (metrics or {}).get("n_origins"))
    escalations = _num((metrics or {}).get("escalations"))
    unscored = _num((metrics or {}).get("escalations_never_scored"))
    return Verdict(
        domain=domain,
        version=str(champion.get("version")),
        status=status,
        forced=forced,
        metric=name,
        model_value=model_value,
        best_baseline=best,
        baseline_value=baselines.get(best) if best else None,
        versus_best=comps.get(best) if best else None,
        rank=rank,
        n_methods=len(values) if model_value is not None else None,
        failed=judged_failures(gate),
        not_judged=unjudged_checks(gate),
        point_below=passed_point_below(gate),
        trained_at=_time(champion.get("trained_at")),
        trained_until=_time((data_end or {}).get("at")),
        data_end_problem=(data_end or {}).get("problem"),
        data_end_recorded=_time((data_end or {}).get("recorded")),
        data_end_read=_time((data_end or {}).get("read")),
        data_end_words=(data_end or {}).get("words"),
        data_end_run_gone=bool((data_end or {}).get("run_gone")),
        n_train_rows=int(rows) if rows is not None else None,
        n_features=int(feats) if feats is not None else None,
        data_version=params.get("data_version"),
        eval_start=params.get("eval_start"),
        eval_end=params.get("eval_end"),
        n_origins=int(origins) if origins is not None else None,
        eval_failures=int(eval_failures) if eval_failures is not None else None,
        eval_default_start=params.get("eval_default_start"),
        eval_extended_for=_given(params.get("eval_window_extended_for")),
        eval_limited_by=_given(params.get("eval_window_limited_by")),
        eval_min_failures=int(wanted)
        if (wanted := _num(params.get("eval_min_failures")))
        else None,
        escalations=int(escalations) if escalations is not None else None,
        escalations_never_scored=int(unscored) if unscored is not None else None,
        promoted_by=(promotion or {}).get("actor"),
        promoted_at=_time((promotion or {}).get("at")),
        promotion_reason=details.get("reason"),
        promoted_auto=promoted_automatically(promotion),
        rolled_back=(promotion or {}).get("action") == "rollback",
        champion=champion_of(gate),
        stale_gate=stale if isinstance(stale, dict) else None,
        input_sources=_given(params.get("sources")),
        counted_on=counted_sources(metrics),
        random_ref=random_reference(name, model_figures(metrics)),
        **coverage(model_figures(metrics)),
    )


def counted_sources(metrics: Mapping[str, Any] | None) -> tuple[str, ...] | None:
    """The sources whose events a hotspot run's metrics counted (metrics.json
    ``counted_on_sources``), None when the run does not say (before 2026-12-07)."""
    got = (metrics or {}).get("counted_on_sources")
    return tuple(str(s) for s in got) if isinstance(got, list | tuple) else None


def _source_list(names: Any, lang: str) -> str:
    """``["a", "b"]`` -> "the source(s) a, b"; empty or None (every source) -> "every source"."""
    if not names:
        return t("vd_sources_all_words", lang)
    return t("vd_sources_list_words", lang, names=("、" if lang == "zh" else ", ").join(names))


def sources_words(
    input_sources: str | None, counted_on: Sequence[str] | None, lang: str
) -> str | None:
    """On which sources a hotspot model's figures were counted, and from which its inputs
    came: ``input_sources`` the run's param ``sources`` (comma-separated, "all" = every
    source), ``counted_on`` its metrics' ``counted_on_sources``. None when neither is
    recorded (not a hotspot run, or one from before the sources were recorded)."""
    if input_sources is None and counted_on is None:
        return None
    sep = "、" if lang == "zh" else ", "
    inputs = [] if input_sources in (None, "all") else str(input_sources).split(",")
    if counted_on is None:  # a run before 2026-12-07: counted on its inputs' events
        if not inputs:
            return None
        return t("vd_sources_own", lang, inputs=sep.join(inputs))
    counted = sep.join(counted_on) if counted_on else t("vd_sources_all_words", lang)
    if not inputs or set(inputs) >= set(counted_on):
        return t("vd_sources_every", lang, counted=counted)
    return t("vd_sources_some", lang, inputs=sep.join(inputs), counted=counted)


def served_sources(
    params: Mapping[str, Any] | None, metrics: Mapping[str, Any] | None
) -> tuple[str, ...] | None:
    """The lake sources a hotspot or case champion is scored on, as scoring reads them
    (:func:`models.registry.served_sources_of`): its run's ``trained_on_sources`` (since
    2026-12-07), else its ``--source`` selection (param ``sources``), else, for a run on
    every source, its metrics' ``counted_on_sources``; None when none is recorded."""
    p = params or {}
    for text in (p.get("trained_on_sources"), p.get("sources")):
        if text and text != "all":
            return tuple(sorted(set(str(text).split(","))))
    counted = counted_sources(metrics)
    return tuple(sorted(counted)) if counted else None


def trained_on_words(trained_on: Sequence[str] | None, lang: str) -> str | None:
    """ "Trained on the records of <sources>; scored on them alone": a run's
    ``trained_on_sources`` (recorded since 2026-12-07, hotspot and case domains: the
    sources scoring builds its inputs from, :func:`riskwarn.scoring.served_sources`);
    None when not recorded."""
    if not trained_on:
        return None
    sep = "、" if lang == "zh" else ", "
    return t("vd_trained_on", lang, names=sep.join(trained_on))


def trained_on_of(params: Mapping[str, Any] | None) -> list[str] | None:
    """A run's param ``trained_on_sources`` as a sorted list (None: not recorded)."""
    text = (params or {}).get("trained_on_sources")
    return sorted(set(str(text).split(","))) if text else None


def not_served_words(served: Sequence[str] | None, in_lake: Sequence[str], lang: str) -> str | None:
    """ "Not served: <source>": the lake's sources the champion was not trained on, which
    scoring leaves out (:func:`riskwarn.scoring.served_sources`); None when there is
    none, or the champion records no sources."""
    if not served:
        return None
    extra = [x for x in in_lake if x not in set(served)]
    if not extra:
        return None
    sep = "、" if lang == "zh" else ", "
    return t("vd_not_served", lang, names=sep.join(extra), served=sep.join(served))


def champion_sources_words(check: Mapping[str, Any] | None, lang: str) -> str | None:
    """On which events the gate compared a hotspot challenger with the champion and from
    which sources each was scored (the check's ``counted_on_sources``,
    ``challenger_sources``, ``champion_sources``; [] = every source); None when the check
    does not record them (other families, gates before 2026-12-07) or the champion was
    never scored."""
    if not check or "counted_on_sources" not in check or "champion_sources" not in check:
        return None
    sep = "、" if lang == "zh" else ", "
    counted = check.get("counted_on_sources") or []
    return t(
        "vd_champion_sources",
        lang,
        counted=sep.join(counted) if counted else t("vd_sources_all_words", lang),
        mine=_source_list(check.get("challenger_sources"), lang),
        theirs=_source_list(check.get("champion_sources"), lang),
        v=check.get("champion_version", "?"),
    )


# ----------------------------------------------------------------------------- words


def metric_name(metric: str | None, lang: str) -> str:
    """A headline metric in plain words (``pai@0.05`` -> "PAI@5%（...）")."""
    if metric is None:
        return "—"
    key = "metric_" + metric.replace("@", "_at_").replace(".", "_")
    text = t(key, lang)
    return metric if text == key else text


def model_figures(metrics: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The model's own figures in a run's ``metrics.json`` (``methods["xgboost"]``)."""
    got = ((metrics or {}).get("methods") or {}).get(MODEL_METHOD)
    return got if isinstance(got, Mapping) else None


def random_reference(metric: str | None, figures: Mapping[str, Any] | None) -> float | None:
    """What choosing the same share of the *scored* cells at random scores on ``metric``
    (``pai@0.05``, ``hit_rate@0.05``) in one run, from one method's figures of its
    ``metrics.json`` (``methods[m]``: ``events``, ``events_active_area``).

    The hit rate counts every event of a window (DOMAIN.md; events in cells outside the
    scored area, where no event was known before, are misses for every method) while the
    area share is a share of the scored cells. A random choice of k% of the scored cells
    holds on average k% of the events *in* them: its PAI is ``events_active_area /
    events``, its hit rate k% of that. That is 1 (k%) only when every event fell in a
    scored cell: on the demo's disputes 26 / 464 = 0.056, not 1 (the page said 1, and
    "about 7.7 times worse than chance" of a model 2.3 times above it; review of
    2026-12-07). The ratio of a method's PAI to this reference is its
    ``pai_active_area``. None: another metric, or a run whose figures do not record
    ``events_active_area`` (no reference rather than a wrong one)."""
    name, _, at = str(metric or "").partition("@")
    if name not in ("pai", "hit_rate", "hit") or not figures:
        return None
    events, inside = _num(figures.get("events")), _num(figures.get("events_active_area"))
    if events is None or inside is None or events <= 0 or not 0 <= inside <= events:
        return None
    if name == "pai":
        return inside / events
    try:
        return float(at) * inside / events
    except ValueError:
        return None


def coverage(figures: Mapping[str, Any] | None) -> dict[str, int | None]:
    """``events`` and ``events_outside`` (of them, those in cells outside the scored
    area) of one method's figures; None each when not recorded."""
    events = _num((figures or {}).get("events"))
    inside = _num((figures or {}).get("events_active_area"))
    if events is None or inside is None:
        return {"events": None, "events_outside": None}
    return {"events": int(events), "events_outside": int(events - inside)}


def _share(metric: str | None) -> str | None:
    """``pai@0.05`` -> "5%"; None without a share."""
    try:
        return f"{100 * float(str(metric).partition('@')[2]):g}%"
    except ValueError:
        return None


def _percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "—"


def reference_words(v: Verdict, lang: str) -> str | None:
    """The chance reference beside the headline ("Chance reference: choosing 5% of the
    scored cells at random scores PAI@5% 0.056 here, not 1: ... The model scores 2.3
    times that."), with why it is below 1 (events in cells with no earlier event, which
    no cell forecast ranks) and, when most events fell there, that coverage and not the
    ranking limits the model. None without a reference (:func:`random_reference`)."""
    ref, share = v.random_ref, _share(v.metric)
    if ref is None or share is None or v.events is None or v.events_outside is None:
        return None
    numbers = {
        "share": share,
        "metric": check_metric(v.metric, lang) or "",
        "ref": _ref(ref),
        "out": fmt_int(v.events_outside, lang),
        "n": fmt_int(v.events, lang),
        "pct": _percent(v.events_outside, v.events),
    }
    words = t(
        "vd_random_reference" if v.events_outside else "vd_random_reference_all", lang, **numbers
    )
    sep = "" if lang == "zh" else " "
    if v.model_value is not None and ref > 0 and v.model_value >= ref:
        words += sep + t("vd_random_times", lang, times=f"{v.model_value / ref:.1f}")
    if v.events_outside * 2 > v.events:
        words += sep + t("vd_coverage_most", lang)
    return words


def _ref(value: float) -> str:
    """A chance reference in 2 significant digits (0.056, 0.58, 1)."""
    return f"{value:.2g}" if value < 1 else f"{value:g}"


def below_random_words(
    metric: str | None, value: float | None, lang: str, ref: float | None
) -> str | None:
    """The model's ``value`` of ``metric`` below ``ref``, what a random choice of the
    scored cells scores (:func:`random_reference`), in words ("Its PAI@5% of 0.040 is
    **below random** (choosing the same share of the scored cells at random scores 0.056
    here): about 1.4 times worse than chance"; Markdown); None when it is not below, or
    there is no reference. The models page and ``riskwarn models --checks``."""
    if ref is None or value is None or not value < ref:
        return None
    times = ref / value if value > 0 else None
    return t(
        "vd_below_random" if times else "vd_below_random_zero",
        lang,
        metric=metric_name(metric, lang),
        model=_n(value, COMPARISON_DIGITS),
        ref=_ref(ref),
        times=f"{times:.1f}" if times else "",
    )


def below_random_notice(metrics: Mapping[str, Any] | None, domain: str, lang: str) -> str | None:
    """What a leader must read beside a hotspot domain's map when its serving model's own
    backtest (the version's ``metrics.json``) found fewer events in the share of the area
    it ranked highest than that share of all events: its headline PAI (``pai@0.05``)
    below 1, or that PAI's 95% CI (``pai@0.05_ci``) wholly below 1. Markdown; None when
    the headline is no PAI, the model has no value of it, or it is not below 1.

    Why, in the run's own numbers: below a random choice of the scored cells
    (:func:`random_reference`), or not reliably above it; else (above it) most events fell
    in cells with no earlier event, outside the area any cell forecast ranks (the demo's
    disputes: PAI 0.13, a random choice 0.056, 438 of 464 disputes outside). A run that
    does not record ``events_active_area`` gets no chance reference (it was said to be 1:
    review of 2026-12-07). "No warning this week, highest chance 0.2%" beside such a map
    read as low risk (user review of 7 Dec 2026)."""
    name, values = headline_values(metrics)
    value = values.get(MODEL_METHOD)
    if name is None or not name.startswith("pai@") or value is None:
        return None
    share = _share(name)
    if share is None:
        return None
    figures = model_figures(metrics) or {}
    ci = figures.get(f"{name}_ci")
    lo = hi = None
    if isinstance(ci, list | tuple) and len(ci) == 2:
        lo, hi = _num(ci[0]), _num(ci[1])
    if not (value < 1.0 or (hi is not None and hi < 1.0)):
        return None
    if lo is not None and hi is not None:
        pai = t("hotspot_pai_ci", lang, value=_pai(value), lo=_pai(lo), hi=_pai(hi))
    else:
        pai = t("hotspot_pai", lang, value=_pai(value))
    noun = next(
        (
            t(key, lang)
            for key in (f"hotspot_noun_{domain}", f"hotspot_noun_{domain.split('_')[0]}")
            if t(key, lang) != key
        ),
        t("hotspot_noun", lang),
    )
    ref = random_reference(name, figures)
    if ref is None:  # a run before events_active_area: below its share, no reference
        return t("hotspot_below_share", lang, share=share, pai=pai, noun=noun)
    counts = coverage(figures)
    numbers = {
        "share": share,
        "pai": pai,
        "noun": noun,
        "ref": _ref(ref),
        "out": fmt_int(counts["events_outside"], lang),
        "n": fmt_int(counts["events"], lang),
        "pct": _percent(counts["events_outside"] or 0, counts["events"] or 0),
    }
    if hi is not None and hi < ref:
        return t("hotspot_below_random", lang, **numbers)
    if value < ref or (lo is not None and lo <= ref):
        return t("hotspot_not_above_random", lang, **numbers)
    return t("hotspot_coverage", lang, **numbers)


def _pai(value: float) -> str:
    """A PAI in 2 decimals ("0.13"), or 2 significant digits under 0.01."""
    return f"{value:.2f}" if value == 0 or abs(value) >= 0.01 else _small(value)


def method_name(method: str | None, lang: str) -> str:
    """A method (model or baseline) in plain words; unknown ones keep their id."""
    if method is None:
        return "—"
    text = t(f"method_{method}", lang)
    return method if text == f"method_{method}" else text


def _day(text: str | None, lang: str) -> str:
    """A local calendar day (``2023-10-02``) in the reader's date format."""
    day = _time(text)
    return fmt_date(day, lang, "UTC") if day is not None else "—"


def _n(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


COMPARISON_DIGITS = 3  # the metrics table's (views.metrics_display) and the gate's own detail


def comparison_digits(lo: float, hi: float) -> int:
    """The decimals of every number of one comparison (its values, difference and CI):
    3, as the metrics table under the verdict writes them, or more when a CI bound is
    under 0.001, so it keeps 2 significant digits (its sign decides the verdict). One
    precision for all: "−0.005 (CI −0.0081 to −0.0012)" beside "lower by 0.01" read as
    if the line contradicted itself."""
    small = [abs(x) for x in (lo, hi) if x != 0 and math.isfinite(x)]
    if not small or min(small) >= 10**-COMPARISON_DIGITS:
        return COMPARISON_DIGITS
    return min(1 - math.floor(math.log10(min(small))), 8)


def comparison_numbers(diff: float, lo: float, hi: float) -> dict[str, str]:
    """``diff``, ``abs`` (its size), ``lo`` and ``hi`` at :func:`comparison_digits`."""
    d = comparison_digits(lo, hi)
    return {
        "diff": _signed(diff, d, keep=False),
        "abs": f"{abs(diff):.{d}f}",
        "lo": _signed(lo, d, keep=False),
        "hi": _signed(hi, d, keep=False),
    }


def _signed(value: float, digits: int = 2, keep: bool = True) -> str:
    """``+0.12`` / ``−0.12``; a value under one unit of the last digit keeps 2 significant
    digits (a CI bound of −0.0050 read "−0.00", its sign then meant nothing) unless
    ``keep`` is False (the digits are one comparison's, :func:`comparison_digits`)."""
    if keep and value != 0 and math.isfinite(value) and abs(value) < 10**-digits:
        digits = 1 - math.floor(math.log10(abs(value)))
    return f"{value:+.{digits}f}".replace("-", "−")


def _small(value: float) -> str:
    """3 decimals, or 2 significant digits below 0.001 (an ECE of 0.00012 is not 0.000)."""
    if value == 0 or not math.isfinite(value) or abs(value) >= 0.001:
        return f"{value:.3f}"
    return f"{value:.{1 - math.floor(math.log10(abs(value)))}f}"


def check_metric(metric: str | None, lang: str) -> str | None:
    """A metric as a failed check names it, before the check's own parenthesis:
    :func:`metric_name` without its parenthesis ("PAI@5%", "命中效率 PAI@5%", "average
    precision"); None for none."""
    if not metric:
        return None
    return re.sub(r"\s*[（(][^（）()]*[）)]$", "", metric_name(metric, lang))


def check_words(check: Mapping[str, Any], lang: str, metric: str | None = None) -> str:
    """One failed gate check in plain words, naming the metric it compares on: the
    check's own (``metric``, the gate's PAI@1/5/10 % checks) or else ``metric``, the
    run's headline (what the gate's "beats ..." checks and the champion check compare;
    ``metrics.json``'s ``headline``). Its numbers are rounded as the metrics table's
    (:func:`comparison_numbers`)."""
    if check.get("check") == "calibration" and "ece" in check:
        ece, bound = _small(check["ece"]), _small(check["bound"])
        if check.get("noise_q95") is None:  # a gate of before the consistency bound
            return t("vd_fail_calibration", lang, ece=ece, bound=bound)
        return t(
            "vd_fail_calibration_noise",
            lang,
            ece=ece,
            bound=bound,
            ratio=f"{check.get('max_ece_ratio', 0.5):g}",
            cap=f"{check.get('max_ece', 0.05):g}",
        )
    if check.get("scored") is False:
        return t("vd_fail_unscored", lang)
    if check.get("reason") == "older_than_champion":  # models.gate.OLDER_DATA
        return t(
            "vd_fail_older_data",
            lang,
            mine=_day(check.get("challenger_through"), lang),
            v=check.get("champion_version", "?"),
            through=_day(check.get("trained_through"), lang),
        )
    other = check.get("against") or check.get("baseline")
    if other and check.get("ci") and "diff" in check:
        # models/gate.py writes its "check" in English ("not worse than kde at PAI@1%")
        lo, hi = check["ci"]
        c = Comparison(str(other), float(check["diff"]), float(lo), float(hi), *_unit(check))
        named = check_metric(str(check.get("metric") or metric or ""), lang)
        key = "vd_fail_worse" if c.verdict == "worse" else "vd_fail_tie"
        words = t(
            key + ("_at" if named else ""),
            lang,
            other=method_name(c.against, lang),
            metric=named or "",
            **comparison_numbers(c.diff, c.lo, c.hi),
        )
        unit = resampled_line(c, lang)
        return f"{words}{'' if lang == 'zh' else ' '}{unit}" if unit else words
    return str(check.get("check", "?"))


def point_below_words(check: Mapping[str, Any], lang: str, metric: str | None = None) -> str:
    """One passed check behind on the point estimate, in plain words: its metric, the
    method and the numbers ("PAI@1% against kde: −0.092 (CI −0.214 to +0.000)")."""
    lo, hi = check["ci"]
    other = check.get("against") or check.get("baseline")
    if not other and str(check.get("check", "")).endswith("champion"):
        other = t("vd_point_below_champion", lang)
    named = check_metric(str(check.get("metric") or metric or ""), lang) or ""
    return t(
        "vd_point_below_check",
        lang,
        metric=named,
        other=method_name(str(other or "?"), lang),
        **comparison_numbers(float(check["diff"]), float(lo), float(hi)),
    )


def promotion_words(v: Verdict, lang: str) -> str:
    """The reason typed by whoever promoted or rolled back the model, on one line for
    Markdown, its phone and ID numbers masked (:func:`dashboard.text.shown_reason`, as a
    review's reason: an alias move's reason was never checked for them before
    2026-12-06); "—" without one."""
    return md_line(shown_reason(v.promotion_reason, lang) or "—")


def verdict_lines(v: Verdict, lang: str, tz: str) -> list[str]:
    """The verdict as short sentences (markdown), most important first."""
    sep = "；" if lang == "zh" else "; "
    others = [c for c in v.not_judged if not _champion_out_of_sample_unjudged(c)]
    meaning = (
        "vd_meaning_not_judged_champion"
        if v.status == "not_judged" and v.not_judged and not others
        else f"vd_meaning_{v.status}"
    )
    lines = [t(meaning, lang, base=method_name(v.best_baseline, lang))]
    if v.versus_best is not None and v.model_value is not None:
        c = v.versus_best
        d = comparison_digits(c.lo, c.hi)
        below = c.verdict == "tie" and c.diff < 0  # a tie with the point below: say so
        lines.append(
            t(
                "vd_versus_tie_below" if below else f"vd_versus_{c.verdict}",
                lang,
                metric=metric_name(v.metric, lang),
                model=_n(v.model_value, d),
                base=method_name(v.best_baseline, lang),
                base_value=_n(v.baseline_value, d),
                **comparison_numbers(c.diff, c.lo, c.hi),
            )
        )
        unit = resampled_line(c, lang)
        if unit:
            lines.append(unit)
    elif v.model_value is not None:
        lines.append(
            t(
                "vd_model_only",
                lang,
                metric=metric_name(v.metric, lang),
                model=_n(v.model_value, COMPARISON_DIGITS),
            )
        )
    counted = sources_words(v.input_sources, v.counted_on, lang)
    if counted:  # which sources' events those figures count, and its inputs'
        lines.append(counted)
    reference = reference_words(v, lang)
    if reference:  # what chance scores on this run's events (not 1: every event counts)
        lines.append(reference)
    ref = v.random_ref
    below = ref is not None and v.model_value is not None and v.model_value < ref
    if v.rank is not None and v.n_methods:
        # "Rank 1 of 5" beside a PAI below the run's chance reference reads as if it were good
        lines.append(
            t("vd_rank_below_random" if below else "vd_rank", lang, rank=v.rank, n=v.n_methods)
        )
    below_words = below_random_words(v.metric, v.model_value, lang, ref)
    if below_words:
        lines.append(below_words)
        if (
            ref is not None
            and v.baseline_value is not None
            and v.baseline_value < ref
            and v.best_baseline
        ):
            lines.append(
                t(
                    "vd_base_below_random",
                    lang,
                    base=method_name(v.best_baseline, lang),
                    base_value=_n(v.baseline_value, COMPARISON_DIGITS),
                )
            )
    if v.metric == "auc" and v.model_value is not None and v.model_value < 0.5:
        lines.append(t("vd_below_chance", lang, auc=_n(v.model_value)))
    if v.status == "pass":
        lines.append(t("vd_gate_pass", lang, rule=gate_rule(v.domain, lang)))
    elif v.failed:
        lines.append(
            t(
                "vd_gate_failed",
                lang,
                checks=sep.join(check_words(c, lang, v.metric) for c in v.failed),
            )
        )
    if v.point_below:
        lines.append(
            t(
                "vd_gate_point_below",
                lang,
                checks=sep.join(point_below_words(c, lang, v.metric) for c in v.point_below),
            )
        )
    champ = champion_words(v.champion, lang, tz, v.domain)
    if champ:
        lines.append(champ)
    compared_on = champion_sources_words(v.champion, lang)
    if compared_on:
        lines.append(compared_on)
    if v.status != "pass" and others:
        lines.append(t("vd_gate_not_judged", lang, why=not_judged_why(v, lang), domain=v.domain))
    elif v.status == "unknown":
        lines.append(t("vd_gate_unknown", lang))
    data = []
    if v.n_train_rows is not None:
        data.append(t("vd_rows", lang, n=fmt_int(v.n_train_rows, lang)))
    if v.n_features is not None:
        data.append(t("vd_features", lang, n=v.n_features))
    if v.data_version:
        data.append(t("vd_data_version", lang, dv=str(v.data_version)[:8]))
    window = (
        t("vd_window", lang, start=_day(v.eval_start, lang), end=_day(v.eval_end, lang))
        if v.eval_start and v.eval_end
        else t("vd_origins", lang, n=v.n_origins)
        if v.n_origins
        else ""
    )
    window = (("，" if lang == "zh" else ", ").join([window, *window_words(v, lang)])).strip("，, ")
    lines.append(
        t(
            "vd_trained",
            lang,
            at=fmt_datetime(v.trained_at, lang, tz),
            until=fmt_date(v.trained_until, lang, tz),
            data=("，" if lang == "zh" else ", ").join(data) or "—",
            window=window,
        )
    )
    refused = data_end_words(v, lang, tz)
    if refused:
        lines.append(refused)
    if v.rolled_back:
        lines.append(
            t(
                "vd_rolled_back",
                lang,
                actor=md_line(v.promoted_by or "?"),
                at=fmt_datetime(v.promoted_at, lang, tz),
                reason=promotion_words(v, lang),  # typed by whoever rolled back
            )
        )
    elif v.stale_gate is not None and v.status == "pass":
        against = v.stale_gate.get("gate_champion")
        lines.append(
            t(
                "vd_forced_stale",
                lang,
                against=t("vd_stale_none", lang)
                if against is None
                else t("vd_stale_version", lang, v=against),
                serving=v.stale_gate.get("serving", "?"),
                actor=md_line(v.promoted_by or "?"),
                at=fmt_datetime(v.promoted_at, lang, tz),
                reason=promotion_words(v, lang),  # typed by whoever promoted
            )
        )
    elif v.forced:
        lines.append(
            t(
                "vd_forced" if v.status == "fail" else "vd_forced_unjudged",
                lang,
                actor=md_line(v.promoted_by or "?"),
                at=fmt_datetime(v.promoted_at, lang, tz),
                reason=promotion_words(v, lang),  # typed by whoever promoted
            )
        )
    elif v.promoted_auto:
        lines.append(t("vd_promoted_auto", lang, at=fmt_datetime(v.promoted_at, lang, tz)))
    elif v.promoted_by:
        lines.append(
            t(
                "vd_promoted",
                lang,
                actor=md_line(v.promoted_by),
                at=fmt_datetime(v.promoted_at, lang, tz),
            )
        )
    return lines


def window_words(v: Verdict, lang: str) -> list[str]:
    """A site backtest's failures and why its window reaches back; a case backtest's
    escalations never scored (empty for others)."""
    out = []
    if v.eval_failures is not None:
        out.append(t("vd_eval_failures", lang, n=v.eval_failures))
    if v.escalations is not None and v.escalations_never_scored is not None:
        out.append(
            t(
                "vd_escalations_never_scored",
                lang,
                n=fmt_int(v.escalations_never_scored, lang),
                m=fmt_int(v.escalations, lang),
            )
        )
    want = (
        str(v.eval_min_failures)
        if v.eval_min_failures
        else (v.eval_extended_for or "").rpartition("=")[2] or "?"
    )
    if v.eval_extended_for:
        out.append(t("vd_eval_extended", lang, want=want, default=_day(v.eval_default_start, lang)))
    if v.eval_limited_by:
        key = f"vd_eval_limited_{v.eval_limited_by}"
        text = t(key, lang, want=want)
        out.append(v.eval_limited_by if text == key else text)
    return out


def not_judged_why(v: Verdict, lang: str) -> str:
    """Why the gate could not judge: the backtest window and its failures, in the page's
    words and date format (the gate's own detail is English with ISO dates)."""
    if v.eval_failures is not None and v.eval_start and v.eval_end:
        return t(
            "vd_not_judged_window",
            lang,
            n=v.eval_failures,
            start=_day(v.eval_start, lang),
            end=_day(v.eval_end, lang),
        )
    return t("vd_not_judged_generic", lang)


def retrain_words(
    outcome: Mapping[str, Any],
    gate: Mapping[str, Any] | None,
    lang: str,
    metric: str | None = None,
) -> tuple[str, str]:
    """What a finished retrain says: ``(kind, words)``, kind ``success`` (gate passed),
    ``warning`` (gate failed) or ``info`` (not trained: the data held nothing to learn,
    :class:`models.gate.NothingToLearn`; no version, no gate). ``outcome`` is what
    ``riskwarn.pipeline.train_domain`` returned, ``gate`` the run's gate.json if any,
    ``metric`` its metrics.json's headline (named in a failed comparison)."""
    if outcome.get("not_trained"):
        reason = outcome.get("not_trained_zh") if lang == "zh" else outcome.get("not_trained")
        reason = str(reason or t("retrain_not_trained_why", lang)).rstrip("。.")
        return "info", t("retrain_not_trained", lang, reason=reason)
    passed = gate.get("passed") if gate else str(outcome.get("gate", "")).startswith("gate PASS")
    status = (
        gate_status(gate)
        if gate
        else "not_judged"
        if str(outcome.get("gate", "")).startswith("gate NOT JUDGED")
        else "pass"
        if passed
        else "fail"
    )
    words = t(
        f"retrain_result_{status}",
        lang,
        v=outcome.get("version") or "—",
        promoted=t("retrain_promoted" if outcome.get("promoted") else "retrain_not_promoted", lang),
    )
    if gate and not passed:
        failed = judged_failures(gate)
        if failed:
            words += " " + t(
                "vd_gate_failed",
                lang,
                checks=("；" if lang == "zh" else "; ").join(
                    check_words(c, lang, metric) for c in failed
                ),
            )
        unjudged = unjudged_checks(gate)
        domain = outcome.get("domain", "DOMAIN")
        champ = champion_of(gate)
        if champ is not None and _champion_out_of_sample_unjudged(champ):
            words += " " + str(champion_words(champ, lang, "UTC", str(domain)))
            unjudged = [c for c in unjudged if not _champion_out_of_sample_unjudged(c)]
        if unjudged:
            why = t("vd_not_judged_generic", lang)
            words += " " + t("vd_gate_not_judged", lang, why=why, domain=domain)
    return ("success" if passed else "warning"), words


def status_words(v: Verdict, lang: str) -> str:
    """The verdict's headline: passes / fails its gate (and promoted by force, or
    rolled back to this version, named)."""
    text = t(f"vd_status_{v.status}", lang)
    if v.rolled_back:
        return text + t("vd_status_rolled_back", lang, v=v.version)
    return text + (t("vd_status_forced", lang) if v.forced else "")


def gate_rule(domain: str, lang: str) -> str:
    """How the gate compares ``domain``'s model with the simple methods, in words (a verb
    phrase: "do no worse than ..." / "beat every simple method clearly ..."), from the
    rule its trainer applies (:data:`models.gate.BASELINE_RULE`, by model family)."""
    from models.gate import BASELINE_RULE
    from riskwarn import domains

    known = domains.DOMAINS.get(domain)
    if known is None:  # a run's domain that trains no model of its own
        return t("gate_rule_other", lang)
    family = known.family
    words = t(f"gate_rule_{BASELINE_RULE[family]}", lang)
    return words + (t("gate_rule_levels", lang) if family == "site" else "")


def gate_intro(lang: str) -> str:
    """The models page's statement of the promotion gate: each rule of :func:`gate_rule`
    with the domains it applies to, then the champion and calibration checks."""
    from riskwarn import domains

    groups: dict[str, list[str]] = {}
    for name in domains.DOMAINS:
        groups.setdefault(gate_rule(name, lang), []).append(t(f"domain_{name}", lang))
    sep = "、" if lang == "zh" else ", "
    rules = ("；" if lang == "zh" else "; ").join(
        t("gate_group", lang, domains=sep.join(names), rule=rule) for rule, names in groups.items()
    )
    return t("verdicts_intro", lang, rules=rules)
