"""The gate's comparisons at their boundaries (review of 2026-12-06, F4).

``models.gate.gate`` passes a "beats <baseline>" check only when the lower bound of the
paired 95 % CI is above zero (strictly: a CI that touches zero does not show the model
better), and a warning level against the rule it replaces (:func:`models.gate.level_check`)
only when the TSS CI does not lie wholly below zero (an upper bound of exactly zero still
passes: not worse beyond noise). Loosening either (``lo > 0`` -> ``diff > 0``, ``hi >= 0``
-> ``hi >= -0.05``) failed no test before these.
"""

from __future__ import annotations

from typing import Any

import pytest

from models.gate import gate

CALIBRATED = {"ece": 0.01, "max_ece": 0.05}


def _beats(lo: float, hi: float, diff: float = 0.04) -> dict[str, Any]:
    res = gate({"failed_mediations": {"diff": diff, "ci": [lo, hi]}}, **CALIBRATED)
    (check,) = (c for c in res.checks if c["check"] == "beats failed_mediations")
    assert check["ci"] == [lo, hi]
    return {"passed": res.passed, "ok": check["ok"]}


def test_a_positive_difference_whose_ci_includes_zero_does_not_beat_the_baseline() -> None:
    assert _beats(-0.01, 0.1) == {"passed": False, "ok": False}


def test_a_ci_whose_lower_bound_is_exactly_zero_does_not_beat_the_baseline() -> None:
    assert _beats(0.0, 0.1) == {"passed": False, "ok": False}


def test_a_ci_just_above_zero_beats_the_baseline() -> None:
    assert _beats(1e-9, 0.1) == {"passed": True, "ok": True}


def _level(hi: float, lo: float = -0.2) -> dict[str, Any]:
    level = {
        "against": "sensor_rules",
        "levels_from": "served",
        "tss": {"model": 0.5, "rule": 0.55, "diff": (lo + hi) / 2, "ci": [lo, hi]},
    }
    res = gate(
        {"sensor_rules": {"diff": 0.05, "ci": [0.02, 0.08]}},
        **CALIBRATED,
        levels_vs_rule={"red": level},
    )
    (check,) = (c for c in res.checks if c.get("level") == "red")
    return {"passed": res.passed, "ok": check["ok"]}


@pytest.mark.parametrize("hi", [-0.01, -1e-9])
def test_a_level_whose_tss_ci_lies_below_zero_fails(hi: float) -> None:
    assert _level(hi) == {"passed": False, "ok": False}


def test_a_level_whose_tss_ci_ends_exactly_at_zero_passes() -> None:
    assert _level(0.0) == {"passed": True, "ok": True}


@pytest.mark.parametrize(("hi", "ok"), [(-0.01, False), (-1e-9, False), (0.0, True)])
def test_the_hotspot_non_inferiority_check_at_its_boundary(hi: float, ok: bool) -> None:
    """PAI@5 % against the best baseline: fails only if the CI lies wholly below zero."""
    res = gate(
        {"hist_kde": {"diff": 0.3, "ci": [0.1, 0.5]}},
        **CALIBRATED,
        not_worse={"pai@0.05": {"against": "hist_kde", "diff": hi - 0.2, "ci": [hi - 0.4, hi]}},
    )
    (check,) = (c for c in res.checks if c.get("metric") == "pai@0.05")
    assert (res.passed, check["ok"]) == (ok, ok)
