"""Sizes and parameters of the simulated city.

Everything the simulator does is driven by one frozen :class:`SimConfig`; the two
named sizes are ``small`` (tests, demo: seconds) and ``city`` (city scale: minutes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import numpy as np

CRS = "EPSG:32650"  # projected CRS of the reference city (UTM 50N), metres
TIMEZONE = "Asia/Shanghai"
CELL_SIZE_M = 250.0


@dataclass(frozen=True)
class SimConfig:
    """Parameters of one simulation run (sizes, periods, densities)."""

    size: str
    start: dt.date
    days: int  # incidents and disputes period
    n_incidents: int  # expected number of incidents over the period
    n_disputes: int  # expected number of disputes over the period
    n_sites: int  # monitored hazard sites
    n_rain_gauges: int
    crack_share: float  # share of sites that also carry a crack meter
    sensor_offset_days: int  # first day of 10-minute sensor data, days after start
    sensor_days: int  # length of the 10-minute sensor record
    township_scale: float  # townships per county = real count x scale
    people_per_community: int
    people_per_grid: int
    min_failures: int  # at least this many monitored-site failures (small: tests need some)
    onset_shift: float  # added to the failure-onset logit (more failures on short records)

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=self.days)

    @property
    def sensor_start(self) -> dt.date:
        return self.start + dt.timedelta(days=self.sensor_offset_days)


def size_config(size: str, start: dt.date) -> SimConfig:
    """The named size (``small`` | ``city``) starting at ``start`` (local date)."""
    if size == "small":
        june_first = dt.date(start.year, 6, 1)
        offset = (june_first - start).days if june_first >= start else 0
        base = SimConfig(
            size="small",
            start=start,
            days=365,
            n_incidents=30_000,
            n_disputes=2_000,
            n_sites=20,
            n_rain_gauges=8,
            crack_share=0.5,
            sensor_offset_days=min(offset, 365 - 92),
            sensor_days=92,
            township_scale=0.35,
            people_per_community=12_000,
            people_per_grid=6_000,
            min_failures=2,
            onset_shift=1.5,
        )
        return base
    if size == "city":
        return SimConfig(
            size="city",
            start=start,
            days=1096,
            n_incidents=1_100_000,
            n_disputes=110_000,
            n_sites=360,
            n_rain_gauges=100,
            crack_share=0.45,
            sensor_offset_days=0,
            sensor_days=1096,
            township_scale=1.0,
            people_per_community=2_500,
            people_per_grid=900,
            min_failures=0,
            onset_shift=0.0,
        )
    raise ValueError(f"unknown size {size!r} (small | city)")


def with_overrides(cfg: SimConfig, **kwargs: object) -> SimConfig:
    """A copy of ``cfg`` with some fields replaced (tests use this to shrink runs)."""
    return replace(cfg, **kwargs)  # type: ignore[arg-type]


def component_rng(seed: int, component: str) -> np.random.Generator:
    """An independent random stream per component, so changing one leaves the others."""
    key = [ord(c) for c in component]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *key]))
