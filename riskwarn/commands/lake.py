"""``riskwarn lake``: a record's history, maintenance, snapshots and the one-time migration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from riskwarn.contracts import TABLES


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


@click.group()
def lake() -> None:
    """The lake (Delta tables under <home>/lake)."""


@lake.command()
@click.argument("table", type=click.Choice(sorted(TABLES)))
@click.option("--record", "record_id", required=True, help="Record id (as stored in record_id).")
@click.option("--source", default=None, help="Only this source (record ids are per source).")
@click.option("--json", "as_json", is_flag=True, help="Print the versions as JSON.")
def history(table: str, record_id: str, source: str | None, as_json: bool) -> None:
    """Every version of one record of TABLE: inserts, corrections (before/after) and moves."""
    from riskwarn.lake import LakeError, record_history
    from riskwarn.settings import load_settings

    settings = load_settings()
    try:
        rows = record_history(settings.lake_dir, table, record_id, source)
    except LakeError as exc:
        raise _fail(exc) from None
    if rows.empty:
        from riskwarn.lake import layout

        if not settings.lake_dir.is_dir():  # not "no record": there is nothing to look in
            raise click.ClickException(
                f"no lake at {settings.lake_dir} (RISKWARN_HOME={settings.home}): nothing "
                "ingested in this home yet; `riskwarn ingest` fills it"
            )
        if not any(layout.table_dir(settings.lake_dir, table).glob("*")):
            raise click.ClickException(
                f"the lake at {settings.lake_dir} has no table {table} yet: nothing of it "
                "ingested in this home"
            )
        raise click.ClickException(f"no record {record_id!r} in {table} (within the kept history)")
    if as_json:
        click.echo(rows.to_json(orient="records", date_format="iso", force_ascii=False, indent=2))
        return
    data = [c for c in TABLES[table].columns if c not in ("source", "record_id")]
    for row in rows.to_dict(orient="records"):
        when = "" if row["version"] < 0 else f" {row['committed_at']:%Y-%m-%d %H:%M:%S}Z"
        head = f"v{row['version']}{when} {row['change']:<7} {row['source']}:{row['record_id']}"
        batch = f" batch {str(row['batch_id'])[:12]}" if row["batch_id"] else ""
        values = ", ".join(f"{c}={_show(row[c])}" for c in data if _show(row[c]) != "")
        click.echo(f"{head}{batch}\n    {values}")


def _show(value: Any) -> str:
    if value is None:
        return ""
    try:
        import pandas as pd

        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


@lake.command()
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
def maintain(as_json: bool) -> None:
    """Compact small files, vacuum versions older than lake_history_days, checkpoint;
    remove archived landing files with personal fields older than archive_personal_days;
    age quarantined rows stored longer ago than that (their originals' text masked, the
    rows kept; the quarantine's history kept no longer).

    Exit 1 when an archive folder could not be removed (one `error:` line each; the
    others are removed, and the next run completes it). One archive purge at a time: a
    maintain started while another (or the lake_maintenance DAG) purges waits for it (one
    warning naming it), then finds what it removed gone, which is not an error."""
    from riskwarn.lake import LakeError
    from riskwarn.lake.maintenance import maintain as run
    from riskwarn.settings import load_settings

    settings = load_settings()
    try:
        done = run(
            settings.lake_dir,
            settings.lake_history_days,
            settings.lake_target_file_mb,
            quarantine_days=settings.archive_personal_days,
        )
    except LakeError as exc:
        raise _fail(exc) from None
    from riskwarn.orchestration import source_mapping_files
    from riskwarn.pipeline import age_quarantine, personal_sources, purge_personal_archive

    purged = purge_personal_archive(settings, personal_sources(source_mapping_files()))
    try:
        aged = age_quarantine(settings, source_mapping_files())
    except LakeError as exc:
        raise _fail(exc) from None
    if as_json:
        click.echo(json.dumps({"tables": done, "archive": purged, "quarantine": aged}, indent=2))
    else:
        days = settings.archive_personal_days
        if aged["aged"]:
            click.echo(
                f"quarantine: aged {aged['aged']} row(s) stored more than {days} days ago "
                "(their originals' text masked; the rows, reasons and counts kept)"
            )
        for name in purged["removed"]:
            link = " (a symlink: the link only, its target stays)" * (name in purged["links"])
            click.echo(f"archive: removed {name} (older than {days} days){link}")
        for d in done:
            click.echo(
                f"{d['table']}: version {d['version']}, compacted {d['files_compacted']} files "
                f"into {d['files_written']}, vacuumed {d['files_vacuumed']}"
            )
    for name in purged["unnamed"]:
        click.echo(
            f"warning: archive: {name} is not named ingested=<YYYY-MM-DDTHHMMSSZ>"
            "[_archived=<YYYY-MM-DDTHHMMSSZ>]; "
            "never removed by the retention",
            err=True,
        )
    for name in purged["future"]:
        click.echo(
            f"warning: archive: {name} has an archive time in the future (a wrong clock); "
            "kept until its retention runs from that time",
            err=True,
        )
    for line in purged["failed"]:
        click.echo(f"error: archive: could not remove {line}", err=True)
    if purged["failed"]:
        from riskwarn.commands import ExitStatus

        raise ExitStatus(1)


@lake.command()
def sweep() -> None:
    """Remove temporary folders whose owning process is gone (as the lake_maintenance DAG
    does daily); list owner-less riskwarn folders in the system temp (never removed)."""
    from riskwarn.settings import load_settings
    from riskwarn.spill import sweep_all

    done = sweep_all(load_settings())
    for r in done["removed"]:
        click.echo(
            f"removed {r['parent']}/{r['name']} ({r['bytes'] / 1e6:.1f} MB): left by host "
            f"{r.get('host', '?')} pid {r.get('pid', '?')} (started {r.get('started', '?')}, "
            f"{r.get('for', '?')}), which is gone"
        )
    for x in done["legacy"]:
        click.echo(
            f"not removed: {x['path']} ({x['bytes'] / 1e6:.1f} MB, last modified "
            f"{x['modified']}): no owner recorded; remove by hand once no older riskwarn runs"
        )
    for path in done.get("uncommitted", []):
        click.echo(f"removed {path}: written by a lake write killed before its commit")
    if not done["removed"] and not done["legacy"] and not done.get("uncommitted"):
        click.echo("nothing to remove")


@lake.command()
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
def snapshot(dest: Path) -> None:
    """Copy the lake to DEST as one consistent state (writers wait meanwhile)."""
    from riskwarn.lake import LakeError
    from riskwarn.lake.maintenance import snapshot as run
    from riskwarn.settings import load_settings

    try:
        done = run(load_settings().lake_dir, dest)
    except (LakeError, OSError) as exc:
        raise _fail(exc) from None
    click.echo(
        f"snapshot at {done['dest']}: {done['linked']} files linked, {done['copied']} copied"
    )


@lake.command()
def migrate() -> None:
    """Convert a lake in the old Parquet layout into Delta tables (once; old one kept)."""
    from riskwarn.lake import LakeError
    from riskwarn.lake.migrate import describe
    from riskwarn.lake.migrate import migrate as run
    from riskwarn.settings import load_settings

    settings = load_settings()
    try:
        result = run(settings.lake_dir, settings.lake_history_days)
    except LakeError as exc:
        raise _fail(exc) from None
    click.echo(describe(result))
