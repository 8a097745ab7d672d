"""train_models: weekly challenger training, backtest, gate and promotion per domain.

The ``train`` task is mapped over groups of domains (``riskwarn.domains.training_groups``):
each domain alone, except the site domains (``geohazard``, ``geohazard_hourly``), which
are trained together by one task as they read the same sensor readings: one spill of the
lake's readings and one pass of the per-sensor work for both
(``riskwarn.pipeline.train_site_group``; docs/design.md, "Training the site domains
together"). Each domain still has its own MLflow run, gate and promotion, and a failure
in one does not stop the others: in a group the other domains are trained and recorded,
then the task fails naming the failed one; its retry trains only the failed one (each
trained domain's MLflow run is marked with the task, and a try finding its domain's run
reuses its result: ``riskwarn.pipeline.train_group``). A run whose
``domains`` param names one site domain trains it alone. The gate in models decides
whether the challenger becomes ``champion``. At most ``RISKWARN_TRAIN_CONCURRENCY``
(default 2, 0 = no cap; read at parse time) tasks run at once in a run
(``max_active_tis_per_dagrun``): each training holds gigabytes (about 7 GB for incidents
on the simulated city), and the LocalExecutor would otherwise start them all together
(docs/operations.md, "How many trainings at once").
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
    def domains(**context) -> list[list[str]]:
        from riskwarn.domains import training_groups

        asked = requested_domains(context["params"]["domains"], DOMAINS, "train_models")
        return [list(group) for group in training_groups(asked)]

    @task(
        map_index_template="{{ task.op_kwargs['group'] | join('+') }}",
        max_active_tis_per_dagrun=TRAIN_CONCURRENCY,
    )
    def train(group: list[str], **context) -> dict:
        from riskwarn.orchestration import memory_budget
        from riskwarn.pipeline import group_result, train_group
        from riskwarn.settings import load_settings

        end = interval_end(context)
        settings = load_settings()
        with memory_budget(settings.task_memory_mb):
            ti = context["ti"]  # the same key for every try: a retry reuses what trained
            task_key = f"{ti.dag_id}/{ti.run_id}/{ti.map_index}"
            return group_result(train_group(settings, group, end, task=task_key))

    train.expand(group=domains())


train_models()
