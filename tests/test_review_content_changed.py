"""A decision is only recorded on the content the reviewer saw (review of 2026-12-06,
attack C1): the same run published again with the same level but another probability
and other reasons kept version 1, so an 'accept' sent with ``expected_version=1`` was
recorded against content the reviewer never saw, and an accepted warning kept its
decision when its content was refreshed. Now any change to what the review page shows
bumps the version and reopens the review; the earlier decision stays in the trail at
its older version. Real SQLite and PostgreSQL stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskwarn.store import StaleWarningError, Store, run_id_for, warning_id_for

ORIGIN = datetime(2026, 1, 5, tzinfo=UTC)
DOMAIN = "incidents"
WID = warning_id_for(DOMAIN, "c0001", ORIGIN)


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


def publish(store: Store, **change: Any) -> None:
    """The run of ORIGIN published (again) with one warning on c0001."""
    content: dict[str, Any] = {
        "level": "orange",
        "probability": 0.31,
        "score": 0.31,
        "reasons": ["rain 12 mm, 2 incidents last week"],
        "evidence": {"recent_incidents": 2, "rain_mm": 12.0},
        "valid_to": pd.Timestamp(ORIGIN + timedelta(days=7)),
        **change,
    }
    run = store.stage_run(
        {
            "run_id": run_id_for(DOMAIN, ORIGIN),
            "domain": DOMAIN,
            "origin": ORIGIN,
            "horizon_hours": 24,
            "model_name": "riskwarn-incidents",
            "model_version": "1",
        }
    )
    ts = pd.Timestamp(ORIGIN)
    store.write_forecasts(
        run,
        pd.DataFrame(
            {
                "unit_type": "cell",
                "unit_id": ["c0001"],
                "valid_to": content["valid_to"],
                "score": [content["score"]],
                "rank": [1],
            }
        ),
    )
    frame = pd.DataFrame(
        {
            "unit_type": "cell",
            "unit_id": ["c0001"],
            "valid_from": ts,
            "valid_to": content["valid_to"],
            "level": content["level"],
            "score": content["score"],
            "probability": content["probability"],
            "reasons": [content["reasons"]],
            "evidence": [content["evidence"]],
        }
    )
    store.write_warnings(run, frame)
    store.publish_run(run)


def test_a_decision_on_content_replaced_at_the_same_level_is_stale(store: Store) -> None:
    publish(store)
    seen = store.get_warning(WID)
    assert seen["version"] == 1
    publish(store, probability=0.97, score=0.97, reasons=["47 incidents last week, festival"])
    now = store.get_warning(WID)
    assert (now["level"], now["version"], now["state"]) == ("orange", 2, "new")
    with pytest.raises(StaleWarningError):
        store.review_warning(WID, "accept", "checked, plausible", "reviewer", seen["version"])
    assert store.get_warning(WID)["state"] == "new"
    assert store.warning_reviews(WID).empty
    events = store.audit_entries("warning", WID, ("warning_content_changed",))
    assert len(events) == 1
    details = events[0]["details"]
    assert details["changed"] == ["probability", "reasons"]
    assert details["version"] == 2 and details["content"] != details["content_before"]


@pytest.mark.parametrize(
    "change",
    [
        {"reasons": ["47 incidents last week"]},
        {"probability": 0.35},
        {"evidence": {"recent_incidents": 9, "rain_mm": 12.0}},
        {"valid_to": pd.Timestamp(ORIGIN + timedelta(days=3))},
    ],
    ids=["reasons", "probability", "evidence", "validity"],
)
def test_an_accepted_warning_whose_content_changes_is_reviewed_again(
    store: Store, change: dict[str, Any]
) -> None:
    publish(store)
    store.review_warning(WID, "accept", "checked", "alice", 1)
    publish(store, **change)
    w = store.get_warning(WID)
    assert (w["state"], w["version"], w["reviewed_level"]) == ("new", 3, None)
    trail = store.warning_reviews(WID)
    # the decision is kept, recorded at the version (the content) it was made on
    assert trail[["action", "warning_version"]].values.tolist() == [["accept", 2]]
    assert w["last_review"]["action"] == "accept"
    store.review_warning(WID, "accept", "checked again", "alice", 3)
    assert store.get_warning(WID)["state"] == "accepted"


def test_what_the_page_does_not_show_keeps_the_review(store: Store) -> None:
    publish(store)
    store.review_warning(WID, "accept", "checked", "alice", 1)
    publish(store)  # identical: nothing changes
    publish(store, score=0.5)  # the score only orders the queue
    publish(store, probability=0.31004, score=0.5)  # still "31.0%"
    w = store.get_warning(WID)
    assert (w["state"], w["version"], w["score"]) == ("accepted", 2, 0.5)
    assert store.audit_entries("warning", WID, ("warning_content_changed",)) == []


@pytest.mark.parametrize(("lang", "word"), [("en", "Content changed"), ("zh", "内容更新")])
def test_the_trail_says_the_content_changed(store: Store, lang: str, word: str) -> None:
    from dashboard.review import trail_frame

    publish(store)
    store.review_warning(WID, "accept", "checked", "alice", 1)
    publish(store, probability=0.97, score=0.97)
    events = store.audit_entries("warning", WID, ("warning_content_changed",))
    trail = trail_frame(store.warning_reviews(WID), events, lang)
    assert trail["action"].tolist()[-1] == word
    assert trail["warning_version"].tolist() == [2, 3]  # the decision on version 2
    assert run_id_for(DOMAIN, ORIGIN) in trail["reason"].tolist()[-1]


def test_a_stream_round_holding_a_level_keeps_its_review(tmp_path: Path) -> None:
    """Merge review 2026-12-06: each stream round re-publishes every held warning with a
    new validity and new readings; reopening them undid a panel's accept (and its
    dismissals, which then paged again). A newer run reopens only on a level change."""
    from riskwarn.stream.publish import DOMAIN, Publisher
    from riskwarn.stream.state import SiteLevel

    reason = {
        "en": "Displacement: improved tangent angle 86.0°.",
        "zh": "位移监测：改进切线角86.0°。",
    }
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.upgrade()
    pub = Publisher(store)

    def round_(ranks: dict[str, int], at: pd.Timestamp) -> None:
        levels = {
            s: SiteLevel(s, r, [reason], "ok", float("nan"), {}, at) for s, r in ranks.items()
        }
        pub.publish(levels, pub.changes(levels))

    t0 = pd.Timestamp("2026-12-06T00:00Z")
    round_({"A": 4, "B": 0}, t0)
    (w,) = store.warnings(domain=DOMAIN).to_dict("records")
    store.review_warning(
        w["warning_id"], "accept", "confirmed on site", "rev1", expected_version=int(w["version"])
    )
    round_({"A": 4, "B": 2}, t0 + pd.Timedelta(hours=1))  # only B changes; A holds red
    df = store.warnings(domain=DOMAIN)
    a = df[df["unit_id"] == "A"].iloc[0]
    assert a["state"] == "accepted" and int(a["version"]) == int(w["version"]) + 1
    round_({"A": 3, "B": 2}, t0 + pd.Timedelta(hours=2))  # A's level changes: reopened
    a = store.warnings(domain=DOMAIN).set_index("unit_id").loc["A"]
    assert a["state"] == "new"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_refusal_after_a_content_reopen_says_the_content_changed(lang: str) -> None:
    """Merge review 2026-12-06: after a re-publication reopened a warning, the refusal
    named the last reviewer as if they had decided it again ("alice already decided this
    warning"), and with no earlier decision read "? already decided this warning at —"."""
    from dashboard import review

    alice = {"reviewer": "alice", "at": datetime(2026, 5, 1, tzinfo=UTC), "action": "accept"}
    state: dict[str, Any] = {}
    state[review.DRAFT_KEY] = review.new_draft("w1", 1, 2)
    review.refuse(state, {"version": 3, "state": "new", "last_review": alice})
    conflict = state[review.DRAFT_KEY]["conflict"]
    reopened = review.stale_message(conflict["last_review"], lang, state=conflict["state"])
    assert "alice" not in reopened and "?" not in reopened
    assert ("changed" in reopened) if lang == "en" else ("更新" in reopened)
    assert "?" not in review.stale_message({}, lang)
    decided = review.stale_message(alice, lang, state="accepted")  # a real race: who won
    assert "alice" in decided
