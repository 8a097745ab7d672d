"""How long the sender's per-loop reads of failed deliveries take when the delivery log
holds many old ``failed`` rows of warnings that ended long ago (docs/streaming.md,
"Failed deliveries"): ``retry_failed`` (every loop, about 1 s) and ``failed_deliveries``
(every 10 s) should not grow with them.

    .venv/bin/python bench/bench_failed_deliveries.py [N]     # N old failed rows, default 20000

Prints each call's time on a fresh SQLite store holding N such rows.
"""

from __future__ import annotations

import sys
import tempfile
import time

import pandas as pd
import sqlalchemy as sa

from riskwarn.store import Store
from riskwarn.store.models import Delivery
from riskwarn.store.sql import table_of


def main(n: int) -> None:
    url = f"sqlite:///{tempfile.mkdtemp()}/serving.db"
    store = Store(url)
    store.upgrade()
    old = pd.Timestamp("2026-10-01", tz="UTC").to_pydatetime()
    msg = {
        "warning_id": "w",
        "site_id": "H1",
        "at": old.isoformat(),
        "valid_to": old.isoformat(),
        "reasons": [{"en": "x" * 200, "zh": "x" * 100}],
        "change": "new",
    }
    rows = [
        {
            "delivery_key": f"k{i}",
            "warning_id": f"w{i}",
            "domain": "geohazard_stream",
            "unit_id": "H1",
            "change": "new",
            "from_level": None,
            "to_level": "red",
            "channel": "email",
            "contact_id": "duty-1",
            "escalation_step": 0,
            "message": msg,
            "changed_at": old,
            "valid_to": old,
            "status": "failed",
            "attempts": 8,
            "last_error": "ConnectionRefusedError",
            "created_at": old,
            "next_attempt_at": old,
        }
        for i in range(n)
    ]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.insert(table_of(Delivery)), rows)
    engine.dispose()
    print(f"{n:,} failed deliveries of warnings ended on {old:%Y-%m-%d}")
    for name in ("retry_failed", "failed_deliveries", "due_deliveries", "expire_deliveries"):
        start = time.perf_counter()
        got = getattr(store, name)()
        print(f"{name}: {(time.perf_counter() - start) * 1000:.0f} ms, returned {len(got)}")
    store.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
