"""The consumer's sensor -> site map (``run/stream.sites.json``) across restarts, with a
real Mosquitto broker (a private one per test), the real lake and the serving store.

The map is the only place that says which site a sensor belongs to after a restart (the
lake's readings do not name it). An earlier review said that saving it dropped the
sensors outside the rules' history window: not so (the first test passes on the code
before too): the warm-up keeps each sensor's own last 33 days of readings, so a quiet
sensor is in the state and in the map. What did lose mappings: the map was saved only
when a *site* was new, so a new sensor of a known site never reached the file and after
a restart its stored readings were not read (second test); and it was written from the
state alone, so a mapping whose sensor the warm-up did not add (no finite displacement
reading in the lake, e.g. a lake read that found none) was dropped at the next save.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskwarn.sources import load_mapping
from testkit.stream_helpers import MOSQUITTO, Broker, wait_for
from tests.test_stream import MAPPING, _batch_file, _lake, _publish
from tests.test_stream_crash import _red_then_lower_slope

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed")


def _home(settings: Any, tmp_path: Path, extra: pd.DataFrame, sites: dict[str, str]) -> Any:
    """G1's slope (H1) and ``extra`` in the lake, ``sites`` saved, H1's cursor at its
    newest step (nothing to replay); returns that step."""
    from riskwarn.ingest import ingest_files
    from riskwarn.stream.cursor import save_cursor

    first, second, _ = _red_then_lower_slope()
    ingest_files(
        load_mapping(MAPPING),
        [_batch_file(pd.concat([first, second, extra], ignore_index=True), tmp_path / "r.parquet")],
        settings,
        as_of=datetime.now(UTC),
    )
    run = settings.home / "run"
    run.mkdir(parents=True, exist_ok=True)
    (run / "stream.sites.json").write_text(json.dumps(sites))
    newest_step = second["observed_at"].max().floor("1h")
    save_cursor(run / "stream.cursor.json", {"H1": newest_step.value})
    return newest_step


def _consumer(settings: Any, broker: Broker, name: str) -> Any:
    from testkit.stream_helpers import Running, stream_consumer

    return Running(
        stream_consumer(
            settings.home,
            broker.port,
            store_url=settings.resolved_store_url,
            lake_dir=settings.lake_dir,
            client_id=name,
        )
    )


def _saved(settings: Any) -> dict[str, str]:
    return json.loads((settings.home / "run" / "stream.sites.json").read_text())


def test_a_quiet_sensor_keeps_its_site_across_restarts(
    settings: Any, broker: Broker, tmp_path: Path
) -> None:
    """Q1 (site H1) last reported on 2026-09-07, more than the rules' history window
    (33 days) before H1's cursor (G1, H1's other sensor, reports up to 2026-11-17 19:50,
    moved to the last hour).
    The warm-up reads its readings (its own last 33 days) and the state forgets it (silent
    for longer than the state's history, docs/streaming.md "Silent sensors"), but the map
    keeps it: a save of the map (N1, a new site) keeps it, and a restart reads its
    readings again. The map part passes on the code before too: the reported drop outside
    the history window does not happen."""
    from testkit.stream_helpers import slope_readings

    quiet = slope_readings("Q1", start=pd.Timestamp("2026-09-01", tz="UTC"), step="1h", seed=5)
    quiet = quiet.loc[quiet["observed_at"] < pd.Timestamp("2026-09-08", tz="UTC")]
    step = _home(settings, tmp_path, quiet, {"G1": "H1", "Q1": "H1"})
    new = slope_readings("N1", start=step, step="1h", seed=6).head(1)
    for name in ("first", "restarted"):
        with _consumer(settings, broker, "rw-sites-quiet") as c:
            wait_for(c.settled, 60)
            # silent for longer than the state's history (768 h of stream time before
            # G1's newest reading): forgotten by the state, kept in the map
            assert "Q1" not in c.state.sensors and c.state.forgotten == 1
            assert c.known_sites["Q1"] == "H1"
            if name == "first":
                _publish(broker, new, site="H9")
                wait_for(lambda: "N1" in _saved(settings), 30)  # a new site: saved
                wait_for(c.settled, 30)
    assert _saved(settings) == {"G1": "H1", "Q1": "H1", "N1": "H9"}


def test_a_new_sensor_of_a_known_site_is_saved_and_read_after_a_restart(
    settings: Any, broker: Broker, tmp_path: Path
) -> None:
    """G2 starts reporting at H1, a site the map already has. Its mapping must reach
    run/stream.sites.json, and after a restart its stored readings must be in the state.
    On the code before: the map was saved only for a new site, so G2 was not in the file
    and the restarted consumer did not read G2's readings (G2 not in the state: its site
    not evaluated with it until 24 h of new readings) (checked: fails)."""
    from testkit.stream_helpers import slope_readings

    step = _home(settings, tmp_path, pd.DataFrame(), {"G1": "H1"})
    g2 = slope_readings(
        "G2", start=step - pd.Timedelta(hours=5), step="1h", steady_days=99, seed=7
    ).head(6)
    with _consumer(settings, broker, "rw-sites-new-sensor") as c:
        wait_for(c.settled, 60)
        _publish(broker, g2, site="H1")
        wait_for(lambda: "G2" in c.state.sensors and len(c.state.sensors["G2"].recent) == 6, 30)
        wait_for(lambda: (_lake(settings)["sensor_id"] == "G2").sum() == 6, 30)  # durable
        wait_for(c.settled, 30)
    with _consumer(settings, broker, "rw-sites-new-sensor") as c:
        wait_for(c.settled, 60)
        assert "G2" in c.state.sensors, sorted(c.state.sensors)  # its readings read again
        assert c.state.sensors["G2"].last_ns == g2["observed_at"].max().value
        assert c.state.sensors["G2"].site_id == "H1"
    assert _saved(settings) == {"G1": "H1", "G2": "H1"}


def test_the_map_survives_kill9_of_a_real_consumer_process(
    settings: Any, broker: Broker, tmp_path: Path
) -> None:
    """The same with `riskwarn stream` processes: the quiet Q1 (site H1, last reading
    2026-09-07) and G1 stored; the process gets N1 (a new site, H9) and G2 (a new sensor
    of H1) over the broker and is killed with SIGKILL; the restarted process must warm
    up all four sensors (Q1 is then forgotten by the state again: silent for longer than
    its history; the map keeps it). On the code before: 3 sensors (G2 not in the map)
    (checked: fails)."""
    import os
    import signal
    import subprocess
    import sys

    from testkit.stream_helpers import slope_readings
    from tests.test_stream import ROOT

    quiet = slope_readings("Q1", start=pd.Timestamp("2026-09-01", tz="UTC"), step="1h", seed=5)
    quiet = quiet.loc[quiet["observed_at"] < pd.Timestamp("2026-09-08", tz="UTC")]
    step = _home(settings, tmp_path, quiet, {"G1": "H1", "Q1": "H1"})
    new = slope_readings("N1", start=step, step="1h", seed=6).head(1)
    g2 = slope_readings(
        "G2", start=step - pd.Timedelta(hours=5), step="1h", steady_days=99, seed=7
    ).head(6)
    env = {
        **os.environ,
        "RISKWARN_HOME": str(settings.home),
        "RISKWARN_STORE_URL": settings.resolved_store_url,
    }
    cmd = [sys.executable, "-m", "riskwarn.cli", "stream", "--port", str(broker.port)]
    cmd += ["--source", str(MAPPING), "--no-model", "--batch-s", "0.2"]
    cmd += ["--client-id", "rw-sites-kill9"]
    status = settings.home / "run" / "stream.status.json"

    def state() -> dict[str, Any]:
        try:
            return dict(json.loads(status.read_text()))
        except (OSError, ValueError):
            return {}

    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        status.unlink(missing_ok=True)
        p = subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        procs.append(p)
        wait_for(lambda: state().get("pid") == p.pid and state()["connected"], 60)
        wait_for(lambda: state()["backlog"] == 0, 60)
        return p

    try:
        proc = start()
        # G1 and the quiet Q1 read from the lake; Q1, silent for longer than the state's
        # history, forgotten by the state (kept in the map, asserted at the end)
        assert (state()["sensors"], state()["sensors_forgotten"]) == (1, 1), state()
        _publish(broker, new, site="H9")
        _publish(broker, g2, site="H1")
        wait_for(lambda: state()["new_in_lake"] >= 7 and state()["backlog"] == 0, 60)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
        start()
        # G1, Q1, N1, G2 read from the lake (Q1 forgotten again: 3 in the state)
        assert (state()["sensors"], state()["sensors_forgotten"]) == (3, 1), state()
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(30)
    assert _saved(settings) == {"G1": "H1", "Q1": "H1", "N1": "H9", "G2": "H1"}
