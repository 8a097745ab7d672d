"""``riskwarn backup`` / ``riskwarn restore``: the serving store, MLflow and the lake.

See ``riskwarn.backup`` and docs/operations.md ("Backup and restore").
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the backups (default RISKWARN_BACKUP_DIR or <home>/backups).",
)
@click.option("--keep", type=click.IntRange(min=1), default=None, help="Complete backups to keep.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest summary as JSON.")
def backup(dest: Path | None, keep: int | None, as_json: bool) -> None:
    """Back up the serving store, MLflow's store and artefacts, and the lake (keys are not
    included: back them up separately)."""
    from riskwarn.backup import BackupError
    from riskwarn.backup import backup as run_backup
    from riskwarn.settings import load_settings

    try:
        out = run_backup(load_settings(), dest=dest, keep=keep)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    summary = {
        "path": out["path"],
        "files": len(out["files"]),
        "bytes": sum(f["bytes"] for f in out["files"].values()),
        "counts": out["counts"],
        "removed": out["removed"],
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"backup {summary['path']}: {summary['files']} files, {summary['bytes']:,} bytes")
    click.echo("  " + ", ".join(f"{k} {v}" for k, v in summary["counts"].items()))
    for old in summary["removed"]:
        click.echo(f"  removed old backup {old}")
    click.echo("  not included: keys and passwords (back them up separately)")


@click.command()
@click.argument("backup_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def restore(backup_dir: Path, as_json: bool) -> None:
    """Restore BACKUP_DIR into the (empty) home and stores of the current settings."""
    from riskwarn.backup import BackupError
    from riskwarn.backup import restore as run_restore
    from riskwarn.settings import load_settings

    try:
        out = run_restore(load_settings(), backup_dir)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"restored {out['restored']} into {out['home']}: {', '.join(out['parts'])}")
    click.echo("  now restore the keys (pseudonym key, service passwords) from their own backup")
