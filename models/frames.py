"""One frame builder per model family: a domain's model inputs at some origins.

Pure functions of the domain (:mod:`riskwarn.domains`), the input tables and the
origins, plus the city's grid and clock (:class:`CityGrid`). Training, backtests,
``riskwarn features build`` and serving all build their frames here, so what a model
is served is what it learned from (``tests/test_frame_parity.py`` holds them to it).

* :func:`hotspot_frame`: cell x origin (counts, calendar, the baselines' past-only
  scores and the long-memory inputs), for the ``hotspot`` family;
* :func:`case_frame`: open dispute case x origin, for the ``case`` family;
* :func:`site_frame`: monitored site x origin, for the ``site`` family.

Each frame holds its keys, the model inputs and (where the records reach past an
origin) its ``label_*`` columns; serving drops the labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from riskwarn.domains import Domain


@dataclass(frozen=True)
class CityGrid:
    """Where and when: the city's projected CRS, cell size and local time zone."""

    crs: str
    cell_size_m: float
    tz: str


def _require(domain: Domain, family: str) -> None:
    if domain.family != family:
        raise ValueError(f"domain {domain.name!r} is a {domain.family} domain, not {family}")


def hotspot_frame(
    domain: Domain,
    events: pd.DataFrame,
    origins: pd.DatetimeIndex,
    grid: CityGrid,
    cells: pd.DataFrame | None = None,
    frame_builder: Any = None,
    **spec_overrides: Any,
) -> pd.DataFrame:
    """Cell x origin model inputs (+ labels) of a hotspot domain.

    ``events`` is the domain's event table as the lake holds it (its time column is the
    domain's); ``cells`` the cells that may be scored (default: every cell with an event
    known before the last origin). Either way a cell has a row at an origin only when it
    holds an event known before that origin (:class:`features.cells.ActiveArea`, the one
    rule of training, backtests and serving). Empty when there is no such cell.
    ``frame_builder``: where the frame is built (a
    ``models.hotspot_backtest.FrameBuilder``, e.g. ``riskwarn.engine`` on a cluster;
    default here).
    """
    from models.hotspot_backtest import cell_frame

    _require(domain, "hotspot")
    return cell_frame(
        domain,
        events,
        origins,
        crs=grid.crs,
        cell_size_m=grid.cell_size_m,
        tz=grid.tz,
        cells=cells,
        frame_builder=frame_builder,
        **spec_overrides,
    )


def case_frame(
    domain: Domain,
    disputes: pd.DataFrame,
    dispute_events: pd.DataFrame,
    origins: pd.DatetimeIndex,
    grid: CityGrid,
) -> pd.DataFrame:
    """Open dispute case x origin model inputs (+ labels over the domain's horizon)."""
    from models.case_models import build_case_table

    _require(domain, "case")
    return build_case_table(
        disputes,
        dispute_events,
        origins,
        crs=grid.crs,
        cell_size_m=grid.cell_size_m,
        tz=grid.tz,
        horizon_days=domain.horizon_days,
    )


def site_frame(
    domain: Domain,
    readings: pd.DataFrame,
    sensors: pd.DataFrame,
    sites: pd.DataFrame,
    hazard_events: pd.DataFrame,
    origins: pd.DatetimeIndex,
    tz: str,
    *,
    with_rules: bool = True,
) -> pd.DataFrame:
    """Monitored site x origin model inputs (+ labels; ``with_rules``: the sensor-rule
    level of each row, a baseline and a monotone model input, so serving needs it). Sites
    need no grid: only the city's time zone ``tz`` (daily origins are local midnights)."""
    from models.geohazard_sites import build_site_table, site_config

    _require(domain, "site")
    config = site_config(domain.name, tz=tz)
    return build_site_table(
        readings, sensors, sites, hazard_events, origins, config, with_rules=with_rules
    )
