"""Markdown of the Hong Kong nowcast section of docs/benchmarks-models.md, from the
``hongkong.json`` that bench/bench_hongkong.py writes. Every figure comes from that file."""

from __future__ import annotations

import re
from typing import Any

from models.citywide_nowcast import HKO_SIGNALS_PER_YEAR, CountModelParams

HKO_SOURCE = (
    "Hong Kong Observatory, LI Kin-wai (June 2011), *Interesting Statistics on Rainstorm "
    "Warning Signals*, https://www.hko.gov.hk/en/education/weather/rain/"
    "00043-interesting-statistics-on-rainstorm-warning-signals.html"
)
LEVELS = ("red", "orange", "yellow", "blue")
TARGETS = (("any", ">= 1 landslide"), ("major", ">= 10 landslides"))
HIGHER_IS_BETTER = (
    "auc",
    "ap",
    "bss",
    "pod",
    "tss",
    "csi",
    "pod_prev_day",
    "spearman",
    "share_top",
)
SEVERE = ("spearman", "share_top@10", "share_top@20", "share_top@red")
RULE_REPLACED = "rain_72h"
# the rules every row is paired against by name: the one the model replaces and the one with
# the best severity order (a model must never lose to either)
PAIRED_RULES = ("effective_rain", "rain_72h")
MODEL = "xgboost"
CROSSFIT = "ceiling_crossfit"


def _relative_paths(command: str) -> str:
    """The command with the repository and shared-data paths written as a reader types them."""
    command = re.sub(r"\S*/(configs/sources/)", r"\1", command)
    return re.sub(r"\S*/shared/data/", "../shared/data/", command)


def _f(x: Any, nd: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def _ci(v: dict[str, Any], nd: int = 3) -> str:
    lo, hi = v["ci"]
    if lo is None:
        return _f(v["value"], nd)
    return f"{_f(v['value'], nd)} [{_f(lo, nd)}, {_f(hi, nd)}]"


def _subset_losses(methods: dict[str, Any], model: str = "xgboost") -> list[str]:
    """One sentence naming every rule above the model on a sub-window's point values (a
    list of point values alone reads as the model's win wherever it is first)."""
    if model not in methods:
        return []
    keys = (
        (">= 1 AUC", "any", "auc"),
        (">= 1 Brier skill", "any", "bss"),
        (">= 10 AUC", "major", "auc"),
        (">= 10 Brier skill", "major", "bss"),
        (">= 10 TSS at red", "major", "tss@red"),
    )
    found = []
    for label, part, key in keys:
        mine = methods[model][part].get(key)
        for rule, v in methods.items():
            if rule == model or rule.startswith("ceiling"):
                continue
            theirs = v[part].get(key)
            if mine is not None and theirs is not None and theirs > mine:
                found.append(f"`{rule}`'s {label} ({_f(theirs)} vs {_f(mine)})")
    if not found:
        return [f"No rule is above `{model}` on these point values."]
    return [
        "Where a rule is above the model on this sub-window (point values, no CI: one "
        "sub-window of a run paired on 2005-2014 above): " + "; ".join(found) + "."
    ]


def _order(methods: dict[str, Any]) -> list[str]:
    rules = sorted(m for m in methods if m not in (MODEL, CROSSFIT))
    return [MODEL, *rules, *([CROSSFIT] if CROSSFIT in methods else [])]


def _verdict(metric: str, ci: list[float | None], diff: float | None = None) -> str:
    """Model minus a rule on ``metric``, read from its paired CI the same way on both
    sides (:func:`models.metrics.paired_verdict`): win, **loss**, or a tie that says where
    its point estimate lies ("tie, point below": behind the rule on the point estimate)."""
    from models.metrics import paired_verdict

    lo, hi = ci
    if lo is None or hi is None:
        return "n/a"
    point = (lo + hi) / 2 if diff is None else diff
    word = paired_verdict(point, lo, hi, metric.split("@")[0] in HIGHER_IS_BETTER)
    return "**loss**" if word == "loss" else word


def _paired_rows(skill: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Every paired comparison the section prints: (target, metric, rule, {diff, ci}),
    against the best rule of each metric and against each of :data:`PAIRED_RULES` by name."""
    rows = [
        (t, k, str(d["rule"]), d)
        for t, by in skill["model_minus_best"].items()
        for k, d in by.items()
    ]
    for rule, by_t in skill.get("model_minus_rule", {}).items():
        if rule not in PAIRED_RULES:
            continue
        for t, by in by_t.items():
            rows += [(t, k, rule, d) for k, d in by.items() if d is not None]
    return rows


def point_losses(skill: dict[str, Any]) -> list[str]:
    """Every metric where the model is behind a rule it is paired with on the point
    estimate (a loss, or a tie with the point below), by name, each once per rule."""
    seen: dict[tuple[str, str, str], str] = {}
    for t, k, rule, d in _paired_rows(skill):
        v = _verdict(k, d["ci"], d["diff"])
        if v in ("**loss**", "tie, point below") and (t, k, rule) not in seen:
            lo, hi = d["ci"]
            seen[(t, k, rule)] = (
                f"{t} {k} vs `{rule}` {d['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}] ({v})"
            )
    return list(seen.values())


def _target(
    name: str, v: dict[str, Any], threshold: float, strict: bool = False
) -> tuple[str, str, str]:
    from models.metrics import target_verdict

    lo, hi = v["ci"]
    return (name, target_verdict(v["value"], lo, hi, threshold, strict), _ci(v))


def target_checks(skill: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The issue's Hong Kong targets, each with its verdict read from the 95 % CI
    (``met`` only when the whole CI is on the target's side, ``missed`` when it is wholly
    on the other, else ``not shown``: :func:`models.metrics.target_verdict`) and its
    figures (point estimate and CI); then two summary rows: the paired comparisons lost
    beyond noise (none: ``met``), and every one behind a rule on the point estimate."""
    ms = skill["methods"][MODEL]
    mmb = skill["model_minus_best"]
    tss = mmb["major"]["tss@red"]
    worse = [f"{t} {k} vs `{rule}`" for t, k, rule, d in _paired_rows(skill)
             if _verdict(k, d["ci"], d["diff"]) == "**loss**"]  # fmt: skip
    below = point_losses(skill)
    tss_v = _target("", {"value": tss["diff"], "ci": tss["ci"]}, 0.0)[1]
    return [
        _target("AUC on >= 1 days >= 0.78", ms["any"]["auc"], 0.78),
        _target("AUC on >= 10 days >= 0.97", ms["major"]["auc"], 0.97),
        (
            "TSS on >= 10 days at the Red-signal rate >= the best rule's (model - rule, "
            "paired CI >= 0)",
            tss_v,
            f"{_ci(ms['major']['tss@red'])} vs `{tss['rule']}` "
            f"{_f(skill['methods'][tss['rule']]['major']['tss@red']['value'])}; "
            f"difference {tss['diff']:+.3f} [{tss['ci'][0]:+.3f}, {tss['ci'][1]:+.3f}] "
            f"({_verdict('tss@red', tss['ci'], tss['diff'])})",
        ),
        _target("Brier skill over climatology > 0, >= 1 days", ms["any"]["bss"], 0.0, True),
        _target("Brier skill over climatology > 0, >= 10 days", ms["major"]["bss"], 0.0, True),
        (
            "no loss beyond noise: no paired CI (model - best rule, model - "
            + " / ".join(f"`{r}`" for r in PAIRED_RULES)
            + ") entirely below zero",
            "met" if not worse else "missed",
            "none beyond noise" if not worse else "losses: " + ", ".join(worse),
        ),
        (
            "behind a rule on the point estimate (losses and ties with the point below)",
            "none" if not below else f"{len(below)}",
            "none" if not below else "; ".join(below),
        ),
    ]


def _skill_tables(skill: dict[str, Any]) -> list[str]:
    ms = skill["methods"]
    order = _order(ms)
    lines: list[str] = []
    for target, label in TARGETS:
        lines += [
            f"#### {label} days: ranking and probabilities",
            "",
            "| method | AUC | AP | Brier | Brier skill |",
            "|---|---|---|---|---|",
        ]
        for m in order:
            v = ms[m][target]
            lines.append(
                f"| {m} | {_ci(v['auc'])} | {_ci(v['ap'])} | {_ci(v['brier'], 4)} | "
                f"{_ci(v['bss'])} |"
            )
        lines.append("")
        for level in LEVELS:
            lines += [
                f"#### {label} days: warning at {level} or above",
                "",
                "| method | warned days / year | POD | FAR | TSS | CSI | warned by the previous "
                "day's nowcast |",
                "|---|---|---|---|---|---|---|",
            ]
            for m in order:
                v = ms[m][target]
                lines.append(
                    f"| {m} | {_f(v[f'warned_days_per_year@{level}']['value'], 1)} | "
                    + " | ".join(_ci(v[f"{k}@{level}"]) for k in ("pod", "far", "tss", "csi"))
                    + f" | {_ci(v[f'pod_prev_day@{level}'])} |"
                )
            lines.append("")
    return lines


def _paired_table(skill: dict[str, Any]) -> list[str]:
    lines = [
        "| target | metric | best rule | model - best rule [95% CI] | verdict |",
        "|---|---|---|---|---|",
    ]
    for target, label in (*TARGETS, ("severe", "severity")):
        for k, d in skill["model_minus_best"].get(target, {}).items():
            lo, hi = d["ci"]
            ci = f"[{lo:+.3f}, {hi:+.3f}]" if lo is not None else ""
            lines.append(
                f"| {label} | {k} | `{d['rule']}` | {d['diff']:+.3f} {ci} | "
                f"{_verdict(k, d['ci'], d['diff'])} |"
            )
    return lines


def _fmt_diff(d: dict[str, Any]) -> str:
    lo, hi = d["ci"]
    ci = f" [{lo:+.3f}, {hi:+.3f}]" if lo is not None else ""
    return f"{d['diff']:+.3f}{ci}"


def paired_rule_table(skill: dict[str, Any], rules: tuple[str, ...] = PAIRED_RULES) -> list[str]:
    """Every metric, model minus each of ``rules`` by name (paired month-block CIs)."""
    mmr = skill.get("model_minus_rule", {})
    rules = tuple(r for r in rules if r in mmr)
    if not rules:
        return []
    lines = [
        "| target | metric | "
        + " | ".join(f"model - `{r}` [95% CI] | verdict" for r in rules)
        + " |",
        "|---|---|" + "---|---|" * len(rules),
    ]
    for target, label in (*TARGETS, ("severe", "severity")):
        metrics = mmr[rules[0]].get(target, {})
        for k in metrics:
            cells = []
            for r in rules:
                d = mmr[r].get(target, {}).get(k)
                cells += [_fmt_diff(d), _verdict(k, d["ci"], d["diff"])] if d else ["n/a", "n/a"]
            lines.append(f"| {label} | {k} | " + " | ".join(cells) + " |")
    return lines


def _severity_lines(skill: dict[str, Any], severe_days: list[dict[str, Any]]) -> list[str]:
    """Severity: how each method orders the worst days, and the paired differences."""
    ms = skill["methods"]
    if "severe" not in ms[MODEL]:
        return []
    lines = [
        "### Severity: are the worst days on top?",
        "",
        "AUC on >= 10 days only asks whether a major day scores above an ordinary one. "
        "Here: `spearman` = Spearman correlation of the day's landslide count with the score "
        "over the days with >= 10 landslides; `share_top@k` = the share of all the "
        "window's landslides that fall on the k highest-scored days (k = 10, 20, and `red` = "
        "4.6 days a year, the red level's rate, 46 days over ten years); ties at the k-th "
        "score share the remaining places evenly. Same month-block resamples as above.",
        "",
        "| method | Spearman on >= 10 days | share on top 10 days | top 20 | top red-rate days |",
        "|---|---|---|---|---|",
    ]
    for m in _order(ms):
        v = ms[m]["severe"]
        lines.append(f"| {m} | " + " | ".join(_ci(v[k]) for k in SEVERE) + " |")
    mmr = skill.get("model_minus_rule", {})
    lines += [
        "",
        "| metric | model - best rule [95% CI] | model - `rain_72h` [95% CI] | verdict vs best "
        "| verdict vs `rain_72h` |",
        "|---|---|---|---|---|",
    ]
    for k in SEVERE:
        best = skill["model_minus_best"]["severe"][k]
        vs = mmr.get(RULE_REPLACED, {}).get("severe", {}).get(k)
        row = f"| {k} | `{best['rule']}` {best['diff']:+.3f} [{best['ci'][0]:+.3f}, {best['ci'][1]:+.3f}] | "
        row += f"{vs['diff']:+.3f} [{vs['ci'][0]:+.3f}, {vs['ci'][1]:+.3f}] | " if vs else "n/a | "
        row += f"{_verdict(k, best['ci'], best['diff'])} | "
        row += f"{_verdict(k, vs['ci'], vs['diff']) if vs else 'n/a'} |"
        lines.append(row)
    if severe_days:
        methods = _order(ms)
        lines += [
            "",
            "The days with the most landslides, and the model's two top-scored days: each "
            "method's rank among all the window's days (1 = highest score):",
            "",
            "| day | landslides | " + " | ".join(methods) + " |",
            "|---|---|" + "---|" * len(methods),
        ]
        for d in severe_days:
            tag = f" (model's #{d['model_top']})" if "model_top" in d else ""
            lines.append(
                f"| {d['date']}{tag} | {d['landslides']} | "
                + " | ".join(f"{d['rank'].get(m, float('nan')):.0f}" for m in methods)
                + " |"
            )
    return [*lines, ""]


def _threshold_table(metrics: dict[str, Any]) -> list[str]:
    lines = [
        "| year | training days | dispersion alpha | era: landslide days / year | blue | yellow "
        "| orange | red | red days / year (training) | orange days / year (training) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in metrics["thresholds"]:
        if t["method"] != MODEL:
            continue
        th, r = t["thresholds"], t["training_warned_days_per_year"]
        lines.append(
            f"| {t['year']} | {t['n_training_days']} | {_f(t['dispersion'])} | "
            f"{_f(t['era_landslide_days_per_year'], 1)} | "
            + " | ".join(_f(th[lv], 2) for lv in ("blue", "yellow", "orange", "red"))
            + f" | {_f(r['red'], 1)} | {_f(r['orange'], 1)} |"
        )
    return lines


def _design_table(design: dict[str, Any]) -> list[str]:
    lines = [
        "| variant (1995-2004) | AUC >= 1 | AUC >= 10 | Brier skill >= 1 | Brier skill >= 10 | "
        "TSS >= 10 at red | TSS >= 1 at orange | Spearman on >= 10 days | share on top 10 "
        "days | share on top red-rate days | order agreement with effective rain on >= 10 "
        "days |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    from bench_hongkong import design_variants

    # metrics.json / hongkong.json keep keys sorted: show the rules, then the variants in
    # the order they were defined
    order = [k for k in sorted(design) if k.startswith("rule:")]
    order += [k for k in design_variants() if k in design]
    order += [k for k in sorted(design) if k not in order]
    for name in order:
        v = design[name]
        a, b = v["any"], v["major"]
        lines.append(
            f"| {name} | {_f(a['auc'])} | {_f(b['auc'])} | {_f(a['bss'])} | {_f(b['bss'])} | "
            f"{_f(b['tss@red'])} | {_f(a['tss@orange'])} | "
            + " | ".join(
                _f(v.get("severe", {}).get(k))
                for k in (*SEVERE[:2], *SEVERE[3:], "agreement_effective_rain")
            )
            + " |"
        )
    return lines


def _cell_lines(metrics: dict[str, Any], prior: dict[str, Any]) -> list[str]:
    cells = metrics.get("cell_hit_rates_on_event_days") or {}
    if not cells:
        return []
    any_m = next(iter(cells.values()))
    lines = [
        "### Per 1 km cell",
        "",
        f"{metrics.get('n_active_cells')} active cells (a landslide before 2005); "
        f"{int(any_m['n_events'])} landslides on {int(any_m['n_event_days'])} landslide days, "
        f"{int(any_m.get('n_events_outside', 0))} of them in cells outside the active area "
        "(no landslide there before): every landslide counts, those are misses for every "
        "method. Cell score = the method's city-wide P(>= 1) x the cell's "
        "susceptibility prior (its share of landslides known before the evaluation year, "
        "Gaussian-smoothed with sigma 0.5 cell, +0.5 per cell), the same prior for every "
        "method: within a day every method ranks cells alike, so the table ranks all "
        "cell-days of 2005-2014 together (top k% flagged).",
        "",
        "| method | cell-day HR@1% | HR@5% | HR@10% | PAI@1% | PAI@5% | cell-day AUC |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in sorted(cells, key=lambda k: -cells[k]["st_hit_rate@0.05"]):
        v = cells[name]
        lines.append(
            f"| {name} | {_f(v['st_hit_rate@0.01'])} | {_f(v['st_hit_rate@0.05'])} | "
            f"{_f(v['st_hit_rate@0.1'])} | {_f(v['st_pai@0.01'], 2)} | {_f(v['st_pai@0.05'], 2)} "
            f"| {_f(v['st_auc'])} |"
        )
    lines += [
        "",
        "The prior's smoothing (within-day hit rate of the prior alone; sigma in cells; 0.5 "
        "was chosen earlier on 2005-2009, so it is checked here on the design years "
        "1995-2004 too):",
        "",
        "| period | sigma | HR@1% | HR@5% | HR@10% | HR@20% |",
        "|---|---|---|---|---|---|",
    ]
    for period, by in prior.items():
        for sm, hv in by.items():
            lines.append(
                f"| {period} | {sm} | {_f(hv['day_hit_rate@0.01'])} | "
                f"{_f(hv['day_hit_rate@0.05'])} | {_f(hv['day_hit_rate@0.1'])} | "
                f"{_f(hv['day_hit_rate@0.2'])} |"
            )
    return lines


def _design_notes(design: dict[str, Any], counts: dict[str, int] | None) -> list[str]:
    """What leaving out each reporting input did on the design years (chosen minus without)."""
    chosen = next(v for k, v in design.items() if k.startswith("chosen"))
    notes = []
    for name, v in design.items():
        if not name.startswith("without the reporting"):
            continue
        diffs = ", ".join(
            f"{label} {chosen[t][k] - v[t][k]:+.3f}"
            for label, t, k in (
                ("AUC >= 1", "any", "auc"),
                ("AUC >= 10", "major", "auc"),
                ("Brier skill >= 10", "major", "bss"),
                ("TSS >= 10 at red", "major", "tss@red"),
            )
        )
        notes.append(f"- chosen minus '{name}': {diffs}.")
    if counts:
        notes.append(
            f"- 1995-2004 holds {counts['major']} days with >= 10 landslides (and "
            f"{counts['any']} with >= 1): one major day more or less caught moves TSS at red "
            f"by about {1 / counts['major']:.3f}, so differences of that size are noise."
        )
    notes += [
        "",
        "The reporting-era input was part of the design before this comparison was run, and "
        "the design was not re-tuned after it: the era stays as the explicit, leak-free "
        "handling of the record's reporting level that the issue asks for (its value for a "
        "year is fixed on 1 January from earlier years); its differences above are what it "
        "cost or gained on the design years.",
    ]
    return notes


def section_markdown(res: dict[str, Any]) -> str:
    """The whole Hong Kong section."""
    metrics = res["metrics"]
    skill = metrics["skill"]
    first = metrics["thresholds"][0]
    p = CountModelParams()
    hko = HKO_SIGNALS_PER_YEAR
    lines = [
        "## Hong Kong landslides: city-wide daily nowcast, rolling yearly origins 2005-2014",
        "",
        f"{skill['n_days']} days ({res['window'][0]} to {res['window'][1]}); for each year the "
        "model and the rules are fitted on every day from 1984 (the landslide record's first "
        "year) to the year before, with labels counting only landslide records known before "
        "1 January of the year; the dispersion, the reporting-era input and every warning "
        "threshold are fixed on that 1 January from the training days. Rain: the Hong Kong "
        "Observatory's daily totals (since 1884, so every rain index has its full history).",
        "",
        "**Model** (`xgboost`, `models.citywide_nowcast`): XGBoost `count:poisson`, "
        f"depth {p.max_depth}, {p.rounds} rounds, labels capped at {p.label_cap}, predicting the expected landslides per day "
        "from the rule indices of `features.rain_indices` (1-60 day totals, 72-hour "
        "rain, multi-duration maxima, mean intensities, Caine and Guzzetti exceedance ratios, "
        "API, 15-day effective and antecedent rain; every one with a +1 monotone "
        "constraint), the season, the reporting calendar (day of week, Hong Kong public "
        "holidays), the reporting era (landslide days per year over the five years before, "
        "records known by 1 January) and the landslides known on the previous 1 / 7 / 30 days. "
        + (
            "A monotone last layer keeps the rules' order where the trees go flat: the "
            "expected count is multiplied by (index / q)^c for "
            + " and ".join(f"`{c}`" for c in p.stack_inputs)
            + f" above their training {p.stack_knee_quantile:.1%} quantiles q, every c >= 0 "
            "fitted on the training days. "
            if p.stack_inputs
            else ""
        )
        + (
            f"The `{p.floor_input}` rule as a band: on days above its training "
            f"{p.floor_knee_quantile:.0%} quantile the expected count is held within a factor "
            f"{p.floor_band:g} (below) and {p.floor_cap_band:g} (above) of the rule's own count "
            "(a Poisson GLM on log(index / knee), slope >= 0, fitted on those training days, "
            f"labels capped at {p.floor_label_cap}); below the knee only the ceiling applies; "
            "both bounds rise with rain, so the nowcast stays monotone. "
            if p.floor_input is not None and p.floor_cap_band is not None
            else ""
        )
        + "P(>= 1) and P(>= 10) are negative-binomial tails of that one expected count, with "
        "the dispersion fitted by maximum likelihood on the training days (alpha "
        f"{_f(first['dispersion'], 2)} for {first['year']}).",
        "",
        "**Rules** (`caine`, `guzzetti`, `effective_rain`, `rain_72h`): each rule's index is "
        "its ranking score (AUC, AP, warnings); the same count learner with that one index as "
        "its only input gives its probabilities (Brier). Each level of a rule warns on as many "
        "training days per year as the model's level does, so every method is judged at the "
        "same warning rate. `ceiling_crossfit` (ex post, for scale, never a 'rule'): the model "
        "fitted on every other year of 1984-2014, future years included.",
        "",
        f"**Levels.** Red warns, on the training years, on {hko['red']} days per year and "
        f"orange (or above) on {hko['amber']}: the Observatory issued on average {hko['red']} "
        f"Red and {hko['amber']} Amber rainstorm signals a year in 1992-2010 (and "
        f"{hko['black']} Black) ({HKO_SOURCE}). Those are signals "
        "issued, not days: a Black is normally issued after a Red in the same storm, so days "
        "with Red or Black are close to the Red count, and a day with two signals counts "
        "once, so the true day counts are at most these rates; no published count of signal "
        "days was found. Yellow: P(>= 1) >= 0.5. Blue: the P(>= 1) threshold that maximised "
        "TSS on the training days. Levels are nested (blue <= yellow <= orange <= red).",
        "",
        "**Lead time.** The landslide record is daily (failure or call date, no time of day) "
        "and the rain is daily, so hours between a warning and a failure cannot be measured. "
        "What can: whether the level was already reached by the *previous* day's nowcast (in "
        "force from midnight, so before any failure of the day: a lead of at least 0 h, up "
        "to a day or more), shown as 'warned by the previous day's nowcast' (share of event "
        "days). A same-day warning uses the day's whole rain, so it may come after the "
        "failure; hourly rain and failure times would be needed to say by how much.",
        "",
        "**What daily rain cannot capture.** Every duration is a whole number of calendar "
        "days (the 72-hour rain is three calendar days' totals, not the 72 hours before a "
        "warning); sub-daily bursts (the hourly 30 / 50 / 70 mm the Amber / Red / Black "
        "signals are defined by), the timing of rain within the day, and durations under 24 "
        "h, where the Caine and Guzzetti curves are steepest, are invisible; the 1-day "
        "intensity is the day's mean rate, a lower bound of its peak hour.",
        "",
        f"95% CIs: {skill['n_boot']} month-block bootstrap resamples over the "
        f"{skill['n_blocks']} calendar months (storms and antecedent rain stay together); "
        "every method is scored on the same resamples, so model-minus-rule differences are "
        "paired. Brier skill = 1 - Brier / (r (1 - r)) with r the base rate of the scored "
        "days themselves (the strictest constant forecast).",
        "",
        "### The issue's targets",
        "",
        "Each target is read from its 95% CI as the paired comparisons are: `met` only "
        "when the whole CI is on the target's side, `missed` when the whole CI is on the "
        "other side, else `not shown` (the point estimate alone decides nothing). A "
        "paired comparison is a `win` (CI above 0), a `loss` (CI below 0) or a `tie` (CI "
        "spans 0), the tie saying on which side its point estimate lies ('tie, point "
        "below': the model behind the rule on the point estimate; for Brier and FAR, "
        "lower is better).",
        "",
        "| target | verdict | figures |",
        "|---|---|---|",
    ]
    lines += [
        f"| {n} | {ok if ok in ('met', 'none', 'n/a') else f'**{ok}**'} | {fig} |"
        for n, ok, fig in target_checks(skill)
    ]
    lines += ["", "### Every metric, every method", "", *_skill_tables(skill)]
    lines += [
        "### Model minus the best rule (paired)",
        "",
        "For each metric the best rule is the one with the best point value on 2005-2014 "
        "(lowest Brier / FAR); `warned by the previous day's nowcast` is `pod_prev_day`.",
        "",
        *_paired_table(skill),
        "",
    ]
    by_rule = paired_rule_table(skill)
    if by_rule:
        lines += [
            "### Model minus `effective_rain` and minus `rain_72h` (paired, every metric)",
            "",
            "The rule with the best severity order (`effective_rain`) and the rule the model "
            "replaces (`rain_72h`), each by name, whatever rule is best on a metric; same "
            "resamples as above.",
            "",
            *by_rule,
            "",
        ]
    lines += _severity_lines(skill, res.get("severe_days", []))
    lines += [
        "### Thresholds, fixed from the training years",
        "",
        "The model's thresholds on the expected landslides per day, per evaluation year "
        "(the rules' thresholds are on their own indices, at the same training rates; all in "
        "`metrics.json`):",
        "",
        *_threshold_table(metrics),
        "",
    ]
    native = metrics.get("native_thresholds") or {}
    if native:
        lines += [
            "Caine and Guzzetti as published (warn when the day's rain exceeds the curve, "
            "ratio >= 1; no threshold chosen), 2005-2014:",
            "",
        ]
        for name, by in sorted(native.items()):
            lines.append(
                f"- `{name}`: "
                + "; ".join(
                    f"{label}: TSS {_f(w['tss'])}, POD {_f(w['pod'])}, FAR {_f(w['far'])}, "
                    f"warned {_f(365.25 * w['warned_share'], 1)} days / year"
                    for label, w in ((">= 1", by["any"]), (">= 10", by["major"]))
                )
            )
        lines.append("")
    sub = res.get("subset")
    if sub:
        lines += [
            f"On {sub['window'][0][:4]}-{sub['window'][1][:4]} alone (the previous report's "
            "window; same run, point values):",
            "",
        ]
        for m in _order(sub["methods"]):
            a, b = sub["methods"][m]["any"], sub["methods"][m]["major"]
            lines.append(
                f"- `{m}`: >= 1 AUC {_f(a['auc'])}, Brier skill {_f(a['bss'])}; >= 10 AUC "
                f"{_f(b['auc'])}, Brier skill {_f(b['bss'])}, TSS at red {_f(b['tss@red'])}"
            )
        lines += ["", *_subset_losses(sub["methods"]), ""]
    design = res.get("design")
    if design:
        lines += [
            "### How the design was chosen (1995-2004, before the reported window)",
            "",
            "The inputs, the count objective with the negative-binomial tail, the label cap, "
            "the number of rounds, the depth and the level policy were chosen by running the "
            "same rolling backtest on 1995-2004 (trained from 1984); 2005-2014 was run once "
            "with the chosen design. Variants on 1995-2004 (point values; the rules for "
            "reference):",
            "",
            *_design_table(design),
            "",
            *_design_notes(design, res.get("design_n_days")),
            "",
        ]
    lines += _cell_lines(metrics, res.get("prior_within_day", {}))
    lines += [
        "",
        f"- Backtest command ({res['backtest_wall_s']:.0f} s on the shared 2-core machine): "
        f"`{_relative_paths(res['command'])}`",
        f"- Everything above: `python bench/bench_hongkong.py --out DIR` ({res['wall_s']:.0f} s"
        + (
            f", of which the 1995-2004 design runs {res['design_wall_s']:.0f} s"
            if "design_wall_s" in res
            else ""
        )
        + ")"
        + (
            f", started {res['started_utc']}, machine {res['load_at_start']} at the start "
            f"and {res.get('load_at_end', 'n/a')} at the end."
            if "started_utc" in res
            else "."
        ),
    ]
    return "\n".join(lines) + "\n"
