"""The site model's gate judges its warning levels against the rule it replaces.

Before, ``models.gate.gate`` got only the AUC comparisons for a site model: a challenger
whose red level detected fewer failures than the sensor rules' red (or raised many more
false alarms there) passed as long as its AUC was higher. Now every level (blue .. red)
is compared with the sensor rules': POD, FAR and TSS over the window's rows (warned =
level k or above), the paired difference with a 95 % CI from the same local-day resamples
as the AUC comparison (``models.site_evaluation.DayBootstrap``); the gate fails a
challenger whose TSS CI at any level lies below zero. The level judged is the one the
nowcast serves (the higher of the model's and the rules', ``SiteModelConfig.gate_levels``
``"served"``) or the model's own (``"xgboost"``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from dashboard.verdicts import check_words
from models.gate import gate
from models.geohazard_sites import site_config
from models.site_evaluation import (
    LEVEL_NAMES,
    SERVED,
    evaluate_site_methods,
    level_gate_comparisons,
)

CONFIG = replace(site_config("geohazard"), tz="Asia/Shanghai")
AUC_OK = {"sensor_rules": {"diff": 0.05, "ci": [0.02, 0.08]}}


def _scores(model_red_hits: float, model_red_false: float, seed: int = 0) -> pd.DataFrame:
    """A site x day backtest's scores: 120 days x 40 sites, about one failure a day.

    The sensor rules reach red on 70 % of the failure rows (none on the other 30 %) and
    yellow on 5 % of the other rows; the
    model's score ranks every failure above every other row (its AUC beats the rules'),
    but its red level reaches ``model_red_hits`` of the failure rows and
    ``model_red_false`` of the others (its lower levels cover every failure)."""
    rng = np.random.default_rng(seed)
    origins = pd.date_range("2025-06-30T16:00Z", periods=120, freq="D")
    sites = [f"s{i:02d}" for i in range(40)]
    keys = pd.MultiIndex.from_product([origins, sites], names=["origin", "site_id"])
    rows = keys.to_frame(index=False)
    y = (rng.random(len(rows)) < 1 / 40).astype(int)
    e = y == 1
    u = rng.random(len(rows))
    rule = np.where(e, np.where(u < 0.7, 4, 0), np.where(u < 0.05, 2, 0))
    u = rng.random(len(rows))
    model = np.where(e, np.where(u < model_red_hits, 4, 3), np.where(u < model_red_false, 4, 0))
    p = np.where(e, 0.5 + 0.4 * rng.random(len(rows)), 0.2 * rng.random(len(rows)))
    frames = []
    for method, score, level in (
        ("xgboost", p, model),
        ("sensor_rules", rule.astype(float), rule),
    ):
        frames.append(
            rows.assign(
                method=method,
                score=score,
                raw=np.nan,
                threshold=0.5,
                warned=score >= 0.5,
                level=level,
                orange=level >= 3,
                label=y,
            )
        )
    return pd.concat(frames, ignore_index=True)


def _events(scores: pd.DataFrame) -> pd.DataFrame:
    ev = scores[(scores["method"] == "xgboost") & (scores["label"] == 1)]
    return pd.DataFrame(
        {"site_id": ev["site_id"], "occurred_at": ev["origin"] + pd.Timedelta(hours=12)}
    )


def _gate(scores: pd.DataFrame, levels_from: str):
    metrics = evaluate_site_methods(scores, _events(scores), CONFIG, n_boot=300)
    comps = level_gate_comparisons(metrics, levels_from)
    assert list(comps) == list(LEVEL_NAMES)
    return metrics, gate(AUC_OK, 0.0, levels_vs_rule=comps)


def _red(result) -> dict:
    (c,) = [c for c in result.checks if c.get("metric") == "tss@red"]
    return c


def test_a_model_that_detects_fewer_failures_at_red_fails_the_gate() -> None:
    """The model alone warns red on 20 % of the failure rows, the rules on 70 %: its AUC is
    better (every failure ranked first), the AUC check passes, and the old gate promoted
    it; the red level's TSS is worse beyond noise and the gate now fails."""
    metrics, result = _gate(_scores(model_red_hits=0.2, model_red_false=0.0), "xgboost")
    assert metrics["model_minus_baseline"]["sensor_rules"]["diff"] > 0  # AUC: model better
    red = _red(result)
    assert red["ok"] is False and red["ci"][1] < 0
    assert (
        red["against"] == "sensor_rules"
        and "baseline" not in red
        and red["levels_from"] == "xgboost"
    )
    assert red["pod"]["model"] < red["pod"]["rule"]
    assert "POD" in red["detail"] and "FAR" in red["detail"]
    assert not result.passed and result.status == "fail"
    # the lower levels: the model covers every failure there, the rules not: ok
    assert all(c["ok"] for c in result.checks if c.get("metric") in ("tss@blue", "tss@yellow"))
    # the old gate (AUC and calibration only) passed this challenger
    assert gate(AUC_OK, 0.0).passed


def test_the_served_level_keeps_the_rules_red_and_passes() -> None:
    """The same challenger served as the nowcast serves it (never below the rules' level):
    POD at red is at least the rules', TSS not worse, the gate passes."""
    _, result = _gate(_scores(model_red_hits=0.2, model_red_false=0.0), SERVED)
    red = _red(result)
    assert red["ok"] is True and red["levels_from"] == SERVED
    assert red["pod"]["model"] >= red["pod"]["rule"]
    assert result.passed, result.summary()


def test_a_red_level_that_floods_false_alarms_fails_even_when_served() -> None:
    """Served with the rules' level the model cannot detect fewer failures, but red on
    40 % of the other rows is a TSS loss (POFD) beyond noise: the gate fails."""
    _, result = _gate(_scores(model_red_hits=0.5, model_red_false=0.4), SERVED)
    red = _red(result)
    assert red["ok"] is False and red["ci"][1] < 0
    assert red["far"]["model"] > red["far"]["rule"]
    assert not result.passed


def test_a_model_that_matches_the_rules_at_every_level_passes() -> None:
    _, result = _gate(_scores(model_red_hits=0.75, model_red_false=0.0), "xgboost")
    levels = [c for c in result.checks if str(c.get("metric", "")).startswith("tss@")]
    assert [c["level"] for c in levels] == list(LEVEL_NAMES)
    assert all(c["ok"] for c in levels)
    assert result.passed, result.summary()


def test_no_failure_in_the_window_leaves_the_levels_not_judged() -> None:
    comp = {
        "against": "sensor_rules",
        "levels_from": SERVED,
        **{
            x: {"model": np.nan, "rule": np.nan, "diff": np.nan, "ci": [np.nan] * 2}
            for x in ("tss", "pod", "far")
        },
    }
    result = gate(AUC_OK, 0.0, levels_vs_rule={"red": comp}, not_judged_why="no failure")
    red = _red(result)
    assert red["judged"] is False and red["ok"] is False
    assert result.status == "not_judged"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_dashboard_words_the_failed_level_check(lang: str) -> None:
    _, result = _gate(_scores(model_red_hits=0.2, model_red_false=0.0), "xgboost")
    words = check_words(_red(result), lang, "auc")
    if lang == "en":
        assert words.startswith("worse than sensor rules") and "TSS at the red level" in words
    else:
        assert "红色预警等级" in words and "TSS" in words and "不如" in words
        assert "red" not in words


def test_the_paired_site_table_reaches_red() -> None:
    """docs/benchmarks-models.md's paired table (site bootstrap) stopped at orange."""
    from models.site_evaluation import paired_site_bootstrap

    out = paired_site_bootstrap(_scores(0.2, 0.0), n_boot=200)
    for what in ("POD", "FAR", "TSS"):
        assert f"{what} at red" in out and f"{what} at orange" in out
    red = out["TSS at red"]
    assert red["xgboost"] < red["sensor_rules"] and red["ci"][1] < 0


def test_a_ci_not_computed_is_not_logged() -> None:
    """A FAR where nothing was warned has no CI (NaN): logged to MLflow as NaN, two
    identical trainings' metrics compared unequal (NaN != NaN); it is left out, as a
    scalar NaN always was."""
    from models.registry import _flat_metrics

    flat = _flat_metrics(
        {
            "far": {"diff": float("nan"), "ci": [float("nan"), float("nan")]},
            "tss": {"diff": 0.1, "ci": [0.05, 0.2]},
        }
    )
    assert flat == {"tss.diff": 0.1, "tss.ci_lo": 0.05, "tss.ci_hi": 0.2}


def _hourly_backtest():
    """An hourly backtest (20 days x 6 sites) whose model never reaches a level on its
    own (probability below every threshold, 0.6), so each hour's served level *as
    scored* is the rules' level row for row. But at three sites, after a false red of the
    rules at 10:00 UTC each day, the model's probability stays at 0.5 for 12 hours:
    above red's hold threshold (0.6 x the domain's hold/raise ratio 0.75 = 0.45), so the
    nowcast's hysteresis keeps its red published (riskwarn.warnings.assign_levels
    against the previous published level), then the 6-h hold: about 12 more false red
    hours a day than the rules alone publish. A failure each day at a fourth site is
    warned red by the rules."""
    from models.geohazard_sites import SiteBacktest

    origins = pd.date_range("2025-07-01T00:00Z", periods=20 * 24, freq="h")
    sites = [f"s{i}" for i in range(6)]
    rows = pd.MultiIndex.from_product([origins, sites], names=["origin", "site_id"])
    rows = rows.to_frame(index=False)
    h = pd.DatetimeIndex(rows["origin"]).hour.to_numpy()
    s = rows["site_id"].to_numpy()
    y = ((s == "s0") & np.isin(h, [3, 4, 5])).astype(int)
    rule = np.where((s == "s0") & np.isin(h, [4, 5]), 4, 0)
    false_red = np.isin(s, ["s1", "s2", "s3"])
    rule = np.where(false_red & (h == 10), 4, rule)
    p = np.where(false_red & (h >= 10) & (h <= 21), 0.5, 0.0)
    frames = [
        rows.assign(
            method=m,
            score=sc,
            raw=np.nan,
            threshold=0.6,
            warned=lv >= 3,
            level=lv,
            orange=lv >= 3,
            label=y,
        )
        for m, sc, lv in (
            ("xgboost", p, np.zeros(len(rows), dtype=int)),
            ("sensor_rules", rule.astype(float), rule),
        )
    ]
    fits = pd.DataFrame(
        {
            "refit_origin": [origins[0]],
            "model_level_thresholds": [[0.6, 0.6, 0.6, 0.6]],
            "levels_served": [True],
        }
    )
    events = rows[(s == "s0") & (h == 5)][["site_id"]].assign(
        occurred_at=rows.loc[(s == "s0") & (h == 5), "origin"] + pd.Timedelta(minutes=30)
    )
    return SiteBacktest(pd.concat(frames, ignore_index=True), None, fits), events  # type: ignore[arg-type]


def test_the_hourly_gate_judges_the_levels_as_the_nowcast_publishes_them() -> None:
    """The gate's per-level check judged each hour's served level on its own (as
    scored); the nowcast publishes through hysteresis and a hold
    (riskwarn.nowcast.publish_levels). Now training gets that step
    (``publish``: riskwarn.nowcast.backtest_published_levels, what the pipeline passes)
    and the gate judges the levels as published against the rules alone as published:
    a model whose scored levels equal the rules' (the old check passed it) but whose
    probability holds the rules' false reds for hours fails."""
    from models.geohazard_sites import site_gate_metrics
    from models.site_evaluation import PUBLISHED
    from riskwarn.nowcast import backtest_published_levels

    bt, events = _hourly_backtest()
    cfg = replace(site_config("geohazard_hourly"), tz="Asia/Shanghai")
    assert cfg.gate_levels == PUBLISHED  # the default
    # as scored (no publishing step, or the old check): the rules' levels, passes
    metrics, scored = site_gate_metrics(bt, events, cfg, "geohazard_hourly", n_boot=200)
    assert {c["levels_from"] for c in scored.values()} == {SERVED}
    assert scored["red"]["tss"]["diff"] == 0.0
    assert gate(AUC_OK, 0.0, levels_vs_rule=scored).passed
    # as published: the held false reds are a TSS loss at red beyond noise
    metrics, pub = site_gate_metrics(
        bt, events, cfg, "geohazard_hourly", n_boot=200, publish=backtest_published_levels
    )
    assert {c["levels_from"] for c in pub.values()} == {PUBLISHED}
    result = gate(AUC_OK, 0.0, levels_vs_rule=pub)
    red = _red(result)
    assert red["ok"] is False and red["ci"][1] < 0, red
    assert red["far"]["model"] > red["far"]["rule"]
    assert red["pod"]["model"] == red["pod"]["rule"]  # the rules' hits published either way
    assert "as the nowcast publishes it" in red["detail"]
    assert not result.passed
    # the scored comparison is still reported beside it
    assert metrics["level_model_minus"][SERVED]["sensor_rules"]["red"]["tss"]["diff"] == 0.0


def test_a_daily_domain_is_judged_as_scored() -> None:
    """The nowcast publishes hourly only: a daily backtest has no published levels, and
    its gate judges the served level as scored (and says so)."""
    from riskwarn.nowcast import backtest_published_levels

    scores = _scores(model_red_hits=0.2, model_red_false=0.0)
    fits = pd.DataFrame(
        {"refit_origin": [scores["origin"].min()], "model_level_thresholds": [[0.1, 0.2, 0.3, 0.4]]}
    )
    assert backtest_published_levels(scores, fits, "geohazard") is None
    from models.geohazard_sites import SiteBacktest, site_gate_metrics

    bt = SiteBacktest(scores, None, fits)  # type: ignore[arg-type]
    _, comps = site_gate_metrics(
        bt, _events(scores), CONFIG, "geohazard", n_boot=100, publish=backtest_published_levels
    )
    assert {c["levels_from"] for c in comps.values()} == {SERVED}


def test_level_checks_write_against_and_old_files_still_read() -> None:
    """A level check names the rule it is judged against under "against", the key every
    other comparison writes (it wrote "baseline" until 2026-12-08); the dashboard reads a
    gate.json of either kind the same way (the models page's words, the model note)."""
    from dashboard import verdicts, views

    _, result = _gate(_scores(model_red_hits=0.2, model_red_false=0.0), "xgboost")
    red = _red(result)
    assert red["against"] == "sensor_rules" and "baseline" not in red
    old = {k: v for k, v in red.items() if k != "against"} | {"baseline": "sensor_rules"}
    for lang in ("en", "zh"):
        assert verdicts.check_words(old, lang) == verdicts.check_words(red, lang)
        assert verdicts.method_name("sensor_rules", lang) in verdicts.check_words(red, lang)
    for check in (red, old):
        gate_json = {"status": "fail", "checks": [check]}
        assert views.worse_than_rules(gate_json)
