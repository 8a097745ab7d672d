"""The simulated city: seeded, deterministic raw extracts plus ground truth.

``simulate(out, size, seed, start)`` writes extracts in the formats a city's data
platform sends (CSV, CSV.gz, Parquet; Chinese column names; local time) that go
through the ordinary ingestion with ``configs/sources/sim_*.yaml``, and the ground
truth (true intensities and probabilities) beside them. See ``docs/simulation.md``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from riskwarn.simulate.config import SimConfig, size_config
from riskwarn.simulate.run import Progress, simulate_city, steps_total

SIZES = ("small", "city")
DEFAULT_START = dt.date(2023, 1, 1)


def simulate(
    out: str | Path,
    size: str = "small",
    seed: int = 0,
    start: dt.date = DEFAULT_START,
    progress: Progress | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Simulate a city of ``size`` into ``out``; returns the run's metadata (files, rows)."""
    from dataclasses import replace

    cfg = size_config(size, start)
    if overrides:
        cfg = replace(cfg, **overrides)
    return simulate_city(Path(out), size, seed, start, cfg, progress)


__all__ = ["DEFAULT_START", "SIZES", "SimConfig", "simulate", "size_config", "steps_total"]
