"""Delivery under crashes and a full disk (issue 16), with real processes, a real
Mosquitto broker, PostgreSQL, a local SMTP server and an HTTP receiver:

* ``kill -9`` of the consumer between sending a message and recording it: the log never
  says 'sent' for a message whose sending was not confirmed; after the restart that one
  message goes again (at least once) with the same ``Idempotency-Key`` (and e-mail
  ``Message-ID``) for the receiver to drop; the one already recorded is not resent;
* a change and its deliveries are one transaction: if logging the deliveries fails, the
  change is not served either (before, a crash between the two served a change nobody
  was ever told about: after a restart the served level is read back as current);
* the riskwarn home on a full filesystem while readings arrive: the consumer keeps
  running, acknowledges nothing, says so in its log, and once space is back every
  reading is stored once and the level changes are published once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from testkit.stream_helpers import MOSQUITTO, Broker, smtp_server, wait_for
from tests.test_stream import MAPPING, ROOT, Running, _consumer, _lake, _publish
from tests.test_stream_instances import _spiky

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed")

SECRET = "crash-test-webhook-secret-0123456789abcdef"


class KillingWebhook:
    """Records every POST; while ``victim`` is set, SIGKILLs that process on receipt,
    before answering: the sender dies after sending and before it can record it."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.victim: int | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.received.append((dict(self.headers), body))
                if outer.victim is not None:
                    os.kill(outer.victim, signal.SIGKILL)
                    outer.victim = None
                    return  # no answer: the sender is gone
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_kill9_between_sending_and_recording(
    settings: Any, broker: Broker, pg_url: str, tmp_path: Path
) -> None:
    from riskwarn.store import Store
    from riskwarn.stream.delivery import (
        SIGNATURE_HEADER,
        TIMESTAMP_HEADER,
        enqueue,
        load_config,
        verify,
    )
    from riskwarn.stream.publish import LevelChange

    hook = KillingWebhook()
    with smtp_server() as (smtp_port, mails):
        contacts = tmp_path / "contacts.json"
        contacts.write_text(
            json.dumps(
                {
                    "smtp": {"host": "127.0.0.1", "port": smtp_port, "from": "riskwarn@test"},
                    "webhook": {"url": hook.url, "secret_env": "RW_CRASH_HOOK_SECRET"},
                    "escalate_after_minutes": 600,
                    "retry_base_s": 0.2,
                    # the in-flight claim is due again 5 s after the kill (default 120 s)
                    "timeout_s": 2,
                    "claim_lease_s": 5,
                    "contacts": {"duty-1": {"email": "duty1@example.test", "webhook": True}},
                    "routes": {"default": ["duty-1"]},
                }
            )
        )
        env = {
            **os.environ,
            "RISKWARN_HOME": str(settings.home),
            "RISKWARN_STORE_URL": pg_url,
            "RW_CRASH_HOOK_SECRET": SECRET,
        }
        os.environ["RW_CRASH_HOOK_SECRET"] = SECRET
        store = Store(pg_url)
        store.upgrade()
        # a red change logged for delivery (as the consumer logs it when publishing)
        change = LevelChange("H7", "geohazard_stream:H7:x", 0, 4, pd.Timestamp.now(tz="UTC"))
        assert enqueue(store, load_config(contacts), change, []) == 2  # e-mail + webhook
        cmd = [sys.executable, "-m", "riskwarn.cli", "stream", "--port", str(broker.port)]
        cmd += ["--source", str(MAPPING), "--contacts", str(contacts)]

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )

        proc = start()
        try:
            hook.victim = proc.pid
            assert proc.wait(180) == -signal.SIGKILL  # killed while its webhook was in flight
            log = store.deliveries().set_index("channel")
            # the e-mail went first and was recorded; the webhook reached the receiver,
            # but its sending was never confirmed: not reported as delivered
            assert len(mails) == 1 and len(hook.received) == 1
            assert log.loc["email", "status"] == "sent" and log.loc["email", "attempts"] == 1
            assert log.loc["webhook", "status"] == "pending"
            assert log.loc["webhook", "sent_at"] is None or pd.isna(log.loc["webhook", "sent_at"])
            # claimed for the contacts file's lease (5 s), not CLAIM_LEASE_S (120 s)
            lease_end = pd.Timestamp(log.loc["webhook", "next_attempt_at"])
            lease_end = lease_end if lease_end.tzinfo else lease_end.tz_localize("UTC")
            assert lease_end - pd.Timestamp.now(tz="UTC") <= pd.Timedelta(seconds=5)
            proc = start()
            wait_for(lambda: set(store.deliveries()["status"]) == {"sent"}, 180, 0.2)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        log = store.deliveries().set_index("channel")
        store.close()
    # at least once: the in-flight webhook went again, identical key, valid signature
    assert len(hook.received) == 2
    keys = {h["Idempotency-Key"] for h, _ in hook.received}
    assert keys == {f"{change.key}:duty-1"}
    assert all(
        verify(SECRET, h[TIMESTAMP_HEADER], b, h[SIGNATURE_HEADER]) for h, b in hook.received
    )
    assert {json.loads(b)["delivery_key"] for _, b in hook.received} == {change.key}
    # the recorded e-mail was not sent again; its Message-ID is the change's
    assert len(mails) == 1
    assert f"Message-ID: <{change.key}.duty-1@riskwarn>".encode() in mails[0].content
    assert log.loc["webhook", "status"] == "sent" and log.loc["webhook", "attempts"] == 1


def test_change_and_its_deliveries_are_one_transaction(pg_url: str) -> None:
    import sqlalchemy as sa

    from riskwarn.store import Store

    store = Store(pg_url)
    store.upgrade()
    origin = pd.Timestamp.now(tz="UTC").floor("s")

    def publish(channel: str) -> str:
        run_id = f"geohazard_stream:{channel}"
        store.stage_run(
            {
                "run_id": run_id,
                "domain": "geohazard_stream",
                "origin": origin.to_pydatetime(),
                "horizon_hours": 24.0,
            }
        )
        store.write_forecasts(
            run_id,
            pd.DataFrame(
                {
                    "unit_type": ["site"],
                    "unit_id": ["H1"],
                    "origin": [origin],
                    "valid_to": [origin + pd.Timedelta(hours=24)],
                    "score": [4.0],
                }
            ),
        )
        row = {
            "delivery_key": "k1",
            "warning_id": "w1",
            "domain": "geohazard_stream",
            "unit_id": "H1",
            "change": "new",
            "from_level": None,
            "to_level": "red",
            "channel": channel,
            "contact_id": "duty-1",
            "escalation_step": 0,
            "message": {},
            "changed_at": origin.to_pydatetime(),
        }
        return store.publish_run(run_id, actor="stream", deliveries=[row])

    with pytest.raises(sa.exc.IntegrityError):
        publish("fax")  # not a channel: logging the delivery fails ...
    assert store.published_run("geohazard_stream") is None  # ... so nothing was served
    assert store.deliveries().empty
    assert publish("email") == "published"
    assert store.published_run("geohazard_stream") is not None
    assert store.deliveries()["status"].tolist() == ["pending"]
    store.close()


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=700", "tmpfs", str(path)],
        capture_output=True,
    )
    return r.returncode == 0


def test_full_disk_while_consuming(settings: Any, broker: Broker) -> None:
    from riskwarn.store import Store
    from riskwarn.stream.publish import DOMAIN

    home = settings.home
    if not _mount_tmpfs(home, "24m"):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        sites = _spiky(2)
        total = sum(len(r) for r in sites.values())
        with Running(_consumer(settings, broker, confirm_steps=1)) as c:  # blue at once
            first = {s: r.iloc[:30] for s, r in sites.items()}
            for s, r in first.items():
                _publish(broker, r, site=s)
            head = sum(len(r) for r in first.values())
            wait_for(lambda: len(_lake(settings)) == head, 60)
            filler = home / "filler"
            with filler.open("wb") as f:  # fill the filesystem up
                try:
                    while True:
                        f.write(b"\0" * (1 << 20))
                        f.flush()
                except OSError:
                    pass
            try:
                for s, r in sites.items():
                    _publish(broker, r.iloc[30:], site=s)
                wait_for(lambda: c.counters.lake_retries >= 2, 60)
                failing = c.counters.failing.get("lake write", "")
                assert "no space left on device" in failing, failing
                assert c.counters.received == head  # nothing acknowledged meanwhile
                assert not c.stopping.is_set()
            finally:
                filler.unlink()
            wait_for(lambda: c.counters.received >= total, 120)
            wait_for(lambda: c.counters.level_changes >= len(sites) and c.settled(), 120)
            assert "lake write" not in c.counters.failing
        lake = _lake(settings)
        assert len(lake) == total and lake["record_id"].is_unique
        store = Store(settings.resolved_store_url)
        hist = store.forecast_history(DOMAIN)
        store.close()
        assert hist["run_id"].nunique() <= len(sites)
    finally:
        subprocess.run(["umount", "-l", str(home)], check=False)
