"""The champion hourly site model on the stream (issue 16: the stream evaluates the hard
sensor rules *and* the site model): the stream's model input and score equal the batch
nowcast's on the same readings; through a real broker and a PostgreSQL store, a failing
slope is raised by the model with reasons naming it, a site only the model warns shows
the model's reason, and without a champion the stream runs on the rules and says so."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from testkit.stream_helpers import (
    MOSQUITTO,
    Broker,
    register_site_model,
    slope_readings,
    stream_consumer,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "configs" / "sources" / "sim_sensor_readings.yaml"
ORIGIN = pd.Timestamp("2024-07-10T12:00Z")
DOMAIN = "geohazard_hourly"


def _registry(root: Path, store: Any) -> str:
    from scripts.check_champion import adopt_champion

    uri = f"sqlite:///{root / 'mlflow.db'}"
    register_site_model(uri, (root / "artifacts").as_uri())
    adopt_champion(uri, store, DOMAIN)
    return uri


def test_stream_model_input_and_score_equal_the_nowcasts(tmp_path: Path) -> None:
    """Same readings, same origin: the stream's model input (its reading window, fed in
    micro-batches with redeliveries, through ``site_model_frame``) and probability equal
    the batch nowcast's (which reads the lake), for a site with its own gauge and for
    sites served by the nearest gauge."""
    from riskwarn import lake
    from riskwarn import serving_frames as sf
    from riskwarn.nowcast import nowcast_geohazard
    from riskwarn.settings import Settings
    from riskwarn.store import Store
    from riskwarn.stream.model import StreamSiteModel
    from tests.test_scoring import _geohazard_lake

    settings = Settings(
        home=tmp_path / "home", mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}"
    )
    settings.home.mkdir()
    _geohazard_lake(settings, ORIGIN)
    store = Store.from_settings(settings)
    store.upgrade()
    uri = _registry(tmp_path, store)
    assert uri == settings.resolved_mlflow_uri
    nowcast_geohazard(settings, ORIGIN, store=store)
    batch_p = store.published_forecasts(DOMAIN).set_index("unit_id")["probability"].astype(float)

    readings = lake.read_table(settings.lake_dir, "sensor_readings")
    m = StreamSiteModel(uri, store, settings.lake_dir, every_s=0.0)
    m.load()
    assert m.champion is not None and m.state == "riskwarn-geohazard_hourly v1"
    # micro-batches in arrival order, a few redelivered, plus readings after the origin
    # (the stream has them; the origin must not see them)
    shuffled = readings.sample(frac=1.0, random_state=3)
    for part in np.array_split(np.arange(len(shuffled)), 40):
        m.add(shuffled.iloc[part], {})
    m.add(readings.iloc[:500], {})
    later = readings.loc[
        readings["observed_at"] > readings["observed_at"].max() - pd.Timedelta("2h")
    ]
    m.add(later.assign(observed_at=later["observed_at"] + pd.Timedelta(hours=3)), {})

    sites = lake.read_table(settings.lake_dir, "hazard_sites")
    sensors = lake.read_table(settings.lake_dir, "sensors")
    batch = sf.site_model_frame(
        sites,
        sensors,
        sf.read_recent_readings(settings, ORIGIN, 35),
        ORIGIN,
        DOMAIN,
        "Asia/Shanghai",
    ).set_index("unit_id")
    for site in ["s1", "s2", "s3"]:
        got = m.model_input([site], ORIGIN).set_index("unit_id")
        cols = [c for c in batch.columns if c != "origin"]
        pd.testing.assert_frame_equal(got[cols], batch.loc[[site], cols], check_dtype=False)
        assert got["rain_24h_mm"].iloc[0] > 0  # s2, s3 take s1's gauge (nearest), as batch does
        score = m.score(site, ORIGIN, previous_rank=0)
        assert score is not None
        assert score.probability == pytest.approx(batch_p[site], abs=1e-12)
    store.close()


# -- through the broker ----------------------------------------------------------------

pytestmark_broker = pytest.mark.skipif(
    not Path(MOSQUITTO).exists(), reason="mosquitto is not installed"
)
FAIL = pd.Timestamp("2026-11-19", tz="UTC")


def _consumer(home: Path, store_url: str, broker: Broker, mlflow_uri: str | None) -> Any:
    return stream_consumer(
        home,
        broker.port,
        store_url=store_url,
        client_id="rw-model-test",
        mlflow_uri=mlflow_uri,
        model_every_s=0.0,
    )


def _publish(broker: Broker, readings: pd.DataFrame, sites: dict[str, str]) -> None:
    from riskwarn.stream.replay import connect, publish_readings

    client = connect("127.0.0.1", broker.port)
    try:
        for _ in publish_readings(client, "simcity", readings, sites):
            pass
    finally:
        client.loop_stop()
        client.disconnect()


def _rain(
    sensor_id: str, start: pd.Timestamp, end: pd.Timestamp, mm_per_10min: float
) -> pd.DataFrame:
    t = pd.date_range(start, end, freq="10min", inclusive="left")
    return pd.DataFrame(
        {
            "sensor_id": sensor_id,
            "observed_at": t,
            "interval_s": 600,
            "quantity": "rain_mm",
            "value": mm_per_10min,
            "quality": "good",
        }
    )


def _history(store: Any, site: str) -> pd.DataFrame:
    """Every published stream warning row of ``site`` (all runs), by data time."""
    from riskwarn.stream.publish import DOMAIN as STREAM

    w = store.warnings(domain=STREAM, published_only=False)
    w = w.loc[w["unit_id"] == site].copy()
    w["observed_to"] = [pd.Timestamp(e["observed_to"]) for e in w["evidence"]]
    return w.sort_values("observed_to").reset_index(drop=True)


def _caught_up(c: Any, sites: list[str], origin: pd.Timestamp, timeout: float) -> None:
    """Wait until every site is evaluated at ``origin`` and the levels are published."""

    def done() -> bool:
        lv = c.state.site_levels
        at = [lv[s].observed_to for s in sites if s in lv]
        return len(at) == len(sites) and min(at) >= origin and c.settled()

    wait_for(done, timeout, 0.5)


def _en(reasons: list[Any]) -> str:
    return " | ".join(r if isinstance(r, str) else r["en"] for r in reasons)


@pytestmark_broker
def test_model_raises_failing_slope_and_warns_a_site_the_rules_do_not(
    tmp_path: Path, broker: Broker, pg_url: str
) -> None:
    """A failing slope (H1) and a creeping slope under a storm (H2, its own rain gauge)
    replayed through the broker with a registered site model: H1 reaches red earlier than
    the rules alone put it (10 h before failure) with the model named in its reasons; H2,
    which the rules leave at no warning, is warned by the model, which says so."""
    from riskwarn.store import Store
    from riskwarn.stream.status import status_line

    store = Store(pg_url)
    store.upgrade()
    uri = _registry(tmp_path, store)
    start = pd.Timestamp("2026-11-16", tz="UTC")  # 3 days before the failure
    slope = slope_readings("G1", start=pd.Timestamp("2026-11-01", tz="UTC"), step="10min")
    slope = slope.loc[
        (slope["observed_at"] >= start) & (slope["observed_at"] < FAIL - pd.Timedelta(hours=6))
    ]
    creep = slope_readings(
        "G2",
        start=start,
        steady_days=99,
        failure_after_days=(FAIL - start).days,
        step="10min",
        seed=4,
    )
    creep = creep.loc[creep["observed_at"] < FAIL - pd.Timedelta(hours=6)]
    storm_from = FAIL - pd.Timedelta(days=1)
    rain = pd.concat(
        [
            _rain("R2", start, storm_from, 0.0),
            _rain("R2", storm_from, FAIL - pd.Timedelta(hours=6), 1.5),  # 9 mm/h
        ]
    )
    sites = {"G1": "H1", "G2": "H2", "R2": "H2"}
    home = tmp_path / "home"
    c = _consumer(home, pg_url, broker, uri)
    import threading

    th = threading.Thread(target=c.run, daemon=True)
    th.start()
    try:
        wait_for(lambda: c.counters.connected and c.model.champion is not None, 60)
        everything = pd.concat([slope, creep, rain]).sort_values("observed_at")
        # up to a day before the failure at once (a site not evaluated yet is evaluated
        # at its newest step), then the last day, each hour evaluated in order
        cut = FAIL - pd.Timedelta(hours=26)
        first = everything.loc[everything["observed_at"] < cut]
        _publish(broker, first, sites)
        _caught_up(c, ["H1", "H2"], cut - pd.Timedelta(hours=1), 240)
        _publish(broker, everything.loc[everything["observed_at"] >= cut], sites)
        wait_for(lambda: c.counters.received >= len(everything), 60)
        _caught_up(c, ["H1", "H2"], FAIL - pd.Timedelta(hours=7), 240)
        status = json.loads((home / "run" / "stream.status.json").read_text())
        assert status["model"] == "riskwarn-geohazard_hourly v1"
        assert status["model_evaluations"] > 0 and status["model_eval_ms"] > 0, (
            json.dumps(status),
            c.model.failing,
            c.model.evaluations,
            {k: (v.level_rank, v.reason_items) for k, v in c.state.site_levels.items()},
        )
        assert "site model: riskwarn-geohazard_hourly v1" in status_line(
            home / "run" / "stream.status.json"
        )
        h2_now = c.state.site_levels["H2"]
    finally:
        c.stop()
        th.join(30)
    h1 = _history(store, "H1")
    red = h1.loc[h1["level_rank"] == 4]
    assert len(red), h1[["observed_to", "level_rank"]]
    first_red = red.iloc[0]
    lead = (FAIL - first_red["observed_to"]) / pd.Timedelta(hours=1)
    assert lead > 10.0, [
        (t, r, e.get("model_probability"))
        for t, r, e in zip(h1["observed_to"], h1["level_rank"], h1["evidence"], strict=True)
    ]
    reasons = _en(first_red["reasons"])
    assert reasons.startswith("Site model riskwarn-geohazard_hourly v1: failure probability")
    assert "raised above the sensor rules'" in reasons
    ev = first_red["evidence"]
    assert ev["site_model"] == "riskwarn-geohazard_hourly v1" and ev["model_level_rank"] == 4
    assert ev["sensor_rules_level_rank"] < 4
    # the last step: the rules are red too (the floor); the model's reason stays
    final = h1.iloc[-1]
    assert final["level_rank"] == 4 and "Site model" in _en(final["reasons"])

    h2 = _history(store, "H2")
    warned = h2.loc[h2["level_rank"] >= 3]
    assert len(warned), (h2_now.evidence, h2_now.reason_items, c.model.failing)
    w = warned.iloc[0]
    assert w["evidence"]["sensor_rules_level_rank"] == 0  # the rules: no warning
    assert w["observed_to"] > storm_from  # warned by the storm, not before it
    assert _en(w["reasons"]).startswith("Site model riskwarn-geohazard_hourly v1")
    assert "raised above the sensor rules' no warning" in _en(w["reasons"])
    assert any("场地模型" in r["zh"] for r in w["reasons"] if isinstance(r, dict))
    store.close()


@pytestmark_broker
def test_without_champion_the_stream_runs_the_rules_and_says_so(
    tmp_path: Path, broker: Broker, pg_url: str
) -> None:
    """An empty registry: readings are stored, the failing slope is warned by the rules
    alone, each warning says "Model unavailable", and the status line says "rules only"."""
    import threading

    from riskwarn.store import Store
    from riskwarn.stream.status import status_line

    uri = f"sqlite:///{tmp_path / 'empty-mlflow.db'}"
    home = tmp_path / "home"
    c = _consumer(home, pg_url, broker, uri)
    # the failing slope of tests/test_stream.py: the rules alone put it at red 10 h
    # before the failure (the first part's hours are evaluated as they come: rules only)
    slope = slope_readings("G1", start=pd.Timestamp("2026-11-01", tz="UTC"), step="10min")
    slope = slope.loc[slope["observed_at"] <= FAIL - pd.Timedelta(hours=10)]
    th = threading.Thread(target=c.run, daemon=True)
    th.start()
    try:
        wait_for(lambda: c.counters.connected and c.model.state != "loading", 60)
        _publish(broker, slope, {"G1": "H1"})
        wait_for(lambda: c.counters.received >= len(slope), 60)
        _caught_up(c, ["H1"], FAIL - pd.Timedelta(hours=11), 400)
        time.sleep(1.0)  # the status file is written once per loop
        line = status_line(home / "run" / "stream.status.json")
    finally:
        c.stop()
        th.join(30)
    assert "site model: rules only: no champion registered" in line, line
    store = Store(pg_url)
    h1 = _history(store, "H1")
    assert len(h1) and h1["level_rank"].iloc[-1] == 4
    for reasons, ev in zip(h1["reasons"], h1["evidence"], strict=True):
        assert "Model unavailable: this warning comes from the sensor rules only." in _en(reasons)
        assert "Site model" not in _en(reasons)
        assert ev["site_model"] == "unavailable (sensor rules only)"
    assert c.model.evaluations == 0
    store.close()


def test_a_champion_whose_features_no_site_frame_has_is_refused_on_the_stream(
    tmp_path: Path,
) -> None:
    """As batch site scoring refuses it (tests/test_site_model_serving.py): the stream did
    load it and scored every site with the missing input NaN; now it is refused at load,
    audited ``champion_refused``, and the stream runs on the rules, saying why."""
    from models.registry import model_name
    from riskwarn.settings import Settings
    from riskwarn.store import Store
    from riskwarn.stream.model import StreamSiteModel
    from scripts.check_champion import adopt_champion, register
    from tests.test_scoring import _geohazard_lake

    settings = Settings(
        home=tmp_path / "home", mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}"
    )
    settings.home.mkdir()
    _geohazard_lake(settings, ORIGIN)
    store = Store.from_settings(settings)
    store.upgrade()
    uri = settings.resolved_mlflow_uri
    register(uri, (tmp_path / "artifacts").as_uri(), DOMAIN, "count_7d")  # a hotspot input
    adopt_champion(uri, store, DOMAIN)
    m = StreamSiteModel(uri, store, settings.lake_dir, every_s=0.0)
    m.load()
    assert m.champion is None, m.state
    assert m.state.startswith("rules only: refusing to serve riskwarn-geohazard_hourly v1"), m.state
    assert "lacks the champion's features ['count_7d']" in m.state, m.state
    (entry,) = store.audit_entries("model", model_name(DOMAIN), ("champion_refused",))
    assert "count_7d" in entry["details"]["reason"], entry
    store.close()
