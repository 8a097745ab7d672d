"""``riskwarn simulate``: write a simulated city's extracts and ground truth."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import click


def _parse_start(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--start"
        ) from None


def format_summary(meta: dict[str, Any], out: Path, seconds: float) -> str:
    """Plain-text list of the files written with their row counts."""
    lines = [
        f"simulated city (size {meta['size']}, seed {meta['seed']}) {meta['start']} .. {meta['end']}, "
        f"sensors {meta['sensor_start']} .. {meta['sensor_end']}, in {seconds:.1f} s -> {out}",
    ]
    width = max(len(f["path"]) for f in meta["files"])
    for f in meta["files"]:
        mapping = f"configs/sources/{f['mapping']}.yaml" if f["mapping"] else "ground truth"
        lines.append(f"  {f['path']:<{width}}  {f['rows']:>11,d} rows  {mapping}")
    ext = sum(f["rows"] for f in meta["files"] if f["kind"] == "extract")
    lines.append(f"  total extract rows: {ext:,d}; metadata: {out / 'simulation.json'}")
    return "\n".join(lines)


@click.command()
@click.option(
    "--size",
    type=click.Choice(["small", "city"]),
    default="small",
    show_default=True,
    help="small: 1 year, ~30k incidents (seconds); city: 3 years, >1M incidents, >500 sensors.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same bytes)."
)
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False), help="Output folder."
)
@click.option(
    "--start", default="2023-01-01", show_default=True, help="First local date simulated."
)
@click.option("--json", "as_json", is_flag=True, help="Print the run's metadata as JSON.")
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar (default: on for --size city)."
)
def simulate(
    size: str, seed: int, out: str, start: str, as_json: bool, progress: bool | None
) -> None:
    """Simulate a city: admin units, incidents, disputes, geohazard sensors, ground truth."""
    from riskwarn.simulate import simulate as run
    from riskwarn.simulate import size_config, steps_total

    start_date = _parse_start(start)
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise click.UsageError(f"--out {out} exists and is not a folder")
    try:  # made before the run: /dev/null/x or a read-only place fails here, in one line
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.UsageError(f"--out {out}: cannot create the folder: {exc.strerror}") from None
    show = (size == "city") if progress is None else progress
    t0 = time.perf_counter()
    if show:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            transient=False,
        ) as bar:
            task = bar.add_task("simulating", total=steps_total(size_config(size, start_date)))
            meta = run(
                out_dir,
                size=size,
                seed=seed,
                start=start_date,
                progress=lambda msg, done: bar.update(task, completed=done, description=msg),
            )
    else:
        meta = run(out_dir, size=size, seed=seed, start=start_date)
    seconds = time.perf_counter() - t0
    if as_json:
        click.echo(
            json.dumps(
                {"out": str(out_dir), "seconds": round(seconds, 1), **meta},
                ensure_ascii=False,
                indent=2,
                default=float,
            )
        )
    else:
        click.echo(format_summary(meta, out_dir, seconds))
