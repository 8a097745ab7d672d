"""Every evidence key and value on the warning page in words, en and zh (review of
2026-12-06: a geohazard warning's sensors table had a column "within_noise" reading
"True" / "False"; the hold's and the stream model's keys read as raw names and ranks).

The evidence of each domain as its producer writes it: the hourly nowcast's (run here on
a small lake, a red held by the hold), the stream's (riskwarn.stream.state and .publish:
the site model's part, a pending raise), a cell's and a case's (riskwarn.evidence) and
the daily site model's (its model only). Shown through the page's own functions
(views.evidence_frames, review.evidence_fact_rows, review.evidence_table).
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pytest

from dashboard import review, views
from riskwarn.evidence import unit_evidence

RAW = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")  # a column or feature name
RAW_VALUES = {"True", "False", "None", "nan", "NaN", "<NA>"}
CJK = re.compile(r"[\u4e00-\u9fff]")

# riskwarn.stream.state._level/_with_model and riskwarn.stream.publish, a raise pending
STREAM: dict[str, Any] = {
    "sensors": [
        {
            "sensor_id": "SB00015",
            "status": "ok",
            "readings_24h": 144,
            "velocity_mm_per_day": 0.412,
            "tangent_angle_deg": 61.2,
            "within_noise": False,
        },
        {
            "sensor_id": "SB00016",
            "status": "flat",
            "readings_24h": 140,
            "velocity_mm_per_day": None,
            "tangent_angle_deg": None,
        },
    ],
    "site_model": "riskwarn-geohazard_hourly v3",
    "model_probability": 0.0123,
    "model_level_rank": 0,
    "sensor_rules_level_rank": 2,
    "model_origin": "2024-07-10T11:00:00+00:00",
    "rules_level_rank": 2,
    "pending_steps_above": 1,
    "observed_to": "2024-07-10T12:00:00+00:00",
    "source": "stream",
    "health": "ok",
}
CELL = pd.DataFrame(
    {
        "unit_id": ["c1"],
        "count_7d": [3.0],
        "count_21d": [7.0],
        "count_property_21d": [4.0],
        "count_violent_21d": [1.0],
    }
)
CASE = pd.DataFrame(
    {
        "unit_id": ["D-1"],
        "age_days": [40.0],
        "n_mediations": [6.0],
        "n_failed_mediations": [2.0],
        "days_since_last_mediation": [3.2],
        "n_parties": [2.0],
        "party_prior_disputes": [13.0],
        "party_prior_escalations": [4.0],
        "nearby_disputes_30d": [3.0],
        "nearby_escalations_30d": [1.0],
        "category_neighbour": [1.0],
    }
)


def shown(evidence: dict[str, Any], lang: str) -> tuple[list[str], list[str]]:
    """(labels, values) of the page's Evidence section: facts, table captions, columns
    and cells."""
    facts, tables = views.evidence_frames(evidence)
    rows = review.evidence_fact_rows(facts, lang)
    labels, values = [r[0] for r in rows], [r[1] for r in rows]
    for name, frame in tables.items():
        table = review.evidence_table(frame, lang)
        labels += [review.evidence_word(name, lang), *map(str, table.columns)]
        values += [str(v) for v in table.to_numpy().ravel()]
    return labels, values


def assert_in_words(evidence: dict[str, Any], lang: str) -> None:
    labels, values = shown(evidence, lang)
    raw = [w for w in labels + values if RAW.fullmatch(w) or w in RAW_VALUES]
    assert not raw, (raw, evidence)
    if lang == "zh":
        english = [w for w in labels if not CJK.search(w)]
        assert not english, english


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_stream_evidence_in_words(lang: str) -> None:
    assert_in_words(STREAM, lang)
    labels, values = shown(STREAM, lang)
    noise = {"en": "Velocity within the sensor's noise", "zh": "速度在传感器噪声范围内"}[lang]
    assert noise in labels and ("no" if lang == "en" else "否") in values
    model = {"en": "Level from the model", "zh": "模型给出的等级"}[lang]
    rules = {"en": "Level from the sensor rules", "zh": "传感器规则给出的等级"}[lang]
    rows = dict(review.evidence_fact_rows(views.evidence_frames(STREAM)[0], lang))
    assert rows[model] == {"en": "none", "zh": "未达阈值"}[lang]
    assert rows[rules] == {"en": "Yellow (III)", "zh": "黄色（III级）"}[lang]
    assert rows[{"en": "Model probability", "zh": "模型概率"}[lang]] == "1.23%"
    site_model = {"en": "Site model", "zh": "隐患点模型"}[lang]
    assert "3" in rows[site_model] and "riskwarn-" not in rows[site_model]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_cell_case_and_daily_site_evidence_in_words(lang: str) -> None:
    cell = {"model": "riskwarn-incidents v2", **unit_evidence("cell", CELL)["c1"]}
    assert "events_by_category_21d" in cell
    case = {"model": "riskwarn-dispute_cases v1", **unit_evidence("case", CASE)["D-1"]}
    for evidence in (cell, case, {"model": "riskwarn-geohazard v1"}):
        assert_in_words(evidence, lang)
    by_category = review.evidence_word("events_by_category_21d", lang)
    assert "21" in by_category


@pytest.mark.parametrize(("value", "en", "zh"), [(True, "yes", "是"), (False, "no", "否")])
def test_a_flag_reads_yes_or_no(value: bool, en: str, zh: str) -> None:
    assert review.evidence_value("within_noise", value, "en") == en
    assert review.evidence_value("within_noise", value, "zh") == zh
    assert review.evidence_value("anything_else", value, "zh") == zh


def test_the_hourly_nowcasts_evidence_in_words(settings) -> None:
    """A real nowcast run: a red held by the hold above steady sensors (the sensors
    table with ``within_noise``, the hold's keys, what each source said)."""
    from riskwarn.nowcast import nowcast_geohazard
    from riskwarn.store import Store
    from tests.test_nowcast_hold import DOMAIN, _run_rows, _seed_red, _steady_lake

    t0 = pd.Timestamp("2024-07-10T12:00Z")
    _steady_lake(settings, t0, hours_after=1)
    store = Store.from_settings(settings)
    store.upgrade()
    _seed_red(store, "s1", t0 - pd.Timedelta(hours=1))
    nowcast_geohazard(settings, t0, store=store, domain=DOMAIN)
    w = _run_rows(store, t0).set_index("unit_id")
    ev = w.loc["s1", "evidence"]
    assert {"held_steps_below", "held_lower_to", "rules_level_rank", "sensors"} <= set(ev)
    assert any("within_noise" in s for s in ev["sensors"]), ev["sensors"]
    for lang in ("en", "zh"):
        assert_in_words(ev, lang)
        rows = dict(review.evidence_fact_rows(views.evidence_frames(ev)[0], lang))
        after = {"en": "Level after a sustained calm", "zh": "持续平稳后将降至的等级"}[lang]
        assert rows[after] == {"en": "no warning", "zh": "无预警"}[lang]
    store.close()
