"""The promotion gate: may a challenger replace the champion? (pure, no MLflow).

:func:`gate` compares the challenger with the champion and every baseline on the latest
backtest window (paired bootstrap CI of the headline metric above zero) and checks its
calibration; :class:`GateResult` is the decision with its numbers, logged as
``gate.json`` with the version (``models.registry.settle_gate``) and shown by the
dashboard's verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class GateResult:
    """Promotion decision with its reasons (each check and its numbers)."""

    passed: bool
    checks: list[dict[str, Any]] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """The decision as JSON-able data (``gate.json`` of the run): ``passed`` and each
        check with its numbers (``against``, ``diff``, ``ci``; ``ece``, ``bound``)."""
        return {"passed": bool(self.passed), "checks": json.loads(json.dumps(self.checks))}

    def summary(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        parts = [f"{c['check']}: {'ok' if c['ok'] else 'no'} ({c['detail']})" for c in self.checks]
        return f"gate {status}: " + "; ".join(parts)


def gate(
    comparisons: dict[str, dict[str, Any]],
    ece: float,
    max_ece: float = 0.05,
    champion: str | None = None,
    base_rate: float | None = None,
    n_rows: int | None = None,
    max_ece_ratio: float = 0.5,
) -> GateResult:
    """Decide promotion.

    ``comparisons``: for the champion (key ``"champion"``) and each baseline, the
    paired-bootstrap difference ``{"diff", "ci": [lo, hi]}`` of the headline metric
    (challenger minus other) on the latest backtest window. Every lower bound must be
    above zero, and ECE at most ``max_ece``. ``champion``: the serving version, if any;
    when there is one but no comparison with it (it could not be loaded, or needs inputs
    the current table lacks), the gate fails: a challenger that could not be compared
    with the serving model is never promoted automatically.
    With ``base_rate`` (the observed event rate of the ``n_rows`` evaluated rows), ECE must
    also be at most ``max_ece_ratio`` x ``base_rate`` (or two standard errors of the
    observed rate, if larger: with few events the rate itself is uncertain): at base
    rates of a few percent an absolute bound of 0.05 would pass a model that predicts
    double the true rate everywhere.
    """
    checks: list[dict[str, Any]] = []
    if champion is not None and "champion" not in comparisons:
        checks.append(
            {
                "check": "beats champion",
                "ok": False,
                "detail": f"champion v{champion} could not be scored on this data (load "
                "failed or its features are missing); compare by hand, then promote",
                "against": "champion",
                "scored": False,
            }
        )
    for other, comp in sorted(comparisons.items()):
        lo, hi = comp["ci"]
        checks.append(
            {
                "check": f"beats {other}",
                "ok": bool(np.isfinite(lo) and lo > 0),
                "detail": f"diff {comp['diff']:+.3f}, 95% CI [{lo:+.3f}, {hi:+.3f}]",
                "against": other,
                "diff": float(comp["diff"]),
                "ci": [float(lo), float(hi)],
            }
        )
    bound = max_ece
    detail = f"ECE {ece:.4f}, bound {max_ece}"
    if base_rate is not None and np.isfinite(base_rate) and base_rate > 0:
        noise = 2.0 * np.sqrt(base_rate * (1 - base_rate) / n_rows) if n_rows else 0.0
        bound = float(min(max_ece, max(max_ece_ratio * base_rate, noise)))
        detail = (
            f"ECE {ece:.4f}, bound {bound:.4f} ({max_ece_ratio:g} x base rate "
            f"{base_rate:.4f}, or 2 s.e. {noise:.4f} if larger; at most {max_ece})"
        )
    checks.append(
        {
            "check": "calibration",
            "ok": bool(np.isfinite(ece) and ece <= bound),
            "detail": detail,
            "ece": float(ece),
            "bound": float(bound),
        }
    )
    return GateResult(all(c["ok"] for c in checks), checks)
