"""A hotspot model whose own backtest ranks below random says so beside its map (user
review of 7 Dec 2026): on the demo the disputes model's PAI@5% was 0.129 (about 7.7 times
worse than chance) while every PAI check of its gate said ``ok`` (the gate only checks
"not worse than each baseline"), and the overview's "no warning this week ... highest
chance 0.2%" read as low dispute risk. ``riskwarn models --checks`` marks such a check
"below random" beside the gate's own verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dashboard import verdicts

# the make-demo disputes run (democheck, 7 Dec 2026): PAI@5% 0.129, 95% CI [0, 0.262]
DISPUTES_METRICS: dict[str, Any] = {
    "headline": "pai@0.05",
    "best_baseline": "long_run",
    "methods": {
        "xgboost": {"pai@0.05": 0.12947893919210388, "pai@0.05_ci": [0.0, 0.261769582421109]},
        "long_run": {"pai@0.05": 0.09966696948243209},
        "ceiling": {"pai@0.05": 1.122150806331567},
    },
}
INCIDENTS_METRICS: dict[str, Any] = {
    "headline": "pai@0.05",
    "methods": {"xgboost": {"pai@0.05": 4.59, "pai@0.05_ci": [4.37, 4.81]}},
}


def test_a_model_below_random_says_its_map_shows_nothing() -> None:
    en = verdicts.below_random_notice(DISPUTES_METRICS, "disputes", "en")
    assert en is not None
    assert "fewer disputes in the top 5% of the area" in en, en
    assert "PAI 0.13, 95% CI 0.00–0.26; random scores 1" in en, en
    assert "does not show where disputes will happen" in en
    assert "low risk" in en and "no warning this week" in en
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in en)
    zh = verdicts.below_random_notice(DISPUTES_METRICS, "disputes", "zh")
    assert zh is not None
    assert "5% 区域内出现的纠纷少于随机" in zh and "PAI 为 0.13，95% 置信区间 0.00–0.26" in zh, zh
    assert "不能说明纠纷会发生在哪里" in zh and "风险低" in zh
    # a daily incidents domain names incidents; no CI: the point estimate alone
    no_ci = {"headline": "pai@0.05", "methods": {"xgboost": {"pai@0.05": 0.5}}}
    daily = verdicts.below_random_notice(no_ci, "incidents_daily", "en")
    assert daily is not None and "fewer incidents" in daily and "(PAI 0.50; random" in daily


def test_below_random_on_the_point_estimate_only_says_no_more_than_random() -> None:
    m = {
        "headline": "pai@0.05",
        "methods": {"xgboost": {"pai@0.05": 0.85, "pai@0.05_ci": [0.6, 1.2]}},
    }
    en = verdicts.below_random_notice(m, "disputes", "en")
    assert en is not None and "no more disputes" in en and "does not reliably show" in en
    zh = verdicts.below_random_notice(m, "disputes", "zh")
    assert zh is not None and "并不多于随机" in zh and "不能可靠地说明" in zh


@pytest.mark.parametrize(
    "metrics",
    [
        INCIDENTS_METRICS,  # above random
        {"headline": "pai@0.05", "methods": {"xgboost": {"pai@0.05": 1.0}}},  # at random
        {"headline": "auc", "methods": {"xgboost": {"auc": 0.3}}},  # no PAI headline
        {"headline": "pai@0.05", "methods": {"kde": {"pai@0.05": 0.1}}},  # no model value
        None,
    ],
)
def test_no_notice_without_a_model_below_random(metrics: dict[str, Any] | None) -> None:
    for lang in ("en", "zh"):
        assert verdicts.below_random_notice(metrics, "disputes", lang) is None


def test_models_checks_marks_a_passed_check_below_random() -> None:
    from riskwarn.commands.registry import check_mark, check_state

    check = {"check": "not worse than long_run at PAI@5%", "ok": True, "metric": "pai@0.05"}
    assert check_state(check) == "ok"  # the gate's verdict, unchanged
    assert check_mark(check, 0.129) == "!! below random (gate: ok)"
    assert check_mark(check, 4.59) == "ok"
    assert check_mark(check, None) == "ok"
    assert check_mark({**check, "ok": False}, 0.129) == "NO"


# --------------------------------------------------------------------- the pages

pytest.importorskip("streamlit")

from dashboard import queries  # noqa: E402
from tests.test_dashboard import _open, _text  # noqa: E402
from tests.test_dashboard import home as home  # noqa: E402 (this module's own demo home)


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", "does not show where disputes will happen"),
        ("zh", "不能说明纠纷会发生在哪里"),
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
