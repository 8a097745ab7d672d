"""Run a simulation and write its extracts and ground truth (the IO edge).

Layout under ``out``::

    simulation.json                         parameters, period, files and row counts
    extracts/<name>[.<part>].<ext>          raw extracts, one mapping configs/sources/sim_<name>.yaml each
    extracts/sensor_readings/sensor_readings.<YYYY-MM>.parquet
    truth/truth_*.parquet                   ground truth (docs/simulation.md)

Files are written deterministically (fixed gzip header, fixed Parquet writer options,
rows in a fixed order), so the same seed gives byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from riskwarn.simulate import disputes as dsp
from riskwarn.simulate import extracts as ex
from riskwarn.simulate import geohazard as gh
from riskwarn.simulate import incidents as inc
from riskwarn.simulate.calendar import build_calendar
from riskwarn.simulate.config import CELL_SIZE_M, CRS, TIMEZONE, SimConfig, component_rng
from riskwarn.simulate.geography import COUNTIES, Geography, build_geography

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]  # (step description, number of steps done now)
TRIGGERED_MIN = 1e-3  # triggered expected counts below this per cell-day are not stored
UTC_OFFSET = pd.Timedelta(hours=8)  # Asia/Shanghai, no daylight saving since 1991
STATUS = {"good": "正常", "suspect": "可疑", "missing": "缺测"}


def steps_total(cfg: SimConfig) -> int:
    """Number of progress steps of a run (for a progress bar)."""
    months = len(
        pd.period_range(
            pd.Timestamp(cfg.sensor_start),
            pd.Timestamp(cfg.sensor_start) + pd.Timedelta(days=cfg.sensor_days - 1),
            freq="M",
        )
    )
    return 8 + months


def write_csv(frame: pd.DataFrame, path: Path, encoding: str = "utf-8") -> None:
    """CSV (or CSV.gz by name) with a fixed gzip header, so bytes depend only on content."""
    text = frame.to_csv(index=False, lineterminator="\n")
    data = text.encode(encoding)
    if path.name.endswith(".gz"):
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as gz:
            gz.write(data)
        data = buf.getvalue()
    path.write_bytes(data)


def write_parquet(frame: pd.DataFrame | pa.Table, path: Path) -> None:
    table = (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )
    pq.write_table(table, path, compression="zstd", row_group_size=1_000_000)


def utc(start: dt.date, minutes: np.ndarray | pd.Series) -> pd.Series:
    """UTC timestamps of local ``start`` + minutes."""
    local = ex.local_times(
        start, np.nan_to_num(np.asarray(minutes, dtype=float), nan=-1).astype(np.int64)
    )
    out = (local - UTC_OFFSET).dt.tz_localize("UTC").astype("datetime64[ns, UTC]")
    return out.where(~np.isnan(np.asarray(minutes, dtype=float)))


def simulate_city(
    out: Path,
    size: str,
    seed: int,
    start: dt.date,
    cfg: SimConfig,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Simulate the city described by ``cfg`` and write everything under ``out``."""
    out = Path(out)
    (out / "extracts").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    done = 0
    files: list[dict[str, Any]] = []

    def step(msg: str) -> None:
        nonlocal done
        done += 1
        log.info(msg)
        if progress is not None:
            progress(msg, done)

    def record(path: Path, rows: int, kind: str, mapping: str | None = None) -> None:
        files.append(
            {
                "path": str(path.relative_to(out)),
                "rows": int(rows),
                "kind": kind,
                "mapping": mapping,
            }
        )

    geo = build_geography(cfg, component_rng(seed, "geography"))
    cal = build_calendar(cfg.start, cfg.days)
    step("geography")
    p = out / "extracts" / "admin_units.csv"
    write_csv(ex.admin_extract(geo), p)
    record(p, len(geo.admin), "extract", "sim_admin_units")
    p = out / "extracts" / "grid_cells.parquet"
    write_parquet(ex.grid_extract(geo, component_rng(seed, "grid-people")), p)
    record(p, len(geo.grid), "extract", "sim_grid_cells")

    # disputes
    dsim = dsp.simulate_disputes(geo, cal, cfg, component_rng(seed, "disputes"))
    step("disputes simulated")
    prng = component_rng(seed, "dispute-people")
    draw = ex.disputes_extract(dsim, geo, cfg.start, prng)
    p = out / "extracts" / "disputes.csv"
    write_csv(draw, p, encoding="gb18030")
    record(p, len(draw), "extract", "sim_disputes")
    case_ids = draw["案件编号"].to_numpy()
    evraw = ex.dispute_events_extract(dsim, case_ids, cfg.start, prng)
    p = out / "extracts" / "dispute_events.csv"
    write_csv(evraw, p)
    record(p, len(evraw), "extract", "sim_dispute_events")
    _write_dispute_truth(out, cfg, dsim, case_ids, record)
    for name, frame in zip(
        ("cells", "days"), dsp.registration_truth(geo, cal, cfg.n_disputes), strict=True
    ):
        p = out / "truth" / f"truth_dispute_{name}.parquet"
        write_parquet(frame, p)
        record(p, len(frame), "truth")
    # failed mediations and escalations set off violent incidents (simulated next)
    triggers = dsp.trigger_sources(dsim, inc.DISPUTE_TRIGGER_KAPPA)
    del dsim, draw, evraw, case_ids
    step("disputes written")

    # incidents
    events, itruth = inc.simulate_incidents(
        geo,
        cal,
        cfg,
        component_rng(seed, "incidents"),
        triggers=triggers,
        trigger_rng=component_rng(seed, "dispute-incidents"),
    )
    # the extract is pulled at the end of the period: incidents not yet reported are not in it
    events = events[events["reported_min"] < cfg.days * 1440].reset_index(drop=True)
    step("incidents simulated")
    raw = ex.incidents_extract(events, geo, cfg.start)
    occurred = np.datetime64(cfg.start, "m") + events["occurred_min"].to_numpy().astype(
        "timedelta64[m]"
    )
    year = occurred.astype("datetime64[Y]").astype(np.int64) + 1970
    for y in np.unique(year):
        p = out / "extracts" / f"incidents.{y}.csv.gz"
        part = raw[year == y]
        write_csv(part, p)
        record(p, len(part), "extract", "sim_incidents")
    _write_incident_truth(out, geo, cfg, itruth, raw, events, record)
    mu_per_day = itruth.mu_per_day
    incident_meta = {
        "incidents": len(events),
        "set_off_by_disputes": int(events["from_dispute"].sum()),
        "dispute_events_setting_off": len(triggers),
    }
    del events, itruth, raw  # keep peak memory bounded: nothing of it is needed below
    step("incidents written")

    # geohazards
    gsim = gh.simulate_geohazard(geo, cfg, component_rng(seed, "geohazard"))
    step("geohazards simulated")
    grng = component_rng(seed, "geohazard-people")
    s_ids = ex.site_ids(geo, gsim)
    for name, frame in (
        ("hazard_sites", ex.hazard_sites_extract(gsim, geo, s_ids, grng)),
        ("sensors", ex.sensors_extract(gsim, s_ids, grng)),
        ("hazard_events", ex.hazard_events_extract(gsim, s_ids, grng)),
    ):
        p = out / "extracts" / f"{name}.csv"
        write_csv(frame, p)
        record(p, len(frame), "extract", f"sim_{name}")
    _write_geo_truth(out, gsim, s_ids, record)
    step("hazard sites, sensors and events written")
    rdir = out / "extracts" / "sensor_readings"
    rdir.mkdir(exist_ok=True)
    for label, table in _reading_months(gsim):
        p = rdir / f"sensor_readings.{label}.parquet"
        write_parquet(table, p)
        record(p, table.num_rows, "extract", "sim_sensor_readings")
        step(f"sensor readings {label}")

    _remove_stale(out, {f["path"] for f in files})
    meta = {
        "size": size,
        "seed": seed,
        "start": cfg.start.isoformat(),
        "end": (cfg.end - dt.timedelta(days=1)).isoformat(),
        "sensor_start": cfg.sensor_start.isoformat(),
        "sensor_end": (cfg.sensor_start + dt.timedelta(days=cfg.sensor_days - 1)).isoformat(),
        "timezone": TIMEZONE,
        "crs": CRS,
        "cell_size_m": CELL_SIZE_M,
        "config": {
            k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in asdict(cfg).items()
        },
        "incident_process": {
            "alpha": inc.ALPHA,
            "tau_days": inc.TAU_DAYS,
            "sigma_m": inc.SIGMA_M,
            "inherit": inc.INHERIT,
            "mu_per_day": mu_per_day,
            "triggered_min_stored": TRIGGERED_MIN,
            "dispute_trigger_kappa": inc.DISPUTE_TRIGGER_KAPPA,
            "dispute_tau_days": inc.DISPUTE_TAU_DAYS,
            "dispute_categories": inc.DISPUTE_CATEGORIES,
            **incident_meta,
        },
        "dispute_hazard_coefficients": dsp.HAZARD_COEFS,
        "dispute_category_offsets": dict(
            zip(dsp.CATEGORIES["category"], dsp.CATEGORIES["hazard"], strict=True)
        ),
        "geohazard_onset_coefficients": gh.ONSET_COEFS | {"onset_shift": cfg.onset_shift},
        "counties": [{"code": c[0], "name": c[1]} for c in COUNTIES],
        "files": files,
    }
    (out / "simulation.json").write_text(
        json.dumps(meta, ensure_ascii=False, indent=2, default=float) + "\n", encoding="utf-8"
    )
    step("done")
    return meta


def _remove_stale(out: Path, written: set[str]) -> None:
    """Delete files of an earlier run (another size or period) left in extracts/ and truth/."""
    for sub in ("extracts", "truth"):
        for path in sorted((out / sub).rglob("*")):
            if path.is_file() and str(path.relative_to(out)) not in written:
                log.info("removing stale %s", path)
                path.unlink()


def _write_incident_truth(
    out: Path,
    geo: Geography,
    cfg: SimConfig,
    tr: inc.IncidentTruth,
    raw: pd.DataFrame,
    events: pd.DataFrame,
    record: Callable[..., None],
) -> None:
    nx = geo.shape[1]
    inside = np.flatnonzero(geo.mask.ravel())
    bg = pd.DataFrame(
        {
            "cell_x": (geo.ix0 + inside % nx).astype(np.int64),
            "cell_y": (geo.iy0 + inside // nx).astype(np.int64),
            "background_weight": tr.weights_all[inside],
            "population": geo.population.ravel()[inside].round(1),
            "county_code": np.array([c[0] for c in COUNTIES])[geo.county.ravel()[inside]],
            "community_code": geo.community_codes[geo.community.ravel()[inside]],
            "grid_code": geo.grid["grid_code"].to_numpy()[geo.mgmt_grid.ravel()[inside]],
        }
    )
    bg = bg[bg["background_weight"] > 0].reset_index(drop=True)
    p = out / "truth" / "truth_incident_background.parquet"
    write_parquet(bg, p)
    record(p, len(bg), "truth")
    dates = pd.date_range(pd.Timestamp(cfg.start), periods=cfg.days, freq="D")
    days = pd.DataFrame({"date": dates.date, "background_per_day": tr.mu_per_day * tr.day_factor})
    p = out / "truth" / "truth_incident_days.parquet"
    write_parquet(days, p)
    record(p, len(days), "truth")
    d_idx, a_idx = np.nonzero(tr.triggered >= TRIGGERED_MIN)
    trig = pd.DataFrame(
        {
            "date": dates.date[d_idx],
            "cell_x": tr.cell_x[a_idx],
            "cell_y": tr.cell_y[a_idx],
            "triggered": tr.triggered[d_idx, a_idx],
            "triggered_by_disputes": (
                tr.triggered_disputes[d_idx, a_idx]
                if tr.triggered_disputes is not None
                else np.zeros(len(d_idx), dtype=np.float32)
            ),
        }
    )
    p = out / "truth" / "truth_incident_triggered.parquet"
    write_parquet(trig, p)
    record(p, len(trig), "truth")
    per_event = pd.DataFrame(
        {
            "record_id": raw["警情编号"].to_numpy(),
            "true_occurred_at": utc(cfg.start, np.floor(events["t_days"].to_numpy() * 1440)),
            "generation": events["generation"].to_numpy(),
            "from_dispute": events["from_dispute"].to_numpy(),
        }
    )
    p = out / "truth" / "truth_incidents.parquet"
    write_parquet(per_event, p)
    record(p, len(per_event), "truth")


def _write_dispute_truth(
    out: Path,
    cfg: SimConfig,
    sim: dsp.DisputeSim,
    case_ids: np.ndarray,
    record: Callable[..., None],
) -> None:
    c = sim.cases
    t = sim.truth
    case = t["case"].to_numpy()
    dates = pd.date_range(pd.Timestamp(cfg.start), periods=cfg.days, freq="D").date
    hz = pd.DataFrame(
        {
            "dispute_id": case_ids[case],
            "date": dates[t["day"].to_numpy()],
            "category": dsp.CATEGORIES["category"].to_numpy()[c["cat"].to_numpy()[case]],
            "age_days": t["age_days"].to_numpy(),
            "failed_mediations": t["failed_mediations"].to_numpy(),
            "prior_disputes": c["prior_disputes"].to_numpy()[case],
            "party_escalated_before": t["party_escalated_before"].to_numpy(),
            "escalations_nearby_30d": t["escalations_nearby_30d"].to_numpy(),
            "amount_cny": c["amount_cny"].to_numpy()[case],
            "hazard": t["hazard"].to_numpy(),
            "p_escalate_30d_path": t["p_escalate_30d_path"].to_numpy(),
        }
    )
    p = out / "truth" / "truth_dispute_hazard.parquet"
    write_parquet(hz, p)
    record(p, len(hz), "truth")
    ev = sim.events
    esc = ev[
        ev["type"].isin(
            [
                dsp.EV["escalated_petition"],
                dsp.EV["escalated_violence"],
                dsp.EV["escalated_litigation"],
            ]
        )
    ].drop_duplicates("case")
    esc_at = pd.Series(np.nan, index=np.arange(len(c)))
    esc_at[esc["case"].to_numpy()] = esc["minute"].to_numpy()
    kind = np.full(len(c), "", dtype=object)
    kind[esc["case"].to_numpy()] = dsp.EVENT_TYPES["event_type"].to_numpy()[esc["type"].to_numpy()]
    cases = pd.DataFrame(
        {
            "dispute_id": case_ids,
            "category": dsp.CATEGORIES["category"].to_numpy()[c["cat"].to_numpy()],
            "prior_disputes": c["prior_disputes"].to_numpy(),
            "failed_mediations_final": c["failed_mediations"].to_numpy(),
            "escalated": esc_at.notna().to_numpy(),
            "escalated_at": utc(cfg.start, esc_at.to_numpy()),
            "escalation_type": kind.astype(str),
        }
    )
    p = out / "truth" / "truth_disputes.parquet"
    write_parquet(cases, p)
    record(p, len(cases), "truth")


def _write_geo_truth(
    out: Path, sim: gh.GeoSim, s_ids: np.ndarray, record: Callable[..., None]
) -> None:
    s = sim.sites
    sites = pd.DataFrame(
        {
            "site_id": s_ids,
            "hazard_type": gh.HAZARD_TYPES["hazard_type"].to_numpy()[s["type"].to_numpy()],
            "slope_class": s["slope_class"].to_numpy(),
            "susceptibility": s["susceptibility"].to_numpy(),
            "v0_mm_per_day": s["v0_mm_per_day"].to_numpy(),
            "api_threshold_mm": s["api_threshold_mm"].to_numpy(),
            "onset_at": utc(sim.window_start, np.floor(s["onset_min"].to_numpy())),
            "failure_at": utc(sim.window_start, np.floor(s["failure_min"].to_numpy())),
            "failed": s["failure_min"].notna().to_numpy(),
        }
    )
    p = out / "truth" / "truth_geohazard_sites.parquet"
    write_parquet(sites, p)
    record(p, len(sites), "truth")
    d = sim.daily_truth
    dates = pd.date_range(
        pd.Timestamp(sim.window_start), periods=int(d["day"].max()) + 1, freq="D"
    ).date
    fail_day = np.floor(s["failure_min"].to_numpy() / 1440)
    daily = pd.DataFrame(
        {
            "site_id": s_ids[d["site"].to_numpy()],
            "date": dates[d["day"].to_numpy()],
            "api_mm": d["api_mm"].to_numpy(),
            "rain_24h_mm": d["rain_24h_mm"].to_numpy(),
            "onset_probability": d["onset_probability"].to_numpy(),
            "accelerating": d["accelerating"].to_numpy(),
            "failure_on_day": fail_day[d["site"].to_numpy()] == d["day"].to_numpy(),
        }
    )
    p = out / "truth" / "truth_geohazard_daily.parquet"
    write_parquet(daily, p)
    record(p, len(daily), "truth")
    f = sim.faults
    faults = pd.DataFrame(
        {
            "sensor_id": f["sensor_id"].to_numpy(),
            "fault": f["fault"].to_numpy(),
            "start_at": utc(sim.window_start, f["start"].to_numpy() * gh.STEP_MIN),
            "end_at": utc(sim.window_start, f["end"].to_numpy() * gh.STEP_MIN),
        }
    )
    p = out / "truth" / "truth_sensor_faults.parquet"
    write_parquet(faults, p)
    record(p, len(faults), "truth")


def _reading_months(sim: gh.GeoSim) -> Any:
    """Yield (``YYYY-MM``, Arrow table) of the 10-minute readings, one calendar month each."""
    start = pd.Timestamp(sim.window_start)
    times = start + pd.to_timedelta(np.arange(sim.steps) * gh.STEP_MIN, unit="min")
    month = times.year * 100 + times.month
    bounds = np.flatnonzero(np.diff(month)) + 1
    edges = np.concatenate([[0], bounds, [sim.steps]])
    kinds = sim.sensors["kind"].to_numpy()
    quantity = np.array([gh.SENSOR_KINDS[k][1] for k in kinds])
    interval = np.array([gh.SENSOR_KINDS[k][2] for k in kinds], dtype=np.int32)
    sid = sim.sensors["sensor_id"].to_numpy()
    q_names, q_code = np.unique(quantity, return_inverse=True)  # a dictionary without duplicates
    q_code = q_code.astype(np.int32)
    base_s = np.datetime64(sim.window_start, "s").astype(np.int64)
    for i0, i1 in itertools.pairwise(edges):
        pres = sim.present[:, i0:i1]
        rows, cols = np.nonzero(pres)  # sensor-major order, time within sensor
        vals = sim.values[:, i0:i1][rows, cols].astype(np.float64)
        miss = sim.missing_flag[:, i0:i1][rows, cols]
        susp = sim.suspect_flag[:, i0:i1][rows, cols]
        status = np.where(miss, 2, np.where(susp, 1, 0)).astype(np.int32)
        ts = base_s + (i0 + cols).astype(np.int64) * gh.STEP_MIN * 60
        table = pa.table(
            {
                "设备编号": pa.DictionaryArray.from_arrays(
                    pa.array(rows.astype(np.int32)), pa.array(sid)
                ),
                "采集时间": pa.array(ts, type=pa.timestamp("s")),
                "监测项": pa.DictionaryArray.from_arrays(pa.array(q_code[rows]), pa.array(q_names)),
                "数值": pa.array(np.where(miss, 0.0, np.round(vals, 2)), mask=miss),
                "采样间隔": pa.array(interval[rows]),
                "数据状态": pa.DictionaryArray.from_arrays(
                    pa.array(status),
                    pa.array([STATUS["good"], STATUS["suspect"], STATUS["missing"]]),
                ),
            }
        )
        yield f"{times[i0].year:04d}-{times[i0].month:02d}", table
