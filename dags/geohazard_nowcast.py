"""geohazard_nowcast: every monitored site, every hour (down to every 10 minutes).

The cadence comes from ``RISKWARN_NOWCAST_MINUTES`` (10..60, default 60), read from the
environment at parse time (cheap; no Variable or DB access). The nowcast origin is the
interval end floored to the cadence. The level comes from the ``geohazard_hourly``
champion's calibrated probability, raised by the hard sensor rules (tangent angle,
inverse-velocity failure forecast: a rule's orange/red is never lowered by the model)
and sensor health (stated explicitly). If the champion cannot be loaded the task still
publishes the sensor-rule warnings ("model unavailable, sensor rules only"), writes the
audit log, and then fails so operators are told (a retry republishes identical rows);
only a model that was never registered (fresh install) is not a failure.
Emits ``riskwarn_forecasts``.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, DeltaTriggerTimetable, dag, task

from riskwarn.orchestration import EARLIEST_START, TAGS, default_args, interval_end, nowcast_minutes

FORECASTS = Asset("riskwarn_forecasts")
MINUTES = nowcast_minutes()


@dag(
    dag_id="geohazard_nowcast",
    schedule=DeltaTriggerTimetable(timedelta(minutes=MINUTES)),
    start_date=EARLIEST_START,
    catchup=False,
    max_active_runs=1,
    tags=[*TAGS, "geohazard", "scoring"],
    default_args=default_args(retries=1, timeout_minutes=max(MINUTES - 2, 8)),
    doc_md=__doc__,
)
def geohazard_nowcast() -> None:
    @task(outlets=[FORECASTS])
    def nowcast(**context) -> str:
        from riskwarn.orchestration import memory_budget
        from riskwarn.pipeline import geohazard_nowcast as run
        from riskwarn.settings import load_settings

        end = interval_end(context)
        settings = load_settings()
        with memory_budget(settings.task_memory_mb):
            return run(settings, end, MINUTES, context["run_id"])

    nowcast()


geohazard_nowcast()
