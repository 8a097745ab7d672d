"""``riskwarn contracts``: print the canonical tables."""

from __future__ import annotations

import click

from riskwarn.contracts import TABLES, contracts_markdown


@click.command()
@click.option("--markdown", is_flag=True, help="Print the full Markdown documentation.")
def contracts(markdown: bool) -> None:
    """Print the data contracts (tables, columns, units, time zones, CRS)."""
    if markdown:
        click.echo(contracts_markdown())
        return
    for table in TABLES.values():
        click.echo(f"{table.name}: {', '.join(table.columns)}")
