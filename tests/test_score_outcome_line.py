"""`riskwarn score`'s last line says what the store holds (attack review C4, stop 41).

A backfill (`riskwarn score incidents --origin` older than the run in service) printed
``published <run>`` while the store recorded it 'superseded' and kept serving the newer
run. Now the line names the status and the run that stays served.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from riskwarn.commands.score import outcome_line
from riskwarn.settings import Settings
from riskwarn.store import Store
from tests.test_store import DOMAIN, ORIGIN
from tests.test_store_review_replaced import publish

LATER = ORIGIN + timedelta(days=7)


def test_a_backfill_is_not_called_published(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    with Store.from_settings(settings) as store:
        store.upgrade()
        newer = publish(store, LATER)
    assert outcome_line(settings, DOMAIN, newer) == f"published {newer}"
    with Store.from_settings(settings) as store:
        older = publish(store, ORIGIN)  # a backfill: stored, not served
        assert store.published_run(DOMAIN)["run_id"] == newer
    line = outcome_line(settings, DOMAIN, older)
    assert not line.startswith("published"), line
    assert f"stored {older} as superseded, not in service: {newer}" in line, line
    assert line.endswith("stays served"), line
    # the served run still reads as published
    assert outcome_line(settings, DOMAIN, newer) == f"published {newer}"


def test_a_run_replaced_by_a_newer_one_is_not_called_published(tmp_path: Path) -> None:
    """Another process published a newer run after this one: the line says so."""
    settings = Settings(home=tmp_path)
    with Store.from_settings(settings) as store:
        store.upgrade()
        mine = publish(store, ORIGIN)
        newer = publish(store, LATER)
    line = outcome_line(settings, DOMAIN, mine)
    assert line.startswith(f"stored {mine} as superseded, not in service: {newer}"), line
