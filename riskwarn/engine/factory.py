"""The engine the settings name (kept apart from base.py, which the Dask engine imports)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from riskwarn.engine.base import Engine, LocalEngine

if TYPE_CHECKING:
    from riskwarn.settings import Settings


@contextmanager
def open_engine(settings: Settings) -> Iterator[Engine]:
    """The engine ``settings.engine`` names, closed on the way out.

    ``dask``: a client of ``settings.dask_scheduler``, or of a LocalCluster of
    ``settings.dask_workers`` processes when no scheduler is configured.
    """
    engine: Engine
    if settings.engine == "local":
        engine = LocalEngine()
    elif settings.engine == "dask":
        from riskwarn.engine.dask_engine import DaskEngine

        engine = DaskEngine.from_settings(settings)
    else:  # pydantic refuses other values; kept for callers that build Settings by hand
        raise ValueError(f"unknown engine {settings.engine!r}: use 'local' or 'dask'")
    try:
        yield engine
    finally:
        engine.close()
