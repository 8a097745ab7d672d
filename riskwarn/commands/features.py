"""``riskwarn features build <domain>``: build a feature table from the lake.

Reads canonical tables with ``riskwarn.lake.read_table``, calls the pure builders in
``features`` and writes one Parquet partition per origin
(``<out>/origin=<YYYY-MM-DD>/part.parquet``, overwritten on re-run), so a daily run only
computes and writes the new origins and a rebuild gives the same files.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import pandas as pd

if TYPE_CHECKING:
    from models.frames import CityGrid
    from riskwarn.domains import Domain

from riskwarn import domains

log = logging.getLogger(__name__)


@click.group()
def features() -> None:
    """Build feature tables (cell, case, site x origin) from the lake."""


@features.command("build", epilog="DOMAIN is one of: " + ", ".join(domains.names()) + ".")
@click.argument("domain", type=click.Choice(domains.names()), metavar="DOMAIN")
@click.option("--start", required=True, help="First origin, local date (YYYY-MM-DD).")
@click.option("--end", required=True, help="Last origin, local date (YYYY-MM-DD).")
@click.option(
    "--step-days",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Days between origins (hourly site domains: every hour of those days).",
)
@click.option("--source", "sources", multiple=True, help="Only these lake sources (repeatable).")
@click.option("--cell-size", type=click.IntRange(min=1), default=None, help="Cell size in metres.")
@click.option("--crs", default=None, help="Projected CRS of the cells (default: settings).")
@click.option(
    "--tz", default=None, help="Time zone of the local-midnight origins (default: settings)."
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Output folder (default <home>/features/<domain>).",
)
def build(
    domain: str,
    start: str,
    end: str,
    step_days: int,
    sources: tuple[str, ...],
    cell_size: int | None,
    crs: str | None,
    tz: str | None,
    out: Path | None,
) -> None:
    """Build DOMAIN's features for origins START..END and write one partition per origin."""
    from features.calendar import local_midnights
    from models.frames import CityGrid
    from riskwarn import lake
    from riskwarn.engine import EventSource, open_engine
    from riskwarn.settings import load_settings

    settings = load_settings()
    tz = tz or settings.display_tz
    crs = crs or settings.city_crs
    size = cell_size or settings.cell_size_m
    try:
        origins = local_midnights(start, end, step_days, tz)
    except (ValueError, TypeError) as exc:
        raise click.UsageError(f"bad --start/--end: {exc}") from exc
    if len(origins) == 0:
        raise click.UsageError("no origins: --end is before --start")
    src = list(sources) or None
    spec = domains.get(domain)
    # every table read at the version it has now: the engine's workers read the same
    versions = {t: lake.table_version(settings.lake_dir, t) for t in _tables(spec)}

    def read(table: str) -> pd.DataFrame:
        # each origin sees a record's version then (site family: not the readings yet)
        if spec.family in ("hotspot", "case") or table != "sensor_readings":
            return lake.read_versions(
                settings.lake_dir, table, sources=src, version=versions[table]
            )
        return lake.read_table(settings.lake_dir, table, sources=src, version=versions[table])

    with open_engine(settings) as engine:
        builder = None
        if spec.family == "hotspot":  # on a cluster, the frame blocks are built there
            source = EventSource(
                settings.lake_dir, spec.event_table, spec.time_column, None, crs, size,
                sources=tuple(sources) or None, version=versions[spec.event_table],
            )  # fmt: skip
            builder = engine.frame_builder(source)
        frame = _build(spec, read, origins, CityGrid(crs, size, tz), builder)
    target = out or settings.home / "features" / domain
    written = write_partitions(frame, target, tz)
    click.echo(f"{domain}: {len(frame)} rows, {len(written)} origin partitions in {target}")


def _tables(domain: Domain) -> tuple[str, ...]:
    """The lake tables :func:`_build` reads for ``domain``."""
    if domain.family == "hotspot":
        return (domain.event_table,)
    if domain.family == "case":
        return ("disputes", "dispute_events")
    return ("hazard_sites", "sensor_readings", "sensors", "hazard_events")


def _build(
    domain: Domain, read, origins: pd.DatetimeIndex, grid: CityGrid, builder: Any = None
) -> pd.DataFrame:
    """The domain's model frame (inputs and labels) at ``origins``: the builder training
    and serving use (:mod:`models.frames`); hotspot frames through ``builder`` (the
    engine's, None = here)."""
    from models import frames

    if domain.family == "hotspot":
        events = read(domain.event_table)
        if events.empty:
            raise click.ClickException(f"the lake has no {domain.event_table} records")
        frame = frames.hotspot_frame(domain, events, origins, grid, frame_builder=builder)
        if frame.empty:
            raise click.ClickException(
                f"no {domain.event_table} records before the last origin {origins[-1]}"
            )
        return frame
    if domain.family == "case":
        return frames.case_frame(domain, read("disputes"), read("dispute_events"), origins, grid)
    sites = read("hazard_sites")
    if sites.empty:
        raise click.ClickException("the lake has no hazard_sites")
    if domain.step_hours < 24:
        origins = pd.DatetimeIndex(
            pd.date_range(
                origins[0], origins[-1] + pd.Timedelta(hours=23), freq=f"{domain.step_hours}h"
            )
        )
    return frames.site_frame(
        domain,
        read("sensor_readings"),
        read("sensors"),
        sites,
        read("hazard_events"),
        origins,
        grid.tz,
    )


def write_partitions(frame: pd.DataFrame, out: Path, tz: str) -> list[Path]:
    """Write one ``origin=<local date>/part.parquet`` per origin (atomic replace)."""
    written: list[Path] = []
    if frame.empty:
        return written
    day = pd.DatetimeIndex(frame["origin"]).tz_convert(tz).strftime("%Y-%m-%d")
    for label, part in frame.groupby(day, sort=True):
        path = out / f"origin={label}" / "part.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        part.reset_index(drop=True).to_parquet(tmp, index=False)
        tmp.replace(path)
        written.append(path)
    return written
