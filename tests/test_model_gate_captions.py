"""Every page that shows a model's probabilities shows its version's gate verdict as the
overview does (user review of 6 Dec 2026: the geohazard page showed "Probability 0.17%"
of a site model that had failed its gate and was promoted by force, with no caveat),
and a site model that did worse than the sensor rules says the levels follow them
(serving issues the higher of the model's and the rules' level)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("streamlit")

from dashboard import queries, views
from tests.test_dashboard import _open, _text
from tests.test_dashboard import home as home  # a module-scoped demo home (this module's own)

FORCED = {"version": "3", "forced_over_gate": True, "gate": "fail", "reason": "demo"}
GATE_WORSE_THAN_RULES: dict[str, Any] = {
    "passed": False,
    "status": "fail",
    "checks": [
        {"check": "beats caine", "ok": False, "against": "caine"},
        {"check": "beats sensor_rules", "ok": False, "against": "sensor_rules"},
        {"check": "not worse than sensor_rules at TSS at blue", "ok": True},
    ],
}


def test_model_note_says_the_levels_follow_the_sensor_rules() -> None:
    promo = {"actor": "ops", "details": FORCED}
    for lang, forced, rules in (
        ("en", "failed its promotion gate", "the levels follow the sensor rules"),
        ("zh", "未通过上线门槛", "等级即由传感器规则给出"),
    ):
        note = views.model_note("3", promo, lang, GATE_WORSE_THAN_RULES)
        assert forced in note and "ops" in note and rules in note, note
        # failing only against other methods (a hotspot model), or no gate: no rules line
        other = {**GATE_WORSE_THAN_RULES, "checks": GATE_WORSE_THAN_RULES["checks"][:1]}
        assert rules not in views.model_note("3", promo, lang, other)
        assert views.model_note("3", promo, lang) == views.model_note("3", promo, lang, None)


@pytest.fixture(scope="module")
def forced_home(home: Path) -> Path:
    """The demo home with its site and case models recorded as promoted by force."""
    from riskwarn.store import Store

    store = Store(queries.settings().resolved_store_url)
    for domain in (*queries.SITE_DOMAINS, queries.CASE_DOMAIN):
        store.audit("duty-admin", "promote", "model", f"riskwarn-{domain}", dict(FORCED))
    import streamlit as st

    st.cache_data.clear()  # promotion() is cached
    return home


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", "failed its promotion gate**, promoted by force by duty-admin"),
        ("zh", "未通过上线门槛"),
    ],
)
@pytest.mark.parametrize("page", ["geohazard", "disputes"])
def test_pages_with_probabilities_show_the_gate_verdict(
    forced_home: Path, page: str, lang: str, words: str
) -> None:
    at = _open("admin", page, lang)
    text = _text(at)
    assert words in text, text[:2000]
    assert "duty-admin" in text
