"""Where the heavy data work runs: this process (``local``) or a Dask cluster (``dask``).

``Settings.engine`` chooses (``RISKWARN_ENGINE``); :func:`open_engine` gives the
:class:`Engine` for the settings and closes what it opened. An engine builds the hotspot
model frame (:meth:`Engine.frame_builder`) and grows the XGBoost boosters
(:meth:`Engine.trainer`) of ``models``: the local engine is today's single-node
path, the Dask engine builds the frame per block of origins on the workers (each worker
reads the lake itself, at the table version its client pinned) and trains through
``xgboost.dask`` with the same parameters. docs/design.md ("The engine") says why Dask;
docs/operations.md how to point riskwarn at a cluster.
"""

from __future__ import annotations

from riskwarn.engine.base import (
    Engine,
    EventSource,
    LocalEngine,
    hotspot_events,
    origin_blocks,
)
from riskwarn.engine.factory import open_engine

__all__ = [
    "Engine",
    "EventSource",
    "LocalEngine",
    "hotspot_events",
    "open_engine",
    "origin_blocks",
]
