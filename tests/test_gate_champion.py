"""The promotion gate's comparison with the serving champion, out of sample only (pure).

The champion is compared only on evaluation origins at or after its ``trained_through``
(``models.gate.ChampionComparison``): a challenger with another recipe must beat it there
(too few such origins: not judged); a refresh with the same recipe must not be worse (too
few: ok, the other checks judge it). The old gate compared with whatever the caller passed
as ``comparisons["champion"]``, scored in-sample by every training job.
"""

from __future__ import annotations

import json

from models.gate import (
    MIN_CHAMPION_EVENTS,
    MIN_CHAMPION_ORIGINS,
    NOT_JUDGED,
    ChampionComparison,
    gate,
)

OK_BASELINE = {"long_run": {"diff": 0.2, "ci": [0.1, 0.3]}}


def champ(**kw) -> ChampionComparison:
    base = {
        "version": "3",
        "trained_through": "2026-11-30T16:00:00+00:00",
        "recipe_same": False,
        "n_origins": 1,
        "window_origins": 84,
        "n_events": 1,
        "challenger_through": "2026-12-04T16:00:00+00:00",
    }
    return ChampionComparison(**{**base, **kw})


def check_of(result, name: str) -> dict:
    (c,) = [c for c in result.checks if c["check"] == name]
    return c


def test_minimum_to_judge_is_four_origins_with_an_event() -> None:
    assert (MIN_CHAMPION_ORIGINS, MIN_CHAMPION_EVENTS) == (4, 1)
    assert not champ(n_origins=3, n_events=5).enough
    assert not champ(n_origins=10, n_events=0).enough
    assert champ(n_origins=4, n_events=1).enough


def test_another_recipe_with_too_few_later_origins_is_not_judged_and_not_promoted() -> None:
    res = gate(OK_BASELINE, 0.01, champion="3", champion_vs=champ(n_origins=1))
    assert not res.passed and res.status == NOT_JUDGED
    c = check_of(res, "beats champion")
    assert c["judged"] is False and c["ok"] is False and c["compared"] is False
    assert c["against"] == "champion" and c["champion_version"] == "3"
    assert c["trained_through"] == "2026-11-30T16:00:00+00:00" and c["recipe_same"] is False
    assert c["n_origins"] == 1 and "diff" not in c
    assert (
        "champion v3 was trained on data to 2026-11-30; only 1 of the window's 84 origins "
        "comes after it (needs 4 with an event): it cannot be compared out of sample. Wait "
        "until the window holds them, or promote by hand" in res.summary()
    )
    # enough origins but no event among them: not judged either
    dry = gate(OK_BASELINE, 0.01, champion="3", champion_vs=champ(n_origins=9, n_events=0))
    assert dry.status == NOT_JUDGED and "hold 0 event(s)" in dry.summary()
    # strict JSON (gate.json)
    assert json.loads(json.dumps(res.record(), allow_nan=False))["status"] == NOT_JUDGED


def test_another_recipe_must_beat_the_champion_on_the_later_origins() -> None:
    better = champ(n_origins=12, n_events=3, diff=0.4, ci=[0.1, 0.7])
    res = gate(OK_BASELINE, 0.01, champion="3", champion_vs=better)
    assert res.passed
    c = check_of(res, "beats champion")
    assert c["ok"] and c["compared"] and c["n_origins"] == 12 and c["ci"] == [0.1, 0.7]
    assert "out of sample: 12 of the window's 84 origins after 2026-11-30" in c["detail"]
    tie = champ(n_origins=12, n_events=3, diff=0.1, ci=[-0.2, 0.4])
    res = gate(OK_BASELINE, 0.01, champion="3", champion_vs=tie)
    assert res.status == "fail" and not check_of(res, "beats champion")["ok"]


def test_same_recipe_refresh_with_nothing_later_is_ok_and_says_why() -> None:
    twin = champ(recipe_same=True, n_origins=0, n_events=0)
    res = gate(OK_BASELINE, 0.01, champion="3", champion_vs=twin)
    assert res.passed and res.status == "pass"
    c = check_of(res, "not worse than champion")
    assert c["ok"] and c.get("judged", True) and c["compared"] is False
    assert c["recipe_same"] is True and c["n_origins"] == 0
    assert (
        "same recipe as champion v3 (trained to 2026-11-30): a refresh with data to "
        "2026-12-04; nothing to compare out of sample (0 origins after 2026-11-30" in c["detail"]
    )
    assert "judged by the rules and calibration checks" in c["detail"]
    # the other checks still decide
    assert not gate(OK_BASELINE, 0.2, champion="3", champion_vs=twin).passed


def test_same_recipe_with_later_origins_fails_only_when_worse_beyond_noise() -> None:
    tie = champ(recipe_same=True, n_origins=8, n_events=2, diff=-0.05, ci=[-0.2, 0.1])
    res = gate(OK_BASELINE, 0.01, champion="3", champion_vs=tie)
    assert res.passed and check_of(res, "not worse than champion")["compared"] is True
    worse = champ(recipe_same=True, n_origins=8, n_events=2, diff=-0.3, ci=[-0.5, -0.1])
    res = gate(OK_BASELINE, 0.01, champion="3", champion_vs=worse)
    assert res.status == "fail"
    c = check_of(res, "not worse than champion")
    assert not c["ok"] and c["diff"] == -0.3 and c["against"] == "champion"


def test_a_champion_that_could_not_be_scored_still_fails_the_gate() -> None:
    res = gate(OK_BASELINE, 0.01, champion="3", champion_vs=None)
    assert res.status == "fail" and "champion v3 could not be scored" in res.summary()
