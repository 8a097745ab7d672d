"""One window's hit table with the tie groups and sorted counts made once for every area
fraction (issue 18.3: training time) equals the table made per fraction, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from models.metrics import (
    AREA_FRACTIONS,
    best_captured,
    expected_captured,
    n_flagged,
    window_hit_table,
)


def _old_window_hit_table(scores, counts, fractions=AREA_FRACTIONS, outside=None):
    n = len(scores)
    counts = np.asarray(counts, dtype=float)
    out_counts = np.asarray(outside if outside is not None else [], dtype=float)
    every_cell = np.concatenate([counts, out_counts[out_counts > 0]])
    out = {
        "events": float(every_cell.sum()),
        "events_active_area": float(counts.sum()),
        "cells": float(n),
    }
    for f in fractions:
        k = n_flagged(n, f)
        out[f"captured@{f:g}"] = expected_captured(scores, counts, k)
        out[f"best@{f:g}"] = best_captured(every_cell, k)
        out[f"best_active_area@{f:g}"] = best_captured(counts, k)
        out[f"share@{f:g}"] = k / n
    return out


@pytest.mark.parametrize("n", [1, 3, 40, 997, 20000])
@pytest.mark.parametrize("ties", [False, True])
def test_the_table_equals_the_per_fraction_table(n: int, ties: bool) -> None:
    rng = np.random.default_rng(n + ties)
    scores = rng.random(n)
    if ties:
        scores = np.round(scores * 7) / 7  # many equal scores, ties at the cuts
    counts = rng.poisson(0.3, n).astype(float)
    outside = rng.poisson(0.5, 30).astype(float)
    for out in (None, outside):
        new = window_hit_table(scores, counts, outside=out)
        old = _old_window_hit_table(scores, counts, outside=out)
        assert list(new) == list(old)
        for key in old:
            assert new[key] == old[key] or (np.isnan(new[key]) and np.isnan(old[key])), key
