"""lake_maintenance: daily upkeep of the lake's Delta tables.

Per table, under its writer lock (ingests of that table wait meanwhile): set the
retention properties from ``Settings.lake_history_days``, compact small files into files
of ``lake_target_file_mb``, vacuum files that no version of the last
``lake_history_days`` days needs (and files a killed writer left behind), write a
checkpoint and drop expired log entries. ``riskwarn lake maintain`` does the same by hand.

``sweep_temporary``: remove the temporary folders (training spills, XGBoost
external-memory pages, model downloads) whose owning process is gone (its ``flock`` is
free), never one in use, and report the owner-less ``riskwarn-*`` folders earlier
versions left in the system's temporary folder (docs/operations.md). ``riskwarn lake
sweep`` does the same by hand.

``purge_personal_archive``: remove the archived landing files of sources with personal
fields (their mapping pseudonymises or drops columns: dispute parties', handlers' names,
phones, ID numbers) older than ``Settings.archive_personal_days`` (default 30), audited
per folder by file name (``archive_purge_started``, ``archive_purged``); a folder that
cannot be removed fails the task after the others are removed, and the next run
completes it. ``riskwarn lake maintain`` does it too; one purge at a time per home
(``riskwarn.spill.archive_purge_lock``): a second waits for the first, then finds what it
removed gone (not an error).

``age_quarantine``: age the lake quarantine's rows stored more than
``Settings.archive_personal_days`` ago (``riskwarn.lake.aging``): the text of their
originals (what could spell a name) masked, the rows, their reasons and counts kept, the
superseded copies vacuumed; audited ``quarantine_aged`` with counts. ``maintain`` keeps
the quarantine's history no longer than those days. ``riskwarn lake maintain`` does both.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from riskwarn.orchestration import EARLIEST_START, TAGS, default_args


@dag(
    dag_id="lake_maintenance",
    schedule="30 3 * * *",
    start_date=EARLIEST_START,
    catchup=False,
    max_active_runs=1,
    tags=[*TAGS, "lake"],
    default_args=default_args(retries=2, timeout_minutes=120),
    doc_md=__doc__,
)
def lake_maintenance() -> None:
    @task
    def maintain() -> list[dict]:
        from riskwarn.lake.maintenance import maintain as run
        from riskwarn.orchestration import memory_budget
        from riskwarn.settings import load_settings

        settings = load_settings()
        # like every task: on the city's lake (92 M readings, 70 files compacted into 35)
        # it took 57 s and +495 MB of address space (docs/operations.md)
        with memory_budget(settings.task_memory_mb):
            return run(
                settings.lake_dir,
                settings.lake_history_days,
                settings.lake_target_file_mb,
                quarantine_days=settings.archive_personal_days,
            )

    @task
    def sweep_temporary() -> dict:
        from riskwarn.orchestration import memory_budget
        from riskwarn.settings import load_settings
        from riskwarn.spill import sweep_all

        settings = load_settings()
        with memory_budget(settings.task_memory_mb):
            done = sweep_all(settings)
        return {"removed": done["removed"], "legacy": [x["path"] for x in done["legacy"]]}

    @task
    def purge_personal_archive() -> dict[str, list[str]]:
        from riskwarn.orchestration import memory_budget, source_mapping_files
        from riskwarn.pipeline import personal_sources, purge_personal_archive
        from riskwarn.settings import load_settings

        settings = load_settings()
        with memory_budget(settings.task_memory_mb):
            done = purge_personal_archive(settings, personal_sources(source_mapping_files()))
        if done["failed"]:  # the other folders are removed; the next run completes these
            raise RuntimeError(
                f"{len(done['failed'])} archive folder(s) not removed: {'; '.join(done['failed'])}"
            )
        return done

    @task
    def age_quarantine() -> dict[str, int]:
        from riskwarn.orchestration import memory_budget, source_mapping_files
        from riskwarn.pipeline import age_quarantine as age
        from riskwarn.settings import load_settings

        settings = load_settings()
        with memory_budget(settings.task_memory_mb):
            return age(settings, source_mapping_files())

    maintain()
    sweep_temporary()
    purge_personal_archive()
    age_quarantine()


lake_maintenance()
