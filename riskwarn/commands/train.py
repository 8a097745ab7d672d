"""``riskwarn train <domain>``: train, backtest, log and gate a challenger from the lake."""

from __future__ import annotations

import logging

import click

log = logging.getLogger(__name__)

DOMAIN_NAMES = (
    "incidents",
    "incidents_daily",
    "disputes",
    "dispute_cases",
    "geohazard",
    "geohazard_hourly",
)


@click.command()
@click.argument("domain", type=click.Choice(DOMAIN_NAMES))
@click.option("--source", "sources", multiple=True, help="Only these lake sources.")
@click.option(
    "--eval-days",
    type=click.IntRange(min=14),
    default=84,
    show_default=True,
    help="Latest backtest window used by the gate.",
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
def train(
    domain: str,
    sources: tuple[str, ...],
    eval_days: int,
    tz: str | None,
    auto_promote: bool,
    max_ece: float,
) -> None:
    """Train and gate a challenger model for DOMAIN (champion alias moves only on a pass)."""
    from riskwarn.lake import read_table
    from riskwarn.models.registry import configure
    from riskwarn.models.train import DOMAINS, HOTSPOT_DOMAINS, train_hotspot_domain
    from riskwarn.settings import load_settings
    from riskwarn.store import Store

    settings = load_settings()
    if domain == "dispute_cases":
        import pandas as pd

        from riskwarn.pipeline import train_domain

        try:
            result = train_domain(settings, domain, pd.Timestamp.now(tz="UTC"))
        except (ValueError, RuntimeError) as exc:
            raise click.ClickException(str(exc)) from None
        for key, value in result.items():
            click.echo(f"  {key}: {value}")
        return
    if domain not in HOTSPOT_DOMAINS:
        raise click.ClickException(
            f"training {domain!r} needs site models, not built yet (too few failures in the "
            f"small simulation); available: {', '.join((*HOTSPOT_DOMAINS, 'dispute_cases'))}"
        )
    spec = DOMAINS[domain]
    events = read_table(settings.lake_dir, spec.table, sources=list(sources) or None)
    if events.empty:
        raise click.ClickException(
            f"no {spec.table} rows in the lake at {settings.lake_dir}; run `riskwarn ingest` first"
        )
    client = configure(settings.resolved_mlflow_uri)
    store = Store.from_settings(settings)
    store.upgrade()
    artifacts = (settings.home / "mlartifacts").resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    try:
        report = train_hotspot_domain(
            events,
            domain,
            client,
            crs=settings.city_crs,
            cell_size_m=settings.cell_size_m,
            tz=tz or settings.display_tz,
            eval_days=eval_days,
            store=store,
            max_ece=max_ece,
            auto_promote=auto_promote,
            artifact_location=artifacts.as_uri(),
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    m = report.metrics["methods"]
    click.echo(f"run {report.run.run_id}: riskwarn-{domain} version {report.run.version}")
    for name in sorted(m, key=lambda k: -m[k]["pai@0.05"]):
        click.echo(f"  {name:12s} PAI@5% {m[name]['pai@0.05']:.2f}")
    click.echo(report.gate.summary())
    click.echo(
        "promoted to champion"
        if report.promoted
        else f"not promoted; champion stays {report.champion_before or 'unset'}"
    )
