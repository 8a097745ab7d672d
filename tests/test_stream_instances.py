"""One ``riskwarn stream`` per home (issue 16), with real processes, a real Mosquitto
broker and a PostgreSQL serving store: a second consumer started beside a running one
(``make up`` twice, an operator by hand) refuses with a clear message and a non-zero
exit, instead of taking the broker session from the first in a loop (both used the
default client id ``riskwarn-stream``); every reading is stored once and no level change
is published twice; after a ``kill -9`` of the first, a new one starts (no stale lock)
and publishes nothing again."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from testkit.stream_helpers import MOSQUITTO, Broker, slope_readings, wait_for
from tests.test_stream import MAPPING, ROOT, _lake, _publish

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed")


def _spiky(site_count: int) -> dict[str, pd.DataFrame]:
    """Per site, 31 h of 10-min readings whose last 6 h jump: the rules put each at blue
    (spiky sensor) as soon as 24 h are in, so each site changes level exactly once (with
    ``confirm_steps`` 1: blue may come at the last step only)."""
    start = pd.Timestamp.now(tz="UTC").floor("10min") - pd.Timedelta(hours=31)
    out = {}
    for i in range(site_count):
        r = slope_readings(
            f"S{i}", start=start, steady_days=99, failure_after_days=30 / 24, step="10min", seed=i
        )
        late = r.index[-36:][::2]
        r.loc[late, "value"] += [40.0 * (1 + (k % 10)) * (-1) ** k for k in range(len(late))]
        out[f"H{i}"] = r
    return out


def test_second_consumer_refuses_nothing_doubles_kill9_frees_the_lock(
    settings: Any, broker: Broker, pg_url: str
) -> None:
    from riskwarn.store import Store
    from riskwarn.stream.publish import DOMAIN

    env = {**os.environ, "RISKWARN_HOME": str(settings.home), "RISKWARN_STORE_URL": pg_url}
    # the default client id on purpose: what `make up` and an operator both use
    cmd = [sys.executable, "-m", "riskwarn.cli", "stream", "--port", str(broker.port)]
    cmd += ["--batch-s", "0.2", "--source", str(MAPPING), "--confirm-steps", "1"]
    status = settings.home / "run" / "stream.status.json"

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )

    def state() -> dict[str, Any]:
        return json.loads(status.read_text())

    sites = _spiky(2)
    total = sum(len(r) for r in sites.values())
    first = start()
    procs = [first]
    try:
        wait_for(lambda: status.exists() and state()["connected"], 180)
        second = start()
        procs.append(second)
        _, err = second.communicate(timeout=120)
        assert second.returncode != 0
        assert "already running" in err and f"pid {first.pid}" in err, err
        assert "stream.lock" in err and "make down" in err, err
        assert err.strip().count("\n") == 0  # one line, no traceback
        # the first never lost its broker session, nor its status file
        assert first.poll() is None
        assert state()["pid"] == first.pid and state()["connected"]
        broker_log = (broker.dir / "mosquitto.log").read_text()
        assert "already connected" not in broker_log  # no session takeover
        for site, r in sites.items():
            _publish(broker, r, site=site)
        wait_for(lambda: state()["received"] >= total, 120)
        wait_for(lambda: state()["level_changes"] >= len(sites) and state()["backlog"] == 0, 180)
        # a crash of the first: the kernel drops its lock, a new consumer starts
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        third = start()
        procs.append(third)
        wait_for(lambda: state()["pid"] == third.pid and state()["connected"], 180)
        for site, r in sites.items():  # the devices send the same readings again
            _publish(broker, r, site=site)
        # the home's totals across restarts (riskwarn.stream.ledger): sent again, duplicates
        wait_for(lambda: state()["received"] >= 2 * total, 120)
        wait_for(lambda: state()["backlog"] == 0 and state()["sensors"] == len(sites), 120)
        assert state()["level_changes"] == 0  # served levels read back: nothing re-published
        # the home's counts through the refused second start and the kill -9: each reading
        # stored once, counted once; sent again, duplicates (a PUBACK lost in the kill:
        # delivered once more, one more duplicate)
        final = state()
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(30)
    lake = _lake(settings)
    assert len(lake) == total and lake["record_id"].is_unique  # each reading once
    assert (final["accepted"], final["quarantined"]) == (total, 0), final
    assert final["duplicates"] >= total
    assert final["received"] == final["accepted"] + final["duplicates"]
    store = Store(pg_url)
    try:
        w = store.warnings(domain=DOMAIN)
        hist = store.forecast_history(DOMAIN)
    finally:
        store.close()
    assert sorted(w["unit_id"]) == sorted(sites) and set(w["level"]) == {"blue"}
    # every published snapshot differs from the one before: no change published twice
    snaps = [
        tuple(zip(g["unit_id"], g["score"], strict=True))
        for _, g in hist.sort_values(["origin", "unit_id"]).groupby("run_id", sort=False)
    ]
    assert 1 <= len(snaps) <= len(sites)
    assert all(a != b for a, b in itertools.pairwise(snaps)), snaps
