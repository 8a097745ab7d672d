"""The engine interface, the local engine and what every engine shares (no Dask here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from models.backtest import BoosterTrainer
    from models.hotspot_backtest import FrameBuilder


@dataclass(frozen=True)
class EventSource:
    """Where a hotspot domain's events are, as a recipe a worker can follow on its own.

    The records of ``table`` (some ``sources``, all if None) whose ``time_column`` is
    before ``end`` (None: all), as of table ``version`` (pinned by the client, so every worker reads
    the same snapshot while ingests go on), on the city grid ``crs`` / ``cell_size_m``.
    Small and picklable: it travels to the workers instead of the rows.
    """

    lake_dir: Path
    table: str
    time_column: str
    end: pd.Timestamp | None
    crs: str
    cell_size_m: float
    sources: tuple[str, ...] | None = None
    version: int | None = None

    def read(self) -> pd.DataFrame:
        """The canonical rows (read where this runs: on a worker, on the worker), with
        the earlier versions of corrected records (:func:`riskwarn.lake.read_known`)."""
        from riskwarn.lake import read_known

        return read_known(self.lake_dir, self.table, self.end, self.sources, version=self.version)

    def events(self) -> pd.DataFrame:
        """The rows as the hotspot frame builder takes them (:func:`hotspot_events`)."""
        return hotspot_events(self.read(), self.time_column, self.crs, self.cell_size_m)


def hotspot_events(
    raw: pd.DataFrame, time_column: str, crs: str, cell_size_m: float
) -> pd.DataFrame:
    """A domain's canonical event rows -> ``occurred_at`` + integer ``cell_x``/``cell_y``
    (rows without a cell dropped): what ``run_hotspot_backtest`` does to its events."""
    from features.cells import assign_cells

    ev = raw.rename(columns={time_column: "occurred_at"})
    ev = assign_cells(ev, crs, cell_size_m).dropna(subset=["cell_x", "cell_y"])
    return ev.astype({"cell_x": "int64", "cell_y": "int64"})


def origin_blocks(origins: pd.DatetimeIndex, n_blocks: int) -> list[pd.DatetimeIndex]:
    """``origins`` (sorted) cut into at most ``n_blocks`` contiguous, near-equal blocks.

    A hotspot frame's rows at an origin depend only on the events and that origin (every
    input is past-only or a label window after it), so the blocks' frames concatenated
    are the whole frame (``tests/test_engine.py`` holds it)."""
    ordered = pd.DatetimeIndex(origins).sort_values()
    n = max(1, min(int(n_blocks), len(ordered)))
    return [ordered[idx] for idx in np.array_split(np.arange(len(ordered)), n) if len(idx)]


class Engine(Protocol):
    """What the training and feature paths ask of an engine."""

    name: str

    def frame_builder(self, source: EventSource) -> FrameBuilder | None:
        """How to build the hotspot model frame of ``source``'s events (None: here)."""
        ...

    def trainer(self) -> BoosterTrainer | None:
        """How to grow a booster (None: ``xgboost.train`` here)."""
        ...

    def close(self) -> None:
        """Release what the engine opened (clients, local clusters)."""
        ...


class LocalEngine:
    """Today's single-node path: everything in this process."""

    name = "local"

    def frame_builder(self, source: EventSource) -> FrameBuilder | None:
        return None

    def trainer(self) -> BoosterTrainer | None:
        return None

    def close(self) -> None:
        return None
