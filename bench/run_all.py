"""``make benchmarks``: run every benchmark script and write docs/benchmarks.md.

Each script prints its own figures; this runner records, for every script, the exact
command, its wall time and its full output, so every number in docs/benchmarks.md
comes from the run that wrote the file. Scripts that need ../shared/data report a
skip when it is absent.

Usage: python bench/run_all.py [--only NAME ...] [--out docs/benchmarks.md]

With ``--only``, the named scripts are re-run and only their sections of an existing
output file are replaced (the others keep the run that wrote them); each section's
command line says when it ran.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The model report: runs the Chicago / Hong Kong backtests, the Three Gorges sensor
# levels, the simulated-city truth comparison, the other-source comparison
# (bench_new_sources.py) and the feedback loop (bench_feedback.py), then writes
# docs/benchmarks-models.md, which includes the multi-city suite's section
# (docs/_sections/cities.md, written by the bench_cities.py step just before it).
MODEL_REPORT_ARGS = [
    "--run",
    "--chicago", "var/bench/chicago_weekly",
    "--chicago-daily", "var/bench/chicago_daily",
    "--chicago-daily-full", "var/bench/chicago_daily_full",
    "--hongkong", "var/bench/hongkong",
    "--threegorges", "var/bench/threegorges",
    "--sim", "var/bench/sim_truth",
    "--sim", "var/bench/sim_truth_city", "--sim-city", "var/bench/sim_city",
    "--new-sources", "var/bench/new_sources", "--feedback", "var/bench/feedback",
]  # fmt: skip

# Order matters: cheap and foundational first. (title, script, arguments)
SCRIPTS: list[tuple[str, str, list[str]]] = [
    ("Ingestion of the public datasets", "bench_ingest_real.py", []),
    ("Ingestion at city scale", "bench_ingest_city.py", []),
    ("Features", "bench_features.py", []),
    (
        "Multi-city development suite: the model and every baseline on every city (issue 17.2)",
        "bench_cities.py",
        ["--out", "var/bench/cities"],
    ),
    (
        "Model backtests: Chicago, Hong Kong, Three Gorges, the simulated city "
        "(writes docs/benchmarks-models.md)",
        "report.py",
        MODEL_REPORT_ARGS,
    ),
    ("Geohazard nowcast lead time", "bench_nowcast.py", []),
    ("Dashboard render times", "bench_dashboard.py", []),
    (
        "Engine: Dask beside one machine (province-sized simulation)",
        "bench_engine.py",
        [
            "--cities",
            "16",
            "--incidents",
            "1500",
            "--days",
            "300",
            "--eval-weeks",
            "2",
            "--train-window-days",
            "98",
        ],
    ),
    ("Streaming: MQTT to lake to warnings", "bench_stream.py", ["--minutes", "1"]),
]


def run_script(path: Path, args: list[str] | None = None) -> tuple[int, float, str]:
    start = time.perf_counter()
    res = subprocess.run(
        [sys.executable, str(path), *(args or [])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    wall = time.perf_counter() - start
    out = res.stdout
    if res.returncode != 0:
        out += "\n[stderr]\n" + res.stderr[-4000:]
    return res.returncode, wall, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", default=None, help="script names to run")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    out_path = Path(args.out)
    kept = split_sections(out_path.read_text(encoding="utf-8")) if out_path.exists() else {}
    failed = 0
    sections: list[str] = []
    for title, name, script_args in SCRIPTS:
        if args.only and name not in args.only and name.removesuffix(".py") not in args.only:
            if title in kept:
                sections.append(kept[title])
            continue
        path = ROOT / "bench" / name
        lines = [f"## {title}", ""]
        if not path.exists():
            sections.append("\n".join([*lines, f"`bench/{name}` does not exist yet.", ""]))
            continue
        print(f"running bench/{name} ...", flush=True)
        when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        rc, wall, out = run_script(path, script_args)
        failed += rc != 0
        status = "ok" if rc == 0 else f"FAILED (exit {rc})"
        command = " ".join([f"python bench/{name}", *script_args])
        lines += [
            f"Command: `{command}` — {status}, {wall:.1f} s wall, started {when}.",
            "",
            "```text",
            out.rstrip(),
            "```",
            "",
        ]
        sections.append("\n".join(lines))
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    what = (
        "re-ran " + ", ".join(args.only) + " (other sections: earlier runs)"
        if args.only
        else "ran every script"
    )
    header = [
        "# Benchmarks",
        "",
        "Written by `make benchmarks` (`python bench/run_all.py`) on this machine:",
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}.",
        f"Last written {now}; that run {what}.",
        "Every figure below is the printed output of the command above it, from the run",
        "its command line dates.",
        "",
    ]
    out_path.write_text("\n".join(header) + "\n" + "\n".join(sections) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 1 if failed else 0


def split_sections(text: str) -> dict[str, str]:
    """The sections of a written report, by script title (a script's own ``##`` headings
    stay inside its section: only the titles in SCRIPTS start one)."""
    titles = {f"## {title}": title for title, _, _ in SCRIPTS}
    # a file written before sections were dated: its one run's date goes on each section
    old = re.search(r"on (\d{4}-\d\d-\d\d \d\d:\d\d UTC), on this machine", text)
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line in titles:
            current = sections.setdefault(titles[line], [])
        if old and line.startswith("Command: `") and ", started " not in line:
            line = f"{line.removesuffix('.')}, started {old.group(1)}."
        if current is not None:
            current.append(line)
    return {title: "\n".join(body).rstrip("\n") + "\n" for title, body in sections.items()}


if __name__ == "__main__":
    sys.exit(main())
