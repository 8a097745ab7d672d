"""The stream's publishes and warning withdrawal (real SQLite and PostgreSQL stores).

The stream keeps one warning id per episode and carries it from run to run: each
publish is a new run (its own id, to the microsecond, unique and in publishing order)
whose warnings take the new run id. A publish never withdraws what moved on to it, nor
an episode that ended in it, however close two publishes are.
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
    return pub.publish(levels, pub.changes(levels))


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


def test_two_stream_publishes_in_one_second_are_two_runs_and_withdraw_nothing(
    store: Store,
) -> None:
    """Two publishes within one second (400 ms apart) are two runs: the episode ending in
    the second one is ended (kept with the run that last raised it, out of the served
    run), not withdrawn, as for publishes seconds apart. Before, the run id had
    one-second resolution: the second publish was a re-publication of the first run and
    withdrew B ("not raised by the re-run of ...") while B's contacts got "ended"."""
    pub = Publisher(store)
    first = step(pub, {"A": 3, "B": 4}, T0)
    b_id = pub.served["B"]["warning_id"]
    second = step(pub, {"A": 3, "B": 0}, T0 + pd.Timedelta(milliseconds=400))
    assert first is not None and second is not None
    assert first < second  # unique, in publishing order
    assert store.published_run(DOMAIN)["run_id"] == second
    assert store.warnings(domain=DOMAIN)["unit_id"].tolist() == ["A"]
    b = store.get_warning(b_id)
    assert (b["withdrawn_at"], b["run_id"]) == (None, first)
    assert store.warnings(withdrawn=True).empty
    assert not (store.audit_log()["action"] == "withdraw_warning").any()
    assert set(Publisher(store).served) == {"A"}  # a restart carries A only


def test_stream_run_ids_stay_unique_and_ordered_in_one_microsecond_and_after_restart(
    store: Store,
) -> None:
    """The same instant twice (also after a restart) still gives a new run id after the
    last one: no publish is ever a re-publication of another."""
    pub = Publisher(store)
    ids = [step(pub, {"A": 3, "B": 4}, T0), step(pub, {"A": 3, "B": 0}, T0)]
    ids.append(step(pub, {"A": 4}, T0))
    restarted = Publisher(store)
    ids.append(step(restarted, {"A": 0}, T0))
    assert ids == [
        "geohazard_stream:20261201T080000.000000Z",
        "geohazard_stream:20261201T080000.000000Z~0001",
        "geohazard_stream:20261201T080000.000000Z~0002",
        "geohazard_stream:20261201T080000.000000Z~0003",
    ]
    assert ids == sorted(ids)
    assert store.published_run(DOMAIN)["run_id"] == ids[-1]
    assert store.warnings(domain=DOMAIN).empty
    assert store.warnings(withdrawn=True).empty
    assert not (store.audit_log()["action"] == "withdraw_warning").any()
