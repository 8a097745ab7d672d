"""Raw extracts as the city's data platform would send them (pure: frames in, frames out).

Column names are the platform's Chinese ones; times are naive local time
(Asia/Shanghai); coordinates WGS84 lon/lat. The dispute, site, sensor and grid
extracts carry personal fields (names, phone numbers, ID numbers of parties, staff
and grid workers) that the ``configs/sources/sim_*.yaml`` mappings drop or
pseudonymise.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from riskwarn.geo import unproject
from riskwarn.simulate import disputes as dsp
from riskwarn.simulate import incidents as inc
from riskwarn.simulate.config import CRS
from riskwarn.simulate.geography import COUNTIES, Geography
from riskwarn.simulate.geohazard import HAZARD_TYPES, SENSOR_KINDS, GeoSim
from riskwarn.simulate.people import fake_id_numbers, fake_mobiles, fake_names

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
LEVEL_LABELS = {"city": "市", "county": "县区", "township": "乡镇街道", "community": "村社区"}


def local_times(start: dt.date, minutes: np.ndarray) -> pd.Series:
    """Naive local datetimes ``start`` + minutes."""
    base = np.datetime64(start, "m")
    return pd.Series(base + np.asarray(minutes, dtype=np.int64).astype("timedelta64[m]"))


def local_text(start: dt.date, minutes: np.ndarray) -> np.ndarray:
    """Local times as text ``YYYY-MM-DD HH:MM:SS``."""
    if len(minutes) == 0:
        return np.array([], dtype=str)
    s = np.datetime_as_string(
        local_times(start, minutes).to_numpy().astype("datetime64[s]"), unit="s"
    )
    return np.char.replace(s.astype(str), "T", " ")


def lonlat(x: np.ndarray, y: np.ndarray, decimals: int = 6) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = unproject(x, y, CRS)
    return np.round(lon, decimals), np.round(lat, decimals)


def _daily_ids(prefix: str, start: dt.date, day: np.ndarray, width: int) -> np.ndarray:
    """``prefix`` + yyyymmdd + running number within the day (rows already in time order)."""
    if len(day) == 0:
        return np.array([], dtype=str)
    seq = pd.Series(day).groupby(day).cumcount().to_numpy() + 1
    dates = np.datetime_as_string(
        np.datetime64(start, "D") + day.astype("timedelta64[D]"), unit="D"
    )
    ymd = np.char.replace(dates.astype(str), "-", "")
    return np.char.add(np.char.add(prefix, ymd), np.char.zfill(seq.astype(str), width))


def incidents_extract(events: pd.DataFrame, geo: Geography, start: dt.date) -> pd.DataFrame:
    """The police incident extract (警情), rows in occurrence order."""
    day = np.floor(events["t_days"].to_numpy()).astype(np.int64)
    ids = _daily_ids("JQ", start, day, 5)
    lon, lat = lonlat(events["x"].to_numpy(), events["y"].to_numpy())
    flat = events["flat"].to_numpy()
    cat = events["cat"].to_numpy()
    units = inc.police_unit_names(geo)[geo.township.ravel()[flat]]
    return pd.DataFrame(
        {
            "警情编号": ids,
            "发案时间": local_text(start, events["occurred_min"].to_numpy()),
            "报警时间": local_text(start, events["reported_min"].to_numpy()),
            "时间精度": np.array([p[0] for p in inc.PRECISION])[events["precision"].to_numpy()],
            "警情大类": inc.CATEGORIES["group"].map(inc.GROUP_LABELS).to_numpy()[cat],
            "警情类别": inc.CATEGORIES["label"].to_numpy()[cat],
            "警情级别": events["severity"].to_numpy().astype(np.int64),
            "经度": lon,
            "纬度": lat,
            "所属社区代码": geo.community_codes[geo.community.ravel()[flat]],
            "发案场所": inc.LOCATION_TYPES["label"].to_numpy()[events["location"].to_numpy()],
            "处警单位": units,
        }
    )


def dispute_ids(cases: pd.DataFrame, start: dt.date) -> np.ndarray:
    return _daily_ids("MD", start, cases["open_day"].to_numpy(), 4)


def disputes_extract(
    sim: dsp.DisputeSim, geo: Geography, start: dt.date, rng: np.random.Generator
) -> pd.DataFrame:
    """The dispute register (矛盾纠纷台账) with the parties' personal fields."""
    c = sim.cases
    pool = len(sim.persons)
    names = fake_names(rng, pool)
    phones = fake_mobiles(rng, pool)
    idn = fake_id_numbers(rng, pool, sim.persons["region"].to_numpy())
    a, b = c["party_a"].to_numpy(), c["party_b"].to_numpy()
    lon, lat = lonlat(c["x"].to_numpy(), c["y"].to_numpy())
    label = dsp.CATEGORIES["label"].to_numpy()[c["cat"].to_numpy()]
    summary = np.char.add(
        np.char.add(np.char.add(names[a], "与"), names[b]), np.char.add("因", label)
    )
    summary = np.char.add(summary.astype(str), "发生纠纷，申请调解")
    return pd.DataFrame(
        {
            "案件编号": dispute_ids(c, start),
            "登记时间": local_text(start, c["open_min"].to_numpy()),
            "纠纷类型": label,
            "所属社区代码": geo.community_codes[c["community"].to_numpy()],
            "网格编码": geo.grid["grid_code"].to_numpy()[c["grid"].to_numpy()],
            "经度": lon,
            "纬度": lat,
            "甲方姓名": names[a],
            "甲方联系电话": phones[a],
            "甲方身份证号": idn[a],
            "乙方姓名": names[b],
            "乙方联系电话": phones[b],
            "乙方身份证号": idn[b],
            "当事人数": c["n_parties"].to_numpy().astype(np.int64),
            "涉及金额（元）": c["amount_cny"].to_numpy(),
            "纠纷简述": summary,
            "登记人": fake_names(rng, len(c)),
        }
    )


def dispute_events_extract(
    sim: dsp.DisputeSim, case_ids: np.ndarray, start: dt.date, rng: np.random.Generator
) -> pd.DataFrame:
    """The dispute event log (处置过程), one row per event."""
    ev = sim.events
    case = ev["case"].to_numpy()
    seq = ev.groupby("case").cumcount().to_numpy() + 1
    ids = np.char.add(np.char.add(case_ids[case], "-"), np.char.zfill(seq.astype(str), 3))
    return pd.DataFrame(
        {
            "事件编号": ids,
            "案件编号": case_ids[case],
            "事件时间": local_text(start, ev["minute"].to_numpy()),
            "事件类型": dsp.EVENT_TYPES["label"].to_numpy()[ev["type"].to_numpy()],
            "经办人": fake_names(rng, len(ev)),
            "经办人电话": fake_mobiles(rng, len(ev)),
        }
    )


def site_ids(geo: Geography, sim: GeoSim) -> np.ndarray:
    county = geo.county.ravel()[sim.sites["flat"].to_numpy()]
    codes = np.array([c[0] for c in COUNTIES])[county]
    return np.char.add(
        np.char.add("DZ", codes), np.char.zfill((np.arange(len(codes)) + 1).astype(str), 4)
    )


def hazard_sites_extract(
    sim: GeoSim, geo: Geography, ids: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """Monitored hazard sites (地质灾害隐患点)."""
    s = sim.sites
    flat = s["flat"].to_numpy()
    town = geo.township.ravel()[flat]
    comm = geo.community.ravel()[flat]
    names_by_code = geo.admin.set_index("code")["name"]
    place = names_by_code.reindex(geo.community_codes[comm]).to_numpy().astype(str)
    group = rng.integers(1, 12, len(s)).astype(str)
    label = HAZARD_TYPES["label"].to_numpy()[s["type"].to_numpy()]
    lon, lat = lonlat(s["x"].to_numpy(), s["y"].to_numpy())
    return pd.DataFrame(
        {
            "隐患点编号": ids,
            "隐患点名称": np.char.add(np.char.add(np.char.add(place, group), "组"), label),
            "灾害类型": label,
            "经度": lon,
            "纬度": lat,
            "所属乡镇代码": geo.township_codes[town],
            "坡度等级": s["slope_class"].to_numpy(),
            "威胁人数": s["people_threatened"].to_numpy(),
            "规模（立方米）": s["volume_m3"].to_numpy(),
            "监测责任人": fake_names(rng, len(s)),
            "责任人电话": fake_mobiles(rng, len(s)),
        }
    )


def sensors_extract(sim: GeoSim, s_ids: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Monitoring devices (监测设备)."""
    se = sim.sensors
    site = se["site"].to_numpy()
    lon, lat = lonlat(se["x"].to_numpy(), se["y"].to_numpy())
    installed = -se["installed_days_before"].to_numpy() * 1440 + rng.integers(
        9 * 60, 17 * 60, len(se)
    )
    return pd.DataFrame(
        {
            "设备编号": se["sensor_id"].to_numpy(),
            "设备类型": np.array([SENSOR_KINDS[k][0] for k in se["kind"]]),
            "隐患点编号": np.where(site >= 0, s_ids[np.clip(site, 0, None)], ""),
            "经度": lon,
            "纬度": lat,
            "安装时间": local_text(sim.window_start, installed),
            "维护人员": fake_names(rng, len(se)),
            "维护电话": fake_mobiles(rng, len(se)),
        }
    )


def hazard_events_extract(sim: GeoSim, s_ids: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Reported hazard events (灾情上报)."""
    e = sim.events
    precise = e["precise"].to_numpy()
    minute = e["minute"].to_numpy()
    shown = np.where(precise, minute, (minute // 60) * 60)
    site = e["site"].to_numpy()
    lon, lat = lonlat(e["x"].to_numpy(), e["y"].to_numpy())
    day = minute // 1440
    return pd.DataFrame(
        {
            "灾情编号": _daily_ids("ZQ", sim.window_start, day, 3),
            "发生时间": local_text(sim.window_start, shown),
            "上报时间": local_text(sim.window_start, minute + e["report_delay_min"].to_numpy()),
            "时间精度": np.where(precise, "精确到分", "精确到时"),
            "灾害类型": HAZARD_TYPES["label"].to_numpy()[e["type"].to_numpy()],
            "经度": lon,
            "纬度": lat,
            "隐患点编号": np.where(site >= 0, s_ids[np.clip(site, 0, None)], ""),
            "坡体类型": rng.choice(["自然斜坡", "切坡", "填方边坡"], len(e), p=[0.6, 0.3, 0.1]),
            "规模（立方米）": e["volume_m3"].to_numpy(),
            "死亡人数": e["deaths"].to_numpy(),
            "受伤人数": e["injuries"].to_numpy(),
            "上报人": fake_names(rng, len(e)),
            "上报人电话": fake_mobiles(rng, len(e)),
        }
    )


def admin_extract(geo: Geography) -> pd.DataFrame:
    """Administrative divisions (行政区划) with boundaries and population."""
    a = geo.admin
    return pd.DataFrame(
        {
            "区划代码": a["code"].to_numpy(),
            "区划名称": a["name"].to_numpy(),
            "层级": a["level"].map(LEVEL_LABELS).to_numpy(),
            "上级代码": a["parent_code"].to_numpy(),
            "边界WKT": a["geometry_wkt"].to_numpy(),
            "常住人口": a["population"].to_numpy(),
        }
    )


def grid_extract(geo: Geography, rng: np.random.Generator) -> pd.DataFrame:
    """The management grid (网格) with grid workers' contact details."""
    g = geo.grid
    pop = g["population"].to_numpy()
    return pd.DataFrame(
        {
            "网格编码": g["grid_code"].to_numpy(),
            "所属社区代码": g["community_code"].to_numpy(),
            "边界WKT": g["geometry_wkt"].to_numpy(),
            "常住人口": pop,
            "户数": np.round(pop / 2.8).astype(np.int64),
            "网格员姓名": fake_names(rng, len(g)),
            "网格员电话": fake_mobiles(rng, len(g)),
        }
    )
