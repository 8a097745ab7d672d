"""Failure behaviour of the streaming path (issue 16), against a real Mosquitto broker:

* the serving store (a PostgreSQL database of its own) unreachable for 30 s while a
  failing slope's readings arrive: nothing lost, nothing doubled, the red change
  published and delivered once (e-mail + signed webhook) after it comes back;
* the lake unwritable (its files made immutable, EPERM even for root): nothing
  acknowledged to the broker meanwhile, a clear FAILING line in the status, no crash,
  every reading stored once after it comes back;
* a reading-spike storm (in-range jumps, absurd and non-finite values): non-finite
  values quarantined with their reason, jumps flagged, the spiky sensors reported as
  such (never read as a red slope), nothing delivered, no crash.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import pytest

from testkit.stream_helpers import (
    MOSQUITTO,
    Broker,
    TcpProxy,
    Webhook,
    slope_readings,
    smtp_server,
    stream_consumer,
    wait_for,
)
from tests.test_stream import Running, _failing_slope, _in_force, _lake, _publish, _steady

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed")


def _consumer(settings: Any, broker: Broker, store_url: str | None = None, **kw: Any) -> Any:
    return stream_consumer(
        settings.home,
        broker.port,
        store_url=store_url or settings.resolved_store_url,
        lake_dir=settings.lake_dir,
        client_id="rw-faults",
        **kw,
    )


def _status(settings: Any) -> str:
    from riskwarn.stream.status import status_line

    return status_line(settings.home / "run" / "stream.status.json")


def _failing_status(settings: Any) -> str:
    line = _status(settings)
    return line if "FAILING publishing" in line else ""


def test_postgres_outage_30s_loses_doubles_nothing_delivers_once(
    settings: Any, broker: Broker, pg_url: str, tmp_path: Path
) -> None:
    from riskwarn.store import Store
    from riskwarn.stream.delivery import SIGNATURE_HEADER, TIMESTAMP_HEADER, load_config, verify
    from riskwarn.stream.publish import DOMAIN

    u = urlsplit(pg_url)
    proxy = TcpProxy(u.port or 5432)
    proxy.start()
    url = pg_url.replace(f"@{u.hostname}:{u.port or 5432}/", f"@127.0.0.1:{proxy.port}/")
    assert url != pg_url
    secret = "outage-test-webhook-secret-0123456789"
    first, second = _in_force(*_failing_slope())  # delivered: its warning is in force
    total = len(first) + len(second)
    with smtp_server() as (smtp_port, mails), Webhook() as hook:
        contacts = tmp_path / "contacts.json"
        contacts.write_text(
            json.dumps(
                {
                    "smtp": {"host": "127.0.0.1", "port": smtp_port, "from": "riskwarn@test"},
                    "webhook": {"url": hook.url, "secret_env": "RW_OUTAGE_HOOK_SECRET"},
                    "escalate_after_minutes": 600,
                    "retry_base_s": 0.2,
                    "contacts": {"duty-1": {"email": "duty1@example.test", "webhook": True}},
                    "routes": {"sites": {"H1": ["duty-1"]}},
                }
            )
        )
        import os

        os.environ["RW_OUTAGE_HOOK_SECRET"] = secret
        cfg = load_config(contacts)
        try:
            with Running(_consumer(settings, broker, url, delivery=cfg)) as c:
                _publish(broker, first)
                wait_for(lambda: c.counters.received >= len(first), 60)
                wait_for(c.settled, 400)
                changes = c.counters.level_changes
                assert len(mails) == 0 and c.counters.deliveries_logged == 0  # not yet red
                # -- the database goes away: listener closed, open connections cut
                proxy.stop()
                down = time.monotonic()
                _publish(broker, second)
                wait_for(lambda: c.counters.received >= total, 60)
                wait_for(lambda: len(_lake(settings)) == total, 60)  # the lake needs no store
                wait_for(lambda: "publishing" in c.counters.failing, 120)  # red is waiting
                assert c.counters.level_changes == changes
                line = wait_for(lambda: _failing_status(settings), 30)
                assert "FAILING publishing" in line
                time.sleep(max(0.0, 30.0 - (time.monotonic() - down)))
                assert time.monotonic() - down >= 30.0
                assert len(mails) == 0 and len(hook.received) == 0
                # -- back
                proxy.start()
                wait_for(lambda: c.counters.level_changes > changes, 120)
                wait_for(lambda: len(mails) >= 1 and len(hook.received) >= 1, 60)
                time.sleep(5)  # any second copy would come now
                assert "publishing" not in c.counters.failing
            store = Store(url)
            w = store.warnings(domain=DOMAIN)
            assert w["unit_id"].tolist() == ["H1"] and w["level"].iloc[0] == "red"
            log = store.deliveries()
            store.close()
        finally:
            proxy.stop()
    assert len(mails) == 1 and len(hook.received) == 1  # delivered once
    headers, body = hook.received[0]
    assert verify(secret, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert json.loads(body)["to_level"] == "red"
    assert len(log) == 2 and set(log["status"]) == {"sent"}
    assert log["attempts"].tolist() == [1, 1]
    lake = _lake(settings)
    assert len(lake) == total and lake["record_id"].is_unique  # nothing lost, nothing doubled


def _chattr(flag: str, path: Path) -> bool:
    exe = shutil.which("chattr")
    if exe is None:
        return False
    return subprocess.run([exe, "-R", flag, str(path)], capture_output=True).returncode == 0


def test_lake_unwritable_holds_the_readings_and_says_so(settings: Any, broker: Broker) -> None:
    readings = _steady(120)
    head, tail = readings.iloc[:40], readings.iloc[40:]
    with Running(_consumer(settings, broker)) as c:
        _publish(broker, head)
        wait_for(lambda: len(_lake(settings)) == len(head), 60)
        if not _chattr("+i", settings.lake_dir):
            pytest.skip("cannot make the lake immutable here (chattr)")
        try:
            _publish(broker, tail)
            wait_for(lambda: c.counters.lake_retries >= 2, 60)
            assert "lake write" in c.counters.failing
            assert c.counters.received == len(head)  # nothing counted (or acknowledged)
            line = _status(settings)
            assert "FAILING lake write" in line and "permission denied" in line, line
            assert c.counters.connected and not c.stopping.is_set()
        finally:
            assert _chattr("-i", settings.lake_dir)
        wait_for(lambda: c.counters.received >= len(readings), 60)
        assert "lake write" not in c.counters.failing
    lake = _lake(settings)
    assert len(lake) == len(readings) and lake["record_id"].is_unique


def test_spike_storm_is_flagged_quarantined_and_never_red(settings: Any, broker: Broker) -> None:
    from riskwarn.store import Store
    from riskwarn.stream.publish import DOMAIN
    from riskwarn.stream.replay import connect

    start = pd.Timestamp.now(tz="UTC").floor("10min") - pd.Timedelta(hours=31)
    parts = []
    for i in range(10):  # 10 slopes creeping steadily, 30 h of 10-min readings each
        r = slope_readings(
            f"S{i}", start=start, steady_days=99, failure_after_days=30 / 24, step="10min", seed=i
        )
        late = r.index[-36:][::2]  # the last 6 h: every other reading jumps 40-400 mm
        r.loc[late, "value"] += [40.0 * (1 + (k % 10)) * (-1) ** k for k in range(len(late))]
        parts.append(r)
    readings = pd.concat(parts, ignore_index=True)
    with Running(_consumer(settings, broker)) as c:
        for i, r in enumerate(parts):
            _publish(broker, r, site=f"H{i}")
        # absurd and non-finite values on top (NaN / Infinity are not JSON; 1e400 overflows)
        client = connect("127.0.0.1", broker.port)
        bad = ["NaN", "Infinity", "-Infinity", "1e400"]
        for k, v in enumerate(bad * 25):
            t = (start + pd.Timedelta(minutes=k)).isoformat()
            payload = (
                f'{{"sensor_id":"S0","observed_at":"{t}","interval_s":600,'
                f'"quantity":"displacement_mm","value":{v},"quality":"good"}}'
            )
            client.publish("riskwarn/v1/readings/simcity/H0/S0", payload, qos=1).wait_for_publish()
        client.loop_stop()
        client.disconnect()
        wait_for(lambda: c.counters.received >= len(readings) + 100, 120)
        wait_for(lambda: len(c.state.site_levels) == 10, 120)
        wait_for(c.settled, 120)
        assert c.counters.connected and not c.stopping.is_set()
    from riskwarn import lake as lk

    stored = _lake(settings)
    assert len(stored) == len(readings) and stored["record_id"].is_unique
    assert (stored["quality"] == "suspect").sum() > 0  # jumps judged within a micro-batch
    q = lk.read_quarantine(settings.lake_dir, ["simcity"])
    assert (q["reason"] == "not_finite").sum() == 100  # one row per (distinct) message
    levels = {s: lv.level_rank for s, lv in c.state.site_levels.items()}
    assert max(levels.values()) <= 1, levels  # spiky sensors: flagged, never read as red
    assert all(lv.health_status == "spiky" for lv in c.state.site_levels.values())
    assert c.counters.deliveries_logged == 0
    store = Store(settings.resolved_store_url)
    w = store.warnings(domain=DOMAIN)
    store.close()
    assert set(w["level"]) <= {"blue"}
    assert all(
        any("spike" in r["en"] for r in reasons if isinstance(r, dict)) for reasons in w["reasons"]
    )


def test_unexpected_publish_error_is_retried_and_the_level_served(
    settings: Any, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """An error outside the store transaction (here an OSError from the first look at
    the changes, as a full disk or a bug would raise) ended the publishing thread
    silently: nothing was published again until a restart (failed before the fix:
    no level change ever came). Now it is logged by its kind alone (no site, no file
    name) and the round is tried again; the blue level reaches the serving store."""
    import errno
    import logging

    from riskwarn.store import Store
    from riskwarn.stream.publish import DOMAIN
    from tests.test_stream_instances import _spiky

    sites = _spiky(1)
    raised: list[int] = []
    with (
        caplog.at_level(logging.ERROR, logger="riskwarn.stream.consumer"),
        Running(_consumer(settings, broker, confirm_steps=1)) as c,
    ):
        real = c.publisher.changes

        def once(levels: Any) -> Any:  # the real changes, with one fault injected
            out = real(levels)
            if out and not raised:
                raised.append(1)
                raise OSError(errno.ENOSPC, "No space left on device", "/private/H0-site")
            return out

        c.publisher.changes = once
        for site, r in sites.items():
            _publish(broker, r, site=site)
        wait_for(lambda: c.counters.level_changes >= 1, 90)
        wait_for(c.settled, 60)
        assert raised and "publishing" not in c.counters.failing
    store = Store(settings.resolved_store_url)
    w = store.warnings(domain=DOMAIN)
    store.close()
    assert w["unit_id"].tolist() == ["H0"] and w["level"].tolist() == ["blue"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("OSError: No space left on device" in m for m in errors), errors
    assert not any("H0" in m or "/private" in m for m in errors), errors


@pytest.mark.parametrize("where", ["store", "outside"])
def test_a_round_that_keeps_failing_is_reported_stuck_and_published_once_it_works(
    settings: Any,
    broker: Broker,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    """A round whose publishing fails on every attempt (``store``: inside the store
    transaction, as a constraint a row breaks would; ``outside``: before it, as a bug
    would) holds back every later level change. After PUBLISH_STUCK_AFTER attempts in a
    row `riskwarn stream --status` says publishing is stuck, with the error's class, the
    count and the rounds waiting; the log says it by class and code location, never the
    error's message (here a recipient's address and a site id); publishing keeps trying
    and the level is served once the fault is gone, the stuck report then gone too.
    Before: the status showed the first line of the message and no count, the store
    path logged the message every second."""
    import logging

    from riskwarn.store import Store
    from riskwarn.stream import consumer as consumer_mod
    from riskwarn.stream.publish import DOMAIN
    from tests.test_stream_instances import _spiky

    monkeypatch.setattr(consumer_mod, "PUBLISH_STUCK_AFTER", 3, raising=False)
    sites = _spiky(1)
    fault = {"on": True, "raised": 0}
    secret = "cannot deliver to alice@example.org for site H0 at /private/H0"
    with (
        caplog.at_level(logging.INFO, logger="riskwarn.stream.consumer"),
        Running(_consumer(settings, broker, confirm_steps=1)) as c,
    ):
        if where == "store":
            real_publish = c.publisher.publish

            def publish(*a: Any, **kw: Any) -> Any:
                if fault["on"]:
                    fault["raised"] += 1
                    raise ValueError(secret)
                return real_publish(*a, **kw)

            c.publisher.publish = publish
        else:
            real_changes = c.publisher.changes

            def changes(levels: Any) -> Any:
                out = real_changes(levels)
                if out and fault["on"]:
                    fault["raised"] += 1
                    raise KeyError(secret)
                return out

            c.publisher.changes = changes
        for site, r in sites.items():
            _publish(broker, r, site=site)
        kind = "ValueError" if where == "store" else "KeyError"
        line = wait_for(
            lambda: _failing_status(settings) if "stuck" in _status(settings) else "", 120
        )
        assert re.search(
            rf"FAILING publishing since \S+: stuck: one round failed \d+ times in a row, last {kind};",
            line,
        ), line
        assert "later round(s) wait behind it" in line, line
        assert "alice" not in line and "H0" not in line and "/private" not in line, line
        status = json.loads((settings.home / "run" / "stream.status.json").read_text())
        assert status["publish_failures"] >= 3
        assert c.counters.level_changes == 0  # held back
        fault["on"] = False
        wait_for(lambda: c.counters.level_changes >= 1, 90)
        wait_for(c.settled, 60)
        assert "publishing" not in c.counters.failing and c.publish_failures == 0
        wait_for(lambda: "FAILING" not in _status(settings), 30)
    store = Store(settings.resolved_store_url)
    w = store.warnings(domain=DOMAIN)
    store.close()
    assert w["unit_id"].tolist() == ["H0"] and w["level"].tolist() == ["blue"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    stuck = [m for m in errors if "publishing is stuck" in m]
    assert stuck and all(kind in m for m in stuck), errors
    assert fault["raised"] >= 3
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "alice" not in text and "/private" not in text, text
    assert not any("H0" in m for m in errors), errors
    assert not any(r.exc_info for r in caplog.records)  # no traceback (it holds the message)
