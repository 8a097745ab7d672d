"""Acknowledgements of delivered warning changes: exactly once, through one function.

Two duty officers acknowledge the same red alarm at the same moment, one on the
dashboard and one with ``riskwarn stream ack`` (two processes, SQLite and the
PostgreSQL server at 127.0.0.1): the change is acknowledged once, by whoever came
first, and the second is refused with a message that names the first (who, when, how);
nothing of the second is recorded but its refusal in the audit log. The alarm log shows
one name, escalation stops. (The earlier design kept both acknowledgements; the review
of 2026-12-05 asked for exactly one with a clear refusal, like review decisions.)

The dashboard's acknowledgement goes through the same function as the CLI's
(``Store.acknowledge_delivered``), so it checks the delivery keys the CLI checks: a
key the delivery log does not have, or a key of another warning, is refused and nothing
is recorded (the dashboard recorded both before).
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

N_RACES = 6  # changes raced one after the other (both the read and the insert race)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'serving.db'}"
    pg: str = request.getfixturevalue("pg_url")
    return pg


def _sent_changes(url: str, tmp_path: Path, n: int) -> tuple[Any, Any, list[Any]]:
    """``n`` red changes of ``n`` sites delivered to duty-1 (sent, not acknowledged)."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import enqueue, load_config
    from riskwarn.stream.publish import LevelChange

    contacts = tmp_path / "contacts.yaml"
    sites = [f"H{i}" for i in range(n)]
    contacts.write_text(
        "escalate_after_minutes: 15\n"
        "contacts:\n"
        "  duty-1: {email: duty1@example.test}\n"
        "  duty-2: {email: duty2@example.test}\n"
        f"routes: {{sites: {{{', '.join(f'{s}: [duty-1, duty-2]' for s in sites)}}}}}\n"
    )
    cfg = load_config(contacts)
    store = Store(url)
    store.upgrade()
    at = pd.Timestamp.now(tz="UTC").floor("h")  # in force: an ended warning is not delivered
    changes = [LevelChange(s, f"geohazard_stream:{s}:{at:%Y%m%dT%H%MZ}", 2, 4, at) for s in sites]
    for change in changes:
        assert enqueue(store, cfg, change, [{"en": "red", "zh": "红色"}]) == 1
    for row in store.due_deliveries():
        store.record_attempt(row["delivery_id"], ok=True)  # sent to duty-1
    return store, cfg, changes


def _officer(
    url: str, who: str, path: str, todo: list[tuple[str, str]], start: Any, out: Any
) -> None:
    """One duty officer's process: acknowledge each change at the same instant as the
    other officer, through the dashboard's function or the CLI's."""
    try:
        if path == "dashboard":
            from dashboard import queries

            def ack(wid: str, key: str | None) -> Any:
                return queries.acknowledge_alarm(url, wid, str(key), who)
        else:
            from riskwarn.store import Store

            store = Store(url)

            def ack(wid: str, key: str | None) -> Any:
                return store.acknowledge_delivered(wid, who, delivery_key=key, via="cli")

        results = []
        for wid, key in todo:
            start.wait(60)
            try:
                results.append(("ok", key, ack(wid, key or None)))
            except Exception as exc:  # the assertions name it
                results.append(("refused", key, f"{type(exc).__name__}: {exc}"))
        out.put((who, results))
    except Exception:
        out.put((who, traceback.format_exc()))


@pytest.mark.timeout(240)
def test_two_officers_at_once_one_acknowledgement_the_second_refused_naming_the_first(
    url: str, tmp_path: Path
) -> None:
    from riskwarn.stream.alarm_log import alarm_log
    from riskwarn.stream.delivery import escalate

    store, cfg, changes = _sent_changes(url, tmp_path, N_RACES + 1)
    keyed = [(c.warning_id, c.key) for c in changes[:N_RACES]]
    # the last change is raced by the CLI without a key ("every change not yet acked")
    last = changes[-1]
    todo = {
        "officer-a": [*keyed, (last.warning_id, last.key)],
        "officer-b": [*keyed, (last.warning_id, "")],
    }
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(2), ctx.Queue()
    paths = {"officer-a": "dashboard", "officer-b": "cli"}
    procs = [
        ctx.Process(target=_officer, args=(url, who, paths[who], todo[who], start, out))
        for who in paths
    ]
    for p in procs:
        p.start()
    got: dict[str, Any] = {}
    try:
        for _ in procs:
            who, results = out.get(timeout=200)
            got[who] = results
    except queue.Empty:
        pytest.fail(f"an officer's process did not answer: {got}")
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    for who, results in got.items():
        assert isinstance(results, list), f"{who} failed:\n{results}"

    acks = store.acknowledgements()
    audited = store.audit_entries  # per warning below
    for i, change in enumerate(changes):
        a, b = got["officer-a"][i], got["officer-b"][i]
        outcomes = sorted([a[0], b[0]])
        mine = acks.loc[acks["warning_id"] == change.warning_id]
        # exactly one acknowledgement of the change, by the officer told "ok"
        assert len(mine) == 1, (change.warning_id, a, b, mine.to_dict("records"))
        assert outcomes == ["ok", "refused"], (a, b)
        winner = "officer-a" if a[0] == "ok" else "officer-b"
        refusal = (b if winner == "officer-a" else a)[2]
        assert mine["acknowledged_by"].tolist() == [winner]
        assert mine["delivery_key"].tolist() == [change.key]
        # the refusal is clear: what, who was first, when
        assert refusal.startswith("AlreadyAcknowledgedError"), refusal
        assert f"by {winner} at " in refusal and "nothing recorded" in refusal, refusal
        trail = audited("warning", change.warning_id, ("acknowledge_warning",))
        assert [e["actor"] for e in trail] == [winner]
        rejected = audited("warning", change.warning_id, ("acknowledge_rejected",))
        assert len(rejected) == 1 and rejected[0]["actor"] != winner
        assert rejected[0]["details"]["first"][0]["by"] == winner
    # no escalation, and the alarm log names one officer per change
    later = datetime.now(UTC) + timedelta(hours=2)
    assert escalate(store, cfg, now=later) == 0
    shown = alarm_log(store.deliveries(), store.acknowledgements())
    assert len(shown) == len(changes)
    assert all(by in ("officer-a", "officer-b") for by in shown["acknowledged_by"])
    store.close()


def test_the_dashboard_checks_the_delivery_keys_the_cli_checks(url: str, tmp_path: Path) -> None:
    """The dashboard's acknowledge path refuses what ``riskwarn stream ack`` refuses: a key
    with no delivery, a key of another warning, a warning with no delivery; nothing is
    recorded. A known key is recorded once; a second officer is refused naming the first."""
    from dashboard import queries

    store, _cfg, (h0, h1) = _sent_changes(url, tmp_path, 2)
    refused = [
        (h0.warning_id, "0" * 32),  # no such change
        (h0.warning_id, h1.key),  # another warning's change
        ("geohazard_stream:H9:20261118T1400Z", h0.key),  # a warning never delivered
    ]
    for wid, key in refused:
        with pytest.raises(KeyError):
            queries.acknowledge_alarm(url, wid, key, "reviewer")
        with pytest.raises(KeyError):  # the CLI's path: the same refusal
            store.acknowledge_delivered(wid, "duty-1", delivery_key=key, via="cli")
    assert store.acknowledgements().empty
    assert not store.acknowledged(h0.key) and not store.acknowledged(h1.key)

    from riskwarn.store import AlreadyAcknowledgedError

    ack_id = queries.acknowledge_alarm(url, h0.warning_id, h0.key, "reviewer")
    assert store.acknowledgements()["ack_id"].tolist() == [ack_id]
    with pytest.raises(AlreadyAcknowledgedError, match=r"by reviewer at .* \(via dashboard\)"):
        store.acknowledge_delivered(h0.warning_id, "duty-1", delivery_key=h0.key, via="cli")
    with pytest.raises(AlreadyAcknowledgedError, match="by reviewer"):
        queries.acknowledge_alarm(url, h0.warning_id, h0.key, "reviewer2")
    assert store.acknowledgements()["acknowledged_by"].tolist() == ["reviewer"]
    store.close()


def test_acknowledgements_recorded_twice_before_the_migration_are_kept(tmp_path: Path) -> None:
    """A store at 0006 holding a change acknowledged twice (what the old code allowed)
    upgrades: both rows stay (a trail), the change counts as acknowledged once, and a
    third acknowledgement is refused naming the first."""
    import sqlalchemy as sa

    from riskwarn.store import AlreadyAcknowledgedError, Store

    url = f"sqlite:///{tmp_path / 'serving.db'}"
    store, _cfg, (h0,) = _sent_changes(url, tmp_path, 1)
    store.close()
    old = Store(url)
    from alembic import command

    with old.engine.connect() as conn:
        command.downgrade(old._alembic_config(conn), "0006_warning_withdrawal")
        conn.commit()
    with old.engine.begin() as conn:
        for who in ("duty-1", "duty-2"):
            conn.execute(
                sa.text(
                    "INSERT INTO warning_acks (warning_id, delivery_key, acknowledged_by, "
                    "acknowledged_at, via) VALUES (:w, :k, :b, :t, 'cli')"
                ),
                {"w": h0.warning_id, "k": h0.key, "b": who, "t": "2026-11-18 14:05:00+00:00"},
            )
    old.close()
    new = Store(url)
    assert new.upgrade() == new.head_revision()
    assert new.acknowledgements()["acknowledged_by"].tolist() == ["duty-1", "duty-2"]
    with pytest.raises(AlreadyAcknowledgedError, match="by duty-1"):
        new.acknowledge(h0.warning_id, "duty-3", delivery_key=h0.key, via="cli")
    new.close()
