"""Warnings a re-publication of their run no longer raises are withdrawn (real stores).

A run published again under its run id (a re-run after a data correction, a backfill
re-run) used to leave the warnings it no longer raises in ``warnings`` with its run id:
in force on the dashboard, in the review queue and counts. They are now withdrawn: kept
with their review trail, their version raised, out of what is in force.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from riskwarn.store import StaleWarningError, Store, WithdrawnWarningError, warning_id_for
from tests.test_store import DOMAIN, ORIGIN, forecast_frame, run_meta, warning_frame

C1, C2 = (warning_id_for(DOMAIN, u, ORIGIN) for u in ("c000", "c001"))


def publish(store: Store, warnings: pd.DataFrame, origin=ORIGIN, actor: str = "pipeline") -> str:
    run_id = store.stage_run(run_meta(origin))
    store.write_forecasts(run_id, forecast_frame(origin))
    if len(warnings):
        store.write_warnings(run_id, warnings)
    store.publish_run(run_id, actor=actor)
    return run_id


def both(origin=ORIGIN) -> pd.DataFrame:
    return warning_frame(origin)  # c000 red, c001 orange


def only_c2(origin=ORIGIN) -> pd.DataFrame:
    w = both(origin)
    return w[w["unit_id"] == "c001"].reset_index(drop=True)


def test_rerun_withdraws_what_it_no_longer_raises_and_keeps_the_rest(store: Store) -> None:
    run_id = publish(store, both())
    store.review_warning(C1, "accept", "confirmed by police", "alice", 1)
    store.review_warning(C2, "adjust", "school holiday", "bob", 1, level="yellow")
    publish(store, only_c2(), actor="rerun-after-correction")

    # c1 is not in force: not served, not in the queue, not counted, not in the snapshot
    assert store.warnings()["warning_id"].tolist() == [C2]
    assert store.warnings(run_ids=[run_id])["warning_id"].tolist() == [C2]
    assert store.warnings(state="accepted").empty
    assert store.warnings(published_only=False)["warning_id"].tolist() == [C2]
    assert store.published_snapshot(DOMAIN)["warnings"]["warning_id"].tolist() == [C2]
    # ... but kept, marked withdrawn (when, by whom, why), its review trail and state kept
    assert store.warnings(withdrawn=True)["warning_id"].tolist() == [C1]
    assert sorted(store.warnings(withdrawn=None)["warning_id"]) == [C1, C2]
    c1 = store.get_warning(C1)
    assert c1["withdrawn_at"] is not None and c1["withdrawn_at"].tzinfo is not None
    assert c1["withdrawn_by"] == "rerun-after-correction"
    assert c1["withdrawn_reason"] == f"not raised by the re-run of {run_id}"
    assert (c1["state"], c1["reviewed_level"], c1["version"]) == ("accepted", "red", 3)
    assert c1["effective_level"] is None and c1["run_id"] == run_id
    assert store.warning_reviews(C1)["reviewer"].tolist() == ["alice"]
    log = store.audit_log()
    entry = log.loc[(log["action"] == "withdraw_warning") & (log["object_id"] == C1)]
    assert len(entry) == 1 and entry["actor"].iloc[0] == "rerun-after-correction"
    assert entry["details"].iloc[0]["run_id"] == run_id
    published = log.loc[log["action"] == "publish_run", "details"].tolist()
    assert [d["n_withdrawn"] for d in published] == [1, 0]  # newest first

    # a reviewer's open form (version 2) gets the stale-version conflict; one who reloads
    # (version 3) is refused too: nothing is recorded on a withdrawn warning
    with pytest.raises(StaleWarningError) as stale:
        store.review_warning(C1, "dismiss", "false alarm", "carol", 2)
    assert isinstance(stale.value, WithdrawnWarningError)
    assert stale.value.current["withdrawn_at"] is not None
    with pytest.raises(WithdrawnWarningError):
        store.review_warning(C1, "adjust", "lower it", "carol", 3, level="red")
    assert store.warning_reviews(C1)["reviewer"].tolist() == ["alice"]
    assert store.get_warning(C1)["version"] == 3
    log = store.audit_log()
    assert (log["action"] == "review_rejected").sum() == 2

    # c2 untouched: its review state and version kept
    c2 = store.get_warning(C2)
    assert (c2["state"], c2["reviewed_level"], c2["version"]) == ("adjusted", "yellow", 2)
    assert c2["withdrawn_at"] is None and c2["effective_level"] == "yellow"

    # publishing the same re-run once more withdraws nothing again (same result)
    publish(store, only_c2())
    assert store.get_warning(C1)["version"] == 3
    assert (store.audit_log()["action"] == "withdraw_warning").sum() == 1


def test_a_withdrawn_warning_raised_again_is_new_with_its_trail(store: Store) -> None:
    publish(store, both())
    store.review_warning(C1, "accept", "confirmed by police", "alice", 1)
    publish(store, only_c2())
    publish(store, both())
    c1 = store.get_warning(C1)
    assert (c1["state"], c1["reviewed_level"], c1["version"]) == ("new", None, 4)
    assert (c1["withdrawn_at"], c1["withdrawn_by"], c1["withdrawn_reason"]) == (None, None, None)
    assert c1["effective_level"] == "red"
    assert sorted(store.warnings(state="new")["warning_id"]) == [C1, C2]
    assert store.warning_reviews(C1)["reviewer"].tolist() == ["alice"]  # trail kept
    assert c1["last_review"]["action"] == "accept"
    log = store.audit_log()
    assert log["action"].tolist()[:2] == ["publish_run", "warning_raised_again"]
    # and it takes a fresh review at its new version
    done = store.review_warning(C1, "dismiss", "false alarm after all", "bob", 4)
    assert (done["state"], done["version"]) == ("dismissed", 5)


def test_a_backfill_rerun_never_withdraws_a_newer_runs_warning(store: Store) -> None:
    """Only warnings whose run id is the re-published run are withdrawn: one a newer
    run took over (same warning id) stays in force with the newer run."""
    old = publish(store, both())
    later = ORIGIN + timedelta(days=1)
    taken_over = only_c2().assign(level="red")  # same id as the old run's c001 (valid_from)
    new = publish(store, taken_over, origin=later)
    assert store.get_warning(C2)["run_id"] == new
    # the backfill re-run of the old interval raises nothing any more
    assert publish(store, both().iloc[0:0]) == old
    assert store.runs().set_index("run_id").loc[old, "status"] == "superseded"
    assert store.published_run(DOMAIN)["run_id"] == new
    c1, c2 = store.get_warning(C1), store.get_warning(C2)
    assert c1["withdrawn_at"] is not None  # the old run's own warning
    assert c2["withdrawn_at"] is None and (c2["run_id"], c2["version"]) == (new, 2)
    assert store.warnings()["warning_id"].tolist() == [C2]


@pytest.mark.postgres
def test_review_state_trigger_allows_withdrawal_and_nothing_else(pg_url: str) -> None:
    """PostgreSQL's review-state guard (migration 0004, replaced by 0006) lets a
    publication withdraw (the tests above run through it) and raise again, but no review
    state changes while withdrawn, and a withdrawal names its time, actor and reason."""
    store = Store(pg_url)
    store.upgrade()
    publish(store, both())
    publish(store, only_c2())
    sneak = "UPDATE warnings SET state = 'dismissed', version = version + 1 WHERE warning_id = :w"
    with pytest.raises(sa.exc.IntegrityError, match="withdrawn"), store.engine.begin() as conn:
        conn.execute(sa.text(sneak), {"w": C1})
    anonymous = "UPDATE warnings SET withdrawn_by = NULL WHERE warning_id = :w"
    with pytest.raises(sa.exc.IntegrityError, match="names its time"), store.engine.begin() as c:
        c.execute(sa.text(anonymous), {"w": C1})
    assert store.get_warning(C1)["state"] == "new"
    publish(store, both())  # raised again: allowed
    assert store.get_warning(C1)["withdrawn_at"] is None
    store.close()


def test_an_existing_store_upgrades_with_its_warnings_in_force(store_url: str) -> None:
    """A store at 0005 with a published, reviewed warning upgrades to 0006 (on SQLite by
    adding columns, no rebuild of ``warnings``, which its reviews reference): nothing is
    withdrawn by the upgrade, and the next re-run withdraws what it no longer raises."""
    old = Store(store_url)
    assert old.upgrade("0005_deliveries") == "0005_deliveries"
    run_id = f"{DOMAIN}:20260302T0000Z"
    week = ORIGIN + timedelta(days=7)
    rows = {"r": run_id, "d": DOMAIN, "o": ORIGIN, "t": week, "now": ORIGIN}
    with old.engine.begin() as conn:  # what the code before 0006 wrote, in its columns
        conn.execute(
            sa.text(
                "INSERT INTO forecast_runs (run_id, domain, origin, horizon_hours, status, "
                "n_rows, created_at, published_at) VALUES (:r, :d, :o, 168, 'published', 1, "
                ":now, :now)"
            ),
            rows,
        )
        conn.execute(
            sa.text(
                "INSERT INTO publications (domain, run_id, published_at) VALUES (:d, :r, :now)"
            ),
            rows,
        )
        for wid, unit, state, level, version in (
            (C1, "c000", "accepted", "red", 2),
            (C2, "c001", "new", None, 1),
        ):
            conn.execute(
                sa.text(
                    "INSERT INTO warnings (warning_id, run_id, domain, unit_type, unit_id, "
                    "origin, valid_from, valid_to, level, level_rank, state, reviewed_level, "
                    "version, created_at, updated_at) VALUES (:w, :r, :d, 'cell', :u, :o, :o, "
                    ":t, 'red', 4, 'new', NULL, 1, :now, :now)"
                ),
                {**rows, "w": wid, "u": unit},
            )
            if state != "new":
                conn.execute(
                    sa.text(
                        "INSERT INTO warning_reviews (warning_id, action, from_level, to_level, "
                        "reason, reviewer, reviewed_at, warning_version) VALUES (:w, 'accept', "
                        "'red', :l, 'confirmed', 'alice', :now, :v)"
                    ),
                    {**rows, "w": wid, "l": level, "v": version},
                )
                conn.execute(
                    sa.text(
                        "UPDATE warnings SET state = :s, reviewed_level = :l, version = :v "
                        "WHERE warning_id = :w"
                    ),
                    {"w": wid, "s": state, "l": level, "v": version},
                )
    old.close()

    upgraded = Store(store_url)
    assert upgraded.upgrade() == upgraded.head_revision()
    assert sorted(upgraded.warnings()["warning_id"]) == [C1, C2]
    assert upgraded.warnings(withdrawn=True).empty
    c1 = upgraded.get_warning(C1)
    assert (c1["state"], c1["version"], c1["withdrawn_at"]) == ("accepted", 2, None)
    assert upgraded.warning_reviews(C1)["reviewer"].tolist() == ["alice"]
    publish(upgraded, only_c2())  # the same interval re-run: c000 is no longer raised
    assert upgraded.warnings()["warning_id"].tolist() == [C2]
    c1 = upgraded.get_warning(C1)
    assert (c1["state"], c1["version"]) == ("accepted", 3) and c1["withdrawn_at"] is not None
    upgraded.close()
