"""A decision on a warning a newer run replaced is refused (real stores).

Reviewer's walk (2026-12-06): a reviewer opened a warning of the 1 Jan incidents run,
a score of 7 Jan published a new run while the form was open, and the submit was saved
on the old run's warning: out of force and out of the queue, the decision was seen by
nobody, and the new run's warning for the same cell stayed awaiting review. The store
now refuses it (``ReplacedWarningError``, a ``StaleWarningError``) and names the served
run's warning for the same unit; nothing is saved.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from riskwarn.store import ReplacedWarningError, StaleWarningError, Store, warning_id_for
from tests.test_store import DOMAIN, ORIGIN, forecast_frame, run_meta, warning_frame

LATER = ORIGIN + timedelta(days=6, hours=16)
OLD, NEW = (warning_id_for(DOMAIN, "c000", o) for o in (ORIGIN, LATER))


def publish(store: Store, origin, warnings: pd.DataFrame | None = None) -> str:
    run_id = store.stage_run(run_meta(origin))
    store.write_forecasts(run_id, forecast_frame(origin))
    frame = warning_frame(origin) if warnings is None else warnings
    if len(frame):
        store.write_warnings(run_id, frame)
    store.publish_run(run_id)
    return run_id


def test_a_decision_on_a_replaced_warning_is_refused_and_names_the_new_one(store: Store) -> None:
    publish(store, ORIGIN)
    seen = store.get_warning(OLD)  # the reviewer's form, version 1
    new_run = publish(store, LATER)  # meanwhile a newer run is published
    with pytest.raises(StaleWarningError) as refused:
        store.review_warning(OLD, "accept", "confirmed by police", "reviewer", seen["version"])
    exc = refused.value
    assert isinstance(exc, ReplacedWarningError)
    assert exc.replaced_by is not None and exc.replaced_by["warning_id"] == NEW
    assert exc.served_run is not None and exc.served_run["run_id"] == new_run
    assert exc.served_run["origin"] == LATER
    assert exc.current["warning_id"] == OLD
    # nothing saved: no decision on either warning, both unchanged
    assert store.warning_reviews().empty
    assert (store.get_warning(OLD)["state"], store.get_warning(OLD)["version"]) == ("new", 1)
    assert store.get_warning(NEW)["state"] == "new"
    log = store.audit_log()
    rejected = log.loc[log["action"] == "review_rejected", "details"].tolist()
    assert len(rejected) == 1 and rejected[0]["replaced"] is True
    assert rejected[0]["replaced_by"] == NEW and rejected[0]["served_run"] == new_run
    # a reload of the old warning (its version now) is refused as well
    with pytest.raises(ReplacedWarningError):
        store.review_warning(OLD, "dismiss", "false alarm", "reviewer", 1)
    # the new run's warning takes the decision
    done = store.review_warning(NEW, "accept", "confirmed by police", "reviewer", 1)
    assert done["state"] == "accepted"
    assert store.warning_reviews()["warning_id"].tolist() == [NEW]


def test_a_newer_run_raising_nothing_for_the_unit_replaces_its_warning(store: Store) -> None:
    publish(store, ORIGIN)
    publish(store, LATER, warning_frame(LATER).iloc[1:])  # only c001 raised
    with pytest.raises(ReplacedWarningError) as refused:
        store.review_warning(OLD, "accept", "confirmed", "reviewer", 1)
    assert refused.value.replaced_by is None
    assert "raised no warning for c000" in str(refused.value)
    assert store.warning_reviews().empty


def test_a_backfill_of_an_older_run_replaces_nothing_served(store: Store) -> None:
    """A backfill (an older run, stored 'superseded') leaves the served run in force:
    its warnings take decisions; the backfill's own warnings (never served) do not."""
    publish(store, LATER)
    publish(store, ORIGIN)  # backfill
    with pytest.raises(ReplacedWarningError) as refused:
        store.review_warning(OLD, "accept", "confirmed", "reviewer", 1)
    assert refused.value.replaced_by is not None
    assert refused.value.replaced_by["warning_id"] == NEW
    assert store.review_warning(NEW, "accept", "confirmed", "reviewer", 1)["version"] == 2


@pytest.mark.postgres
def test_a_review_waits_for_a_publish_under_way_then_is_refused(pg_url: str) -> None:
    """Atomic with the publish: a review arriving while a publish of its domain holds the
    domain's lock (its transaction not yet committed) waits for it, then sees the new
    run and is refused. Without the lock the review's check read the old publication
    and saved the decision on the warning being replaced."""
    store = Store(pg_url)
    store.upgrade()
    publish(store, ORIGIN)
    new_run = store.stage_run(run_meta(LATER))
    store.write_forecasts(new_run, forecast_frame(LATER))
    store.write_warnings(new_run, warning_frame(LATER))
    # a publish in progress: the domain's lock taken, the publication moved to the new
    # run (its warnings not needed here), not committed
    engine = sa.create_engine(pg_url)
    outcome: dict[str, object] = {}

    def review() -> None:
        try:
            outcome["done"] = store.review_warning(OLD, "accept", "confirmed", "reviewer", 1)
        except Exception as exc:
            outcome["error"] = exc

    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(7240312, hashtext(:d))"), {"d": DOMAIN})
        conn.execute(
            sa.text("UPDATE forecast_runs SET status = 'published' WHERE run_id = :r"),
            {"r": new_run},
        )
        conn.execute(
            sa.text("UPDATE publications SET run_id = :r WHERE domain = :d"),
            {"r": new_run, "d": DOMAIN},
        )
        worker = threading.Thread(target=review)
        worker.start()
        time.sleep(1.0)
        assert worker.is_alive(), f"the review did not wait for the publish: {outcome}"
    worker.join(30)
    engine.dispose()
    assert not worker.is_alive()
    assert isinstance(outcome.get("error"), ReplacedWarningError), outcome
    assert store.warning_reviews().empty
    store.close()
