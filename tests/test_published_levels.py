"""The levels the hourly nowcast publishes, from a backtest's hourly rows (review:
the benches scored the raw hourly levels, the nowcast publishes them through
hysteresis and a 6-hour hold). :func:`riskwarn.nowcast.published_site_levels` runs the
nowcast's own step (:func:`riskwarn.nowcast.publish_levels`) hour by hour."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from riskwarn import domains
from riskwarn.level_hold import BATCH_HYSTERESIS
from riskwarn.nowcast import nowcast_geohazard, published_site_levels
from riskwarn.store import Store
from tests.test_nowcast_hold import DOMAIN, _run_rows, _seed_red, _steady_lake

T0 = pd.Timestamp("2024-07-10T12:00Z")
POLICY = domains.LevelPolicy((0.1, 0.2, 0.3, 0.4), (0.075, 0.15, 0.225, 0.3))


def _rows(site: str, probs: list[float], rules: list[int], start: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "site_id": site,
            "origin": T0 + pd.to_timedelta(np.arange(start, start + len(probs)), unit="h"),
            "probability": probs,
            "rules_level": rules,
        }
    )


def test_published_levels_agree_with_the_nowcast_run_hour_by_hour(settings):
    """The same inputs (a red published an hour before t0, then the rules calm, no
    model) through the real nowcast and through the backtest function."""
    need = BATCH_HYSTERESIS.lower_after_steps
    _steady_lake(settings, T0, hours_after=need + 1)
    store = Store.from_settings(settings)
    store.upgrade()
    _seed_red(store, "s1", T0 - pd.Timedelta(hours=1))
    nowcast = []
    for k in range(need + 1):
        origin = T0 + pd.Timedelta(hours=k)
        nowcast_geohazard(settings, origin, store=store)
        w = _run_rows(store, origin).set_index("unit_id")
        nowcast.append(int(w.loc["s1", "level_rank"]) if "s1" in w.index else 0)
    rows = pd.concat(
        [
            _rows("s1", [np.nan] * (need + 2), [4] + [0] * (need + 1), start=-1),
            _rows("s2", [np.nan] * (need + 2), [0] * (need + 2), start=-1),
        ],
        ignore_index=True,
    )
    got = published_site_levels(rows, domains.get(DOMAIN).levels)
    assert list(got[rows["site_id"] == "s1"][1:]) == nowcast
    assert nowcast == [4] * (need - 1) + [0, 0]
    assert not got[rows["site_id"] == "s2"].any()


def test_published_levels_hold_the_model_against_the_published_level():
    # red at 0.45; 0.32 is only orange to raise but holds a published red (>= 0.3);
    # the held red (rules calm, model 0) is kept by 0.31 at hour 3, which restarts the
    # 6-hour count; lowered at the 6th hour below; a rise (0.25: yellow) at once
    p = [0.45, 0.32, 0.0, 0.31, 0, 0, 0, 0, 0, 0, 0.25]
    rows = pd.concat(
        [
            _rows("a", p, [0] * len(p)),
            # a site with a gap: the hour after it starts unheld
            _rows("b", [0.45, 0.0], [0, 0]),
            _rows("b", [0.0, 0.0], [1, 0], start=5),
        ],
        ignore_index=True,
    )
    got = published_site_levels(rows, POLICY)
    assert list(got[:11]) == [4] * 9 + [0, 2]
    assert list(got[11:]) == [4, 4, 1, 1]
    # the raw levels (as scored) for contrast: raised at each hour alone
    raised = [4, 3, 0, 3, 0, 0, 0, 0, 0, 0, 2]
    assert list(got[:11]) != raised


def _bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "bench_site_served_levels.py"
    spec = importlib.util.spec_from_file_location("bench_site_served_levels", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_reports_levels_as_published():
    """A tiny score frame: one site, the model red for one hour then calm, the rules
    calm; a failure at hour 10 (label 1 from hour 4). As scored the model warns 1 row
    (POD 0, FAR 1); as published it holds red 6 hours (POD 2/6, FAR 4/6)."""
    bench = _bench()
    n = 10
    origin = pd.Timestamp("2025-07-01T00:00Z") + pd.to_timedelta(np.arange(n), unit="h")
    label = (np.arange(n) >= 4).astype(int)
    score = np.r_[0.6, np.zeros(n - 1)]
    base = pd.DataFrame({"origin": origin, "site_id": "s", "label": label})
    scores = pd.concat(
        [
            base.assign(method="xgboost", score=score, level=np.where(score >= 0.4, 4, 0)),
            base.assign(method="sensor_rules", score=0.0, level=0),
        ],
        ignore_index=True,
    )
    fits = pd.DataFrame(
        {"refit_origin": [origin[0]], "model_level_thresholds": [[0.1, 0.2, 0.3, 0.4]]}
    )
    pub = bench.published(scores, fits, "geohazard_hourly")
    assert list(pub["served_pub"]) == [4] * 6 + [0] * 4
    assert not pub["rules_pub"].any()
    events = pd.DataFrame({"site_id": ["s"], "occurred_at": [origin[0] + pd.Timedelta(hours=10)]})
    recs = bench.compare(scores, "UTC", 20, pub, events, 24.0)
    red = {(r["basis"], r["option"]): r for r in recs if r["level"] == "red"}
    scored, published = red[("scored", "served")], red[("published", "served")]
    assert scored["far"][0] == 1.0 and scored["pod"][0] == 0.0
    assert published["warned_share"][0] == 0.6
    assert np.isclose(published["pod"][0], 2 / 6) and np.isclose(published["far"][0], 4 / 6)
    assert published["pod"][1] == 0.0 and np.isnan(published["far"][1])  # rules: none
    # the lead time of the first red before the failure: 10 h, both ways
    assert scored["lead"][0] == 10.0 and published["lead"][0] == 10.0
    assert np.isnan(published["lead"][1])  # the rules never warned red
    lines = bench.markdown(recs, 20)
    assert any("| red | published | served |" in x for x in lines)


def test_a_champion_with_three_tied_levels_can_be_served():
    """A fit whose blue, yellow and orange thresholds tie (a real hourly backtest's first
    refit: 0.4232.. three times, red 0.4985..) is served at raise thresholds one float
    apart; their hold thresholds (x 0.75) rounded together and LevelPolicy refused the
    policy, so the nowcast could not publish. Now they stay apart, below the raises."""
    from types import SimpleNamespace

    from riskwarn.nowcast import model_level_policy

    th = [0.4232343505510443] * 3 + [0.4984972581969385]
    fitted = SimpleNamespace(level_thresholds=th, levels_served=False)
    champion = SimpleNamespace(python_model=lambda: SimpleNamespace(fitted=fitted))
    policy = model_level_policy(champion, domains.get(DOMAIN).levels)  # type: ignore[arg-type]
    assert policy.raise_at[2:] == (th[2], th[3])
    assert all(a < b for a, b in zip(policy.hold_at, policy.hold_at[1:], strict=False))
    assert all(h < r for h, r in zip(policy.hold_at, policy.raise_at, strict=True))


def test_the_model_holds_no_level_it_was_not_fitted_to_warn_at():
    """A fit that adds nothing of its own at blue (blue tied with yellow, fitted for the
    served level) or has no blue at all (infinite threshold) must not keep a unit blue
    by its probability once the rules dropped it: the hold kept the rules' blue for a
    few extra hours, and the hourly published blue lost to the rules' by -0.000 [-0.000,
    -0.000] in the gate's published check (h-sitered, 2026-12-07)."""
    from riskwarn.nowcast import threshold_level_policy
    from riskwarn.warnings import assign_levels

    default = domains.get(DOMAIN).levels
    previous = pd.DataFrame({"unit_id": ["a", "b", "c"], "level_rank": [1, 2, 3]})
    for th, served in (([0.6, 0.6, 0.8, np.inf], True), ([np.inf, 0.6, 0.8, np.inf], False)):
        policy = threshold_level_policy(th, default, levels_served=served)
        assert policy.holds[0] is False and policy.holds[1:3] == (True, True)
        # 0.55: below yellow's raise, above its hold; "a" was published blue (the rules)
        scores = pd.DataFrame({"unit_id": ["a", "b", "c"], "probability": [0.55, 0.55, 0.7]})
        got = assign_levels(scores, policy, previous)
        assert got["level_rank"].tolist() == [0, 2, 3], (th, got)
    # the domain's own policy (every level the model's) still holds blue
    scores = pd.DataFrame({"unit_id": ["a"], "probability": [default.hold_at[0]]})
    held = assign_levels(scores, default, previous.head(1))
    assert held["level_rank"].tolist() == [1]


def test_each_level_keeps_its_own_off_delay():
    """The model raises orange for one hour while the rules read blue for two: blue ends
    when the rules' blue, held since the same hour, ends. The old hold restarted the
    6-hour count at blue when the orange ended (h-blue: the hourly published blue lost to
    the rules alone by -0.000 [-0.000, -0.000] in the gate's published check)."""
    from riskwarn.level_hold import Held, hold_step

    need = BATCH_HYSTERESIS.lower_after_steps
    h, got = Held(), []
    for raw in [3, 1] + [0] * 12:
        h = hold_step(h, raw, BATCH_HYSTERESIS)
        got.append(h.rank)
    # orange 6 h from its hour, blue 6 h from the rules' last blue (old: [1] * 6 after it)
    assert got == [3] * need + [1] + [0] * 7
    # in the batch the published level is the highest combined level of the last 6 hours
    rng = np.random.default_rng(0)
    for _ in range(300):
        raws = rng.choice(5, size=int(rng.integers(1, 30)), p=[0.5, 0.2, 0.1, 0.1, 0.1])
        h, got = Held(), []
        for raw in raws:
            h = hold_step(h, int(raw), BATCH_HYSTERESIS)
            got.append(h.rank)
        assert got == [int(raws[max(0, t - need + 1) : t + 1].max()) for t in range(len(raws))]


def test_published_blue_never_warns_where_the_model_and_the_rules_did_not():
    """The same through the nowcast's step run hour by hour (the state read back from
    the previous run's evidence): the served level as published warns blue exactly
    where the rules alone as published do, since the model added no blue of its own."""
    policy = domains.LevelPolicy((0.1, 0.2, 0.3, 0.4), (0.075, 0.15, 0.225, 0.3))
    p = [0.35] + [0.0] * 13
    rules = [1, 1] + [0] * 12
    served = published_site_levels(_rows("a", p, rules), policy)
    alone = published_site_levels(_rows("a", [np.nan] * len(p), rules), policy)
    assert list(alone) == [1] * 7 + [0] * 7
    assert list(served >= 1) == list(alone >= 1)  # old: blue 5 hours longer
    assert list(served) == [3] * 6 + [1] + [0] * 7
    # and a warning published before the levels of its steps were kept is read as before
    from riskwarn.level_hold import Held, previous_state

    old = {"level_rank": 3, "evidence": {"held_steps_below": 2, "held_lower_to": 1}}
    assert previous_state(old) == Held(3, below=(1, 1))
    new = {"level_rank": 3, "evidence": {"held_steps_below": 2, "held_below": [1, 0]}}
    assert previous_state(new) == Held(3, below=(1, 0))


def _gate_case(days: int = 8) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Scores of a small hourly backtest: site "a" never fails; each day the rules read
    blue for two hours there and the model raises orange for the first of them. Site "f"
    fails each day at 13:00 UTC; the rules and the model warn it (blue, yellow) from
    10:00. One fit: blue tied with yellow (the model adds no blue of its own), no red."""
    origin = pd.Timestamp("2025-07-01T00:00Z") + pd.to_timedelta(np.arange(24 * days), unit="h")
    hour = origin.hour.to_numpy()
    frames = []
    for site in ("a", "f"):
        if site == "a":
            prob = np.where(hour == 2, 0.35, 0.01)
            rules = np.isin(hour, (2, 3)).astype(int)
            label = np.zeros(len(origin), dtype=int)
        else:
            prob = np.where((hour >= 10) & (hour < 13), 0.25, 0.01)
            rules = ((hour >= 10) & (hour < 13)).astype(int)
            label = ((hour >= 10) & (hour < 13)).astype(int)
        model_level = np.select([prob >= 0.3, prob >= 0.2], [3, 2], 0)
        base = pd.DataFrame({"origin": origin, "site_id": site, "label": label})
        frames += [
            base.assign(
                method="xgboost", score=prob, threshold=0.2, warned=prob >= 0.2, level=model_level
            ),
            base.assign(
                method="sensor_rules",
                score=rules / 4,
                threshold=0.25,
                warned=rules >= 1,
                level=rules,
            ),
        ]
    scores = pd.concat(frames, ignore_index=True)
    fits = pd.DataFrame(
        {
            "refit_origin": [origin[0]],
            "model_level_thresholds": [[0.2, 0.2, 0.3, np.inf]],
            "levels_served": [True],
        }
    )
    day0 = pd.Timestamp("2025-07-01T13:00Z")
    events = pd.DataFrame(
        {"site_id": "f", "occurred_at": [day0 + pd.Timedelta(days=d) for d in range(days)]}
    )
    return scores, fits, events


def test_the_hourly_gate_passes_at_blue_when_the_model_adds_no_blue():
    """The gate's per-level check on published levels (models.geohazard_sites
    .site_gate_metrics with the nowcast's step): the model's one-hour orange at site "a"
    no longer keeps blue published beyond the rules' blue, so blue ties the rules exactly
    and passes (old: 5 false blue hours a day, TSS CI below zero: fails)."""
    from types import SimpleNamespace

    from models.gate import level_check
    from models.geohazard_sites import site_config, site_gate_metrics
    from riskwarn.nowcast import backtest_published_levels

    scores, fits, events = _gate_case()
    config = site_config(DOMAIN)
    bt = SimpleNamespace(scores=scores, fits=fits)
    _, levels = site_gate_metrics(bt, events, config, DOMAIN, 200, backtest_published_levels)  # type: ignore[arg-type]
    blue = levels["blue"]
    assert blue["levels_from"] == "published"
    assert blue["far"]["diff"] == 0.0 and blue["tss"]["diff"] == 0.0, blue
    check = level_check("blue", blue, "n/a")
    assert check["ok"], check["detail"]
    # the check says its POD and FAR in numbers (it wrote "POD {shown(pod)}" verbatim)
    assert "POD 1.000 vs 1.000 (+0.000" in check["detail"] and "{" not in check["detail"]
    pub = backtest_published_levels(scores, fits, DOMAIN)
    assert pub is not None
    assert ((pub["served_pub"] >= 1) == (pub["rules_pub"] >= 1)).all()
