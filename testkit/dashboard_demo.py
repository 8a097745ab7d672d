"""Test and benchmark fixture: a populated serving store and lake for the demo city.

Outside the product (issue 14: no demo fixtures in the wheel): the dashboard tests and
bench/bench_dashboard.py --synthetic use it. :func:`populate` writes, through the Store API,
several weeks of published hotspot forecasts and warnings (incidents, disputes), open
dispute cases with escalation scores, geohazard site scores, ingest batches; and into a
lake folder (documented Parquet layout) the ten counties of the demo city with their
townships, hazard sites, sensors and hourly readings. Deterministic for a given seed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from features.catalog import GROUP_ZH
from riskwarn.geo import cell_id, project, unproject
from riskwarn.warnings import LEVEL_RANKS, probability_reason

# Demo city (DOMAIN.md): three urban districts, two county-level cities, five counties.
COUNTIES: tuple[tuple[str, str, float, float], ...] = (
    # code, name, seed lon, seed lat (rough layout: urban districts on the river in the SE)
    ("340803", "大观区", 117.02, 30.53),
    ("340802", "迎江区", 117.10, 30.55),
    ("340811", "宜秀区", 117.07, 30.63),
    ("340881", "桐城市", 116.95, 31.05),
    ("340882", "潜山市", 116.55, 30.70),
    ("340822", "怀宁县", 116.75, 30.55),
    ("340825", "太湖县", 116.25, 30.45),
    ("340826", "宿松县", 116.10, 30.15),
    ("340827", "望江县", 116.65, 30.20),
    ("340828", "岳西县", 116.30, 30.90),
)
TOWNSHIP_SUFFIX = ("镇", "街道", "乡", "镇", "街道", "镇")
TOWNSHIP_STEMS = (
    "城关",
    "新河",
    "石牌",
    "梅城",
    "官庄",
    "源潭",
    "黄铺",
    "高河",
    "月山",
    "龙山",
    "集贤",
    "菱湖",
    "白泽湖",
    "五横",
    "天堂",
    "响肠",
    "双港",
    "长岭",
)
CITY_BOX = (115.95, 29.95, 117.25, 31.25)  # lon/lat bounds of the demo city
URBAN = ("340803", "340802", "340811")


@dataclass(frozen=True)
class DemoCity:
    """What :func:`populate` wrote, for tests to assert on."""

    store_url: str
    lake_dir: Path
    origin: pd.Timestamp
    warning_ids: tuple[str, ...]
    n_forecasts: int


def _pseudonym(prefix: str, i: int) -> str:
    return f"{prefix}-{hashlib.sha256(f'{prefix}{i}'.encode()).hexdigest()[:10].upper()}"


def admin_units(seed: int = 7, townships_per_county: int = 5) -> pd.DataFrame:
    """Counties (Voronoi cells of the seeds, clipped to the city) and their townships."""
    rng = np.random.default_rng(seed)
    box = shapely.box(*CITY_BOX)
    seeds = shapely.multipoints([(lon, lat) for _, _, lon, lat in COUNTIES])
    cells = shapely.voronoi_polygons(seeds, extend_to=box)
    rows: list[dict[str, Any]] = []
    stems = iter(np.tile(TOWNSHIP_STEMS, 5))
    for code, name, lon, lat in COUNTIES:
        poly = next(p for p in cells.geoms if p.contains(shapely.Point(lon, lat)))
        poly = poly.intersection(box)
        rows.append(_unit(code, name, "county", "3408", poly))
        n = townships_per_county if code not in URBAN else 3
        minx, miny, maxx, maxy = poly.bounds
        pts: list[shapely.Point] = []
        while len(pts) < n:
            p = shapely.Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
            if poly.contains(p):
                pts.append(p)
        sub = shapely.voronoi_polygons(shapely.MultiPoint(pts), extend_to=poly)
        for k, part in enumerate(sub.geoms):
            piece = part.intersection(poly)
            if piece.is_empty:
                continue
            tname = f"{next(stems)}{TOWNSHIP_SUFFIX[k % len(TOWNSHIP_SUFFIX)]}"
            rows.append(_unit(f"{code}{k + 1:03d}", tname, "township", code, piece))
    return pd.DataFrame(rows)


def _unit(code: str, name: str, level: str, parent: str, geom: Any) -> dict[str, Any]:
    return {
        "source": "demo",
        "record_id": code,
        "name": name,
        "level": level,
        "parent_id": parent,
        "geometry_wkt": shapely.to_wkt(geom, rounding_precision=5),
        "population": None,
    }


def _locate(lon: np.ndarray, lat: np.ndarray, units: pd.DataFrame, level: str) -> np.ndarray:
    out = np.full(len(lon), None, dtype=object)
    part = units[units["level"] == level]
    for code, text in zip(part["record_id"], part["geometry_wkt"], strict=True):
        geom = shapely.from_wkt(text)
        shapely.prepare(geom)
        inside = shapely.contains_xy(geom, lon, lat)
        out[inside & (out == None)] = code  # noqa: E711 (elementwise on object array)
    return out


def hotspot_surface(
    n_cells: int, weeks: int, *, cell_size_m: int, crs: str, seed: int, units: pd.DataFrame
) -> pd.DataFrame:
    """Weekly scores of ``n_cells`` cells: persistent, emerging and fading hotspots + noise."""
    rng = np.random.default_rng(seed)
    _x0, _y0 = project(np.array([CITY_BOX[0]]), np.array([CITY_BOX[1]]), crs)
    _x1, _y1 = project(np.array([CITY_BOX[2]]), np.array([CITY_BOX[3]]), crs)
    # cells cluster around towns: sample around county seeds, denser in the urban districts
    centre_lon = np.array([c[2] for c in COUNTIES])
    centre_lat = np.array([c[3] for c in COUNTIES])
    cx, cy = project(centre_lon, centre_lat, crs)
    weights = np.array([3.0 if c[0] in URBAN else 1.0 for c in COUNTIES])
    pick = rng.choice(len(COUNTIES), size=n_cells * 2, p=weights / weights.sum())
    spread = np.where(np.isin(pick, [0, 1, 2]), 3500.0, 9000.0)
    xs = cx[pick] + rng.normal(0, 1, pick.size) * spread
    ys = cy[pick] + rng.normal(0, 1, pick.size) * spread
    cells = (
        pd.DataFrame(
            {
                "cell_x": np.floor(xs / cell_size_m).astype(int),
                "cell_y": np.floor(ys / cell_size_m).astype(int),
            }
        )
        .drop_duplicates()
        .head(n_cells)
    )
    cx_m = (cells["cell_x"].to_numpy() + 0.5) * cell_size_m
    cy_m = (cells["cell_y"].to_numpy() + 0.5) * cell_size_m
    lon, lat = unproject(cx_m, cy_m, crs)
    cells["lon"], cells["lat"] = lon, lat
    cells["unit_id"] = [
        cell_id(a, b) for a, b in zip(cells["cell_x"], cells["cell_y"], strict=True)
    ]
    cells["county_code"] = _locate(lon, lat, units, "county")
    cells["township_code"] = _locate(lon, lat, units, "township")
    cells = cells[cells["county_code"].notna()].reset_index(drop=True)
    cx_m = (cells["cell_x"].to_numpy() + 0.5) * cell_size_m
    cy_m = (cells["cell_y"].to_numpy() + 0.5) * cell_size_m
    # hotspots: (x, y, radius m, weekly intensities)
    hot = []
    idx = rng.choice(len(cells), size=8, replace=False)
    kinds = ["persistent"] * 3 + ["emerging"] * 2 + ["intensifying"] * 1 + ["fading"] * 2
    for i, kind in zip(idx, kinds, strict=True):
        w = np.arange(weeks)
        ramp = {
            "persistent": np.full(weeks, 1.0),
            "emerging": (w == weeks - 1) * 1.2,
            "intensifying": 0.5 + 0.6 * w / max(weeks - 1, 1),
            "fading": np.where(w < weeks - 1, 1.0, 0.1),
        }[kind]
        hot.append((cx_m[i], cy_m[i], rng.uniform(800, 2000), ramp))
    base = rng.gamma(1.2, 0.015, len(cells))
    frames = []
    for week in range(weeks):
        s = base * rng.lognormal(0, 0.15, len(cells))
        for hx, hy, rad, ramp in hot:
            d2 = (cx_m - hx) ** 2 + (cy_m - hy) ** 2
            s = s + 0.35 * ramp[week] * np.exp(-d2 / (2 * rad**2))
        frames.append(cells.assign(week=week, score=s))
    return pd.concat(frames, ignore_index=True)


def _level_for_rank(rank: np.ndarray, n: int) -> np.ndarray:
    """Capacity rule of the fixture: top 0.5% red, 1.5% orange, 4% yellow, 8% blue."""
    share = rank / max(n, 1)
    return np.select(
        [share <= 0.005, share <= 0.015, share <= 0.04, share <= 0.08],
        ["red", "orange", "yellow", "blue"],
        default="",
    )


REASON_TEMPLATES: dict[str, list[dict[str, str]]] = {
    # bilingual reasons ({"en", "zh"}), as the pipeline writes them
    "incidents": [
        {
            "en": "{n} incidents within 250 m in the last 7 days, {k:.1f}x the usual rate.",
            "zh": "近 7 天周边 250 米内发生 {n} 起警情，是常态的 {k:.1f} 倍。",
        },
        {
            "en": "Repeat burglaries nearby in the last 14 days (near-repeat pattern).",
            "zh": "近 14 天附近多次发生入室盗窃（临近重复模式）。",
        },
        {"en": "Busy weekend and market day ahead.", "zh": "即将迎来周末和集市日，人流密集。"},
    ],
    "disputes": [
        {
            "en": "{n} disputes registered in this grid in the last 30 days, "
            "{k:.1f}x the usual rate.",
            "zh": "近 30 天本网格登记纠纷 {n} 起，是常态的 {k:.1f} 倍。",
        },
        {
            "en": "Unresolved labour-wage disputes at a nearby construction site.",
            "zh": "附近工地有未化解的劳资纠纷。",
        },
        {
            "en": "Property-management complaints rising since last month.",
            "zh": "自上月以来物业投诉持续增多。",
        },
    ],
}


def _fill(reason: dict[str, str], **values: Any) -> dict[str, str]:
    return {lang: text.format(**values) for lang, text in reason.items()}


def _publish_week(
    store: Any,
    domain: str,
    unit_type: str,
    origin: pd.Timestamp,
    horizon_h: float,
    frame: pd.DataFrame,
    warnings: pd.DataFrame,
    unscored: dict[str, list[str]] | None = None,
) -> str:
    run_id = f"{domain}:{origin:%Y%m%dT%H%MZ}"
    store.stage_run(
        {
            "run_id": run_id,
            "domain": domain,
            "origin": origin,
            "horizon_hours": horizon_h,
            "model_name": f"riskwarn-{domain}",
            "model_version": "3",
            "data_version": "demo",
            "airflow_run_id": None,
            "unscored": unscored,
        }
    )
    store.write_forecasts(run_id, frame.assign(unit_type=unit_type))
    if not warnings.empty:
        store.write_warnings(run_id, warnings.assign(unit_type=unit_type))
    store.publish_run(run_id)
    return run_id


def _hotspot_domain(
    store: Any,
    domain: str,
    surface: pd.DataFrame,
    origins: list[pd.Timestamp],
    rng: np.random.Generator,
) -> list[str]:
    ids: list[str] = []
    for week, origin in enumerate(origins):
        f = surface[surface["week"] == week].copy()
        f["probability"] = 1 - np.exp(-f["score"] * 2.2)
        f["rank"] = f["score"].rank(ascending=False, method="first").astype(int)
        f["origin"] = origin
        f["valid_to"] = origin + pd.Timedelta(days=7)
        f["domain"] = domain
        f["explanation"] = None
        levels = _level_for_rank(f["rank"].to_numpy(), len(f))
        w = f[levels != ""].copy()
        w["level"] = levels[levels != ""]
        w["valid_from"] = origin
        w["lead_time_hours"] = 168.0
        w["reasons"] = [
            [
                probability_reason(p, 168.0, LEVEL_RANKS[lv]),
                _fill(REASON_TEMPLATES[domain][0], n=int(3 + 20 * p), k=1.5 + 4 * p),
                REASON_TEMPLATES[domain][1 + int(rng.integers(0, 2))],
            ]
            for p, lv in zip(w["probability"], w["level"], strict=True)
        ]
        w["evidence"] = [
            {
                "events_last_7d": int(2 + 15 * p),
                "usual_per_week": round(1.0 + 2 * p, 1),
                "recent_events": [
                    {
                        "date": str((origin - pd.Timedelta(days=int(d))).date()),
                        "category": cat,
                    }
                    for d, cat in zip(
                        rng.integers(1, 14, 3),
                        rng.choice(
                            ["theft", "burglary", "assault", "fraud", "neighbour", "labour_wage"], 3
                        ),
                        strict=True,
                    )
                ],
            }
            for p in w["probability"]
        ]
        cols = [
            "unit_id",
            "valid_to",
            "score",
            "probability",
            "rank",
            "county_code",
            "township_code",
            "cell_x",
            "cell_y",
            "lon",
            "lat",
            "explanation",
            "origin",
        ]
        _publish_week(store, domain, "cell", origin, 168.0, f[cols], w.drop(columns=["week"]))
        if week == len(origins) - 1:
            ids.extend(w["unit_id"].map(lambda u, o=origin: f"{domain}:{u}:{o:%Y%m%dT%H%MZ}"))
    return ids


def _dispute_cases(
    store: Any, origin: pd.Timestamp, units: pd.DataFrame, n: int, rng: np.random.Generator
) -> None:
    towns = units[units["level"] == "township"]
    pick = towns.sample(n, replace=True, random_state=int(rng.integers(0, 10_000)))
    p = np.clip(rng.beta(1.2, 6, n), 0.01, 0.97)
    cats = rng.choice(
        [
            "neighbour",
            "labour_wage",
            "land_homestead",
            "demolition_relocation",
            "property_management",
            "debt",
            "family_marriage",
        ],
        n,
    )
    frame = pd.DataFrame(
        {
            "unit_id": [_pseudonym("D", i) for i in range(n)],
            "score": p,
            "probability": p,
            "county_code": pick["parent_id"].to_numpy(),
            "township_code": pick["record_id"].to_numpy(),
            "valid_to": origin + pd.Timedelta(days=30),
            "origin": origin,
            "explanation": [
                [
                    {
                        "en": f"Category {c.replace('_', ' ')}; "
                        f"{int(1 + 4 * q)} failed mediation attempts.",
                        "zh": f"{GROUP_ZH.get(c, c)}类纠纷；已调解失败 {int(1 + 4 * q)} 次。",
                    },
                    {
                        "en": f"{int(2 + 10 * q)} parties involved; similar cases escalated "
                        f"{q * 100:.0f}% of the time.",
                        "zh": f"涉及 {int(2 + 10 * q)} 方当事人；同类案件升级比例为 {q * 100:.0f}%。",
                    },
                ]
                for c, q in zip(cats, p, strict=True)
            ],
        }
    )
    frame["rank"] = frame["score"].rank(ascending=False, method="first").astype(int)
    frame["category"] = cats
    levels = _level_for_rank(frame["rank"].to_numpy() / 5, n)
    w = frame[levels != ""].assign(
        level=levels[levels != ""], valid_from=origin, lead_time_hours=720.0
    )
    w["reasons"] = w["explanation"]
    w["evidence"] = [{"category": c, "open_days": int(rng.integers(3, 90))} for c in w["category"]]
    _publish_week(
        store,
        "dispute_cases",
        "case",
        origin,
        720.0,
        frame.drop(columns=["category"]),
        w.drop(columns=["category"]),
        # open cases that escalated already: not scored, published with the run (scoring's
        # riskwarn.scoring.escalated_open_cases)
        {"already_escalated": sorted(_pseudonym("D", n + i) for i in range(n // 3 + 1))},
    )


SITE_NAMES = (
    "鹞落坪滑坡",
    "天堂镇后山崩塌",
    "五庙乡泥石流沟",
    "白帽镇滑坡",
    "黄尾镇崩塌",
    "主簿镇滑坡",
)


def _geohazard(
    store: Any, lake: Path, origin: pd.Timestamp, units: pd.DataFrame, rng: np.random.Generator
) -> None:
    mountain = units[
        (units["level"] == "township") & units["parent_id"].isin(["340828", "340825", "340882"])
    ]
    sites = mountain.sample(len(SITE_NAMES), replace=True, random_state=3).reset_index(drop=True)
    site_rows, sensor_rows, reading_frames, fc = [], [], [], []
    hours = pd.date_range(origin - pd.Timedelta(days=60), origin, freq="h", inclusive="left")
    for i, name in enumerate(SITE_NAMES):
        geom = shapely.from_wkt(sites.loc[i, "geometry_wkt"])
        pt = geom.representative_point()
        sid = f"HS{i + 1:03d}"
        site_rows.append(
            {
                "source": "demo",
                "record_id": sid,
                "name": name,
                "hazard_type": "landslide" if i % 3 else "rockfall",
                "lon": pt.x,
                "lat": pt.y,
                "admin_code": sites.loc[i, "record_id"],
                "slope_class": 4,
                "people_threatened": int(rng.integers(20, 300)),
                "volume_m3": float(rng.integers(2_000, 90_000)),
            }
        )
        rain_id, gnss_id = f"{sid}-R", f"{sid}-G"
        for sens, typ in ((rain_id, "rain_gauge"), (gnss_id, "gnss")):
            sensor_rows.append(
                {
                    "source": "demo",
                    "record_id": sens,
                    "site_id": sid,
                    "sensor_type": typ,
                    "lon": pt.x,
                    "lat": pt.y,
                    "installed_at": origin - pd.Timedelta(days=400),
                }
            )
        rain = np.where(rng.random(len(hours)) < 0.06, rng.gamma(1.5, 3.0, len(hours)), 0.0)
        accel = 1.0 + (i == 0) * np.clip((np.arange(len(hours)) - len(hours) * 0.8) / 40, 0, None)
        vel = 0.02 * accel * rng.lognormal(0, 0.1, len(hours))  # mm/h
        disp = np.cumsum(vel) + rng.normal(0, 0.8, len(hours))
        if i == 1:
            disp[700] += 40  # a spike
        keep = np.ones(len(hours), bool)
        if i == 2:
            keep[900:960] = False  # a gap
        for sens, q, v in ((rain_id, "rain_mm", rain), (gnss_id, "displacement_mm", disp)):
            reading_frames.append(
                pd.DataFrame(
                    {
                        "source": "demo",
                        "record_id": [f"{sens}-{k}" for k in range(keep.sum())],
                        "sensor_id": sens,
                        "observed_at": hours[keep],
                        "interval_s": 3600,
                        "quantity": q,
                        "value": v[keep],
                        "quality": "good",
                    }
                )
            )
        prob = [0.82, 0.35, 0.18, 0.09, 0.05, 0.03][i]
        fc.append(
            {
                "unit_id": sid,
                "score": prob,
                "probability": prob,
                "lon": pt.x,
                "lat": pt.y,
                "county_code": sites.loc[i, "parent_id"],
                "township_code": sites.loc[i, "record_id"],
            }
        )
    _write_lake(lake, "hazard_sites", pd.DataFrame(site_rows))
    _write_lake(lake, "sensors", pd.DataFrame(sensor_rows))
    _write_lake(lake, "sensor_readings", pd.concat(reading_frames, ignore_index=True))
    f = pd.DataFrame(fc).assign(
        origin=origin, valid_to=origin + pd.Timedelta(days=1), explanation=None
    )
    f["rank"] = np.arange(1, len(f) + 1)
    lv = np.array(["red", "orange", "yellow", "blue", "", ""])
    w = f[lv != ""].assign(level=lv[lv != ""], valid_from=origin, lead_time_hours=24.0)
    w["reasons"] = [
        [
            {
                "en": "Cumulative displacement accelerating; tangent angle above 80 deg.",
                "zh": "累计位移加速，切线角超过 80°。",
            },
            {"en": "72 mm of rain in the last 3 days.", "zh": "近 3 天降雨 72 毫米。"},
        ]
    ] + [[{"en": "Rain above the site's 95th percentile.", "zh": "降雨超过本点 95 百分位。"}]] * (
        len(w) - 1
    )
    w["evidence"] = [{"rain_3d_mm": 72.0}] * len(w)
    _publish_week(store, "geohazard", "site", origin, 24.0, f, w)


def _write_lake(lake: Path, table: str, frame: pd.DataFrame) -> None:
    from riskwarn.lake import upsert

    upsert(lake, table, "demo", frame, batch_id=f"demo-{table}")


def _incident_records(
    lake: Path, origin: pd.Timestamp, units: pd.DataFrame, rng: np.random.Generator
) -> None:
    """Recorded incidents of the 8 weeks before ``origin`` and the grid's residents, per
    township (the models page's per-district panel reads them)."""
    towns = units[units["level"] == "township"].reset_index(drop=True)
    urban = towns["parent_id"].isin(URBAN).to_numpy()
    people = np.where(
        urban, rng.integers(40_000, 90_000, len(towns)), rng.integers(8_000, 40_000, len(towns))
    )
    grid = pd.DataFrame(
        {
            "source": "demo",
            "record_id": [f"G{code}" for code in towns["record_id"]],
            "admin_id": towns["record_id"].to_numpy(),
            "geometry_wkt": towns["geometry_wkt"].to_numpy(),
            "population": people.astype("int64"),
        }
    )
    _write_lake(lake, "grid_cells", grid)
    n = rng.poisson(people / 400)
    town = np.repeat(towns["record_id"].to_numpy(), n)
    at = origin - pd.to_timedelta(rng.uniform(0, 56 * 24, len(town)), unit="h").round("min")
    cents = shapely.centroid(shapely.from_wkt(towns["geometry_wkt"].to_numpy()))
    lon = np.repeat(shapely.get_x(cents), n)
    lat = np.repeat(shapely.get_y(cents), n)
    _write_lake(
        lake,
        "incidents",
        pd.DataFrame(
            {
                "source": "demo",
                "record_id": [f"JQ{i:06d}" for i in range(len(town))],
                "occurred_at": at,
                "reported_at": at + pd.Timedelta(minutes=20),
                "time_precision": "minute",
                "category": "theft",
                "category_group": "property",
                "severity": 1,
                "lon": lon,
                "lat": lat,
                "admin_code": town,
                "location_type": "street",
            }
        ),
    )


def _ingest_batches(store: Any, origin: pd.Timestamp, rng: np.random.Generator) -> None:
    sources = (
        ("demo_incidents", "incidents"),
        ("demo_disputes", "disputes"),
        ("demo_sensors", "sensor_readings"),
    )
    for day in range(14):
        at = origin - pd.Timedelta(days=13 - day) + pd.Timedelta(hours=2)
        for src, table in sources:
            read = int(rng.integers(800, 5000))
            q_bad_time = int(rng.integers(0, 30))
            q_outside = int(rng.integers(0, 15)) * (day % 4 == 0)
            dup = int(rng.integers(0, 10))
            accepted = read - q_bad_time - q_outside - dup
            store.record_ingest_batch(
                {
                    "batch_id": f"{src}-{at:%Y%m%d}",
                    "source": src,
                    "file_name": f"{src}_{at:%Y%m%d}.csv",
                    "table_name": table,
                    "read": read,
                    "accepted": accepted,
                    "new": accepted - 10,
                    "updated": 10,
                    "unchanged": 0,
                    "quarantined": q_bad_time + q_outside,
                    "duplicates": dup,
                    "reasons": {"unparseable_time": q_bad_time, "outside_area": q_outside},
                    "ingested_at": at,
                }
            )


def populate(
    store_url: str,
    lake_dir: Path,
    *,
    n_cells: int = 600,
    weeks: int = 5,
    n_cases: int = 120,
    cell_size_m: int = 250,
    crs: str = "EPSG:32650",
    today: pd.Timestamp | None = None,
    seed: int = 11,
) -> DemoCity:
    """Fill the store at ``store_url`` and the lake at ``lake_dir`` with the demo city."""
    from riskwarn.store import Store

    rng = np.random.default_rng(seed)
    live = today is None
    today = pd.Timestamp(today or pd.Timestamp.now(tz="UTC"))
    local = today.tz_convert("Asia/Shanghai").normalize()
    monday = local - pd.Timedelta(days=local.dayofweek)
    origins = [(monday - pd.Timedelta(weeks=weeks - 1 - k)).tz_convert("UTC") for k in range(weeks)]
    origin = origins[-1]
    units = admin_units(seed)
    lake_dir = Path(lake_dir)
    _write_lake(lake_dir, "admin_units", units)
    store = Store(store_url)
    store.upgrade()
    ids: list[str] = []
    n_fc = 0
    for k, domain in enumerate(("incidents", "disputes")):
        surface = hotspot_surface(
            n_cells, weeks, cell_size_m=cell_size_m, crs=crs, seed=seed + k, units=units
        )
        ids += _hotspot_domain(store, domain, surface, origins, rng)
        n_fc += len(surface)
    _dispute_cases(store, origin, units, n_cases, rng)
    # built for the wall clock (no ``today``), the hourly site nowcast is a day older than
    # the week's origin, so it is past its 24-hour horizon whatever the day: at the
    # origin's it was in force on the local week's first day (Monday in Shanghai, from
    # Sunday 16:00 UTC) only, and the tests judging it at the wall clock failed that day
    # (CI 2026-12-06). A replay (``today`` given) keeps it at the week's origin.
    site_origin = origin - pd.Timedelta(days=1) if live else origin
    _geohazard(store, lake_dir, site_origin, units, rng)
    _incident_records(lake_dir, origin, units, np.random.default_rng(seed + 101))
    _ingest_batches(store, origin, rng)
    store.close()
    return DemoCity(
        store_url=store_url,
        lake_dir=lake_dir,
        origin=origin,
        warning_ids=tuple(ids),
        n_forecasts=n_fc,
    )


DEMO_PASSWORD = "demo-pass-1"


def demo_home(home: Path, store_url: str | None = None, **kwargs: Any) -> DemoCity:
    """A riskwarn home for dashboard tests: populated store + lake + demo users file
    (every demo account has :data:`DEMO_PASSWORD`).

    With :func:`keep_templates` on (the test suite), a home of the home's own SQLite store
    is a copy of one built once in this process with the same arguments (and, when no
    ``today`` is given, the same local date: the weeks it holds follow the wall clock)."""
    from dashboard.auth import write_demo_users

    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    folder = _templates["folder"]
    if store_url is None and folder is not None:
        return _copy_of_template(Path(folder), home, kwargs)
    url = store_url or f"sqlite:///{(home / 'serving.db').resolve()}"
    city = populate(url, home / "lake", **kwargs)
    write_demo_users(home / "users.yaml", DEMO_PASSWORD)
    return city


# Tests only (tests/conftest.py): the folder of this process's template homes, None = off.
# A demo home takes 2-6 s to build (most of it the store's writes and the users file's
# scrypt hashes); 61 are built in a serial test run, 37 with arguments seen before.
_templates: dict[str, Any] = {"folder": None, "built": {}}


def keep_templates(folder: Path | None) -> None:
    """Build each demo home (own SQLite store) once in ``folder`` and copy it after that;
    None: build every home anew (the default, e.g. for the benchmarks)."""
    _templates["folder"] = folder
    _templates["built"] = {}


def _copy_of_template(folder: Path, home: Path, kwargs: dict[str, Any]) -> DemoCity:
    """``home`` as a copy of the template home built with ``kwargs`` (built if absent)."""
    import shutil

    live_date = (
        ""
        if kwargs.get("today") is not None
        else str(pd.Timestamp.now(tz="UTC").tz_convert("Asia/Shanghai").date())
    )
    key = repr((sorted(kwargs.items()), live_date))
    built: dict[str, tuple[Path, DemoCity]] = _templates["built"]
    if key not in built:
        template = folder / f"home{len(built)}"
        template.mkdir(parents=True, mode=0o700)
        keep, _templates["folder"] = _templates["folder"], None
        try:
            built[key] = (template, demo_home(template, **kwargs))
        finally:
            _templates["folder"] = keep
    template, city = built[key]
    mode = home.stat().st_mode
    shutil.copytree(template, home, dirs_exist_ok=True)
    home.chmod(mode)  # the caller's home keeps its own mode (copytree copied the template's)
    return replace(
        city,
        store_url=f"sqlite:///{(home / 'serving.db').resolve()}",
        lake_dir=home / "lake",
    )


def dashboard_env(mp: Any, home: Path, store_url: str) -> None:
    """Point a dashboard run at the demo home ``home`` (``mp``: a ``pytest.MonkeyPatch``):
    its store, its MLflow, an Airflow API that answers nothing, the demo users."""
    mp.setenv("RISKWARN_HOME", str(home))
    mp.setenv("RISKWARN_STORE_URL", store_url)
    mp.setenv("RISKWARN_MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    mp.setenv("RISKWARN_AIRFLOW_API_URL", "http://127.0.0.1:9")
    mp.delenv("RISKWARN_USERS_FILE", raising=False)
