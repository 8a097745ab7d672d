"""publish: after each scoring run, export the published forecasts and warnings.

Scheduled on ``riskwarn_forecasts``. The serving-store tables (docs/design.md) are the
integration point for the city's other systems; this DAG also writes, per published
run, ``forecasts.csv``, ``warnings.csv`` and ``forecasts.geojson`` under
``<home>/exports/<domain>/<run>/`` (rewritten identically on re-run), and puts the
observed weekly history before each run's origin (events and units with one, the last 12
weeks, from the lake) into the serving store's ``observed_weeks`` for the overview.
"""

from __future__ import annotations

from airflow.sdk import Asset, dag, task

from riskwarn.orchestration import EARLIEST_START, TAGS, default_args

FORECASTS = Asset("riskwarn_forecasts")
EXPORTS = Asset("riskwarn_exports")


@dag(
    dag_id="publish",
    schedule=[FORECASTS],
    start_date=EARLIEST_START,
    catchup=False,
    max_active_runs=1,
    tags=[*TAGS, "publish"],
    default_args=default_args(retries=2, timeout_minutes=15),
    doc_md=__doc__,
)
def publish() -> None:
    @task(outlets=[EXPORTS])
    def export() -> list[str]:
        from riskwarn.orchestration import memory_budget
        from riskwarn.pipeline import publish_exports, publish_observed
        from riskwarn.settings import load_settings

        settings = load_settings()
        with memory_budget(settings.task_memory_mb):
            # the weeks observed before each run's origin: the overview's "is it rising"
            publish_observed(settings)
            return publish_exports(settings)

    export()


publish()
