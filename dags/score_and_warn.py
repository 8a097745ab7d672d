"""score_and_warn: daily scores and warnings for the domains it scores (riskwarn.domains).

Runs at local midnight (Asia/Shanghai); the forecast origin is that midnight, taken
from the data interval (never the clock), so a re-run or a backfill of a day rewrites
the same run (``<domain>:<origin>``) with identical rows. A missing champion fails the
domain's task loudly and leaves the last published run in service, as does a source the
domain is served on that is older than its ``max_data_age_days`` at the origin (the task
fails at once, without retries, with the one-line reason: riskwarn.scoring.check_data_age,
audited ``stale_data_refused``). Emits
``riskwarn_forecasts`` (``publish`` is scheduled on it).

With ``disputes`` among the domains, ``communities`` publishes the week's disputes
ranking by community (村/社区) at the same origin into the serving store
(``riskwarn.pipeline.publish_communities``: the rule that won the community backtest,
``population_rate``, from the disputes known before the origin); the overview's disputes
tab reads it. Re-running the day publishes the same ranking once. It waits for the
scoring and publishes only when the disputes scoring stored its run: when that was
refused or failed the task is skipped, with the reason in its log, as
``riskwarn score disputes`` publishes nothing then
(``riskwarn.pipeline.publish_communities_after_scoring`` decides for both).
"""

from __future__ import annotations

from airflow.sdk import Asset, CronTriggerTimetable, Param, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from riskwarn import domains
from riskwarn.orchestration import (
    EARLIEST_START,
    TAGS,
    default_args,
    interval_end,
    requested_domains,
)

FORECASTS = Asset("riskwarn_forecasts")
DOMAINS = list(domains.names(scored_by=domains.DAILY_SCORING_DAG))
COMMUNITY_DOMAIN = "disputes"  # riskwarn.pipeline.COMMUNITY_DOMAIN (not imported at parse)


@dag(
    dag_id="score_and_warn",
    schedule=CronTriggerTimetable("0 0 * * *", timezone="Asia/Shanghai"),
    start_date=EARLIEST_START,
    catchup=False,
    max_active_runs=1,
    tags=[*TAGS, "scoring"],
    default_args=default_args(retries=2, timeout_minutes=30),
    params={"domains": Param(DOMAINS, type="array", description="Domains to score.")},
    doc_md=__doc__,
)
def score_and_warn() -> None:
    @task
    def domains(**context) -> list[str]:
        return requested_domains(context["params"]["domains"], DOMAINS, "score_and_warn")

    @task(outlets=[FORECASTS], map_index_template="{{ task.op_kwargs['domain'] }}")
    def score(domain: str, **context) -> str:
        from airflow.sdk.exceptions import AirflowFailException

        from riskwarn.orchestration import memory_budget
        from riskwarn.pipeline import score_and_warn as run
        from riskwarn.scoring import StaleData
        from riskwarn.settings import load_settings

        end = interval_end(context)
        settings = load_settings()
        with memory_budget(settings.task_memory_mb):
            try:
                return run(settings, domain, end, context["run_id"])
            except StaleData as exc:
                # a stopped feed: refused (audited), nothing written; a retry minutes
                # later would find the same lake, so failed at once with the one line
                raise AirflowFailException(str(exc)) from None

    # after every scoring, also a failed one (then skipped, below); not when the domains
    # task failed (nothing was scored)
    @task(trigger_rule="all_done_min_one_success")
    def communities(asked: list[str], **context) -> str | None:
        if COMMUNITY_DOMAIN not in asked:
            raise AirflowSkipException(
                f"{COMMUNITY_DOMAIN} is not scored in this run: no community ranking"
            )
        from riskwarn.orchestration import memory_budget
        from riskwarn.pipeline import CommunityRankingSkipped, publish_communities_after_scoring
        from riskwarn.settings import load_settings

        # what the disputes scoring returned: its run id; None when it was refused or
        # failed (a failed task pushes no XCom)
        scored = context["ti"].xcom_pull(
            task_ids="score", map_indexes=asked.index(COMMUNITY_DOMAIN), default=None
        )
        settings = load_settings()
        try:
            with memory_budget(settings.task_memory_mb):
                return publish_communities_after_scoring(
                    settings, interval_end(context), scored, context["run_id"]
                )
        except CommunityRankingSkipped as exc:
            raise AirflowSkipException(str(exc)) from None

    @task
    def all_scored() -> None:
        """Nothing to do: upstream_failed when a scoring failed, so the run fails (a DAG
        run's state is its leaves': ``communities``, run after a failed scoring too,
        would otherwise end it ``success``)."""

    asked = domains()
    scored = score.expand(domain=asked)
    ranking = communities(asked)  # type: ignore[arg-type]  # the XComArg is the list at run time
    scored >> ranking
    scored >> all_scored()


score_and_warn()
