"""Geohazard page: a chart that would be blank or a flat zero line becomes a sentence.

Real browser screenshots showed a site with no rain drawing an empty rain chart whose y
axis read "0.000000", and a site without a tangent angle drawing an empty chart. The page
now says what was measured (0 mm of rain) or why nothing can be drawn. Driven with
Streamlit's AppTest over the demo home of ``test_dashboard`` plus four extra sites written
to its lake.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")

from dashboard import sensors
from tests.test_dashboard import _open, _text
from tests.test_dashboard import home as home  # the module-scoped demo home (re-exported)

END = pd.Timestamp("2026-11-20", tz="UTC")
HOURS = pd.date_range(END - pd.Timedelta(days=40), END, freq="h", inclusive="left")
ONE_DAY = HOURS[-32:-8]  # one local day in Shanghai (19 Nov), as the site page counts days
SILENT = HOURS[: -24 * 20]
# site -> sensors: (sensor type, quantity, hours, values); see each test for what it shows
EXTRA: dict[str, list[tuple[str, str, pd.DatetimeIndex, np.ndarray]]] = {
    "HS901": [  # dry: the gauge reads 0 mm every hour; steady creep
        ("rain_gauge", "rain_mm", HOURS, np.zeros(len(HOURS))),
        ("gnss", "displacement_mm", HOURS, np.arange(len(HOURS)) * 0.02),
    ],
    "HS902": [  # a rain gauge only: no displacement sensor
        ("rain_gauge", "rain_mm", HOURS, np.where(np.arange(len(HOURS)) % 50 == 0, 4.0, 0.0)),
    ],
    "HS903": [  # displacement readings on one day only: no velocity
        ("rain_gauge", "rain_mm", HOURS, np.where(np.arange(len(HOURS)) % 50 == 0, 4.0, 0.0)),
        ("gnss", "displacement_mm", ONE_DAY, 3.0 + np.arange(len(ONE_DAY)) * 0.01),
    ],
    "HS904": [  # stable: displacement does not change, so velocity is 0 and v0 is 0
        ("rain_gauge", "rain_mm", HOURS, np.where(np.arange(len(HOURS)) % 50 == 0, 4.0, 0.0)),
        ("crack_meter", "displacement_mm", HOURS, np.full(len(HOURS), 5.0)),
    ],
    "HS905": [  # no gauge of its own: its rain is the nearest gauge's (HS901-4's, same place)
        ("gnss", "displacement_mm", HOURS, np.arange(len(HOURS)) * 0.02),
    ],
    "HS906": [  # both sensors fell silent together 20 days before the others' last reading
        ("gnss", "displacement_mm", SILENT, np.arange(len(SILENT)) * 0.02),
        ("crack_meter", "crack_width_mm", SILENT, 1.0 + np.arange(len(SILENT)) * 0.001),
    ],
}


@pytest.fixture(scope="module")
def sites_home(home: Path) -> Path:
    """The demo home with the sites of :data:`EXTRA` added to its lake."""
    import streamlit as st

    add_sites(home / "lake")
    st.cache_data.clear()  # hazard_sites of this lake may be cached from before the upsert
    return home


def add_sites(lake: Path) -> None:
    """Write the sites of :data:`EXTRA`, their sensors and readings to ``lake`` (source
    ``test``)."""
    from riskwarn.lake import upsert

    site_rows, sensor_rows, readings = [], [], []
    for sid, sens in EXTRA.items():
        site_rows.append(
            {
                "source": "test",
                "record_id": sid,
                "name": f"测试点{sid}",
                "hazard_type": "landslide",
                "lon": 116.2,
                "lat": 30.8,
                "slope_class": 4,
                "people_threatened": 50,
                "volume_m3": 5000.0,
            }
        )
        for k, (stype, quantity, hours, values) in enumerate(sens):
            sensor = f"{sid}-{k}"
            sensor_rows.append(
                {
                    "source": "test",
                    "record_id": sensor,
                    "site_id": sid,
                    "sensor_type": stype,
                    "lon": 116.2,
                    "lat": 30.8,
                    "installed_at": END - pd.Timedelta(days=400),
                }
            )
            readings.append(
                pd.DataFrame(
                    {
                        "source": "test",
                        "record_id": [f"{sensor}-{i}" for i in range(len(hours))],
                        "sensor_id": sensor,
                        "observed_at": hours,
                        "interval_s": 3600,
                        "quantity": quantity,
                        "value": values,
                        "quality": "good",
                    }
                )
            )
    upsert(lake, "hazard_sites", "test", pd.DataFrame(site_rows), batch_id="t-sites")
    upsert(lake, "sensors", "test", pd.DataFrame(sensor_rows), batch_id="t-sensors")
    upsert(lake, "sensor_readings", "test", pd.concat(readings), batch_id="t-readings")


def _site(site: str, lang: str = "zh"):  # type: ignore[no-untyped-def]
    at = _open("reviewer", "geohazard", lang)
    at.selectbox(key="gh_site").set_value(site).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _charted(at) -> list[str]:  # type: ignore[no-untyped-def]
    """The y field of every Vega-Lite chart on the page (layered charts: of each layer)."""
    fields = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        for layer in spec.get("layer", [spec]):
            fields.append(layer["encoding"]["y"]["field"])
    return fields


def _infos(at) -> list[str]:  # type: ignore[no-untyped-def]
    return [m.value for m in at.info]


# ---------------------------------------------------------------- pure helpers


def test_series_state_tells_missing_zero_and_real_values_apart() -> None:
    nan = float("nan")
    assert sensors.series_state(pd.Series([], dtype=float)) == "missing"
    assert sensors.series_state(pd.Series([nan, nan])) == "missing"
    assert sensors.series_state(pd.Series([None, None], dtype=object)) == "missing"
    assert sensors.series_state(pd.Series([0.0, 0.0, nan])) == "zero"
    assert sensors.series_state(pd.Series([0.0, -0.0, 1e-12])) == "zero"
    assert sensors.series_state(pd.Series([0.0, 0.0, 0.2])) == "ok"
    assert sensors.series_state(pd.Series([nan, -1.5])) == "ok"  # negative velocity is real
    assert sensors.series_state(pd.Series([5.0, 5.0])) == "ok"  # flat but not zero: axis fine


def _daily(site: str) -> pd.DataFrame:
    frames = [
        pd.DataFrame({"sensor_id": f"{site}-{k}", "observed_at": h, "quantity": q, "value": v})
        for k, (_, q, h, v) in enumerate(EXTRA[site])
    ]
    return sensors.daily_site_series(pd.concat(frames, ignore_index=True), tz="Asia/Shanghai")


def test_tangent_gap_names_the_reason_the_angle_is_undefined() -> None:
    dry = _daily("HS901")
    assert sensors.series_state(dry["rain_mm"]) == "zero"
    assert sensors.tangent_gap(dry) is None  # steady creep: 45°
    # the last complete local day (the readings end at 07:00 Shanghai time on 20 Nov)
    assert dry["tangent_angle_deg"].iloc[-2] == pytest.approx(45.0, abs=0.5)
    assert sensors.series_state(_daily("HS902")["rain_mm"]) == "ok"
    assert sensors.tangent_gap(_daily("HS902")) == "no_displacement"
    assert sensors.tangent_gap(_daily("HS903")) == "too_few_readings"
    stable = _daily("HS904")
    assert sensors.series_state(stable["velocity_mm_per_day"]) == "zero"
    assert sensors.tangent_gap(stable) == "no_steady_creep"


# ---------------------------------------------------------------- the page (AppTest)


def test_demo_site_still_draws_all_four_charts(sites_home: Path) -> None:
    at = _open("reviewer", "geohazard")
    assert at.selectbox(key="gh_site").value == "HS001"  # red first
    assert _charted(at) == [
        "rain_mm",
        "displacement_mm",
        "velocity_mm_per_day",
        "tangent_angle_deg",
        "deg",  # the threshold rules layered on the angle
    ]
    assert not _infos(at)
    assert "阈值线" in _text(at)
    legend = [m.value for m in at.markdown if 'class="rw-legend"' in m.value]
    # this home's hourly nowcast is past its horizon (judged at the wall clock): every
    # site is grey, and the legend and the page say the data is out of date instead of
    # "no site has a warning now" (which implied all is well)
    assert len(legend) == 1 and 'data-rw-marks="0"' in legend[0]
    assert 'class="rw-legend-empty"' in legend[0] and "评估数据已过时" in legend[0]
    assert "目前所有隐患点均无预警" not in legend[0]
    assert "已超出其预报时效" in _text(at)


def test_dry_site_says_no_rain_instead_of_a_flat_zero_chart(sites_home: Path) -> None:
    at = _site("HS901")
    assert "rain_mm" not in _charted(at)
    # the readings run 2026-10-11T00:00Z to 11-19T23:00Z, i.e. 11 Oct 08:00 to 20 Nov
    # 07:00 in Shanghai: local days 11 Oct to 20 Nov (was "to 19 Nov", the UTC day)
    assert [i for i in _infos(at) if "无降雨" in i] == [
        "10月11日至11月20日无降雨：雨量计记录为 0 毫米。"
    ]
    # the other three still draw: displacement, velocity and a 45° tangent angle
    assert {"displacement_mm", "velocity_mm_per_day", "tangent_angle_deg"} <= set(_charted(at))
    en = _site("HS901", "en")
    assert "No rain from 11 Oct to 20 Nov: the rain gauge recorded 0 mm." in _infos(en)
    assert "rain_mm" not in _charted(en)


def test_site_without_displacement_sensor_explains_each_missing_chart(sites_home: Path) -> None:
    at = _site("HS902", "en")
    assert _charted(at) == ["rain_mm"]
    assert _infos(at) == [
        "No displacement data: there are no displacement readings for this site.",
        "Velocity not available: no displacement readings for this site.",
        "Tangent angle not available: no displacement readings for this site.",
    ]
    assert "Threshold lines" not in _text(at)  # no angle chart, no caption about its lines
    zh = _site("HS902")
    assert "无法计算切线角：该点没有位移读数。" in _infos(zh)
    assert "无位移数据：该点没有位移传感器读数。" in _infos(zh)


def test_one_day_of_displacement_is_too_few_for_a_tangent_angle(sites_home: Path) -> None:
    at = _site("HS903", "en")
    assert "displacement_mm" in _charted(at)  # the one day is drawn (as a point)
    assert "tangent_angle_deg" not in _charted(at)
    infos = _infos(at)
    assert "Tangent angle not available: too few displacement readings for a velocity " in (
        "\n".join(infos)
    )
    assert "Velocity not available: too few displacement readings (two days needed)." in infos
    disp = next(
        json.loads(c.proto.spec)
        for c in at.get("vega_lite_chart")
        if "displacement_mm" in c.proto.spec
    )
    assert disp["mark"]["point"] is True  # a one-point line would be invisible


def test_stable_site_says_no_movement_and_no_baseline(sites_home: Path) -> None:
    at = _site("HS904")
    # 5 mm flat: the axis is fine; the rules' angle of a sensor that does not move is 0°
    assert sorted(_charted(at)) == ["deg", "displacement_mm", "rain_mm", "tangent_angle_deg"]
    assert _infos(at) == ["10月11日至11月20日位移速率为 0：未监测到变形。"]  # local days


def test_site_without_own_gauge_shows_the_nearest_gauges_rain(sites_home: Path) -> None:
    """The simulation's and the demo city's gauges have no site id: the page reads the
    gauge the model reads (the nearest), instead of "no rain data" (reviewer finding D2)."""
    for lang in ("en", "zh"):
        at = _site("HS905", lang)
        zero = [i for i in _infos(at) if "No rain from" in i or "无降雨" in i]
        assert "rain_mm" in _charted(at) or zero, _infos(at)
        assert not [i for i in _infos(at) if "Rain unknown" in i or "降雨量未知" in i]


def test_rain_state_says_unknown_without_gauge_or_reading() -> None:
    gauge = pd.DataFrame({"record_id": ["G"], "sensor_type": ["rain_gauge"], "site_id": [None]})
    gnss = pd.DataFrame({"record_id": ["D"], "sensor_type": ["gnss"], "site_id": ["S"]})
    silent = pd.DataFrame({"rain_mm": [np.nan, np.nan]})
    assert sensors.rain_state(gnss, silent) == "no_gauge"
    assert sensors.rain_state(pd.concat([gnss, gauge]), silent) == "missing"
    assert sensors.rain_state(gauge, pd.DataFrame({"rain_mm": [0.0, 1.5]})) == "ok"
    # a day the gauge sent nothing is a gap, not 0 mm
    days = pd.to_datetime(["2026-06-01T01:00Z", "2026-06-03T01:00Z"])
    readings = pd.DataFrame(
        {"sensor_id": "G", "observed_at": days, "quantity": "rain_mm", "value": [2.0, 3.0]}
    )
    daily = sensors.daily_site_series(readings).set_index("day")["rain_mm"]
    assert daily.iloc[0] == 2.0 and np.isnan(daily.iloc[1]) and daily.iloc[2] == 3.0
    from dashboard.i18n import t

    assert "no rain gauge" in t("rain_no_gauge", "en") and "没有雨量计" in t("rain_no_gauge", "zh")
    from dashboard.review import evidence_value

    assert evidence_value("rain_24h_mm", None, "en").startswith("unknown")
    assert evidence_value("rain_24h_mm", None, "zh").startswith("未知")


def test_sensors_silent_together_are_offline_at_the_data_time(sites_home: Path) -> None:
    """Sensor health is judged at the nowcast's origin / the lake's newest reading, not at
    the site's own last reading: two sensors silent for 20 days while the lake goes on
    are offline, as the nowcast's dead-sensor rule says (before: "online 2/2", reviewer
    finding D1)."""
    for lang, word in (("en", "offline"), ("zh", "离线")):
        at = _site("HS906", lang)
        table = at.dataframe[-1].value.set_index(at.dataframe[-1].value.columns[0])
        status = table.iloc[:, 2]  # sensor id -> online / offline
        assert status["HS906-0"] == status["HS906-1"] == word, table
        online = next(m for m in at.metric if m.label in ("Sensors online", "在线传感器"))
        assert online.value == f"{int((status != word).sum())}/{len(status)}"
        assert ("dead-sensor rule" if lang == "en" else "断线规则") in _text(at)


def _chart(at, field: str):  # type: ignore[no-untyped-def]
    """The chart element (or layered chart) that draws ``field``."""
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        if field in [layer["encoding"]["y"]["field"] for layer in spec.get("layer", [spec])]:
            return chart
    raise AssertionError(f"no chart of {field}")


def _values(chart, field: str) -> list:  # type: ignore[no-untyped-def,type-arg]
    """Every value of ``field`` in the chart's data (the Arrow tables the page sends)."""
    import pyarrow as pa

    proto = chart.proto
    blobs = ([proto.data.data] if proto.data.data else []) + [d.data.data for d in proto.datasets]
    out: list = []  # type: ignore[type-arg]
    for blob in blobs:
        table = pa.ipc.open_stream(blob).read_all()
        if field in table.column_names:
            out += table.column(field).to_pylist()
    return out


def test_crack_meters_and_the_rules_angle_and_lines_are_charted(sites_home: Path) -> None:
    """Crack meters are charted beside GNSS; the angle chart shows each sensor's angle as
    the rules compute it, with the rules' four lines (reviewer finding D4)."""
    from riskwarn.sensor_rules import NOWCAST_RULES

    for lang, words in (
        ("en", "lines: 45° blue, 50° yellow, 80° orange, 85° red"),
        ("zh", "阈值线：45° 蓝色，50° 黄色，80° 橙色，85° 红色"),
    ):
        at = _site("HS906", lang)
        disp = _chart(at, "displacement_mm")
        assert set(_values(disp, "sensor_id")) == {"HS906-0", "HS906-1"}  # GNSS + crack meter
        angle = _chart(at, "tangent_angle_deg")
        assert set(_values(angle, "sensor_id")) == {"HS906-0", "HS906-1"}
        assert sorted(set(_values(angle, "deg"))) == [
            NOWCAST_RULES.attention_deg,
            NOWCAST_RULES.yellow_deg,
            NOWCAST_RULES.orange_deg,
            NOWCAST_RULES.red_deg,
        ]
        assert words in _text(at)


def test_rule_angles_are_the_nowcasts_angles() -> None:
    """The chart's angle at a step end is the one the nowcast's sensor rules give the same
    sensor there (riskwarn.nowcast.site_sensor_state's evidence)."""
    from riskwarn.nowcast import site_sensor_state

    origin = pd.Timestamp("2026-07-01T00:00Z")
    t = pd.date_range(origin - pd.Timedelta(days=40), origin, freq="10min", inclusive="left")
    days = (t - t[0]).total_seconds().to_numpy() / 86400.0
    rng = np.random.default_rng(3)
    creep = 0.5 * days + rng.normal(0, 0.05, len(t))
    surge = creep + np.where(days > 38, (days - 38) ** 3 * 4.0, 0.0)
    readings = pd.concat(
        [
            pd.DataFrame({"sensor_id": "C1", "quantity": "crack_width_mm", "value": creep}),
            pd.DataFrame({"sensor_id": "G1", "quantity": "displacement_mm", "value": surge}),
        ]
    ).assign(observed_at=np.concatenate([t, t]), interval_s=600, quality="good")
    sensor_table = pd.DataFrame(
        {"record_id": ["C1", "G1"], "site_id": "S", "sensor_type": ["crack_meter", "gnss"]}
    )
    state = site_sensor_state(pd.DataFrame({"record_id": ["S"]}), sensor_table, readings, origin)
    want = {e["sensor_id"]: e["tangent_angle_deg"] for e in state["evidence"].iloc[0]["sensors"]}
    got = sensors.rule_angles(readings)
    last = got.loc[got["at"] == origin].set_index("sensor_id")["tangent_angle_deg"]
    assert want["G1"] > want["C1"]
    assert last.round(1).to_dict() == want


def test_site_days_are_the_citys_local_days_their_labels_name() -> None:
    """Review S13: readings were bucketed by the UTC day and labelled with the local date,
    so in Shanghai (UTC+8) the rain of 00:00-08:00 on 1 June was drawn on 31 May. Days
    are now local calendar days (Asia/Shanghai here; America/New_York across a DST day)."""
    tz = "Asia/Shanghai"
    at = pd.to_datetime(
        ["2026-05-31T17:00Z", "2026-06-01T03:00Z", "2026-06-01T17:00Z"]  # 1 Jun 01:00, 11:00; 2 Jun
    )
    rain = pd.DataFrame(
        {"sensor_id": "G", "observed_at": at, "quantity": "rain_mm", "value": [5.0, 3.0, 1.0]}
    )
    disp = rain.assign(sensor_id="D", quantity="displacement_mm", value=[10.0, 11.0, 12.0])
    daily = sensors.daily_site_series(pd.concat([rain, disp]), tz=tz)
    labels = daily["day"].dt.tz_convert(tz).dt.strftime("%Y-%m-%d").tolist()
    assert labels == ["2026-06-01", "2026-06-02"]
    assert daily["rain_mm"].tolist() == [8.0, 1.0]
    assert daily["displacement_mm"].tolist() == [11.0, 12.0]  # the local day's last value
    per = sensors.sensor_displacement(disp, tz=tz)
    assert per["day"].dt.tz_convert(tz).dt.strftime("%Y-%m-%d").tolist() == labels
    assert per["displacement_mm"].tolist() == [11.0, 12.0]
    # a 25-hour local day (DST ends 2026-11-01 in New York) is one day, none skipped
    ny = pd.to_datetime(["2026-10-31T12:00Z", "2026-11-02T12:00Z"])
    r = pd.DataFrame(
        {"sensor_id": "G", "observed_at": ny, "quantity": "rain_mm", "value": [1.0, 2.0]}
    )
    days = sensors.daily_site_series(r, tz="America/New_York")["day"]
    local = days.dt.tz_convert("America/New_York")
    assert local.dt.strftime("%Y-%m-%d %H:%M").tolist() == [
        "2026-10-31 00:00",
        "2026-11-01 00:00",
        "2026-11-02 00:00",
    ]


def test_gaps_and_spikes_say_what_they_count_and_over_which_window(sites_home: Path) -> None:
    """'Gaps / Spikes 0 / 18' had no unit or window (user review of 2026-12-07): its help
    names the days read and what a gap and a spike are, in the page's language."""
    for lang, words in (("en", ("last 90 days", "3 times")), ("zh", ("近 90 天", "3 倍"))):
        at = _site("HS906", lang)
        m = next(m for m in at.metric if m.label in ("Gaps / Spikes", "数据缺口 / 异常跳变"))
        assert m.help and all(w in m.help for w in words), m.help
