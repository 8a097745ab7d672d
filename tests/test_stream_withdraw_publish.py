"""The stream's publishes and warning withdrawal (real SQLite and PostgreSQL stores).

The stream keeps one warning id per episode and carries it from run to run: each
publish is a new run (one per second) whose warnings take the new run id. A publish
never withdraws what moved on to it; only a run published again under its own id (two
publishes within one second) withdraws what that run no longer has.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from riskwarn.store import Store
from riskwarn.stream.publish import DOMAIN, Publisher
from riskwarn.stream.state import SiteLevel

REASON = {"en": "Displacement: improved tangent angle 86.0°.", "zh": "位移监测：改进切线角86.0°。"}
T0 = pd.Timestamp("2026-12-01 08:00:00", tz="UTC")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'serving.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    s = Store(url)
    s.upgrade()
    yield s
    s.close()


def level(site: str, rank: int, at: pd.Timestamp) -> SiteLevel:
    return SiteLevel(site, rank, [REASON], "ok", float("nan"), {}, at)


def step(pub: Publisher, ranks: dict[str, int], at: pd.Timestamp) -> str | None:
    levels = {s: level(s, r, at) for s, r in ranks.items()}
    return pub.publish(levels, pub.changes(levels), at.to_pydatetime())


def test_stream_publishes_carry_warnings_over_and_withdraw_nothing(store: Store) -> None:
    pub = Publisher(store)
    step(pub, {"A": 3, "B": 3}, T0)
    a_id, b_id = (pub.served[s]["warning_id"] for s in ("A", "B"))
    store.review_warning(a_id, "accept", "slope moving", "alice", 1)
    second = step(pub, {"A": 3, "B": 0}, T0 + pd.Timedelta(seconds=1))  # B ends, A held
    third = step(pub, {"A": 4}, T0 + pd.Timedelta(seconds=2))  # A raised, same episode
    assert second is not None and third is not None and second != third

    served = store.warnings(domain=DOMAIN)
    assert served["warning_id"].tolist() == [a_id]
    a = store.get_warning(a_id)
    assert (a["run_id"], a["level"], a["withdrawn_at"]) == (third, "red", None)
    # B ended with its episode: kept with the run that last raised it, not withdrawn
    b = store.get_warning(b_id)
    assert b["withdrawn_at"] is None and b["run_id"] != second
    assert store.warnings(domain=DOMAIN, withdrawn=None, published_only=False)[
        "warning_id"
    ].tolist() == [a_id, b_id]
    assert store.warnings(withdrawn=True).empty
    assert not (store.audit_log()["action"] == "withdraw_warning").any()


def test_two_stream_publishes_in_one_second_leave_no_ended_warning_in_force(
    store: Store,
) -> None:
    """Two publishes within one second are one run id published twice: the ended
    episode was left in force under that run (the served one) before; now it is
    withdrawn, and a restarted stream does not carry it over."""
    pub = Publisher(store)
    first = step(pub, {"A": 3, "B": 4}, T0)
    b_id = pub.served["B"]["warning_id"]
    again = step(pub, {"A": 3, "B": 0}, T0 + pd.Timedelta(milliseconds=400))
    assert again == first  # "one run per publishing second"
    assert store.published_run(DOMAIN)["run_id"] == first
    assert store.warnings(domain=DOMAIN)["unit_id"].tolist() == ["A"]
    assert store.get_warning(b_id)["withdrawn_at"] is not None
    assert set(Publisher(store).served) == {"A"}  # a restart carries A only
