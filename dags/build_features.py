"""build_features: cell features at today's origin, triggered by any ingest Asset.

Scheduled on the ``riskwarn_lake_<source>`` Assets the ``ingest_<source>`` DAGs emit
(the list of sources is taken by listing configs/sources/*.yaml: cheap). Writes one
partition per domain and origin (``<home>/features/<domain>/origin=<day>/``),
overwritten on re-run, and emits ``riskwarn_features``.
"""

from __future__ import annotations

from airflow.sdk import Asset, AssetAny, dag, task

from riskwarn.orchestration import (
    EARLIEST_START,
    TAGS,
    default_args,
    interval_end,
    source_mapping_files,
)

FEATURES = Asset("riskwarn_features")
_LAKE = [Asset(f"riskwarn_lake_{m.stem}") for m in source_mapping_files()]


@dag(
    dag_id="build_features",
    schedule=AssetAny(*_LAKE) if _LAKE else None,
    start_date=EARLIEST_START,
    catchup=False,
    max_active_runs=1,
    tags=[*TAGS, "features"],
    default_args=default_args(retries=2, timeout_minutes=60),
    doc_md=__doc__,
)
def build_features() -> None:
    @task(outlets=[FEATURES])
    def features(**context) -> list[str]:
        from riskwarn.pipeline import build_features as run
        from riskwarn.settings import load_settings

        end = interval_end(context)
        return run(load_settings(), end)

    features()


build_features()
