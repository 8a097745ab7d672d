"""Dashboard render times: first render of the overview and warm render of every page.

Uses the serving store and lake of ``RISKWARN_HOME`` when it holds published forecasts
(e.g. after ``riskwarn simulate --size city`` and the pipeline); otherwise fills a
temporary store with city-scale-like row counts (``--cells`` cells x ``--weeks`` weeks per
hotspot domain, ``--cases`` open dispute cases) through the Store API. Renders with
Streamlit's AppTest in this process (server-side time; the browser adds its paint).

    .venv/bin/python bench/bench_dashboard.py [--cells 30000 --weeks 8 --cases 5000]

Targets (issue 6): overview first render <= 2 s, each page <= 1 s warm.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PAGES = {
    "overview": "pages/overview.py",
    "warnings": "pages/warnings.py",
    "disputes": "pages/disputes.py",
    "geohazard": "pages/geohazard.py",
    "models": "pages/models.py",
}
APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def _has_published(home: Path) -> bool:
    from riskwarn.settings import load_settings
    from riskwarn.store import Store

    settings = load_settings(home=home)
    if not (home / "serving.db").exists() and not settings.store_url:
        return False
    store = Store.from_settings(settings)
    try:
        return store.published_run("incidents") is not None
    finally:
        store.close()


def _prepare(args: argparse.Namespace) -> str:
    """Point RISKWARN_* at the data to render; returns a description of it."""
    home = Path(os.environ.get("RISKWARN_HOME", "var"))
    if home.exists() and _has_published(home):
        os.environ["RISKWARN_HOME"] = str(home.resolve())
        return f"store of {home} (existing published runs)"
    from riskwarn.dashboard.demo_data import demo_home

    tmp = Path(tempfile.mkdtemp(prefix="rw-bench-"))
    t0 = time.perf_counter()
    demo_home(tmp, n_cells=args.cells, weeks=args.weeks, n_cases=args.cases)
    os.environ["RISKWARN_HOME"] = str(tmp)
    os.environ.pop("RISKWARN_STORE_URL", None)
    return (
        f"generated store: {args.cells} cells x {args.weeks} weeks x 2 hotspot domains, "
        f"{args.cases} cases ({time.perf_counter() - t0:.0f} s to build) in {tmp}"
    )


def _render(at: Any, page: str | None, title: str) -> float:
    t0 = time.perf_counter()
    if page:
        at.switch_page(page)
    at.run()
    dt = time.perf_counter() - t0
    if at.exception:
        raise SystemExit(f"{page}: {at.exception[0].value}")
    if at.title[0].value != title:  # make sure the page really rendered
        raise SystemExit(f"{page}: rendered {at.title[0].value!r}, expected {title!r}")
    return dt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=30_000)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--cases", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("RISKWARN_AIRFLOW_API_URL", "http://127.0.0.1:9")
    source = _prepare(args)

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from riskwarn.dashboard.auth import User
    from riskwarn.dashboard.i18n import t

    at = AppTest.from_file(str(APP), default_timeout=300)
    at.session_state["user"] = User(username="admin", name="admin", role="admin")
    at.session_state["lang"] = "zh"
    cold = _render(at, None, t("page_overview", "zh"))
    st.cache_data.clear()
    first = _render(at, PAGES["overview"], t("page_overview", "zh"))
    rows = [
        ("overview (cold process: imports + data)", cold, float("nan")),
        ("overview (first render, empty data cache)", first, 2.0),
    ]
    for name, page in PAGES.items():
        times = []
        for _ in range(args.repeats):
            times.append(_render(at, page, t(f"page_{name}", "zh")))
        rows.append((f"{name} (warm, median of {args.repeats})", statistics.median(times), 1.0))
    print(f"data: {source}")
    print(f"{'render':44s} {'seconds':>8s} {'target':>7s}")
    ok = True
    for label, secs, target in rows:
        flag = "" if target != target else ("ok" if secs <= target else "SLOW")
        ok &= not secs > target
        print(f"{label:44s} {secs:8.2f} {target:7.1f}  {flag}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
