"""A slow receiver must not log a delivered page ``failed`` (attack review, 2026-12-07).

A socket's timeout applies to each read: a receiver dripping its answer a byte a second
kept a send going past its claim's lease (``claim_lease_s``). Another sender took the
row and sent it again, recorded ``sent``, and the first sender's late 503 then
overwrote it with ``failed``: retried every 10 minutes (more duplicates) and escalated
as unreached though the page was delivered. Now the whole send has a deadline
(``timeout_s``, shorter than the lease), an outcome is recorded only while the row is
still its claim's (a late one is audited ``delivery_late_outcome``), a ``sent`` row is
never downgraded, and a send that could not end inside its lease is not started.
Real local receivers (HTTP and SMTP, dripping bytes); SQLite and PostgreSQL; the
store's clock is the test's.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from testkit.stream_helpers import wait_for
from tests.test_delivery_failed import Clock, _queued

DRIP_S = 8  # the slow receiver's answer takes this long (a byte a second)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: Any, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'serving.db'}"
    return str(request.getfixturevalue("pg_url"))


@contextmanager
def _receiver(posts: list[float], *, drip: str = "status") -> Iterator[str]:
    """A webhook receiver that answers slowly, a byte a second for :data:`DRIP_S` s.
    ``drip="status"``: its first POST is answered 503, the status line dripped; the
    others 200 at once. ``drip="body"``: every POST is accepted at once (status line
    "200 OK" and its headers), then its body dripped. Yields its url."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            posts.append(time.monotonic())
            if drip == "status" and len(posts) > 1:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if drip == "status":
                line = b"HTTP/1.1 503 Service Unavailable\r\n"
                head, drops = line[DRIP_S:] + b"Content-Length: 0\r\n\r\n", line[:DRIP_S]
            else:
                self.send_response(200)
                self.send_header("Content-Length", str(DRIP_S))
                self.end_headers()
                head, drops = b"", b"." * DRIP_S
            try:
                self.wfile.flush()
                for i in range(DRIP_S):
                    if drip == "body":
                        time.sleep(1)
                    self.wfile.write(drops[i : i + 1])
                    self.wfile.flush()
                    if drip == "status":
                        time.sleep(1)
                self.wfile.write(head)
                self.wfile.flush()
            except OSError:  # the sender gave up, or closed the connection
                pass
            self.close_connection = True

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/h"
    finally:
        server.shutdown()
        server.server_close()


def _cfg(tmp_path: Path, hook_url: str, **keys: Any) -> Any:
    from riskwarn.stream.delivery import load_config

    body = {
        "contacts": {"duty-1": {"webhook": True}},
        "routes": {"default": ["duty-1"]},
        "webhook": {"url": hook_url, "secret_env": "RW_SLOW"},
        "timeout_s": 2,
        "claim_lease_s": 5,
        "max_attempts": 1,
        **keys,
    }
    path = tmp_path / "contacts.yaml"
    path.write_text(json.dumps(body), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RW_SLOW", "s" * 32)
        return load_config(path)


def _store(url: str, clock: Clock) -> Any:
    from riskwarn.store import Store

    store = Store(url, clock=clock)
    store.upgrade()
    return store


def test_an_accepted_page_whose_answer_body_drips_is_recorded_sent_once(
    tmp_path: Path, url: str
) -> None:
    """Attack review (2026-12-07): the receiver answered "200 OK" at once and then dripped
    its body; the sender waited for the body, hit its deadline and recorded a failed
    attempt: three POSTs answered 200, the row ``failed`` and escalated as unreached.
    The status line decides: one POST, recorded ``sent``, nothing due again."""
    from riskwarn.stream.delivery import deliver_due

    clock, posts = Clock(), list[float]()
    store = _store(url, clock)
    with _receiver(posts, drip="body") as hook:
        cfg = _cfg(tmp_path, hook, max_attempts=3)
        _queued(store, cfg, clock)
        start = time.monotonic()
        counts = deliver_due(store, cfg)
        took = time.monotonic() - start
        clock.now += pd.Timedelta(minutes=30)
        again = deliver_due(store, cfg)
    assert took < DRIP_S - 2, took  # not waiting for the body (old code: SendDeadline at 2 s)
    assert counts["sent"] == 1 and counts["retry"] == counts["failed"] == 0
    assert again["sent"] == again["retry"] == again["failed"] == 0
    assert len(posts) == 1
    (row,) = store.deliveries().to_dict("records")
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 1, None)
    store.close()


def test_a_lost_claims_late_failure_does_not_overwrite_sent(tmp_path: Path, url: str) -> None:
    """The attack: sender A's POST drips; the lease runs out (the store's clock moves 7 s,
    lease 6 s, timeout 3 s) and sender B sends the row, recorded ``sent``. A's outcome (its send is
    cut at its deadline) comes after its claim was lost: audited, not recorded. On the
    old code the row ended ``failed``, 2 attempts, due again in 10 minutes."""
    from riskwarn.stream.delivery import deliver_due

    clock, posts = Clock(), list[float]()
    store = _store(url, clock)
    with _receiver(posts) as hook:
        cfg = _cfg(tmp_path, hook, timeout_s=3, claim_lease_s=6)
        _queued(store, cfg, clock)
        res: dict[str, Any] = {}
        a = threading.Thread(target=lambda: res.update(A=deliver_due(_store(url, clock), cfg)))
        a.start()
        wait_for(lambda: posts, timeout=20, every=0.02)  # A's POST is under way
        clock.now += pd.Timedelta(seconds=7)  # A's lease ran out while its answer drips
        res["B"] = deliver_due(_store(url, clock), cfg)
        a.join(timeout=30)
    assert len(posts) == 2  # at least once: the lease ran out, B sent it again
    assert res["B"]["sent"] == 1 and res["A"]["failed"] == res["A"]["retry"] == 0
    (row,) = store.deliveries().to_dict("records")
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 1, None)
    assert bool(row["maybe_heard"])  # B's claim took a row A may have delivered
    (late,) = store.audit_entries("delivery", str(row["delivery_id"]), ("delivery_late_outcome",))
    details = late["details"]
    assert (details["outcome"], details["error"], details["status_now"]) == (
        "failed",
        "SendDeadline",
        "sent",
    )
    store.close()


def test_the_whole_send_ends_at_its_deadline(tmp_path: Path, url: str) -> None:
    """Alone, a sender whose receiver drips for 8 s gives up at ``timeout_s`` (2 s),
    inside its lease (5 s), and records the attempt as its claim's (on the old code the
    send took 8 s, past the lease)."""
    from riskwarn.stream.delivery import deliver_due

    clock, posts = Clock(), list[float]()
    store = _store(url, clock)
    with _receiver(posts) as hook:
        cfg = _cfg(tmp_path, hook, max_attempts=3)
        _queued(store, cfg, clock)
        start = time.monotonic()
        counts = deliver_due(store, cfg)
        took = time.monotonic() - start
    assert took < DRIP_S - 2, took  # 2 s and the store's work (old code: 8 s)
    assert counts["retry"] == 1 and len(posts) == 1
    (row,) = store.deliveries().to_dict("records")
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 1, "SendDeadline")
    store.close()


def test_a_late_success_of_a_lost_claim_records_the_page_sent(tmp_path: Path, url: str) -> None:
    """The store's side: claim A's lease runs out, claim B takes the row and fails; A's
    success then comes in: the page was delivered, so the row is ``sent`` (not retried,
    not escalated as unreached), audited; B's failure, later still, changes nothing.
    A failure recorded without a claim (a tool) never downgrades ``sent`` either."""
    from riskwarn.store.deliveries import CLAIM_KEY

    clock = Clock()
    store = _store(url, clock)
    cfg = _cfg(tmp_path, "http://127.0.0.1:9/h")
    _queued(store, cfg, clock)
    (due,) = store.due_deliveries()
    outcome, a = store.claim_delivery(due["delivery_id"], cfg.claim_lease_s)
    assert outcome == "claimed"
    clock.now += pd.Timedelta(seconds=6)
    outcome, b = store.claim_delivery(due["delivery_id"], cfg.claim_lease_s)
    assert outcome == "claimed" and a is not None and b is not None
    retry = clock() + pd.Timedelta(minutes=1)
    assert store.record_attempt(due["delivery_id"], ok=True, claim=a[CLAIM_KEY]) is False
    assert (
        store.record_attempt(
            due["delivery_id"], ok=False, error="HTTP 503", retry_at=retry, claim=b[CLAIM_KEY]
        )
        is False
    )
    store.record_attempt(due["delivery_id"], ok=False, error="HTTP 503")  # no claim
    (row,) = store.deliveries().to_dict("records")
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 0, None)
    entries = store.audit_entries("delivery", str(due["delivery_id"]), ("delivery_late_outcome",))
    said = sorted((e["details"]["outcome"], e["details"]["recorded_sent"]) for e in entries)
    assert said == [("failed", False), ("sent", True)]
    store.close()


def test_a_send_that_cannot_end_inside_its_lease_is_not_started(tmp_path: Path, url: str) -> None:
    """A claim that took longer than the lease's slack (lease 5 s - timeout 2 s - 2 s
    margin = 1 s; here a store 1.5 s slow) is released, the row due again, nothing
    sent (on the old code the POST went out, and could outlive the lease)."""
    from riskwarn.stream.delivery import deliver_due

    clock, posts = Clock(), list[float]()
    store = _store(url, clock)
    with _receiver(posts) as hook:
        cfg = _cfg(tmp_path, hook)
        _queued(store, cfg, clock)
        claim = store.claim_delivery

        def slow_claim(*args: Any, **kwargs: Any) -> Any:
            got = claim(*args, **kwargs)
            time.sleep(1.5)
            return got

        store.claim_delivery = slow_claim  # type: ignore[method-assign]
        counts = deliver_due(store, cfg)
        assert posts == [] and counts["sent"] == counts["retry"] == counts["failed"] == 0
        (row,) = store.deliveries().to_dict("records")
        assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 0, None)
        assert pd.Timestamp(row["next_attempt_at"]) <= pd.Timestamp(clock.now)
        store.claim_delivery = claim  # type: ignore[method-assign]
        posts.append(0.0)  # the receiver answers the next POST at once
        assert deliver_due(store, cfg)["sent"] == 1
    store.close()


def test_an_email_send_ends_at_its_deadline(tmp_path: Path) -> None:
    """An SMTP server dripping its greeting a byte a second: the send gives up at
    ``timeout_s`` (2 s), all of it (on the old code it waited for the whole greeting)."""
    from riskwarn import warnings as rw
    from riskwarn.stream.delivery import delivery_rows, load_config, send_email
    from riskwarn.stream.publish import DOMAIN, LevelChange

    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip() -> None:
        conn, _ = srv.accept()
        with conn:
            for byte in b"220 slow.example ESMTP\r\n":
                if stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(1)

    threading.Thread(target=drip, daemon=True).start()
    path = tmp_path / "contacts.yaml"
    path.write_text(
        json.dumps(
            {
                "contacts": {"duty-1": {"email": "duty1@example.test"}},
                "routes": {"default": ["duty-1"]},
                "smtp": {"host": "127.0.0.1", "port": srv.getsockname()[1], "from": "rw@test"},
                "timeout_s": 2,
                "claim_lease_s": 5,
            }
        ),
        encoding="utf-8",
    )
    cfg = load_config(path)
    at = pd.Timestamp.now(tz="UTC").floor("s") - pd.Timedelta(hours=1)
    change = LevelChange("H1", rw.warning_id(DOMAIN, "H1", at), 0, 4, at)
    (row,) = delivery_rows(cfg, change, [{"en": "x", "zh": "x"}])
    start = time.monotonic()
    try:
        with pytest.raises(OSError) as err:  # SendDeadline is a TimeoutError
            send_email(cfg, cfg.contacts["duty-1"], row["message"])
    finally:
        stop.set()
        srv.close()
    assert time.monotonic() - start < DRIP_S - 2  # 2 s (old code: 26 s)
    assert type(err.value).__name__ == "SendDeadline"
