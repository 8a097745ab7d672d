"""The clusters' raster layouts of a set of cells are laid out once and reused (issue
18.3: training time); a kernel smoothed with them gives the values laid out afresh."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

import models.grid as grid


def _cells(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    near = rng.integers(0, 60, size=(300, 2))
    far = rng.integers(5000, 5040, size=(50, 2))  # a second, distant group
    xy = np.unique(np.vstack([near, far]), axis=0)
    return pd.DataFrame({"cell_x": xy[:, 0], "cell_y": xy[:, 1]})


def _fresh(values: np.ndarray, cells: pd.DataFrame, smooth) -> np.ndarray:
    out = np.zeros(len(cells))
    labels = grid.cell_clusters(cells)
    for k in np.unique(labels):
        idx = np.nonzero(labels == k)[0]
        row, col, shape = grid.raster_layout(cells.iloc[idx])
        out[idx] = smooth(grid.to_raster(values[idx], row, col, shape))[row, col]
    return out


def test_smoothing_on_kept_layouts_equals_laying_out_afresh(monkeypatch) -> None:
    calls = []
    real = grid.cell_clusters
    monkeypatch.setattr(grid, "cell_clusters", lambda c, *a: calls.append(1) or real(c, *a))
    grid._LAYOUTS.clear()

    def smooth(r):
        return ndimage.gaussian_filter(r, 1.5, mode="constant", truncate=3.0)

    a, b = _cells(0), _cells(1)
    rng = np.random.default_rng(2)
    for cells in (a, a.copy(), b, a):
        values = rng.random(len(cells))
        got = grid.smooth_by_cluster(values, cells, smooth)
        np.testing.assert_array_equal(got, _fresh(values, cells, smooth))
    # a's layout once (its copy and the later call reuse it), b's once; _fresh's own calls
    assert len(calls) == 2 + 4
    assert len(grid.cluster_layouts(a)) == 2  # the near and the far group
