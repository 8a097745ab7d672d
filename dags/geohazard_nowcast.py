"""geohazard_nowcast: every monitored site, every hour (down to every 10 minutes).

The cadence comes from ``RISKWARN_NOWCAST_MINUTES`` (10..60, default 60), read from the
environment at parse time (cheap; no Variable or DB access). The nowcast origin is the
interval end floored to the cadence. Sensor rules (tangent angle, inverse velocity)
and sensor health always apply; the hourly model's probability is added when its
champion is available. Emits ``riskwarn_forecasts``.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, DeltaTriggerTimetable, dag, task

from riskwarn.orchestration import TAGS, default_args, interval_end, nowcast_minutes

FORECASTS = Asset("riskwarn_forecasts")
MINUTES = nowcast_minutes()


@dag(
    dag_id="geohazard_nowcast",
    schedule=DeltaTriggerTimetable(timedelta(minutes=MINUTES)),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=[*TAGS, "geohazard", "scoring"],
    default_args=default_args(retries=1, timeout_minutes=max(MINUTES - 2, 8)),
    doc_md=__doc__,
)
def geohazard_nowcast() -> None:
    @task(outlets=[FORECASTS])
    def nowcast(**context) -> str:
        from riskwarn.pipeline import geohazard_nowcast as run
        from riskwarn.settings import load_settings

        end = interval_end(context)
        return run(load_settings(), end, MINUTES, context["run_id"])

    nowcast()


geohazard_nowcast()
