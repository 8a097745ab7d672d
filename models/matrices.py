"""XGBoost matrices of a hotspot model frame (rows sorted by origin).

:func:`quantile_dmatrix` feeds a :class:`xgboost.QuantileDMatrix` in blocks of whole
origins (:class:`OriginBlocks`), so training never holds a float32 copy of every row at
once; :func:`_dmatrix` is the plain every-row DMatrix it replaced, kept as the reference
the tests compare it with (tests/test_training_memory_path.py). Ranking objectives get
one query group per origin; subsampled rows carry their ``label_weight``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb


def sorted_by_origin(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` stably sorted by origin: itself when it already is (no copy of the rows;
    the hotspot model frames always are), so a fit does not hold a second copy of them."""
    if frame["origin"].is_monotonic_increasing:
        return frame
    return frame.sort_values("origin", kind="stable")


def _dmatrix(frame: pd.DataFrame, features: list[str], objective: str) -> xgb.DMatrix:
    """DMatrix of rows sorted by origin; ranking objectives get one query group per origin."""
    frame = sorted_by_origin(frame)
    x = frame[features].to_numpy(np.float32)
    y = frame["label_count"].to_numpy(np.float32)
    if objective.startswith("rank:"):
        qid = pd.factorize(frame["origin"], sort=True)[0]
        return xgb.DMatrix(x, label=np.minimum(y, 31), qid=qid, feature_names=features)
    if objective.startswith("binary:"):
        y = frame["label_any"].to_numpy(np.float32)
    return xgb.DMatrix(x, label=y, feature_names=features, **_weights(frame))


def float32_rows(frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """``frame[features]`` as a row-major (C-contiguous) float32 array: the values of
    ``frame[features].to_numpy(np.float32)``, which pandas returns column-major (a
    transposed view). XGBoost's data iterators reference the array as given (no copy, unlike
    a plain ``DMatrix``), and its sketch and bin pages read it row by row: from a
    column-major block that took about a quarter more CPU (docs/benchmarks.md, "The fit
    matrices' blocks row-major"); the same values, so the same cuts, bins and boosters."""
    return np.ascontiguousarray(frame[features].to_numpy(np.float32))


def _weights(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """``weight`` of subsampled rows (``label_weight``, non-ranking objectives), if any."""
    if "label_weight" not in frame.columns:
        return {}
    return {"weight": frame["label_weight"].to_numpy(np.float32)}


def _labels(frame: pd.DataFrame, objective: str) -> np.ndarray:
    """The training label of each row, as :func:`_dmatrix` gives it."""
    if objective.startswith("binary:"):
        return frame["label_any"].to_numpy(np.float32)
    y = frame["label_count"].to_numpy(np.float32)
    return np.minimum(y, 31) if objective.startswith("rank:") else y


class OriginBlocks(xgb.DataIter):
    """Rows sorted by origin handed to XGBoost in blocks of whole origins (about
    ``block_rows`` rows each), so a :class:`xgboost.QuantileDMatrix` is built without a
    float32 copy of every row at once; one query group per origin for ranking."""

    def __init__(
        self,
        frame: pd.DataFrame,
        features: list[str],
        objective: str,
        block_rows: int,
        cache_prefix: str | None = None,
    ) -> None:
        self.frame = sorted_by_origin(frame)
        self.features = features
        self.objective = objective
        self.qid = pd.factorize(self.frame["origin"], sort=True)[0]
        starts = np.flatnonzero(np.r_[True, self.qid[1:] != self.qid[:-1]])
        bounds = [0]
        for s in starts[1:].tolist():
            if s - bounds[-1] >= block_rows:
                bounds.append(s)
        self.bounds = [*bounds, len(self.frame)]
        self._i = 0
        if cache_prefix is None:
            super().__init__(release_data=True)
        else:  # pages of an external-memory matrix, cached on disk
            super().__init__(cache_prefix=cache_prefix, release_data=True, on_host=False)

    def next(self, input_data: Callable[..., None]) -> bool:
        if self._i >= len(self.bounds) - 1 or len(self.frame) == 0:
            return False
        a, b = self.bounds[self._i], self.bounds[self._i + 1]
        part = self.frame.iloc[a:b]
        extra: dict[str, Any] = (
            {"qid": self.qid[a:b]} if self.objective.startswith("rank:") else _weights(part)
        )
        input_data(
            data=float32_rows(part, self.features),
            label=_labels(part, self.objective),
            feature_names=self.features,
            **extra,
        )
        self._i += 1
        return True

    def reset(self) -> None:
        self._i = 0


QUANTILE_BLOCK_ROWS = 1 << 18
"""Rows per block fed to a QuantileDMatrix (whole origins; about 0.1 GB of float32 at 100
features). XGBoost holds a block's float32 copy and its own column-wise copy of it while it
sketches: at 1 << 20 rows (the city's 61 inputs) that was about 0.8 GB beside the frame;
the matrices do not depend on the block size (tests/test_training_memory_path.py)."""


def quantile_dmatrix(
    frame: pd.DataFrame,
    features: list[str],
    objective: str,
    params: dict[str, Any],
    ref: xgb.DMatrix | None = None,
    block_rows: int = 0,
) -> xgb.DMatrix:
    """The rows as a :class:`xgboost.QuantileDMatrix` (``hist`` bins, one byte per value)
    fed in blocks of whole origins: the same boosters as :func:`_dmatrix` (XGBoost
    3.2 sketches both the same way; tests/test_training_memory_path.py checks it on a
    small frame), in about a quarter of the float32 matrix instead of a float32 copy plus
    a DMatrix of twice its size. ``ref``: the training matrix whose bins an evaluation
    matrix uses."""
    block_rows = block_rows or QUANTILE_BLOCK_ROWS
    if ref is None and len(frame) * len(features) >= EXTERNAL_MEMORY_VALUES:
        return _external_memory_dmatrix(frame, features, objective, params, block_rows)
    return xgb.QuantileDMatrix(
        OriginBlocks(frame, features, objective, block_rows),
        max_bin=int(params.get("max_bin", 256)),
        ref=ref,
        nthread=params.get("nthread"),
    )


EXTERNAL_MEMORY_VALUES = 1 << 25
"""A training matrix of at least this many values (rows x features; the small simulation's
incidents fit rows, 67 M, and the city's, 646 M) is an external-memory one."""


def _external_memory_dmatrix(
    frame: pd.DataFrame,
    features: list[str],
    objective: str,
    params: dict[str, Any],
    block_rows: int,
) -> xgb.DMatrix:
    """:func:`quantile_dmatrix` as an :class:`xgboost.ExtMemQuantileDMatrix`: its bin pages
    are written to a temporary folder and read back while the trees grow, instead of held.
    The city's incidents fit rows hold missing values, so XGBoost's in-memory matrix keeps a
    4-byte bin index per value plus a column-wise copy: about 4.4 GB beside the 3.9 GB
    frame, past the 8,192 MB task budget. Same sketch (the same blocks), same bins, same
    boosters (tests/test_training_memory_path.py compares them byte for byte). The folder
    goes with the matrix; it is a spill folder of this process
    (:func:`riskwarn.spill.claim` under the training's spill parent), so a training
    killed meanwhile leaves nothing that the next sweep does not remove."""
    import weakref

    from riskwarn import spill

    cache = spill.claim(spill.current_parent(), "xgboost external-memory matrix")
    try:
        blocks = OriginBlocks(frame, features, objective, block_rows, f"{cache.path}/fit")
        matrix = xgb.ExtMemQuantileDMatrix(
            blocks, max_bin=int(params.get("max_bin", 256)), nthread=params.get("nthread")
        )
    except BaseException:
        cache.close()
        raise
    matrix._riskwarn_blocks = blocks  # type: ignore[attr-defined]  # kept with the matrix
    weakref.finalize(matrix, cache.close)
    return matrix
