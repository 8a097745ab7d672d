"""The simulated city: determinism, sizes and schema, personal data, statistical sanity,
and the round trip through the ordinary ingestion with configs/sources/sim_*.yaml."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from riskwarn.cli import cli
from riskwarn.geo import cell_index, project

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "configs" / "sources"
AS_OF = datetime(2030, 1, 1, tzinfo=UTC)
TINY = {
    "days": 45,
    "n_incidents": 2_000,
    "n_disputes": 200,
    "n_sites": 6,
    "n_rain_gauges": 3,
    "sensor_offset_days": 10,
    "sensor_days": 3,
    "township_scale": 0.2,
    "people_per_community": 40_000,
    "people_per_grid": 20_000,
}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The small city (seed 3) written through the CLI; returns (folder, CLI output)."""
    out = tmp_path_factory.mktemp("sim") / "small"
    res = CliRunner().invoke(cli, ["simulate", "--size", "small", "--seed", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out, res.output


@pytest.fixture(scope="module")
def meta(small: tuple[Path, str]) -> dict:
    return json.loads((small[0] / "simulation.json").read_text(encoding="utf-8"))


def _files(meta: dict, mapping: str) -> list[str]:
    return [f["path"] for f in meta["files"] if f["mapping"] == mapping]


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    from riskwarn.simulate import simulate

    start = dt.date(2024, 5, 1)
    simulate(tmp_path / "a", "small", seed=11, start=start, **TINY)
    stale = tmp_path / "b" / "extracts" / "incidents.1999.csv.gz"  # left by an earlier run
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    simulate(tmp_path / "b", "small", seed=11, start=start, **TINY)
    assert not stale.exists()
    simulate(tmp_path / "c", "small", seed=12, start=start, **TINY)
    a, b, c = _digests(tmp_path / "a"), _digests(tmp_path / "b"), _digests(tmp_path / "c")
    assert len(a) > 15
    assert a == b
    differing = [k for k in a if a[k] != c.get(k)]
    assert "extracts/incidents.2024.csv.gz" in differing
    assert "extracts/disputes.csv" in differing
    calendar_only = {"truth/truth_incident_days.parquet", "truth/truth_dispute_days.parquet"}
    assert set(a) - set(differing) <= calendar_only  # everything random differs


def test_cli_prints_files_and_row_counts(small: tuple[Path, str], meta: dict) -> None:
    out, text = small
    assert f"-> {out}" in text
    for f in meta["files"]:
        line = next(x for x in text.splitlines() if f["path"] in x)
        assert f"{f['rows']:,d} rows" in line
    assert meta["start"] == "2023-01-01" and meta["end"] == "2023-12-31"


def test_cli_rejects_bad_options(tmp_path: Path) -> None:
    from riskwarn.cli import main

    assert main(["simulate", "--size", "huge", "--out", str(tmp_path)]) == 2
    assert main(["simulate", "--start", "2023-02-30", "--out", str(tmp_path)]) == 2


def test_small_sizes_formats_and_columns(small: tuple[Path, str], meta: dict) -> None:
    out = small[0]
    rows = {f["path"]: f["rows"] for f in meta["files"]}
    inc = _files(meta, "sim_incidents")
    assert [Path(p).name for p in inc] == ["incidents.2023.csv.gz"]
    assert 20_000 <= rows[inc[0]] <= 45_000
    assert 1_500 <= rows["extracts/disputes.csv"] <= 3_000
    assert rows["extracts/hazard_sites.csv"] == 20
    readings = _files(meta, "sim_sensor_readings")
    assert len(readings) == 3 and all(p.endswith(".parquet") for p in readings)
    assert sum(rows[p] for p in readings) > 300_000
    raw = pd.read_csv(out / inc[0], dtype=str)
    assert len(raw) == rows[inc[0]]
    assert list(raw.columns[:4]) == ["警情编号", "发案时间", "报警时间", "时间精度"]
    assert raw["警情编号"].is_unique
    occurred = pd.to_datetime(raw["发案时间"], format="%Y-%m-%d %H:%M:%S")
    reported = pd.to_datetime(raw["报警时间"], format="%Y-%m-%d %H:%M:%S")
    assert (reported > occurred).all()
    assert occurred.min() >= pd.Timestamp("2023-01-01") and occurred.max() < pd.Timestamp(
        "2024-01-01"
    )
    assert reported.max() < pd.Timestamp(
        "2024-01-01"
    )  # the extract holds what was reported by then
    midnight = (occurred.dt.hour == 0) & (occurred.dt.minute == 0)
    assert (
        midnight.mean() > 0.05
    )  # 00:00 over-represented (unknown / date-only times), uniform: 1/1440
    serious = raw["警情大类"] == "严重暴力类"
    assert 0 < serious.mean() < 0.03
    lon, lat = raw["经度"].astype(float), raw["纬度"].astype(float)
    assert lon.between(115.8, 117.3).all() and lat.between(29.7, 31.2).all()
    admin = pd.read_csv(out / "extracts" / "admin_units.csv", dtype=str)
    assert admin["层级"].value_counts()["县区"] == 10
    assert {"大观区", "岳西县", "桐城市"} <= set(admin["区划名称"])
    grid = pd.read_parquet(out / "extracts" / "grid_cells.parquet")
    assert set(grid["所属社区代码"]) <= set(admin.loc[admin["层级"] == "村社区", "区划代码"])
    assert grid["边界WKT"].str.startswith(("POLYGON", "MULTIPOLYGON")).all()


def test_urban_districts_are_dense_and_mountains_sparse(small: tuple[Path, str]) -> None:
    admin = pd.read_csv(small[0] / "extracts" / "admin_units.csv", dtype={"区划代码": str})
    import shapely

    county = admin[admin["层级"] == "县区"].set_index("区划名称")
    geoms = shapely.from_wkt(county["边界WKT"].to_numpy())
    x, y = project(np.array([0.0]), np.array([0.0]), "EPSG:32650")  # projection works
    del x, y
    area_deg = shapely.area(geoms)  # same latitude band: degree^2 is a fair relative measure
    density = county["常住人口"].to_numpy() / area_deg
    dens = dict(zip(county.index, density, strict=True))
    assert dens["大观区"] > 3 * dens["岳西县"]
    assert dens["迎江区"] > 3 * dens["太湖县"]


def test_raw_dispute_extract_carries_personal_fields(small: tuple[Path, str], meta: dict) -> None:
    raw = pd.read_csv(small[0] / "extracts" / "disputes.csv", encoding="gb18030", dtype=str)
    assert {
        "甲方姓名",
        "甲方联系电话",
        "甲方身份证号",
        "乙方姓名",
        "乙方联系电话",
        "乙方身份证号",
    } <= set(raw.columns)
    assert raw["甲方姓名"].str.fullmatch(r"[\u4e00-\u9fff]{2,3}").all()
    assert raw["甲方联系电话"].str.fullmatch(r"1[3-9]\d{9}").all()
    ids = raw["甲方身份证号"]
    assert ids.str.fullmatch(r"\d{17}[\dX]").all()
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    first = ids.iloc[0]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(first[:17], weights, strict=True)) % 11]
    assert first[17] == check
    # repeat parties exist (the same person in several disputes)
    assert raw["甲方身份证号"].duplicated().sum() > 10


def test_sim_mappings_ingest_cleanly_and_strip_personal_data(
    small: tuple[Path, str], meta: dict
) -> None:
    from riskwarn.ingest import load_mapping, read_and_validate

    out = small[0]
    mappings = sorted(p.stem for p in SOURCES.glob("sim_*.yaml"))
    assert set(mappings) == {f["mapping"] for f in meta["files"] if f["kind"] == "extract"}
    accepted = {}
    for name in mappings:
        mapping = load_mapping(SOURCES / f"{name}.yaml")
        files = _files(meta, name)[:1]  # one month of readings is enough here
        for rel in files:
            batch = read_and_validate(mapping, out / rel, pseudonym_key="test-key", as_of=AS_OF)
            counts = batch.counts
            assert counts["read"] == next(f["rows"] for f in meta["files"] if f["path"] == rel)
            assert counts["quarantined"] == 0 and counts["duplicates"] == 0, (
                rel,
                counts["reasons"],
            )
            accepted[name] = batch
    disputes = accepted["sim_disputes"].accepted
    raw = pd.read_csv(out / "extracts" / "disputes.csv", encoding="gb18030", dtype=str)
    personal = (
        set(raw["甲方姓名"])
        | set(raw["甲方联系电话"])
        | set(raw["甲方身份证号"])
        | set(raw["乙方身份证号"])
    )
    text = [str(v) for v in disputes.to_numpy().ravel()]
    assert not any(v in personal for v in text)
    assert not any(
        re.search(r"(?<![0-9a-f])(1[3-9]\d{9}|\d{17}[\dX])(?![0-9a-f])", v) for v in text
    )
    pids = disputes["party_ids"].str.split(";")
    assert (pids.str.len() == 2).all()
    assert pids.explode().str.fullmatch(r"[0-9a-f]{8,64}").all()
    assert not set(pids.explode()) & personal
    # the same ID number always gets the same pseudonym (repeat parties stay linkable)
    by_id = dict(zip(raw["案件编号"], raw["甲方身份证号"], strict=True))
    first = disputes.set_index("record_id")["party_ids"].str.split(";").str[0]
    pairs = pd.DataFrame({"idn": first.index.map(by_id), "pseud": first.to_numpy()})
    assert (pairs.groupby("idn")["pseud"].nunique() == 1).all()
    events = accepted["sim_dispute_events"].accepted
    assert set(events["dispute_id"]) <= set(disputes["record_id"])
    readings = accepted["sim_sensor_readings"].accepted
    sensors = accepted["sim_sensors"].accepted
    assert set(readings["sensor_id"]) <= set(sensors["record_id"])
    sites = accepted["sim_hazard_sites"].accepted
    assert set(sensors["site_id"].dropna()) <= set(sites["record_id"])
    assert accepted["sim_incidents"].accepted["occurred_at"].dt.tz is not None


def test_incident_hotspots_are_concentrated(small: tuple[Path, str], meta: dict) -> None:
    out = small[0]
    raw = pd.read_csv(out / _files(meta, "sim_incidents")[0], usecols=["经度", "纬度"])
    x, y = project(raw["经度"].to_numpy(), raw["纬度"].to_numpy(), "EPSG:32650")
    cx, cy = cell_index(x, y, 250)
    counts = pd.Series(1, index=pd.MultiIndex.from_arrays([cx, cy])).groupby(level=[0, 1]).sum()
    bg = pd.read_parquet(out / "truth" / "truth_incident_background.parquet")
    top = bg.nlargest(int(0.05 * len(bg)), "background_weight")
    assert top["background_weight"].sum() > 0.5
    in_top = counts.reindex(
        pd.MultiIndex.from_frame(top[["cell_x", "cell_y"]].astype(float))
    ).fillna(0)
    assert in_top.sum() / counts.sum() > 0.5  # top 5% of the city's cells hold most incidents
    active = counts.sort_values(ascending=False)
    assert active.iloc[: int(0.05 * len(active))].sum() / active.sum() > 0.15


def test_incident_weekly_cycle_and_holidays(small: tuple[Path, str], meta: dict) -> None:
    raw = pd.read_csv(small[0] / _files(meta, "sim_incidents")[0], usecols=["发案时间", "警情大类"])
    day = pd.to_datetime(raw["发案时间"]).dt.normalize()
    nightlife = raw["警情大类"].isin(["侵犯人身类", "治安秩序类"])
    per_day = nightlife.groupby(day).sum()
    dow = per_day.index.dayofweek
    assert per_day[dow.isin([4, 5])].mean() > 1.15 * per_day[dow.isin([0, 1, 2])].mean()
    days = pd.read_parquet(small[0] / "truth" / "truth_incident_days.parquet")
    assert days["background_per_day"].std() / days["background_per_day"].mean() > 0.03


def test_near_repeats_cluster_in_space_and_time(small: tuple[Path, str]) -> None:
    truth = pd.read_parquet(small[0] / "truth" / "truth_incidents.parquet")
    share = (truth["generation"] > 0).mean()
    assert 0.2 < share < 0.4
    trig = pd.read_parquet(small[0] / "truth" / "truth_incident_triggered.parquet")
    assert len(trig) > 0 and trig["triggered"].max() > 0.01


def test_disputes_set_off_violent_incidents_nearby(small: tuple[Path, str], meta: dict) -> None:
    """Issue 17.3: failed mediations and escalations set off violent incidents near the
    dispute in the following days; the truth flags them and says how strong it is."""
    out = small[0]
    truth = pd.read_parquet(out / "truth" / "truth_incidents.parquet")
    proc = meta["incident_process"]
    assert truth["from_dispute"].sum() == proc["set_off_by_disputes"] > 0
    raw = pd.concat(
        pd.read_csv(out / f, usecols=["警情编号", "警情类别"])
        for f in _files(meta, "sim_incidents")
    )
    inc = truth.merge(raw, left_on="record_id", right_on="警情编号")
    violent = inc["警情类别"].isin(["殴打他人", "打架斗殴", "故意伤害", "寻衅滋事"])
    # the set-off incidents are mostly violent; among all incidents far fewer are
    assert violent[inc["from_dispute"]].mean() > 0.6 > 3 * violent[~inc["from_dispute"]].mean()
    trig = pd.read_parquet(out / "truth" / "truth_incident_triggered.parquet")
    assert (trig["triggered_by_disputes"] <= trig["triggered"] + 1e-6).all()
    assert trig["triggered_by_disputes"].sum() > 0


def test_escalation_rises_with_failed_mediations(small: tuple[Path, str]) -> None:
    hz = pd.read_parquet(small[0] / "truth" / "truth_dispute_hazard.parquet")
    cases = pd.read_parquet(small[0] / "truth" / "truth_disputes.parquet")
    mean_h = hz.groupby("failed_mediations")["hazard"].mean()
    assert mean_h[0] < mean_h[1] < mean_h[2]
    esc_day = cases.set_index("dispute_id")["escalated_at"].dt.tz_convert("Asia/Shanghai").dt.date
    hz["escalated_today"] = hz["dispute_id"].map(esc_day) == hz["date"]
    realised = hz.groupby(hz["failed_mediations"].clip(upper=1))["escalated_today"].mean()
    assert realised[1] > 1.5 * realised[0]
    assert 0.05 < cases["escalated"].mean() < 0.3


def test_dispute_events_are_consistent(small: tuple[Path, str]) -> None:
    ev = pd.read_csv(small[0] / "extracts" / "dispute_events.csv", dtype=str)
    first = ev.groupby("案件编号")["事件类型"].first()
    assert (first == "受理登记").all()
    after = ev[ev["事件类型"].isin(["调解成功", "调解未成功"])]
    assert len(after) == (ev["事件类型"] == "组织调解").sum()
    assert set(ev["事件类型"]) >= {"引发信访", "民转刑", "转入诉讼", "结案"}


def test_failures_are_preceded_by_acceleration(small: tuple[Path, str], meta: dict) -> None:
    out = small[0]
    sites = pd.read_parquet(out / "truth" / "truth_geohazard_sites.parquet")
    failed = sites[sites["failed"]]
    assert len(failed) >= 2
    sensors = pd.read_csv(out / "extracts" / "sensors.csv", dtype=str)
    gnss = sensors[sensors["设备类型"] == "GNSS位移计"].set_index("隐患点编号")["设备编号"]
    readings = pd.concat(pd.read_parquet(out / p) for p in _files(meta, "sim_sensor_readings"))
    readings["t"] = pd.to_datetime(readings["采集时间"]).dt.tz_localize("Asia/Shanghai")
    faults = pd.read_parquet(out / "truth" / "truth_sensor_faults.parquet")
    broken = set(faults.loc[faults["fault"].str.startswith("dead"), "sensor_id"])
    checked = 0
    for _, s in failed.iterrows():
        sid = gnss[s["site_id"]]
        if sid in broken:
            continue
        r = readings[(readings["设备编号"] == sid) & (readings["数据状态"] == "正常")].set_index(
            "t"
        )["数值"]
        hourly = r.astype(float).resample("1h").median()
        end = s["failure_at"]
        last = hourly[end - pd.Timedelta(hours=13) : end - pd.Timedelta(hours=1)].dropna()
        before = hourly[: s["onset_at"]].dropna().tail(24 * 5)
        if len(last) < 6 or len(before) < 48:
            continue
        v_last = (last.iloc[-1] - last.iloc[0]) / (
            (last.index[-1] - last.index[0]).total_seconds() / 86400
        )
        v_before = max(
            (before.iloc[-1] - before.iloc[0])
            / ((before.index[-1] - before.index[0]).total_seconds() / 86400),
            0.5,
        )
        assert v_last > 5 * v_before, (s["site_id"], v_last, v_before)
        checked += 1
    assert checked >= 1
    daily = pd.read_parquet(out / "truth" / "truth_geohazard_daily.parquet")
    wet = daily["api_mm"] > daily["api_mm"].quantile(0.9)
    assert (
        daily.loc[wet, "onset_probability"].mean() > 5 * daily.loc[~wet, "onset_probability"].mean()
    )


def test_sensor_faults_are_in_the_data(small: tuple[Path, str], meta: dict) -> None:
    out = small[0]
    faults = pd.read_parquet(out / "truth" / "truth_sensor_faults.parquet")
    assert {"gap", "spike"} <= set(faults["fault"])
    readings = pd.read_parquet(out / _files(meta, "sim_sensor_readings")[0])
    assert (readings["数据状态"] == "缺测").sum() > 0
    assert readings.loc[readings["数据状态"] == "缺测", "数值"].isna().all()
    rain = readings[readings["监测项"] == "雨量"]["数值"].dropna()
    assert (rain >= 0).all() and rain.max() > 1.0


def test_dispute_registration_truth_matches_counts(small: tuple[Path, str]) -> None:
    out = small[0]
    cells = pd.read_parquet(out / "truth" / "truth_dispute_cells.parquet")
    days = pd.read_parquet(out / "truth" / "truth_dispute_days.parquet")
    weights = cells.filter(like="weight_")
    assert np.allclose(weights.sum(), 1.0)
    expected = days.filter(like="rate_").sum().sum()
    actual = len(
        pd.read_csv(out / "extracts" / "disputes.csv", encoding="gb18030", usecols=["案件编号"])
    )
    assert abs(actual - expected) < 4 * np.sqrt(expected)
