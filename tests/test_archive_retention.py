"""Archived landing files with personal fields are kept ``archive_personal_days`` only.

``<home>/archive/sim_disputes/ingested=.../disputes.csv`` holds parties' names, phones
and ID numbers and was kept for ever; lake maintenance now removes such files older
than the retention, audited by file name only (docs/security.md)."""

from __future__ import annotations

import pandas as pd

from riskwarn.orchestration import source_mapping_files
from riskwarn.pipeline import personal_sources, purge_personal_archive
from riskwarn.settings import Settings
from riskwarn.store import Store


def test_personal_archive_older_than_retention_is_removed(settings: Settings) -> None:
    sources = personal_sources(source_mapping_files())
    assert {"sim_disputes", "sim_dispute_events"} <= set(sources)
    now = pd.Timestamp("2026-12-05T12:00:00Z")
    arch = settings.archive_dir
    old = arch / "sim_disputes" / "ingested=2026-10-01T000000Z"
    new = arch / "sim_disputes" / "ingested=2026-11-30T000000Z"
    public = arch / "sim_incidents" / "ingested=2026-01-01T000000Z"
    for folder in (old, new, public):
        folder.mkdir(parents=True)
        (folder / "disputes.csv").write_text("name,phone\nZhang San,13800000000\n")
    assert "sim_incidents" not in sources
    removed = purge_personal_archive(settings, sources, now=now)
    assert removed == ["sim_disputes/ingested=2026-10-01T000000Z/disputes.csv"]
    assert not old.exists() and (new / "disputes.csv").exists()
    assert (public / "disputes.csv").exists()  # no personal fields: not this retention's
    assert purge_personal_archive(settings, sources, now=now) == []  # re-run: nothing
    store = Store.from_settings(settings)
    entries = store.audit_entries("archive", str(arch), ("archive_purged",))
    store.close()
    assert len(entries) == 1
    assert "Zhang" not in str(entries[0]) and "disputes.csv" in str(entries[0])
