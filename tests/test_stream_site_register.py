"""A sensor's site: the lake's sensors register, not the first topic (attack review of
2026-12-07).

A sensor stayed bound to the site of the first topic it was seen on (saved in
``run/stream.sites.json``, never corrected); later topics naming another site were
ignored without quarantine or log, while the site model placed a registered sensor by
the register: the rules warned on a typo site and the model scored the real one. Now a
registered sensor's message under another site is quarantined ``site_mismatch``, the
saved map and the per-sensor state follow the register, and an unregistered sensor
keeps its first topic's site (logged when a topic names another)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskwarn.stream.state import SensorStates
from riskwarn.stream.validate import Message
from testkit.stream_helpers import displacement_message, free_port, stream_consumer


def _message(site: str | None, sensor: str, at: datetime, value: float = 1.0) -> Message:
    return displacement_message(sensor, at, value, site=site)


def _register(lake_dir: Path, rows: dict[str, str | None]) -> None:
    from riskwarn import lake
    from riskwarn.contracts import TABLES, conform

    frame = pd.DataFrame(
        {"record_id": list(rows), "site_id": list(rows.values()), "sensor_type": "gnss"}
    ).assign(source="simcity", installed_at=pd.Timestamp("2020-01-01", tz="UTC"))
    frame = conform(frame.reindex(columns=TABLES["sensors"].columns), TABLES["sensors"])
    lake.upsert(lake_dir, "sensors", "simcity", frame, batch_id="sensors")


def test_a_registered_sensor_under_another_site_is_quarantined_and_the_register_places_it(
    settings: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from riskwarn import lake

    _register(settings.lake_dir, {"G1": "SITE-A", "R1": None})
    # an older consumer bound G1 to the typo site of its first topic
    run = settings.home / "run"
    run.mkdir(parents=True, exist_ok=True)
    (run / "stream.sites.json").write_text(json.dumps({"G1": "SITE-B-typo", "U1": "SITE-U"}))
    c = stream_consumer(
        settings.home,
        free_port(),
        store_url=f"sqlite:///{tmp_path / 's.db'}",
        lake_dir=settings.lake_dir,
    )
    try:
        assert c.known_sites == {"G1": "SITE-A", "U1": "SITE-U"}  # one source of truth
        t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
        typo = _message("SITE-B-typo", "G1", t0)
        gauge = _message("SITE-A", "R1", t0)  # registered without a site: topic "_"
        good = [
            _message("SITE-A", "G1", t0 + timedelta(minutes=10)),
            _message(None, "R1", t0),
            _message("SITE-U2", "U2", t0),  # unregistered: placed by its topic
        ]
        c.process([typo, gauge, *good])
        stored = lake.read_table(settings.lake_dir, "sensor_readings", ["simcity"])
        assert sorted(stored["sensor_id"]) == ["G1", "R1", "U2"]
        assert stored.loc[stored["sensor_id"] == "G1", "observed_at"].iloc[0] == pd.Timestamp(
            t0 + timedelta(minutes=10)
        )
        q = lake.read_quarantine(settings.lake_dir, ["simcity"])
        assert sorted(q["reason"]) == ["site_mismatch", "site_mismatch"]
        assert set(q["batch_id"]) == {typo.key, gauge.key}
        text = " ".join(q["message"])
        assert "SITE-B-typo" in text and "SITE-A" in text
        # the evaluation thread places the readings at the register's site
        [h] = list(c.handoffs.queue)
        c._add(h)
        assert c.state.sites_map() == {"G1": "SITE-A", "U2": "SITE-U2"}
        # the register moves a sensor: the state follows at the next micro-batch
        _register(settings.lake_dir, {"G1": "SITE-C", "R1": None})
        c._read_register()
        c.process([_message("SITE-C", "G1", t0 + timedelta(minutes=20), 2.0)])
        hs = list(c.handoffs.queue)[1:]
        for h in hs:
            c._add(h)
        assert c.state.sites_map()["G1"] == "SITE-C"
        # an unregistered sensor under another site stays at its first site, logged
        caplog.set_level(logging.WARNING, logger="riskwarn.stream.state")
        c.process([_message("SITE-OTHER", "U2", t0 + timedelta(minutes=10))])
        for h in list(c.handoffs.queue)[1 + len(hs) :]:
            c._add(h)
        assert c.state.sites_map()["U2"] == "SITE-U2"
        assert "unregistered sensor U2" in caplog.text
    finally:
        c.store_lock.release()
        c.instance_lock.release()


def test_rebind_moves_a_sensor_and_its_readings() -> None:
    st = SensorStates()
    ts = pd.date_range("2023-06-01", periods=6, freq="10min", tz="UTC")
    rows = pd.DataFrame(
        {"sensor_id": "S1", "quantity": "displacement_mm", "observed_at": ts, "value": 1.0}
    )
    st.add(rows, {"S1": "SITE-B-typo"})
    assert st.rebind({"S1": "SITE-A", "S9": "X"}) == ["S1"]
    assert st.sites_map() == {"S1": "SITE-A"} and st.by_site == {"SITE-A": ["S1"]}
    assert len(st.sensors["S1"].recent) == 6
    assert st.rebind({"S1": None}) == ["S1"] and not st.sensors and not st.by_site
