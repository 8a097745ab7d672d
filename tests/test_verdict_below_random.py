"""The civil-disputes verdict on the models page (review revA, 2026-12-06): a PAI or hit
rate below its random reference is said plainly in en and zh, and the rank is not shown
as if it were good.

Review of 2026-12-07 (numbers): the page said "PAI@5% (random = 1)" and "about 7.7 times
worse than chance" of the demo's disputes model (PAI@5% 0.129). Every event counts in
the hit rate while the area share is of the scored cells, so a random choice of the
scored cells scores ``events_active_area / events`` (0.056 there: 2.3 times below the
model; incidents 0.58, the model 7.9 times it, where "random = 1" read as 4.59 times).
The reference is now the run's own, with the events outside the scored area that no cell
forecast ranks; a run without ``events_active_area`` gets none. ``riskwarn models
--checks``: a "not worse" check whose point estimate is worse but whose CI reaches 0
says so instead of a bare "ok", and a bound of -0.00047 never prints as "+0.000"."""

from __future__ import annotations

import pytest

from dashboard import verdicts
from dashboard.verdicts import Comparison, Verdict
from tests.test_hotspot_below_random_notice import DISPUTES_METRICS, INCIDENTS_METRICS


def _disputes(**changes: object) -> Verdict:
    v = Verdict(
        domain="disputes",
        version="1",
        status="fail",
        forced=True,
        metric="pai@0.05",
        model_value=0.129,
        best_baseline="long_run",
        baseline_value=0.100,
        versus_best=Comparison("long_run", 0.029, -0.05, 0.11),
        rank=1,
        n_methods=5,
        random_ref=26 / 464,
        events=464,
        events_outside=438,
    )
    return Verdict(**{**v.__dict__, **changes})


def test_the_disputes_verdict_gives_the_runs_reference_not_1() -> None:
    en = "\n".join(verdicts.verdict_lines(_disputes(), "en", "Asia/Shanghai"))
    assert "random = 1" not in en and "times worse than chance" not in en, en
    assert "below random" not in en and "Rank 1 of 5 usable methods (ex-post ceilings" in en
    assert (
        "Chance reference: choosing 5% of the scored cells at random scores PAI@5% 0.056 "
        "here, not 1: every event counts, and 438 of 464 (94%) fell in cells with no "
        "earlier event, outside the scored area, which no cell forecast ranks. The model "
        "scores 2.3 times that. **Most events fall where no cell forecast can point**" in en
    ), en
    zh = "\n".join(verdicts.verdict_lines(_disputes(), "zh", "Asia/Shanghai"))
    assert "随机为 1" not in zh and "低于随机水平" not in zh
    assert "命中效率 PAI@5%在此为 0.056，而非 1" in zh and "464 起中有 438 起（94%）" in zh, zh
    assert "模型约为随机的 2.3 倍" in zh and "限制该模型的是覆盖范围" in zh


def test_the_verdict_reads_the_reference_from_the_runs_metrics() -> None:
    champ = {"version": "1", "gate_tag": "pass", "params": {}}
    inc = verdicts.verdict("incidents", champ, None, INCIDENTS_METRICS, None)
    assert inc.random_ref == pytest.approx(4242 / 7319) and inc.events_outside == 3077
    en = "\n".join(verdicts.verdict_lines(inc, "en", "UTC"))
    assert "scores PAI@5% 0.58 here, not 1" in en and "The model scores 7.9 times that." in en
    assert "Most events" not in en  # 42% outside: not most
    dis = verdicts.verdict("disputes", {**champ, "gate_tag": "fail"}, None, DISPUTES_METRICS, None)
    assert dis.random_ref == pytest.approx(0.056, abs=5e-4)
    # a run without events_active_area: no reference, no below-random claim
    old = {"headline": "pai@0.05", "methods": {"xgboost": {"pai@0.05": 0.129, "events": 464}}}
    v = verdicts.verdict("disputes", {**champ, "gate_tag": "fail"}, None, old, None)
    assert v.random_ref is None
    text = "\n".join(
        verdicts.verdict_lines(v, "en", "UTC") + verdicts.verdict_lines(v, "zh", "UTC")
    )
    assert "random" not in text.lower() and "随机" not in text, text


def test_a_pai_below_the_runs_reference_is_said_and_the_rank_put_in_context() -> None:
    below = _disputes(model_value=0.04, baseline_value=0.03)
    en = "\n".join(verdicts.verdict_lines(below, "en", "Asia/Shanghai"))
    assert "**below random**" in en and "1.4 times worse than chance" in en, en
    assert "scored cells at random scores 0.056 here" in en
    assert "is below random too" in en
    assert "Rank 1 of 5 usable methods (ex-post ceilings not counted), but among methods" in en
    zh = "\n".join(verdicts.verdict_lines(below, "zh", "Asia/Shanghai"))
    assert "**低于随机水平**" in zh and "1/1.4" in zh and "同样低于随机水平" in zh
    assert "并不说明模型好用" in zh
    assert verdicts.random_reference("hit_rate@0.05", None) is None
    assert verdicts.random_reference("average_precision", {"events": 1}) is None


def test_models_checks_says_worse_on_the_point_estimate_and_keeps_the_sign() -> None:
    from riskwarn.commands.registry import check_line, check_state

    check = {
        "check": "not worse than long_run at PAI@10%",
        "ok": True,
        "judged": True,
        "detail": "diff -0.074, 95% CI [-0.173, -0.000] (fails only if the CI lies below zero)",
        "metric": "pai@0.1",
        "diff": -0.074,
        "ci": [-0.173, 0.00047],
    }
    line = check_line(check)
    assert "95% CI [-0.173, +0.00047]" in line and "0.000]" not in line
    assert check_state(check) == "ok"
    assert "tie, point below: worse on the point estimate, not beyond noise" in line
    better = {
        **check,
        "diff": 0.03,
        "ci": [-0.1, 0.166],
        "detail": "diff +0.030, 95% CI [-0.102, +0.166]",
    }
    assert "worse on the point estimate" not in check_line(better)
