"""Model inputs derived from other model inputs: add such a feature here, and only here.

One :class:`DerivedFeature` per feature: its name, its catalogue words
(:class:`~features.feature_info.FeatureInfo`, English and Chinese; ``info.domain`` says
which family's frame it joins: ``"cells"`` the hotspot domains, ``"disputes"`` the dispute
cases, ``"geohazard"`` the monitored sites) and a pure function of that frame's rows.

Every frame builder ends with :func:`add_derived_features`, so the one entry reaches
training, backtests, ``riskwarn features build``, the Dask engine and serving alike (they
all build their frames through ``models.frames``); the catalogue (:mod:`features.catalog`)
describes it, so explanations and ``docs/features.md`` name it in plain words; and the
model takes it as an input, because the trainers take every non-key, non-label column.
``tests/test_frame_parity.py::test_a_new_feature_is_one_entry`` shows the road with a
throw-away entry.

The function gets the frame's model inputs only (keys and labels are not passed, so a
derived feature cannot see the future) and must compute each row from that row alone
(frames are built in blocks of origins; a row must not depend on which block it is in).
It returns one value per row, as float32 like the other inputs.

Example (not registered)::

    DerivedFeature(
        "share_28d_of_365d",
        FeatureInfo(
            "{value:.2f} of the last year's events in this cell came in the last 28 days",
            "share", "records known before the origin, last 365 days", "cells",
            zh="本网格近一年事件中有 {value:.2f} 发生在近 28 天",
        ),
        lambda f: f["count_28d"] / (f["count_365d"] + 1.0),
    )
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.feature_info import FeatureInfo

FAMILY_OF_DOMAIN = {"cells": "hotspot", "disputes": "case", "geohazard": "site"}
"""``FeatureInfo.domain`` of a derived feature -> the model family whose frame it joins."""


@dataclass(frozen=True)
class DerivedFeature:
    """One model input computed from the other inputs of the same row."""

    name: str
    info: FeatureInfo
    compute: Callable[[pd.DataFrame], pd.Series | np.ndarray]

    @property
    def family(self) -> str:
        return FAMILY_OF_DOMAIN[self.info.domain]


DERIVED: tuple[DerivedFeature, ...] = ()
"""The derived features (none yet): add an entry to add a model input."""


def derived_features(family: str) -> tuple[DerivedFeature, ...]:
    """The registered derived features of a model family (``hotspot``, ``case``, ``site``)."""
    if family not in FAMILY_OF_DOMAIN.values():
        raise ValueError(f"unknown model family {family!r}")
    return tuple(d for d in DERIVED if d.family == family)


def derived_info(name: str) -> FeatureInfo | None:
    """The catalogue entry of a derived feature (None if ``name`` is not one)."""
    return next((d.info for d in DERIVED if d.name == name), None)


def add_derived_features(frame: pd.DataFrame, family: str, keys: list[str]) -> pd.DataFrame:
    """``frame`` with one column per derived feature of ``family`` (computed in order, so a
    later entry may use an earlier one). ``keys`` and ``label_*`` columns are withheld
    from the functions."""
    registered = derived_features(family)
    if not registered or frame.empty:
        return frame
    out = frame.copy()
    for d in registered:
        if d.name in out.columns:
            raise ValueError(f"derived feature {d.name!r} is already a column of the frame")
        inputs = out[[c for c in out.columns if c not in keys and not c.startswith("label_")]]
        values = np.asarray(d.compute(inputs), dtype=np.float32)
        if values.shape != (len(out),):
            raise ValueError(f"derived feature {d.name!r} gave {values.shape}, not one per row")
        out[d.name] = values
    return out
