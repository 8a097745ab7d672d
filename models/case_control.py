"""Case-control subsampling of a hotspot training frame (issue 18.3; off by default).

Rows without an event at fit-only origins are kept with probability ``negative_rate``
(a deterministic hash of cell and origin, the same rows in every run and engine); rows
with events and every row from the first refit's validation origins on are kept whole.
Measured on the small simulation it lost PAI beyond noise (docs/benchmarks.md, the
full-day section), so ``ModelConfig.negative_rate`` is None by default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from models.backtest import ModelConfig, label_window_end


def negative_sampler(
    config: ModelConfig, before: Any
) -> Callable[[pd.DataFrame], pd.DataFrame] | None:
    """The row filter of a training frame's case-control subsampling, or None.

    Rows at origins before ``before`` (a backtest's ``sample_negatives_before``) are kept when they hold an event
    (``label_count > 0``) or when a hash of (cell, origin) falls below
    ``config.negative_rate``: deterministic, the same rows in every run and engine.
    Those rows only ever serve as fit rows of a booster (early stopping, calibration,
    the blend's choice and every evaluation origin see all rows). Ranking objectives need
    no weights (the pairs of a query are drawn uniformly among the labels); the others get
    ``label_weight`` 1 / rate on the kept rows without events."""
    rate = config.negative_rate
    if before is None or rate is None or not 0 < rate < 1:
        return None
    cut = pd.Timestamp(before)
    weighted = not config.objective.startswith("rank:")

    def keep(chunk: pd.DataFrame) -> pd.DataFrame:
        origin = pd.DatetimeIndex(chunk["origin"])
        early = np.asarray(origin < cut)
        empty = chunk["label_count"].to_numpy() <= 0
        u = unit_hash(
            chunk["cell_x"].to_numpy(np.int64),
            chunk["cell_y"].to_numpy(np.int64),
            origin.as_unit("s").asi8,
        )
        drawn = early & empty
        mask = ~drawn | (u < rate)
        out = chunk.iloc[np.flatnonzero(mask)] if not mask.all() else chunk
        if weighted:
            w = np.where(drawn[mask], 1.0 / rate, 1.0).astype(np.float32)
            out = out.assign(label_weight=w)
        return out.reset_index(drop=True)

    return keep


def unit_hash(*keys: np.ndarray) -> np.ndarray:
    """A number in [0, 1) per row from integer keys (splitmix64 of their mix)."""
    with np.errstate(over="ignore"):
        h = np.zeros(len(keys[0]), dtype=np.uint64)
        for k, mult in zip(
            keys, (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9), strict=False
        ):
            h = (h ^ (np.asarray(k).astype(np.uint64) * np.uint64(mult))) * np.uint64(
                0xBF58476D1CE4E5B9
            )
            h ^= h >> np.uint64(31)
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def sampling_cut(
    evals: pd.DatetimeIndex, train: pd.DatetimeIndex, config: ModelConfig
) -> pd.Timestamp | None:
    """First origin whose rows a training frame keeps whole under negative subsampling
    (None: no subsampling): the first of the early-stopping and calibration origins of the
    first refit (at the first evaluation origin). Every later refit's validation slices and
    every evaluation origin lie at or after it, so only fit rows are ever subsampled."""
    rate = config.negative_rate
    if rate is None or not 0 < rate < 1 or len(evals) == 0:
        return None
    ends = label_window_end(pd.Series(train), config.horizon_days, config.tz).to_numpy()
    usable = train[ends <= evals.min()]
    k = config.es_origins + config.cal_origins
    return None if len(usable) <= k else pd.Timestamp(usable[-k])
