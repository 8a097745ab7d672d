"""``scripts/backfill_check.py compare``: what a backfill must reproduce (real SQLite store).

The check compares the scoring's output (forecasts, runs, the warnings' content and
whether each is in force), not the store's bookkeeping about a warning since it was
raised (review state, version, withdrawal times). Before, the whole warnings table was
compared: a warning withdrawn by an operator's correction re-run and raised again by the
backfill, or reviewed in between, was reported as a difference.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from riskwarn.store import Store
from scripts import backfill_check as bc

ORIGIN = pd.Timestamp("2024-12-16 16:00", tz="UTC")
RUN = "incidents:20241216T1600Z"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path))
    monkeypatch.setenv("RISKWARN_STORE_URL", url)
    s = Store(url)
    s.upgrade()
    yield s
    s.close()


def publish(store: Store, cells: list[str], actor: str = "pipeline") -> None:
    """Publish (or re-publish) the run with a red warning on each of ``cells``."""
    store.stage_run(
        {"run_id": RUN, "domain": "incidents", "origin": ORIGIN, "horizon_hours": 168.0}
    )
    store.write_forecasts(
        RUN,
        pd.DataFrame(
            {
                "unit_type": "cell",
                "unit_id": ["c1", "c2", "c3"],
                "valid_to": ORIGIN + pd.Timedelta(days=7),
                "score": [0.9, 0.8, 0.1],
            }
        ),
    )
    store.write_warnings(
        RUN,
        pd.DataFrame(
            {
                "unit_type": "cell",
                "unit_id": cells,
                "valid_from": ORIGIN,
                "valid_to": ORIGIN + pd.Timedelta(days=7),
                "level": "red",
                # each cell's own probability (a re-run raising fewer cells changes
                # nothing shown of the others: a changed one would reopen its review)
                "probability": [{"c1": 0.9, "c2": 0.8}[c] for c in cells],
                "score": [{"c1": 0.9, "c2": 0.8}[c] for c in cells],
            }
        ),
    )
    store.publish_run(RUN, actor=actor)


def test_bookkeeping_is_not_compared_but_a_warning_the_backfill_withdraws_is(
    store: Store,
) -> None:
    publish(store, ["c1", "c2"])
    original = bc.store_tables()
    c1 = original["warnings"]["warning_id"].iloc[0]
    # between the snapshots: an operator's correction re-run withdraws c1, a panel
    # reviews c2; the backfill's re-run raises c1 again (state 'new', version + 1)
    publish(store, ["c2"], actor="correction")
    c2 = store.warnings()["warning_id"].iloc[0]
    store.review_warning(c2, "accept", "seen on site", "alice", 1)
    publish(store, ["c1", "c2"], actor="backfill")
    after = bc.store_tables()
    w = after["warnings"].set_index("warning_id")
    assert (w.loc[c1, "version"], w.loc[c2, "state"]) == (3, "accepted")
    assert bc.differences(original, after) == []

    # a backfill that no longer raises c2 withdraws it: that is a difference
    publish(store, ["c1"], actor="backfill")
    problems = bc.differences(original, bc.store_tables())
    assert problems and problems[0] == f"warnings: 1 withdrawn by the backfill: {[c2]}"
    assert any(p.startswith("warnings differ") and "in_force" in p for p in problems)


def test_content_differences_are_still_found(store: Store) -> None:
    publish(store, ["c1", "c2"])
    original = bc.store_tables()
    with store.engine.begin() as con:  # a re-run that scored c2 differently
        con.exec_driver_sql("UPDATE warnings SET score = 0.7 WHERE unit_id = 'c2'")
    problems = bc.differences(original, bc.store_tables())
    assert len(problems) == 1 and problems[0].startswith("warnings differ")
    assert "score" in problems[0]
