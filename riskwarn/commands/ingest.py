"""``riskwarn ingest``: take extracts in through a source mapping file."""

from __future__ import annotations

import importlib.util
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

log = logging.getLogger(__name__)


def _parse_as_of(value: str | None) -> datetime:
    from riskwarn.ingest import now_utc

    if not value:
        return now_utc()
    return _parse_time(value, "--as-of")


def _parse_time(value: str, option: str) -> datetime:
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise click.UsageError(f"{option} {value!r} is not an ISO date/time") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


# how far --extracted-at may be ahead of this machine's clock (the exporting system's
# clock may run a little fast); more is a typo (2204 for 2024) and refused
EXTRACTED_SKEW = timedelta(minutes=5)


def _parse_extracted_at(value: str, zone: str, as_of: datetime | None, now: datetime) -> datetime:
    """``--extracted-at``: an ISO time; without an offset it is read in ``zone`` (the
    city's time zone, ``Settings.display_tz``: the exports are made on its clocks).
    Refused when after ``now`` (beyond :data:`EXTRACTED_SKEW`) or after ``as_of`` (the
    ingest time given with ``--as-of``): a future time would make every later, genuine
    export of those records look older and be quarantined as older_extract."""
    from zoneinfo import ZoneInfo

    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise click.UsageError(f"--extracted-at {value!r} is not an ISO date/time") from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=ZoneInfo(zone))
    ts = ts.astimezone(UTC)
    shown = ts.isoformat()
    if ts > now + EXTRACTED_SKEW:
        raise click.UsageError(
            f"--extracted-at {value!r} ({shown}) is in the future (now "
            f"{now.astimezone(UTC).isoformat(timespec='seconds')}): an export cannot have "
            "been made after now; check the date (a wrong year?)"
        )
    if as_of is not None and ts > as_of:
        raise click.UsageError(
            f"--extracted-at {value!r} ({shown}) is after --as-of "
            f"{as_of.isoformat()}: an export cannot have been made after the ingest "
            "that reads it; check both times"
        )
    return ts


def format_report(report: dict[str, Any]) -> str:
    """Plain-text summary of one batch report."""
    lines = [
        f"{report['file_name']} -> {report['table_name']} (source {report['source']})",
        f"  read {report['read']}, accepted {report['accepted']} (new {report['new']}, "
        f"updated {report['updated']}, unchanged {report['unchanged']}"
        + (f", stale {report['stale']}" if report.get("stale") else "")
        + (
            f", of which {report['reverts_applied']} restored a superseded version"
            if report.get("reverts_applied")
            else ""
        )
        + "), "
        f"quarantined {report['quarantined']}, duplicates {report['duplicates']}",
    ]
    for reason, n in report["reasons"].items():
        lines.append(f"  quarantined {reason}: {n}")
    lines += [f"  note: {m}" for m in report["messages"]]
    ok = report["read"] == report["accepted"] + report["quarantined"] + report["duplicates"]
    lines.append(f"  read = accepted + quarantined + duplicates: {'OK' if ok else 'MISMATCH'}")
    return "\n".join(lines)


def _journal(settings: Any) -> Any:
    """The serving store's ingest journal (None only if riskwarn.store is absent); the
    caller closes ``journal.store``."""
    if importlib.util.find_spec("riskwarn.store") is None:
        log.warning("riskwarn.store not installed; batches not recorded")
        return None
    from riskwarn.ingest.journal import StoreJournal
    from riskwarn.store import Store
    from riskwarn.store.base import os_actor

    store = Store.from_settings(settings)
    store.upgrade()
    return StoreJournal(store, settings.lake_dir, actor=os_actor())


@click.command()
@click.option(
    "--source",
    "mapping_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Source mapping file (configs/sources/<name>.yaml).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the per-file reports as JSON.")
@click.option(
    "--as-of", "as_of", default=None, help="Ingest time (ISO, UTC if naive); default now."
)
@click.option(
    "--sql", "use_sql", is_flag=True, help="Read the mapping's SQL source instead of files."
)
@click.option("--no-store", is_flag=True, help="Do not record the batch in the serving store.")
@click.option(
    "--allow-revert",
    is_flag=True,
    help=(
        "Apply rows that restore a superseded version of their record (by default they "
        "are quarantined as reverts_correction); the report and the audit log say who "
        "and when."
    ),
)
@click.option(
    "--extracted-at",
    "extracted_at",
    default=None,
    help=(
        "When the export was made (ISO; without an offset, in the city's time zone, "
        "settings display_tz, Asia/Shanghai by default). A row of it that would change a "
        "record a later export carried is quarantined as older_extract, not applied; "
        "the newest export wins. Refused if in the future or after --as-of. "
        "Default: unknown (compared by content only)."
    ),
)
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
def ingest(
    mapping_path: str,
    as_json: bool,
    as_of: str | None,
    use_sql: bool,
    no_store: bool,
    allow_revert: bool,
    extracted_at: str | None,
    files: tuple[str, ...],
) -> None:
    """Validate FILE... (CSV, CSV.gz, Parquet) against a mapping and upsert them into the lake.

    Rejected rows go to the quarantine with their reason and original content; each file
    reports read = accepted + quarantined + duplicates.

    Exit code 0 when every file stored its valid rows (some rows quarantined is still 0:
    the report counts them); 3 when a file stored nothing because all its rows were
    quarantined (one `warning:` line per such file on stderr; the other files are
    stored); 2 for a usage error, a lake that cannot be written, or a file that changed
    while it was read (nothing of it is written; re-run when the export is complete).
    """
    from rich.progress import BarColumn, Progress, TextColumn

    from riskwarn.ingest import FileChanged, ingest_files, ingest_sql
    from riskwarn.lake import LakeError
    from riskwarn.settings import load_settings
    from riskwarn.sources import MappingError, load_mapping

    try:
        mapping = load_mapping(mapping_path)
    except MappingError as exc:
        raise click.UsageError(str(exc)) from None
    if use_sql and files:
        raise click.UsageError("give either --sql or FILE..., not both")
    if not use_sql and not files:
        raise click.UsageError("no FILE given (or use --sql for the mapping's SQL source)")
    missing = [f for f in files if not Path(f).exists()]
    if missing:
        raise click.UsageError(f"file not found: {missing[0]}")
    special = [f for f in files if not Path(f).is_file()]
    if special:  # /dev/zero, a FIFO: reading would never end
        raise click.UsageError(
            f"not a regular file: {special[0]} (a folder, device or FIFO is not read)"
        )
    settings = load_settings()
    when = _parse_as_of(as_of)
    from riskwarn.ingest import now_utc

    extracted = (
        _parse_extracted_at(
            extracted_at, settings.display_tz, _parse_as_of(as_of) if as_of else None, now_utc()
        )
        if extracted_at
        else None
    )
    from riskwarn.keys import PseudonymKeyError, pseudonym_key_for

    try:  # refused before any file is read
        pseudonym_key_for(settings, mapping)
    except PseudonymKeyError as exc:
        raise click.ClickException(str(exc)) from None
    done: list[dict[str, Any]] = []
    # each file's batch is recorded in the store as soon as it is in the lake, under the
    # table's ingest lock (riskwarn.ingest.journal: a run killed in between is recorded
    # by the next run of its file)
    journal = None if no_store else _journal(settings)

    def finished(report: dict[str, Any]) -> None:
        done.append(report)

    try:
        if use_sql:
            try:
                finished(
                    ingest_sql(
                        mapping,
                        settings,
                        as_of=when,
                        journal=journal,
                        allow_revert=allow_revert,
                        extracted_at=extracted,
                    )
                )
            except ValueError as exc:
                raise click.ClickException(str(exc)) from None
        else:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed} rows"),
                transient=True,
                disable=as_json,
            ) as bar:
                task = bar.add_task(f"ingest {mapping.name}", total=None)
                ingest_files(
                    mapping,
                    list(files),
                    settings,
                    as_of=when,
                    progress=lambda n: bar.advance(task, n),
                    on_report=finished,
                    journal=journal,
                    allow_revert=allow_revert,
                    extracted_at=extracted,
                )
    except (LakeError, FileChanged) as exc:
        # full disk, read-only, a file rewritten while it was read (nothing of it
        # written, the files after it not read); the files done before stay reported
        if as_json:
            out = {"error": str(exc), "reports": [_json_report(r) for r in done]}
            click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        else:
            for report in done:
                click.echo(format_report(report))
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # a bug: the files stored (and recorded) before it are reported
        for report in done:
            click.echo(format_report(report), err=as_json)
        from riskwarn.ingest.journal import RecordFailed

        if isinstance(exc, RecordFailed):  # in the lake, not in the store: say so
            click.echo(f"error: {exc}", err=True)
            raise click.ClickException("the serving store failed after the lake commit") from None
        failed = files[len(done)] if len(done) < len(files) else "the SQL source"
        click.echo(f"error: ingest of {failed} failed ({type(exc).__name__})", err=True)
        raise
    finally:
        if journal is not None:
            journal.store.close()
    if as_json:
        click.echo(json.dumps([_json_report(r) for r in done], indent=2, ensure_ascii=False))
    else:
        for report in done:
            click.echo(format_report(report))
    from riskwarn.commands import ExitStatus
    from riskwarn.ingest.flow import EXIT_ALL_QUARANTINED, stored_nothing, stored_nothing_line

    empty = [r for r in done if stored_nothing(r)]
    for report in empty:  # on stderr, so a script sees it beside the exit code
        click.echo(f"warning: {stored_nothing_line(report, settings.lake_dir)}", err=True)
    if empty:
        # the other files (if any) are stored and reported; this exit code tells a
        # script that at least one file stored nothing (docs/ingestion.md)
        raise ExitStatus(EXIT_ALL_QUARANTINED)


def _json_report(report: dict[str, Any]) -> dict[str, Any]:
    from riskwarn.ingest.flow import stored_nothing

    return {
        **report,
        "ingested_at": report["ingested_at"].isoformat(),
        "reconciled": report["read"]
        == report["accepted"] + report["quarantined"] + report["duplicates"],
        "stored_nothing": stored_nothing(report),
    }
