"""The dashboard words the promotion gate as the gate applies it (review of 2026-12-07):
the models page said every model "must beat every simple method clearly (the 95% CI of
the difference above 0)" and the map's help "must clearly beat", while the hotspot
models' check against the simple methods is non-inferiority (models/gate.py ``not_worse``:
fails only if the CI lies wholly below zero; incidents passed with PAI@1% CI
[-0.014, +0.509]). The words now come from ``models.gate.BASELINE_RULE`` per model
family, and the trainers are read to check they call the gate that way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from dashboard import verdicts
from dashboard.i18n import t
from models.gate import BASELINE_RULE, gate
from riskwarn import domains

ROOT = Path(__file__).resolve().parents[1]
TRAINERS = {  # the module that calls gate() for each model family
    "hotspot": "models/train.py",
    "case": "models/case_models.py",
    "site": "models/geohazard_sites.py",
}
# incidents' PAI@1% comparison with the best baseline in the user's demo
STRADDLING = {"diff": 0.2475, "ci": [-0.014, 0.509]}


def _gate_call(path: str) -> ast.Call:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    (call,) = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "gate"
    ]
    return call


@pytest.mark.parametrize("family", sorted(TRAINERS))
def test_each_family_is_gated_as_its_rule_says(family: str) -> None:
    call = _gate_call(TRAINERS[family])
    keywords = {k.arg for k in call.keywords}
    first = call.args[0]
    no_comparisons = isinstance(first, ast.Dict) and not first.keys
    rule = "not_worse" if no_comparisons and "not_worse" in keywords else "beats"
    assert not (rule == "beats" and "not_worse" in keywords), TRAINERS[family]
    assert BASELINE_RULE[family] == rule
    assert ("levels_vs_rule" in keywords) == (family == "site")
    assert set(BASELINE_RULE) == {d.family for d in domains.DOMAINS.values()}


def test_a_ci_straddling_zero_passes_not_worse_and_fails_beats() -> None:
    passed = gate({}, 0.0, not_worse={"pai@0.01": {"against": "kde", **STRADDLING}})
    beaten = gate({"kde": STRADDLING}, 0.0)
    assert [c["ok"] for c in passed.checks][:1] == [True]
    assert [c["ok"] for c in beaten.checks][:1] == [False]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_models_page_and_the_help_word_each_domain_by_its_rule(lang: str) -> None:
    no_worse = {"en": "do no worse than the best simple method", "zh": "不差于最好的简单方法"}[lang]
    beat = {"en": "beat every simple method clearly", "zh": "明显优于每一种简单方法"}[lang]
    below = {"en": "fails only if the 95% confidence interval", "zh": "整体低于 0 时不通过"}[lang]
    intro = verdicts.gate_intro(lang)
    for name, d in domains.DOMAINS.items():
        rule = verdicts.gate_rule(name, lang)
        help_text = t("model_note_help", lang, rule=rule)
        assert rule in intro and t(f"domain_{name}", lang) in intro
        if BASELINE_RULE[d.family] == "not_worse":
            assert no_worse in help_text and below in help_text and beat not in help_text
        else:
            assert beat in help_text and no_worse not in help_text
        # the intro names the domain in the group whose rule it follows
        group = next(g for g in intro.split("；" if lang == "zh" else "; ") if rule in g)
        assert t(f"domain_{name}", lang) in group
    # the stream's own domain trains no model: its caption's help names no rule it lacks
    assert verdicts.gate_rule("geohazard_stream", lang) == t("gate_rule_other", lang)
