"""A hotspot model whose own backtest top share holds fewer events than that share says so
beside its map (user review of 7 Dec 2026: the overview's "no warning this week ...
highest chance 0.2%" read as low dispute risk), with the run's own chance reference.

Review of 2026-12-07 (numbers): the notice said "random scores 1". The area share of the
PAI is a share of the *scored* cells while the hit rate counts every event, so a random
choice of the scored cells scores ``events_active_area / events``: 26 / 464 = 0.056 on
the demo's disputes (model 0.129, 2.3 times that), not 1. Most disputes fall in cells
with no earlier dispute (coverage), which the notice now says; a run that does not record
``events_active_area`` gets no reference rather than a wrong one. ``riskwarn models
--checks`` marks a passed check "below random" against that reference only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dashboard import verdicts


def _method(pai: float, ci: list[float] | None, events: float, inside: float | None) -> dict:
    """One method's entry of a hotspot run's metrics.json (models.hotspot_evaluation)."""
    out: dict[str, Any] = {"pai@0.05": pai, "hit_rate@0.05": pai * 0.05, "events": events}
    if ci is not None:
        out["pai@0.05_ci"] = ci
    if inside is not None:
        out["events_active_area"] = inside
        out["pai_active_area@0.05"] = pai * events / inside
    return out


# the make-demo disputes run of 2026-12-07 (its metrics.json, /work/rv-numbers/var):
# PAI@5% 0.129 [0, 0.262], 26 of 464 disputes in scored cells, pai_active_area 2.31
DISPUTES_METRICS: dict[str, Any] = {
    "headline": "pai@0.05",
    "best_baseline": "long_run",
    "counting": "every event of the window",
    "events_outside_area": 438.0,
    "methods": {
        "xgboost": _method(0.12947893919210388, [0.0, 0.261769582421109], 464.0, 26.0),
        "long_run": _method(0.09966696948243209, [0.0104, 0.221], 464.0, 26.0),
        "ceiling": _method(1.122150806331567, [0.67, 1.61], 464.0, 26.0),
    },
}
INCIDENTS_METRICS: dict[str, Any] = {  # the same home: 4.59, 4242 of 7319 in scored cells
    "headline": "pai@0.05",
    "methods": {"xgboost": _method(4.590761714738187, [4.368, 4.808], 7319.0, 4242.0)},
}


def test_the_disputes_notice_gives_the_runs_chance_reference_and_coverage() -> None:
    en = verdicts.below_random_notice(DISPUTES_METRICS, "disputes", "en")
    assert en is not None
    assert "random scores 1" not in en and "random choice scores 0.056 here, not 1" in en, en
    assert "did not reliably hold more disputes than as many of the scored cells" in en, en
    assert "PAI 0.13, 95% CI 0.00–0.26" in en
    assert "438 of 464 disputes (94%) fell in cells with no earlier disputes" in en, en
    assert "does not reliably show where disputes will happen" in en
    assert "low risk" in en and "no warning this week" in en
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in en)
    zh = verdicts.below_random_notice(DISPUTES_METRICS, "disputes", "zh")
    assert zh is not None and "随机为 1" not in zh
    assert "随机挑选在此为 0.056，而非 1" in zh and "464 起纠纷中有 438 起（94%）" in zh, zh
    assert "PAI 为 0.13，95% 置信区间 0.00–0.26" in zh and "不能可靠地说明纠纷会发生在哪里" in zh


def test_below_the_runs_reference_says_below_random() -> None:
    # CI wholly below the reference (0.5 here: half the events in scored cells)
    m = {"headline": "pai@0.05", "methods": {"xgboost": _method(0.2, [0.1, 0.3], 100.0, 50.0)}}
    en = verdicts.below_random_notice(m, "incidents_daily", "en")
    assert en is not None and "held fewer incidents than as many of the scored cells" in en, en
    assert "a random choice scores 0.5 here, not 1: 50 of 100 incidents (50%)" in en, en
    zh = verdicts.below_random_notice(m, "disputes", "zh")
    assert zh is not None and "少于随机挑选同样数量的评分网格" in zh and "随机挑选在此为 0.5" in zh


def test_above_its_reference_but_below_its_share_says_coverage() -> None:
    m = {"headline": "pai@0.05", "methods": {"xgboost": _method(0.6, [0.5, 0.7], 100.0, 20.0)}}
    en = verdicts.below_random_notice(m, "disputes", "en")
    assert en is not None and "held fewer than 5% of all disputes" in en, en
    assert "80 of 100 disputes (80%) fell in cells with no earlier disputes" in en, en
    assert "It does not show where most disputes will happen" in en and "at random" in en
    zh = verdicts.below_random_notice(m, "disputes", "zh")
    assert zh is not None and "不到全部纠纷的 5%" in zh and "不能说明大多数纠纷会发生在哪里" in zh


def test_a_run_without_events_active_area_gets_no_reference() -> None:
    old = {"headline": "pai@0.05", "methods": {"xgboost": {"pai@0.05": 0.129}}}
    en = verdicts.below_random_notice(old, "disputes", "en")
    assert en is not None and "held fewer than 5% of all disputes (PAI 0.13, below 1)" in en
    assert "random" not in en, en
    zh = verdicts.below_random_notice(old, "disputes", "zh")
    assert zh is not None and "随机" not in zh and "不到全部纠纷的 5%" in zh
    assert verdicts.random_reference("pai@0.05", old["methods"]["xgboost"]) is None


def test_the_reference_is_the_share_of_events_in_scored_cells() -> None:
    own = DISPUTES_METRICS["methods"]["xgboost"]
    ref = verdicts.random_reference("pai@0.05", own)
    assert ref == pytest.approx(26 / 464)
    assert own["pai@0.05"] / ref == pytest.approx(own["pai_active_area@0.05"])  # 2.31
    assert verdicts.random_reference("hit_rate@0.05", own) == pytest.approx(0.05 * 26 / 464)
    inc = INCIDENTS_METRICS["methods"]["xgboost"]
    assert verdicts.random_reference("pai@0.01", inc) == pytest.approx(4242 / 7319)
    assert verdicts.random_reference("auc", own) is None
    assert verdicts.random_reference("pai@0.05", {"events": 0, "events_active_area": 0}) is None


@pytest.mark.parametrize(
    "metrics",
    [
        INCIDENTS_METRICS,  # top 5% held 23% of the incidents
        {"headline": "pai@0.05", "methods": {"xgboost": {"pai@0.05": 1.0}}},  # its share
        {"headline": "auc", "methods": {"xgboost": {"auc": 0.3}}},  # no PAI headline
        {"headline": "pai@0.05", "methods": {"kde": {"pai@0.05": 0.1}}},  # no model value
        None,
    ],
)
def test_no_notice_without_a_model_below_its_share(metrics: dict[str, Any] | None) -> None:
    for lang in ("en", "zh"):
        assert verdicts.below_random_notice(metrics, "disputes", lang) is None


def test_models_checks_marks_a_passed_check_below_the_runs_reference() -> None:
    from riskwarn.commands.registry import check_line, check_mark, check_state

    check = {"check": "not worse than long_run at PAI@5%", "ok": True, "metric": "pai@0.05"}
    ref = verdicts.random_reference("pai@0.05", DISPUTES_METRICS["methods"]["xgboost"])
    assert check_state(check) == "ok"  # the gate's verdict, unchanged
    assert check_mark(check, 0.129, ref) == "ok"  # 2.3 times a random choice: not below
    assert "below random" not in check_line(check, 0.129, ref)
    assert check_mark(check, 0.129, None) == "ok"  # no reference: no claim
    assert check_mark(check, 0.04, ref) == "!! below random (gate: ok)"
    assert "scores 0.056 here): about 1.4 times worse than chance" in check_line(check, 0.04, ref)
    assert check_mark({**check, "ok": False}, 0.04, ref) == "NO"


# --------------------------------------------------------------------- the pages

pytest.importorskip("streamlit")

from dashboard import queries  # noqa: E402
from tests.test_dashboard import _open, _text  # noqa: E402
from tests.test_dashboard import home as home  # noqa: E402 (this module's own demo home)


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", "a random choice scores 0.056 here, not 1"),
        ("zh", "随机挑选在此为 0.056，而非 1"),
    ],
)
def test_the_overview_says_the_disputes_map_shows_nothing(
    home: Path, monkeypatch: pytest.MonkeyPatch, lang: str, words: str
) -> None:
    def metrics(_uri: str, domain: str, _version: str) -> dict[str, Any] | None:
        return {"disputes": DISPUTES_METRICS, "incidents": INCIDENTS_METRICS}.get(domain)

    monkeypatch.setattr(queries, "version_metrics", metrics, raising=False)
    text = _text(_open("admin", "overview", lang))
    assert text.count(words) == 1, text[:3000]  # the disputes map's, not the incidents'
    assert "random scores 1" not in text and "随机为 1" not in text
