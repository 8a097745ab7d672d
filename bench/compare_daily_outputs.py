"""Compare what two daily runs wrote: the serving store's runs, forecasts and warnings,
and every file under ``exports/``. For checking that a speed change leaves the daily
run's outputs identical (docs/benchmarks.md, 18.3): copy a rebuilt home twice, run
``bench/bench_full_day.py --daily-only`` on each copy with the old and the new code, then

    .venv/bin/python bench/compare_daily_outputs.py HOME_A HOME_B

Clock columns (when a row was written: ``created_at``, ``updated_at``, ``published_at``,
``staged_at``, ``changed_at``, ``sent_at``, ``next_attempt_at``) are left out; every
other column must be equal, row for row, and every export file byte for byte. Exit 0 when
all is equal, 1 otherwise (the differences printed).
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import sys
from pathlib import Path

CLOCK = {
    "created_at",
    "updated_at",
    "published_at",
    "staged_at",
    "changed_at",
    "sent_at",
    "next_attempt_at",
}
TABLES = ("forecast_runs", "forecasts", "warnings", "publications", "deliveries")


def table_rows(db: Path, table: str) -> tuple[list[str], list[tuple]]:
    """Columns (clock columns left out) and sorted rows of ``table`` in ``db``."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        names = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
        if not names:
            return [], []
        cols = [c for c in names if c not in CLOCK]
        rows = con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()
    finally:
        con.close()
    return cols, sorted(rows, key=repr)


def file_digests(folder: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every file under ``folder``."""
    if not folder.is_dir():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def compare(home_a: Path, home_b: Path) -> list[str]:
    """The differences between the daily outputs of two homes (empty: identical)."""
    diffs: list[str] = []
    for table in TABLES:
        cols_a, rows_a = table_rows(home_a / "serving.db", table)
        cols_b, rows_b = table_rows(home_b / "serving.db", table)
        if cols_a != cols_b:
            diffs.append(f"{table}: columns differ: {cols_a} vs {cols_b}")
        elif rows_a != rows_b:
            only_a = [r for r in rows_a if r not in set(rows_b)]
            diffs.append(
                f"{table}: {len(rows_a)} vs {len(rows_b)} rows; {len(only_a)} of A not in B"
                + (f", e.g. {only_a[0]!r:.300}" if only_a else "")
            )
        else:
            print(f"{table}: {len(rows_a)} rows equal")
    files_a = file_digests(home_a / "exports")
    files_b = file_digests(home_b / "exports")
    for name in sorted(set(files_a) | set(files_b)):
        if files_a.get(name) != files_b.get(name):
            diffs.append(f"exports/{name}: {files_a.get(name)} vs {files_b.get(name)}")
    if files_a == files_b:
        print(f"exports: {len(files_a)} files byte-identical")
    return diffs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("home_a", type=Path)
    ap.add_argument("home_b", type=Path)
    args = ap.parse_args(argv)
    diffs = compare(args.home_a, args.home_b)
    for d in diffs:
        print("DIFFERENT", d)
    print("identical" if not diffs else f"{len(diffs)} difference(s)")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
