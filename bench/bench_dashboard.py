"""Dashboard render times on the city-scale simulation: overview first render, every page warm.

Fills a riskwarn home from a ``riskwarn simulate --size city`` output (``--sim-dir``)
through the product's own code paths, then renders every page with Streamlit's AppTest
in this process (server-side time) and, when Playwright and ``/usr/bin/chromium`` are
available, times the real browser from navigation to the overview's content.

The home (``--home``, default ``var/bench/dash_home``) is prepared once and reused
(the simulation too: ``--sim-dir`` is simulated first when it holds none):

* lake tables through ``riskwarn.ingest.ingest_files`` (what ``riskwarn ingest`` runs),
  batches recorded in the serving store: admin units (counties, townships, communities),
  grid cells, incidents, disputes, dispute events, hazard sites, sensors and the last
  ``--reading-months`` months of sensor readings (the geohazard page shows 90 days);
* hotspot forecasts and warnings for incidents and disputes at ``--weeks`` weekly
  origins, every active 250 m cell: **scored by the long-run-count baseline** (events per
  cell before the origin / days of history, as ``models.baselines.long_run``;
  probability of at least one event in the 7-day window under a Poisson rate), not by a
  trained champion (training XGBoost at city scale is not what this bench measures).
  Levels, hysteresis, county capacity, reasons and publication go through
  ``riskwarn.warnings`` and ``riskwarn.scoring`` exactly as ``riskwarn score`` does;
* open dispute cases at the last origin (``riskwarn.serving_frames.case_scoring_frame``), scored
  by the empirical 30-day escalation share of earlier cases with the same number of failed
  mediations (labels whose window closed before the origin);
* the geohazard nowcast of the 360 sites (``riskwarn.nowcast.nowcast_geohazard``, sensor
  rules; no hourly champion is registered, which the run says in its evidence).

    .venv/bin/python bench/bench_dashboard.py [--sim-dir var/bench/sim_city]
        [--home var/bench/dash_home] [--weeks 6] [--reading-months 3] [--no-browser]

``--synthetic`` keeps the old generated store (``--cells``, ``--weeks``, ``--cases``).

Targets (issue 6): overview first render <= 2 s, each page <= 1 s warm.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PAGES = {
    "overview": "pages/overview.py",
    "warnings": "pages/warnings.py",
    "disputes": "pages/disputes.py",
    "geohazard": "pages/geohazard.py",
    "models": "pages/models.py",
}
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the synthetic demo fixture: testkit/dashboard_demo.py
APP = ROOT / "dashboard" / "app.py"
STAMP = "bench-dashboard-home.json"
BASELINE_LABEL = "long-run count baseline (bench_dashboard; not a trained champion)"
# the "model" evidence of the bench's warnings, bilingual as the product's reasons are
BASELINE_EVIDENCE = {
    "en": "long-run count baseline (bench_dashboard; not a trained champion)",
    "zh": "长期事件计数基线（仪表盘基准测试；非训练模型）",
}
CASES_EVIDENCE = {
    "en": "empirical escalation share (bench_dashboard; not a trained champion)",
    "zh": "历史同类案件升级比例（仪表盘基准测试；非训练模型）",
}
HOTSPOT_TABLES = {"incidents": ("incidents", "occurred_at"), "disputes": ("disputes", "opened_at")}


def _step(label: str, t0: float) -> None:
    print(f"  {label:<52s} {time.perf_counter() - t0:7.1f} s", flush=True)


def weekly_origins(end: str, weeks: int, tz: str) -> list[pd.Timestamp]:
    """The ``weeks`` local Monday midnights up to the simulation's last day, as UTC."""
    last = pd.Timestamp(end).tz_localize(tz).normalize()
    monday = last - pd.Timedelta(days=last.day_of_week)
    return [(monday - pd.Timedelta(weeks=weeks - 1 - k)).tz_convert("UTC") for k in range(weeks)]


def ingest_simulation(sim_dir: Path, settings: Any, reading_months: int) -> list[dict[str, Any]]:
    """Every extract of ``sim_dir`` through ``riskwarn.ingest`` (readings: the last months)."""
    from riskwarn.ingest import ingest_files, load_mapping
    from riskwarn.store import Store

    meta = json.loads((sim_dir / "simulation.json").read_text(encoding="utf-8"))
    by_mapping: dict[str, list[Path]] = {}
    for f in meta["files"]:
        if f["kind"] == "extract":
            by_mapping.setdefault(f["mapping"], []).append(sim_dir / f["path"])
    as_of = datetime(2026, 1, 1, tzinfo=UTC)
    reports: list[dict[str, Any]] = []
    store = Store.from_settings(settings)
    store.upgrade()
    try:
        for name, files in by_mapping.items():
            if name == "sim_sensor_readings":
                files = sorted(files)[-reading_months:]
            t0 = time.perf_counter()
            mapping = load_mapping(ROOT / "configs" / "sources" / f"{name}.yaml")
            for report in ingest_files(mapping, files, settings, as_of=as_of):
                store.record_ingest_batch({k: v for k, v in report.items() if k != "messages"})
                reports.append(report)
            _step(f"ingest {name} ({len(files)} files)", t0)
    finally:
        store.close()
    return reports


def long_run_probability(
    events: pd.DataFrame, cells: pd.DataFrame, origin: pd.Timestamp, time_col: str
) -> pd.DataFrame:
    """Long-run-count baseline at ``origin`` for ``cells`` (pure; only events before it).

    ``score`` = events per day since the first known event (``baselines.long_run`` over
    the days of history); ``probability`` = P(at least one event in the next 7 days) for a
    Poisson process at that rate. Also ``count_7d`` and ``count_28d`` for the evidence.
    """
    from features.cells import visible_mask

    seen = events.loc[visible_mask(events, origin, time_col)]
    days = max((origin - seen[time_col].min()).total_seconds() / 86400.0, 1.0)
    keys = ["cell_x", "cell_y"]
    age = origin - seen[time_col]
    counts = seen.groupby(keys).size().rename("count_all")
    c7 = seen.loc[age <= pd.Timedelta(days=7)].groupby(keys).size().rename("count_7d")
    c28 = seen.loc[age <= pd.Timedelta(days=28)].groupby(keys).size().rename("count_28d")
    out = cells.merge(
        pd.concat([counts, c7, c28], axis=1).fillna(0).reset_index(), on=keys, how="left"
    ).fillna({"count_all": 0, "count_7d": 0, "count_28d": 0})
    out["score"] = out["count_all"] / days
    out["probability"] = 1.0 - np.exp(-7.0 * out["score"])
    return out


def publish_hotspots(
    settings: Any, store: Any, domain: str, origins: list[pd.Timestamp]
) -> tuple[int, int]:
    """Forecasts + warnings of ``domain`` at each origin (baseline scores, product levels)."""
    from features.cells import active_cells, assign_cells
    from riskwarn import domains, geo, lake, reasons, scoring, serving_frames
    from riskwarn import warnings as rw

    table, time_col = HOTSPOT_TABLES[domain]
    events = lake.read_table(settings.lake_dir, table).dropna(subset=["lon", "lat"])
    cols = [c for c in (time_col, "reported_at", "lon", "lat") if c in events.columns]
    events = assign_cells(events[cols], settings.city_crs, settings.cell_size_m)
    events = events.dropna(subset=["cell_x", "cell_y"]).astype(
        {"cell_x": "int64", "cell_y": "int64"}
    )
    all_cells = active_cells(events, before=origins[-1], time_col=time_col)
    admin = serving_frames.cell_admin_codes(
        all_cells, lake.read_table(settings.lake_dir, "admin_units"), settings
    )
    x = (admin["cell_x"].to_numpy(float) + 0.5) * settings.cell_size_m
    y = (admin["cell_y"].to_numpy(float) + 0.5) * settings.cell_size_m
    admin["lon"], admin["lat"] = geo.unproject(x, y, settings.city_crs)
    admin["unit_id"] = [
        geo.cell_id(a, b) for a, b in zip(admin["cell_x"], admin["cell_y"], strict=True)
    ]
    policy = domains.get(domain).levels
    n_fc = n_w = 0
    for origin in origins:
        cells = active_cells(events, before=origin, time_col=time_col)
        frame = long_run_probability(events, cells, origin, time_col).merge(
            admin, on=["cell_x", "cell_y"], how="left"
        )
        forecasts = scoring.forecasts_frame(
            frame, frame["probability"].to_numpy(), domain, origin, score=frame["score"].to_numpy()
        )
        history = store.warnings(domain=domain, published_only=False)
        scored = forecasts[["unit_id", "probability", "score", "county_code", "township_code"]]
        previous = scoring.previous_levels(scoring.previous_run_warnings(store, domain, origin))
        levels = rw.assign_levels(scored, policy, previous)
        levels = rw.apply_capacity(
            levels, policy.max_high_per_county, scoring.issued_this_week(history, origin)
        )
        warned = set(levels.loc[levels["level_rank"] >= 1, "unit_id"])
        explanations = reasons.evidence_sentences(frame.loc[frame["unit_id"].isin(warned)])
        ctx = rw.WarningContext(domain, "cell", origin, 168.0, {"model": BASELINE_EVIDENCE})
        warnings = rw.build_warnings(levels, ctx, explanations)
        scoring.write_run(
            store,
            domain=domain,
            origin=origin,
            forecasts=forecasts,
            warnings=warnings,
            model_name_="baseline-long-run",
            model_version=None,
            data_version_=scoring.data_version(frame[["unit_id", "count_all"]]),
            airflow_run_id=None,
        )
        n_fc += len(forecasts)
        n_w += len(warnings)
    return n_fc, n_w


def escalation_rates(past: pd.DataFrame, cap: int = 4, prior_n: float = 20.0) -> pd.Series:
    """Smoothed 30-day escalation share by failed mediations (capped), from labelled rows."""
    base = float(past["label_escalation"].mean()) if len(past) else 0.0
    key = past["n_failed_mediations"].clip(upper=cap).astype(int)
    g = past.groupby(key)["label_escalation"].agg(["sum", "count"])
    return (g["sum"] + prior_n * base) / (g["count"] + prior_n)


def case_explanations(frame: pd.DataFrame, rates: pd.Series) -> dict[str, list[dict[str, str]]]:
    """One bilingual sentence per case: failed mediations and the escalation share of peers."""
    out: dict[str, list[dict[str, str]]] = {}
    for unit, n, p in zip(
        frame["unit_id"], frame["n_failed_mediations"], frame["probability"], strict=True
    ):
        out[str(unit)] = [
            {
                "en": f"{int(n)} failed mediations so far; earlier cases like this escalated "
                f"within 30 days {p:.0%} of the time.",
                "zh": f"已调解失败 {int(n)} 次；以往同类案件 30 天内升级的比例为 {p * 100:.0f}%。",
            }
        ]
    return out


def publish_cases(settings: Any, store: Any, origin: pd.Timestamp) -> tuple[int, int]:
    """Open dispute cases at ``origin`` scored by the empirical escalation share."""
    from models.case_models import build_case_table
    from riskwarn import domains, lake, scoring, serving_frames
    from riskwarn import warnings as rw

    frame = serving_frames.case_scoring_frame(settings, origin)
    past_origin = origin - pd.Timedelta(days=31)  # its 30-day labels close before the origin
    disputes = lake.read_table(settings.lake_dir, "disputes")
    events = lake.read_table(settings.lake_dir, "dispute_events")
    past = build_case_table(
        disputes.loc[disputes["opened_at"] < origin],
        events.loc[events["event_at"] < origin],
        [past_origin],
        crs=settings.city_crs,
        cell_size_m=settings.cell_size_m,
        tz=settings.display_tz,
    )
    rates = escalation_rates(past)
    key = frame["n_failed_mediations"].clip(upper=rates.index.max()).astype(int)
    prob = key.map(rates).fillna(float(past["label_escalation"].mean())).to_numpy()
    frame = frame.assign(probability=prob)
    forecasts = scoring.forecasts_frame(frame, prob, "dispute_cases", origin)
    explanations = case_explanations(frame, rates)
    forecasts["explanation"] = forecasts["unit_id"].map(explanations)
    policy = domains.get("dispute_cases").levels
    scored = forecasts[["unit_id", "probability", "score", "county_code", "township_code"]]
    levels = rw.apply_capacity(rw.assign_levels(scored, policy), policy.max_high_per_county)
    ctx = rw.WarningContext("dispute_cases", "case", origin, 720.0, {"model": CASES_EVIDENCE})
    warnings = rw.build_warnings(levels, ctx, explanations)
    scoring.write_run(
        store,
        domain="dispute_cases",
        origin=origin,
        forecasts=forecasts,
        warnings=warnings,
        model_name_="baseline-escalation-share",
        model_version=None,
        data_version_=scoring.data_version(frame[["unit_id", "n_failed_mediations"]]),
        airflow_run_id=None,
    )
    return len(forecasts), len(warnings)


def prepare_city_home(sim_dir: Path, home: Path, weeks: int, reading_months: int) -> str:
    """Fill ``home`` from the simulation in ``sim_dir``; returns a one-line description."""
    from dashboard.auth import write_demo_users
    from riskwarn import nowcast
    from riskwarn.settings import load_settings
    from riskwarn.store import Store
    from testkit.dashboard_demo import DEMO_PASSWORD

    meta = json.loads((sim_dir / "simulation.json").read_text(encoding="utf-8"))
    home.mkdir(parents=True, exist_ok=True)
    from riskwarn.keys import ensure_demo_key

    settings = load_settings(
        home=home, city_crs=meta["crs"], cell_size_m=int(meta["cell_size_m"]), store_url=""
    )
    ensure_demo_key(settings)  # a random pseudonym key in the bench home, as the demo makes
    t_all = time.perf_counter()
    print(f"preparing {home} from {sim_dir}:", flush=True)
    ingest_simulation(sim_dir, settings, reading_months)
    origins = weekly_origins(meta["end"], weeks, meta["timezone"])
    store = Store.from_settings(settings)
    counts: dict[str, tuple[int, int]] = {}
    try:
        for domain in HOTSPOT_TABLES:
            t0 = time.perf_counter()
            counts[domain] = publish_hotspots(settings, store, domain, origins)
            _step(f"{domain}: {weeks} weekly origins published", t0)
        t0 = time.perf_counter()
        counts["dispute_cases"] = publish_cases(settings, store, origins[-1])
        _step("dispute cases published", t0)
        t0 = time.perf_counter()
        nowcast.nowcast_geohazard(settings, origins[-1], store=store, domain="geohazard")
        n_sites = len(store.published_forecasts("geohazard"))
        counts["geohazard"] = (n_sites, len(store.warnings(domain="geohazard")))
        _step("geohazard nowcast published", t0)
    finally:
        store.close()
    write_demo_users(home / "users.yaml", DEMO_PASSWORD)
    desc = (
        f"city simulation {sim_dir} (seed {meta.get('seed')}), origins "
        f"{origins[0].tz_convert(meta['timezone']):%Y-%m-%d}.."
        f"{origins[-1].tz_convert(meta['timezone']):%Y-%m-%d} (local Mondays, {weeks} weekly); "
        + "; ".join(f"{d}: {f:,d} forecasts, {w:,d} warnings" for d, (f, w) in counts.items())
        + f"; readings: last {reading_months} months; hotspot scores: {BASELINE_LABEL}"
    )
    (home / STAMP).write_text(
        json.dumps(
            {"description": desc, "crs": meta["crs"], "cell_size_m": meta["cell_size_m"]},
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    _step("home ready", t_all)
    return desc


def _use_home(home: Path, crs: str | None = None, cell_size_m: float | None = None) -> None:
    os.environ["RISKWARN_HOME"] = str(home.resolve())
    os.environ.pop("RISKWARN_STORE_URL", None)
    os.environ["RISKWARN_MLFLOW_TRACKING_URI"] = f"sqlite:///{(home / 'mlflow.db').resolve()}"
    if crs:
        os.environ["RISKWARN_CITY_CRS"] = crs
    if cell_size_m:
        os.environ["RISKWARN_CELL_SIZE_M"] = str(int(cell_size_m))


def simulate_city(out: Path, seed: int = 1) -> None:
    """``riskwarn simulate --size city`` into ``out`` (bench_ingest_city's child process)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_ingest_city import simulate

    print(f"no simulation in {out}: simulating the city (seed {seed})", flush=True)
    print(f"  simulate --size city: {simulate(out, seed):.1f} s", flush=True)


def _prepare(args: argparse.Namespace) -> str:
    """Point RISKWARN_* at the data to render; returns a description of it."""
    if args.synthetic:
        from testkit.dashboard_demo import demo_home

        tmp = Path(tempfile.mkdtemp(prefix="rw-bench-"))
        t0 = time.perf_counter()
        demo_home(tmp, n_cells=args.cells, weeks=args.weeks, n_cases=args.cases)
        _use_home(tmp)
        return (
            f"generated store: {args.cells} cells x {args.weeks} weeks x 2 hotspot domains, "
            f"{args.cases} cases ({time.perf_counter() - t0:.0f} s to build) in {tmp}"
        )
    home = Path(args.home)
    stamp = home / STAMP
    if not stamp.exists():
        if not (args.sim_dir / "simulation.json").exists():
            simulate_city(args.sim_dir)
        if home.exists() and any(home.iterdir()):
            raise SystemExit(f"{home} exists without {STAMP} (a half-built home?): remove it")
        prepare_city_home(args.sim_dir, home, args.weeks, args.reading_months)
    info = json.loads(stamp.read_text(encoding="utf-8"))
    _use_home(home, info.get("crs"), info.get("cell_size_m"))
    return f"{info['description']} (home {home})"


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


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_times(repeats: int) -> list[tuple[str, float]]:
    """Real browser: seconds from navigation to the overview's map and places being visible.

    Serves the dashboard (``riskwarn dashboard``'s command) on a free port over the home
    of ``RISKWARN_HOME``, logs in once, then times a fresh navigation to the overview
    (first: just after the server started, so empty data caches; then warm).
    """
    import socket
    import subprocess

    from playwright.sync_api import sync_playwright

    from riskwarn.commands.dashboard import streamlit_command
    from testkit.dashboard_demo import DEMO_PASSWORD

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    home = Path(os.environ["RISKWARN_HOME"])
    log = (home / "bench-streamlit.log").open("w")
    proc = subprocess.Popen(
        streamlit_command("127.0.0.1", port), cwd=ROOT, env=dict(os.environ), stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    out: list[tuple[str, float]] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1440, "height": 1700}, locale="zh-CN")
            page.set_default_timeout(120_000)

            def overview_visible(t0: float) -> dict[str, float]:
                """Seconds from ``t0`` until the text content, then the map canvas and the
                charts, are visible."""
                page.get_by_role("heading", name="本周风险总览").wait_for()
                page.get_by_text("重点关注地区").first.wait_for()
                marks = {"text": time.perf_counter() - t0}
                page.locator("[data-testid=stDeckGlJsonChart] canvas").first.wait_for()
                page.locator("[data-testid=stVegaLiteChart]").first.wait_for()
                marks["all"] = time.perf_counter() - t0
                return marks

            page.goto(base)
            page.get_by_label("用户名").fill("admin")
            page.get_by_label("密码").fill(DEMO_PASSWORD)
            t_login = time.perf_counter()
            page.get_by_role("button", name="登录").click()
            first = overview_visible(t_login)
            what = {"text": "text (KPIs, places)", "all": "all (+ map canvas, charts)"}
            for k, label in what.items():
                out.append((f"browser first (login click): {label}", first[k]))
            warm = []
            for _ in range(repeats):
                page.get_by_role("link", name="模型与数据质量").click()
                page.get_by_role("heading", name="模型与数据质量").wait_for()
                t1 = time.perf_counter()
                page.get_by_role("link", name="本周风险总览").click()
                warm.append(overview_visible(t1))
            for k, label in what.items():
                out.append(
                    (
                        f"browser warm (nav, median of {repeats}): {label}",
                        statistics.median(m[k] for m in warm),
                    )
                )
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    return out


def _expire_short_caches() -> None:
    """What a refresh after ``queries.TTL_S`` sees: short-lived reads gone; what is keyed
    by the published run (its rows, the map, the hotspot labels; ``RUN_TTL_S``) still
    cached."""
    from dashboard import queries

    for fn in (  # the snapshot itself is read on every render, never cached
        queries.history_run_ids,
        queries.run_warnings,
        queries.data_times,
        queries.warning_reviews,
        queries.run_place_history,
        queries.ingest_batches,
        queries.site_readings,
    ):
        fn.clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim-dir", type=Path, default=Path("var/bench/sim_city"))
    parser.add_argument("--home", type=Path, default=Path("var/bench/dash_home"))
    parser.add_argument("--weeks", type=int, default=6)
    parser.add_argument("--reading-months", type=int, default=3)
    parser.add_argument("--prepare-only", action="store_true")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--synthetic", action="store_true", help="the old generated store")
    parser.add_argument("--cells", type=int, default=30_000)
    parser.add_argument("--cases", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("RISKWARN_AIRFLOW_API_URL", "http://127.0.0.1:9")
    source = _prepare(args)
    if args.prepare_only:
        print(f"data: {source}")
        return 0

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dashboard.auth import User
    from dashboard.i18n import t

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
    _expire_short_caches()
    rows.append(
        (
            "overview (data TTL expired, run-keyed caches kept)",
            _render(at, PAGES["overview"], t("page_overview", "zh")),
            2.0,
        )
    )
    if not args.no_browser and CHROMIUM.exists():
        try:
            rows += [(label, secs, float("nan")) for label, secs in browser_times(args.repeats)]
        except ImportError as exc:
            print(f"browser not measured: {exc}")
    print(f"data: {source}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load} (1, 5, 15 min) at the end")
    print(f"{'render':60s} {'seconds':>8s} {'target':>7s}")
    ok = True
    for label, secs, target in rows:
        flag = "" if target != target else ("ok" if secs <= target else "SLOW")
        ok &= not secs > target
        print(f"{label:60s} {secs:8.2f} {target:7.1f}  {flag}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
