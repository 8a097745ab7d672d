"""train_models: weekly challenger training, backtest, gate and promotion per domain.

Each domain is its own task (a failure in one does not stop the others); the gate in
models decides whether the challenger becomes ``champion``. At most
``RISKWARN_TRAIN_CONCURRENCY`` (default 2, 0 = no cap; read at parse time) of them run
at once in a run (``max_active_tis_per_dagrun``): each training holds gigabytes (about
7 GB for incidents on the simulated city), and the LocalExecutor would otherwise start
them all together (docs/operations.md, "How many trainings at once").
"""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, Param, dag, task

from riskwarn import domains
from riskwarn.orchestration import (
    EARLIEST_START,
    TAGS,
    default_args,
    interval_end,
    requested_domains,
    train_concurrency,
)

DOMAINS = list(domains.names(trained_by=domains.TRAIN_DAG))
TRAIN_CONCURRENCY = train_concurrency()


@dag(
    dag_id="train_models",
    schedule=CronTriggerTimetable("0 2 * * 1", timezone="Asia/Shanghai"),
    start_date=EARLIEST_START,
    catchup=False,
    max_active_runs=1,
    tags=[*TAGS, "models"],
    default_args=default_args(retries=1, timeout_minutes=120),
    params={"domains": Param(DOMAINS, type="array", description="Domains to train.")},
    doc_md=__doc__,
)
def train_models() -> None:
    @task
    def domains(**context) -> list[str]:
        return requested_domains(context["params"]["domains"], DOMAINS, "train_models")

    @task(
        map_index_template="{{ task.op_kwargs['domain'] }}",
        max_active_tis_per_dagrun=TRAIN_CONCURRENCY,
    )
    def train(domain: str, **context) -> dict:
        from riskwarn.orchestration import memory_budget
        from riskwarn.pipeline import train_domain
        from riskwarn.settings import load_settings

        end = interval_end(context)
        settings = load_settings()
        with memory_budget(settings.task_memory_mb):
            return train_domain(settings, domain, end)

    train.expand(domain=domains())


train_models()
