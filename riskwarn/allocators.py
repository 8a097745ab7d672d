"""Less address space reserved by the allocators, for tasks under a memory budget.

A DAG task's memory budget (``Settings.task_memory_mb``, :func:`riskwarn.orchestration.
memory_budget`) caps the address space the task adds (``RLIMIT_AS``), and two allocators
in this process reserve address space they mostly never touch:

* glibc makes a malloc arena of 64 MB reserved address space for each thread that
  allocates under contention, up to 8 per core (arrow, DuckDB, OpenMP and BLAS threads:
  about 1 GB on the city's training, 0 MB resident);
* pyarrow's default pool, mimalloc, reserves 1 GiB of address space at a time.

Measured on the city's incidents (``bench/bench_train_memory.py``): reading the table
took the process from 0.01 to 2.98 GB of address space for 0.82 GB resident; with the
two settings below 1.51 GB for the same 0.80 GB resident. Values, results and models do
not depend on either setting. An explicitly set ``MALLOC_ARENA_MAX`` or
``MIMALLOC_ARENA_RESERVE`` wins.
"""

from __future__ import annotations

import ctypes
import os
import sys

ARENA_MAX = 2
"""glibc malloc arenas (the main one and one more)."""
MIMALLOC_ARENA_RESERVE = "64M"
"""Address space mimalloc reserves at a time (its default: 1 GiB)."""
_M_ARENA_MAX = -8  # mallopt parameter number (malloc.h)


def reserve_less_address_space() -> bool:
    """Apply both settings to this process (idempotent; True if glibc took the arena cap).

    mimalloc reads its option when pyarrow first allocates, so this runs before pyarrow is
    imported (``riskwarn/__init__.py`` and the benchmarks call it first); arenas made
    before the call stay."""
    os.environ.setdefault("MIMALLOC_ARENA_RESERVE", MIMALLOC_ARENA_RESERVE)
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_ARENA_MAX, ARENA_MAX))
    except (OSError, AttributeError):  # not glibc
        return False


def allocator_env() -> dict[str, str]:
    """The same settings as environment variables, for child processes (Airflow)."""
    return {"MALLOC_ARENA_MAX": str(ARENA_MAX), "MIMALLOC_ARENA_RESERVE": MIMALLOC_ARENA_RESERVE}
