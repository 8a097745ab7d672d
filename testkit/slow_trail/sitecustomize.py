"""Test-only: a served dashboard whose review page is slow after its decision form.

Python imports ``sitecustomize`` at start-up from the path; :func:`testkit.dashboard_server.
slow_trail_env` puts this folder first on the served dashboard's ``PYTHONPATH`` with
``RISKWARN_TEST_TRAIL_DELAY_S``. The review trail's read (``dashboard.queries.
warning_reviews``, drawn below the form) then sleeps that long on every run, so a click
sent right after the form is drawn lands on a run still going, which Streamlit stops for
the new one: the interleaving a loaded machine produces now and then (CI of 2026-12-07),
made certain. With ``RISKWARN_TEST_TRAIL_DELAY_WHEN`` (a file's path), only a read made
while that file exists sleeps (a test turns the slowness on for its race alone). Nothing
of the product is changed; any other process is left alone.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def _slow_trail() -> None:
    delay = float(os.environ.get("RISKWARN_TEST_TRAIL_DELAY_S") or 0)
    when = os.environ.get("RISKWARN_TEST_TRAIL_DELAY_WHEN")
    root = os.environ.get("RISKWARN_TEST_ROOT")
    if delay <= 0 or not root:
        return
    sys.path.insert(0, root)  # the checkout served (the editable install may name another)
    from dashboard import queries

    read = queries.warning_reviews

    def slow(*args: Any, **kwargs: Any) -> Any:
        if when is None or os.path.exists(when):
            time.sleep(delay)
        return read(*args, **kwargs)

    slow.clear = read.clear  # type: ignore[attr-defined]  # a saved review clears it
    queries.warning_reviews = slow  # type: ignore[assignment]


_slow_trail()
