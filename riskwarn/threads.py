"""OpenMP threads that sleep when they have nothing to do, instead of spinning.

XGBoost (and scikit-learn) run on the GNU OpenMP runtime (``libgomp``, shipped in their
wheels). By default a libgomp thread that finishes its share of a parallel region spins
(``GOMP_SPINCOUNT``, 300,000 turns) before it sleeps, and a booster round is many short
parallel regions (histograms per node, the split search, the ranking objective per query
group), so on a shared 2-core machine the spinning threads burn CPU seconds and take the
core from the thread that still works. ``OMP_WAIT_POLICY=PASSIVE`` (no spinning) leaves
every result as it was: the threads, their shares and XGBoost's deterministic sums are the
same, only the waiting differs (tests/test_openmp_wait.py compares the boosters byte for
byte). Measured (docs/benchmarks.md, "Where train incidents' CPU goes"): the same booster
in about 40 % of the CPU seconds.

libgomp reads the variable once, when it is loaded (the first ``import xgboost`` or
scikit-learn module that needs it), so :func:`sleep_when_idle` runs before that:
``riskwarn/__init__.py`` calls it first. An explicitly set ``OMP_WAIT_POLICY`` (or
``GOMP_SPINCOUNT``) wins.
"""

from __future__ import annotations

import os

OMP_WAIT_POLICY = "PASSIVE"


def openmp_env() -> dict[str, str]:
    """The setting as environment variables, for child processes (Airflow)."""
    return {"OMP_WAIT_POLICY": OMP_WAIT_POLICY}


def sleep_when_idle() -> None:
    """Set ``OMP_WAIT_POLICY`` for this process's OpenMP runtimes not yet loaded, unless
    the caller set it or ``GOMP_SPINCOUNT`` (idempotent)."""
    if "GOMP_SPINCOUNT" in os.environ:
        return
    for name, value in openmp_env().items():
        os.environ.setdefault(name, value)
