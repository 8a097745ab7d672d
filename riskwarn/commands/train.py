"""``riskwarn train <domain>``: train, backtest, log and gate a challenger from the lake."""

from __future__ import annotations

import logging

import click

from riskwarn import domains

log = logging.getLogger(__name__)


@click.command(epilog="DOMAIN is one of: " + ", ".join(domains.names()) + ".")
@click.argument("domain", type=click.Choice(domains.names()), metavar="DOMAIN")
@click.option(
    "--source",
    "sources",
    multiple=True,
    help="Only these lake sources (hotspot domains; refused for the others).",
)
@click.option(
    "--eval-days",
    type=click.IntRange(min=14),
    default=None,
    help="Latest backtest window used by the gate (default: the domain's own; site "
    "domains reach back further until it holds 10 failures).",
)
@click.option("--tz", default=None, help="Local time zone of the origins (default: display tz).")
@click.option(
    "--promote/--no-promote",
    "auto_promote",
    default=True,
    show_default=True,
    help="Promote the challenger when it passes the gate.",
)
@click.option("--max-ece", type=float, default=0.05, show_default=True)
@click.option(
    "--as-of",
    default=None,
    help="Train on lake records before this time (default: now), like the weekly DAG run.",
)
def train(
    domain: str,
    sources: tuple[str, ...],
    eval_days: int | None,
    tz: str | None,
    auto_promote: bool,
    max_ece: float,
    as_of: str | None,
) -> None:
    """Train and gate a challenger model for DOMAIN (champion alias moves only on a pass).

    The same code path as the weekly ``train_models`` DAG (riskwarn.pipeline.train_domain).
    """
    import pandas as pd

    from riskwarn.pipeline import TrainOptions, train_domain
    from riskwarn.settings import load_settings

    options = TrainOptions(
        eval_days=eval_days,
        auto_promote=auto_promote,
        max_ece=max_ece,
        tz=tz,
        sources=sources or None,
    )
    try:
        end = pd.Timestamp(as_of) if as_of else pd.Timestamp.now(tz="UTC")
    except ValueError:
        raise click.UsageError(f"--as-of: not a time: {as_of!r}") from None
    try:
        result = train_domain(load_settings(), domain, end, options)
    except (ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    for run_id in result.get("abandoned_runs_ended", ()):
        click.echo(
            f"ended run {run_id} of riskwarn-{domain} as KILLED: a training that died left it "
            "RUNNING (its tag riskwarn.abandoned says why)"
        )
    from riskwarn.commands.registry import scoring_how, short_reason, version_label

    before = result["champion_before"]
    stays = version_label(str(before)) if before else "unset"
    if result.get("not_trained"):
        click.echo(f"riskwarn-{domain} {result['gate']}")
        click.echo(f"champion stays {stays}")
        return
    version = version_label(str(result["version"]))
    click.echo(f"run {result['mlflow_run_id']}: riskwarn-{domain} {version}")
    # the gate's summary runs to ~900 characters: its verdict and failing checks here,
    # the whole of it under `riskwarn models DOMAIN --checks`
    click.echo(short_reason(str(result["gate"])).removesuffix(" (--checks: in full)"))
    checks = f"riskwarn models {domain} --checks"
    if result["promoted"]:
        click.echo(f"promoted to champion ({stays} -> {version}); the gate's checks: {checks}")
        click.echo(
            f"the published warnings stay the last scoring run's until the next one, "
            f"which uses {version}: {scoring_how(domain)}"
        )
        return
    click.echo(f"not promoted; champion stays {stays}")
    click.echo(
        f"to see why: {checks}; to serve it anyway: riskwarn promote {domain} "
        f"{version} --force --reason ..."
    )
