"""The model card says how many cells were scored per origin (merge review 2026-12-06):
since the one scored-area rule a cell is scored from its first known event on, so
``n_active_cells`` (every cell scored at some origin) is not each origin's count."""

from __future__ import annotations

from dashboard.model_plots import _cells_span
from models.train import _cells_per_origin


def test_the_span_of_cells_per_origin_or_the_older_runs_area() -> None:
    m = {"n_active_cells": 1654, "active_cells_per_origin": [1466, 1654]}
    assert _cells_per_origin(m) == "1466-1654"
    assert _cells_span(m) == "1,466-1,654"
    assert _cells_per_origin({"active_cells_per_origin": [7, 7]}) == "7"
    assert _cells_per_origin({"n_active_cells": 4321}) == "4321"  # a run before the rule
    assert _cells_span({"n_active_cells": 4321}) == "4,321"
