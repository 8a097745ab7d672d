"""ingest_<source>: one DAG per source mapping file in configs/sources/.

Generated at parse time by *listing* ``configs/sources/*.yaml`` (no file is read, no
database is touched). Each DAG picks up the files waiting in
``<RISKWARN_HOME>/landing/<source>/`` one at a time: validates and quarantines it,
upserts the lake, records its batch in the serving store at once, and moves it to
``<RISKWARN_HOME>/archive/<source>/ingested=<interval end>_archived=<archive time>/<original name>``. A poison
file (a gzip bomb, a million-column header, a broken gzip) is quarantined whole with a
one-line reason and archived like any other, so retries never trip over it; a file that
fails unexpectedly stays in landing while the others are recorded, and the task fails
naming it. A file that stored nothing because every row was quarantined (a poison file
included) is recorded and archived too, and the task then fails without retries
(``AirflowFailException``) naming it: nothing of it reached the lake, someone must look
at the quarantine (docs/ingestion.md, "A file that stored nothing"). Then the Asset ``riskwarn_lake_<source>`` is emitted (downstream DAGs may be scheduled on
it). Ingestion is idempotent (re-ingesting a file changes
nothing), and ``ingested_at`` is the data interval's end, so a re-run of an interval
records identical batches.

The DAG ids are ``ingest_<source>`` (this one file generates them; every other
riskwarn DAG id is its file name).
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import Asset, dag, task

from riskwarn.orchestration import (
    EARLIEST_START,
    TAGS,
    default_args,
    interval_end,
    source_mapping_files,
)


def lake_asset(source: str) -> Asset:
    """The Asset a source's ingestion updates."""
    return Asset(f"riskwarn_lake_{source}")


def make_ingest_dag(mapping: Path):
    """Build the ``ingest_<stem>`` DAG of one mapping file."""
    stem = mapping.stem

    @dag(
        dag_id=f"ingest_{stem}",
        schedule="@hourly",
        start_date=EARLIEST_START,
        catchup=False,
        max_active_runs=1,
        tags=[*TAGS, "ingest"],
        default_args=default_args(retries=2, timeout_minutes=60),
        doc_md=__doc__,
    )
    def ingest_dag() -> None:
        @task(outlets=[lake_asset(stem)])
        def ingest(**context) -> dict:
            from airflow.sdk.exceptions import AirflowFailException

            from riskwarn.ingest.landing import LandingStoredNothing
            from riskwarn.orchestration import memory_budget
            from riskwarn.pipeline import ingest_source
            from riskwarn.settings import load_settings

            end = interval_end(context)
            settings = load_settings()
            with memory_budget(settings.task_memory_mb):
                try:
                    return ingest_source(settings, str(mapping), end)
                except LandingStoredNothing as exc:
                    # the file is archived: a retry would find nothing and turn green
                    raise AirflowFailException(str(exc)) from None

        ingest()

    return ingest_dag()


for _mapping in source_mapping_files():
    globals()[f"ingest_{_mapping.stem}"] = make_ingest_dag(_mapping)
