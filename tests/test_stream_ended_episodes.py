"""The publisher's rebuild of ended episodes at its start (``Publisher._load_ended``,
2026-12-06): it read the delivery log once per ended site; now once for all of them
(one statement per 500 warnings), with the same windows as the per-site rebuild.
Real SQLite and PostgreSQL stores."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from riskwarn.store import Store
from riskwarn.stream.publish import DOMAIN, Publisher
from riskwarn.stream.state import SiteLevel

REASON = {"en": "Displacement: improved tangent angle 86.0°.", "zh": "位移监测：改进切线角86.0°。"}
H = pd.Timedelta(hours=1)
NOW = pd.Timestamp.now(tz="UTC").floor("h")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'serving.db'}"
    else:
        url = str(request.getfixturevalue("pg_url"))
    s = Store(url)
    s.upgrade()
    yield s
    s.close()


def _cfg() -> Any:
    from riskwarn.stream.delivery import Contact, DeliveryConfig

    return DeliveryConfig(
        contacts={"duty-1": Contact("duty-1", webhook=True)},
        default=["duty-1"],
        webhook_url="http://127.0.0.1:9/unused",
        webhook_secret="s" * 32,
    )


def _old_load_ended(store: Store, served: set[str]) -> dict[str, tuple[Any, Any]]:
    """The publisher's rebuild before 2026-12-06: one read of the delivery log per site."""
    from riskwarn.stream.publish import _episode_start, event_time

    hist = store.warnings(domain=DOMAIN, published_only=False)
    last: dict[str, dict[str, Any]] = {}
    for row in hist.to_dict("records"):
        site = str(row["unit_id"])
        if site in served or int(row["level_rank"]) <= 0:
            continue
        start = _episode_start(row)
        if site not in last or start > _episode_start(last[site]):
            last[site] = row
    out = {}
    for site, row in last.items():
        end = event_time(row["origin"])
        d = store.deliveries(str(row["warning_id"]))
        ends = d.loc[d["change"] == "ended", "changed_at"]
        if len(ends):
            end = max(end, max(event_time(t) for t in ends))
        out[site] = (_episode_start(row), end)
    return out


def test_the_ended_episodes_are_rebuilt_in_one_read_as_before(store: Store) -> None:
    """Eight sites: red and orange episodes ended (their "ended" deliveries), yellow ones
    ended (no delivery), two episodes at one site, one site still warned. The windows
    rebuilt at start equal the per-site rebuild's, read with one statement on the
    delivery log (it was one per ended site: eight)."""
    from riskwarn.stream.delivery import delivery_rows

    cfg = _cfg()
    pub = Publisher(store)

    def round_(ranks: dict[str, int], at: pd.Timestamp) -> None:
        levels = {
            s: SiteLevel(s, r, [REASON], "ok", float("nan"), {}, at) for s, r in ranks.items()
        }
        changes = pub.changes(levels)
        rows = [r for c in changes for r in delivery_rows(cfg, c, [REASON])]
        pub.publish(levels, changes, deliveries=rows)

    sites = [f"S{i}" for i in range(8)]
    round_({s: [4, 3, 2, 4, 3, 2, 4, 1][i] for i, s in enumerate(sites)}, NOW - 12 * H)
    round_({s: 0 for s in sites[:6]} | {"S6": 4, "S7": 1}, NOW - 9 * H)  # six end
    round_({"S0": 4, "S6": 0, "S7": 3}, NOW - 7 * H)  # S0 again, S6 ends, S7 raised
    round_({"S0": 0, "S7": 4}, NOW - 5 * H)  # S0's second episode ends; S7 held warned
    expected = _old_load_ended(store, {"S7"})
    assert sorted(expected) == sites[:7]
    assert expected["S0"][0] == NOW - 7 * H  # the latest episode of S0

    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        restarted = Publisher(store)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", seen)
    assert restarted.ended == expected
    on_deliveries = [s for s in statements if re.search(r"\bFROM deliveries\b", s)]
    assert len(on_deliveries) == 1, on_deliveries
