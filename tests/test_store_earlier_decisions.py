"""The panel's decisions on an earlier run's warnings, found for the warnings in force.

Reviewer's walk (2026-12-07): a panel dismissed one cell's warning and accepted another's;
the next daily run raised new warnings (new ids) for both cells, all ``new`` again, and
nothing told the panel it had decided them the day before. ``Store.earlier_decisions``
finds, for each warning of the served run, the latest decision taken on an earlier run's
warning of the same domain and unit while that one was in force, and whether the level
rose since. Nothing is decided by it: the new warnings stay ``new``. SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from riskwarn.store import Store, warning_id_for
from tests.test_store import DOMAIN, ORIGIN, forecast_frame, run_meta, warning_frame

DAY2 = ORIGIN + timedelta(days=1)
DAY3 = ORIGIN + timedelta(days=2)


def publish(store: Store, origin, levels: tuple[str, ...] = ("red", "orange")) -> str:
    run_id = store.stage_run(run_meta(origin))
    store.write_forecasts(run_id, forecast_frame(origin))
    store.write_warnings(run_id, warning_frame(origin, levels))
    store.publish_run(run_id)
    return run_id


def wid(unit: str, origin) -> str:
    return warning_id_for(DOMAIN, unit, origin)


def by_warning(frame: pd.DataFrame) -> dict[str, dict]:
    return {str(r["warning_id"]): dict(r) for r in frame.to_dict("records")}


def test_the_next_run_finds_the_panels_decisions_without_taking_any(store: Store) -> None:
    publish(store, ORIGIN)  # c000 red, c001 orange
    store.review_warning(wid("c000", ORIGIN), "dismiss", "road works, not burglary", "rev1", 1)
    store.review_warning(wid("c001", ORIGIN), "accept", "confirmed by the station", "rev2", 1)
    run2 = publish(store, DAY2, ("red", "red"))  # c001 rose from orange to red
    got = by_warning(store.earlier_decisions([run2]))
    assert set(got) == {wid("c000", DAY2), wid("c001", DAY2)}
    dismissed = got[wid("c000", DAY2)]
    assert dismissed["action"] == "dismiss" and dismissed["reviewer"] == "rev1"
    assert dismissed["reason"] == "road works, not burglary"
    assert dismissed["earlier_warning_id"] == wid("c000", ORIGIN)
    assert dismissed["decided_level"] == "red" and not dismissed["level_rose"]
    accepted = got[wid("c001", DAY2)]
    assert accepted["action"] == "accept" and accepted["decided_level"] == "orange"
    assert accepted["since_level"] == "orange" and accepted["level_rose"]
    assert pd.Timestamp(accepted["reviewed_at"]).tzinfo is not None
    # nothing recorded for the panel: the new run's warnings are still to review
    assert set(store.warnings(run_ids=[run2])["state"]) == {"new"}
    assert len(store.warning_reviews()) == 2
    # the earlier run's own warnings have no earlier decision
    assert store.earlier_decisions([run2.replace("0303", "0302")]).empty
    assert store.earlier_decisions([]).empty


def test_the_latest_standing_decision_over_several_runs(store: Store) -> None:
    publish(store, ORIGIN)
    store.review_warning(wid("c000", ORIGIN), "dismiss", "false alarm", "rev1", 1)
    publish(store, DAY2)  # nobody reviews day 2's c000
    store.review_warning(wid("c001", DAY2), "dismiss", "duplicate report", "rev1", 1)
    store.review_warning(wid("c001", DAY2), "adjust", "second look: lower", "rev2", 2, "yellow")
    run3 = publish(store, DAY3, ("orange", "orange"))
    got = by_warning(store.earlier_decisions([run3]))
    # c000: day 1's dismissal is still the panel's latest word on the place
    first = got[wid("c000", DAY3)]
    assert (first["action"], first["earlier_warning_id"]) == ("dismiss", wid("c000", ORIGIN))
    assert first["decided_level"] == "red" and not first["level_rose"]
    # c001: the adjustment that followed the dismissal (orange down to yellow); day 3
    # raises orange: above the yellow the panel judged it at, a rise
    second = got[wid("c001", DAY3)]
    assert (second["action"], second["to_level"], second["reviewer"]) == (
        "adjust",
        "yellow",
        "rev2",
    )
    assert second["since_level"] == "yellow" and second["level_rose"]


def test_a_rise_is_judged_against_the_level_the_panel_decided(store: Store) -> None:
    """The panel adjusted run N's orange down to yellow; run N+1 raises orange again.
    The panel judged the risk at yellow: the new orange is above what it accepted, so
    the level rose (no "Same decision as before"); before, "rose since" compared against
    the raised orange and offered the shortcut, which filled an adjust back down to
    yellow without a fresh look. An upward adjustment (orange to red) then a red is
    not a rise; a dismissal is judged at the level it set aside."""
    publish(store, ORIGIN, ("orange", "orange"))
    store.review_warning(wid("c000", ORIGIN), "adjust", "patrols added", "rev1", 1, "yellow")
    store.review_warning(wid("c001", ORIGIN), "adjust", "school fair", "rev2", 1, "red")
    run2 = publish(store, DAY2, ("orange", "red"))
    got = by_warning(store.earlier_decisions([run2]))
    down = got[wid("c000", DAY2)]
    assert (down["decided_level"], down["since_level"], down["level_rose"]) == (
        "yellow",
        "yellow",
        True,
    )
    up = got[wid("c001", DAY2)]
    assert (up["decided_level"], up["since_level"], up["level_rose"]) == ("red", "red", False)
    run3 = publish(store, DAY3, ("yellow", "orange"))
    got = by_warning(store.earlier_decisions([run3]))
    # day 2 was not reviewed: day 1's decisions stand; yellow is what the panel accepted
    assert not got[wid("c000", DAY3)]["level_rose"]
    assert not got[wid("c001", DAY3)]["level_rose"]


def test_a_decision_a_re_publication_reset_does_not_carry(store: Store) -> None:
    publish(store, ORIGIN)
    store.review_warning(wid("c000", ORIGIN), "dismiss", "false alarm", "rev1", 1)
    publish(store, ORIGIN, ("orange", "orange"))  # re-run: c000 changed, reset to new
    assert store.get_warning(wid("c000", ORIGIN))["state"] == "new"
    run2 = publish(store, DAY2)
    assert wid("c000", DAY2) not in by_warning(store.earlier_decisions([run2]))


def test_a_decision_taken_after_the_warning_was_replaced_does_not_count(store: Store) -> None:
    """A trail row written on a warning after a newer run replaced it (a store of before
    2026-12-06, when such a decision was still recorded) was not taken in force."""
    import sqlalchemy as sa

    from riskwarn.store.models import RiskWarning, WarningReview
    from riskwarn.store.sql import table_of

    publish(store, ORIGIN)
    run2 = publish(store, DAY2)
    later = store.runs().set_index("run_id").loc[run2, "published_at"] + timedelta(minutes=1)
    w = table_of(RiskWarning)
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(table_of(WarningReview)).values(
                warning_id=wid("c000", ORIGIN),
                action="dismiss",
                from_level="red",
                to_level=None,
                reason="late",
                reviewer="rev1",
                reviewed_at=later.to_pydatetime(),
                warning_version=2,
                dismissed_level="red",
            )
        )
        conn.execute(
            sa.update(w)
            .where(w.c.warning_id == wid("c000", ORIGIN))
            .values(state="dismissed", version=2)
        )
    assert store.earlier_decisions([run2]).empty


def test_a_fallen_latest_decision_does_not_let_an_older_one_carry(store: Store) -> None:
    """The panel dismissed c000 on day 1 and again on day 2; a re-publication of day 2
    changed the warning (red to orange) and reset it to ``new``: the day-2 decision fell,
    and nobody decided the changed warning. Day 3 must not show day 1's dismissal as the
    panel's word on the place: it was taken before what changed (before, the reset
    decision was left out and the older one came back in its place)."""
    publish(store, ORIGIN)
    store.review_warning(wid("c000", ORIGIN), "dismiss", "false alarm", "rev1", 1)
    publish(store, DAY2)
    store.review_warning(wid("c000", DAY2), "dismiss", "false alarm again", "rev1", 1)
    publish(store, DAY2, ("orange", "orange"))  # re-run of day 2: c000 changed, reset
    assert store.get_warning(wid("c000", DAY2))["state"] == "new"
    run3 = publish(store, DAY3)
    got = by_warning(store.earlier_decisions([run3]))
    assert wid("c000", DAY3) not in got
    assert wid("c001", DAY3) not in got  # never decided
