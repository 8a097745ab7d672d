"""The civil-disputes verdict on the models page (review revA, 2026-12-06): "PAI@5%
(random = 1) is 0.129; long-run counts 0.100 … no clear difference; Rank 1 of 5", both
about 8x below random and nothing said so (only AUC had "worse than chance" words). A
PAI or hit rate below its random reference is now said plainly in en and zh, and the
rank is not shown as if it were good. ``riskwarn models --checks``: a "not worse" check
whose point estimate is worse but whose CI reaches 0 says so instead of a bare "ok", and
a bound of -0.00047 never prints as "+0.000" / "-0.000"."""

from __future__ import annotations

from dashboard import verdicts
from dashboard.verdicts import Comparison, Verdict


def _disputes() -> Verdict:
    return Verdict(
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
    )


def test_a_pai_below_random_is_said_and_the_rank_is_put_in_context() -> None:
    en = "\n".join(verdicts.verdict_lines(_disputes(), "en", "Asia/Shanghai"))
    assert "**below random**" in en and "7.8 times worse than chance" in en
    assert "long-run" in en.lower() or "long_run" in en
    assert "is below random too" in en
    assert (
        "Rank 1 of 5 usable methods (ex-post ceilings not counted), but among methods below" in en
    )
    zh = "\n".join(verdicts.verdict_lines(_disputes(), "zh", "Asia/Shanghai"))
    assert "**低于随机水平**" in zh and "1/7.8" in zh and "同样低于随机水平" in zh
    assert "并不说明模型好用" in zh
    # a model above random keeps the plain rank line and no below-random words
    good = Verdict(**{**_disputes().__dict__, "model_value": 2.4, "baseline_value": 1.9})
    text = "\n".join(verdicts.verdict_lines(good, "en", "Asia/Shanghai"))
    assert (
        "below random" not in text
        and "Rank 1 of 5 usable methods (ex-post ceilings not counted)." in text
    )
    assert verdicts.random_reference("hit_rate@0.05") == 0.05
    assert verdicts.random_reference("average_precision") is None


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
