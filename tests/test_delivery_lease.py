"""The claim's lease is a setting of the contacts file (``claim_lease_s``, default 120 s,
with the send's ``timeout_s``, default 10 s): a claimed delivery is its sender's for that
long, and a sender that dies before recording the outcome leaves it due again after it.
Before 2026-12-06 the lease was ``CLAIM_LEASE_S`` whatever the file said. A lease not
longer than the send's timeout (+ 2 s) is refused: it could run out while the send is
under way, and another sender would send the row again. SQLite, a real local webhook
receiver; the store's clock is the test's.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.test_delivery_failed import Clock, _queued


def _contacts(tmp_path: Path, **keys: Any) -> Path:
    path = tmp_path / "contacts.yaml"
    # duty-1 by the webhook when the test gives one (a contact must be reachable)
    duty = {"webhook": True} if "webhook" in keys else {"email": "duty1@example.test"}
    body = {"contacts": {"duty-1": duty}, "routes": {"default": ["duty-1"]}}
    path.write_text(json.dumps({**body, **keys}), encoding="utf-8")
    return path


def test_the_contacts_files_lease_and_timeout_are_read_and_checked(tmp_path: Path) -> None:
    from riskwarn.store.deliveries import CLAIM_LEASE_S
    from riskwarn.stream.delivery import load_config

    cfg = load_config(_contacts(tmp_path))
    assert (cfg.timeout_s, cfg.claim_lease_s) == (10.0, CLAIM_LEASE_S) == (10.0, 120.0)
    cfg = load_config(_contacts(tmp_path, timeout_s=2, claim_lease_s=5))
    assert (cfg.timeout_s, cfg.claim_lease_s) == (2.0, 5.0)
    # a lease that could run out during a send (timeout + 2 s or less)
    for keys in ({"claim_lease_s": 12}, {"timeout_s": 3, "claim_lease_s": 4}):
        with pytest.raises(
            ValueError, match=r"claim_lease_s \(\d+\) must be longer than timeout_s"
        ):
            load_config(_contacts(tmp_path, **keys))
    for key, value in [("claim_lease_s", 0), ("claim_lease_s", "2 min"), ("timeout_s", -1)]:
        with pytest.raises(ValueError, match=f"{key} must be a number of seconds > 0"):
            load_config(_contacts(tmp_path, **{key: value}))


def test_a_claim_holds_the_row_for_the_contacts_files_lease(tmp_path: Path) -> None:
    """While the webhook's POST is under way the row is claimed until the store's now +
    the file's ``claim_lease_s`` (on the old code: + 120 s)."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import deliver_due, load_config

    clock = Clock()
    store = Store(f"sqlite:///{tmp_path / 'serving.db'}", clock=clock)
    store.upgrade()
    seen: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # the send is under way: the claim is committed
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append(store.deliveries()["next_attempt_at"].iloc[0])
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook = {"url": f"http://127.0.0.1:{server.server_address[1]}/h", "secret_env": "RW_L"}
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("RW_L", "s" * 32)
            # a send's timeout a loaded machine cannot miss (CI 2026-12-07 15:40 UTC, load
            # ~5: the receiver's store read took over 2 s, TimeoutError, nothing sent)
            cfg = load_config(_contacts(tmp_path, webhook=hook, timeout_s=20, claim_lease_s=27))
        _queued(store, cfg, clock)
        assert deliver_due(store, cfg)["sent"] == 1
    finally:
        server.shutdown()
    claimed_until = pd.Timestamp(seen[0])
    claimed_until = claimed_until if claimed_until.tzinfo else claimed_until.tz_localize("UTC")
    assert claimed_until == clock.now + pd.Timedelta(seconds=27)
    assert store.deliveries()["status"].tolist() == ["sent"]
    store.close()
