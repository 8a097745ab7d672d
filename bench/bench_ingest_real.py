"""Benchmark: ingest the six public datasets in full through their mapping files.

Prints per dataset: read / accepted / quarantined (by reason) / duplicates, wall time,
rows per second and the process's peak memory so far (ru_maxrss), then totals:

    .venv/bin/python bench/bench_ingest_real.py [--data ../shared/data] [--home DIR]

The lake goes to a temporary folder unless ``--home`` is given. Each dataset is ingested
twice; the second run must report every row unchanged and leave every file's bytes
as they were (checked and printed).
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = {
    "chicago": "chicago/aggravated_assaults_2010_2017.csv.gz",
    "hongkong_landslides": "hongkong/landslides_1984_2014.csv",
    "hongkong_rainfall": "hongkong/hko_daily_rainfall_1884_2014.csv",
    "threegorges_displacement": "threegorges/displacement_monthly.csv",
    "threegorges_rainfall": "threegorges/rainfall_daily.csv",
    "portland_calls": "portland/portland_cfs_2016_aug_sep.csv.gz",
}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.parquet")):
        h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


def run(data: Path, home: Path) -> int:
    from riskwarn.ingest import ingest_files
    from riskwarn.settings import Settings
    from riskwarn.sources import load_mapping

    settings = Settings(home=home)
    as_of = datetime(2026, 1, 1, tzinfo=UTC)
    total_rows, total_secs, ok = 0, 0.0, True
    print(
        f"{'dataset':<26}{'read':>9}{'accepted':>10}{'quar.':>7}{'dup.':>6}{'s':>8}{'rows/s':>10}{'peak MB':>9}  reasons"
    )
    for name, rel in DATASETS.items():
        path = data / rel
        if not path.exists():
            print(f"{name:<26} missing {path}")
            ok = False
            continue
        mapping = load_mapping(ROOT / "configs" / "sources" / f"{name}.yaml")
        t0 = time.perf_counter()
        [r] = ingest_files(mapping, [path], settings, as_of=as_of)
        secs = time.perf_counter() - t0
        before = _digest(settings.lake_dir)
        t1 = time.perf_counter()
        [again] = ingest_files(mapping, [path], settings, as_of=as_of)
        secs_again = time.perf_counter() - t1
        same = _digest(settings.lake_dir) == before and again["unchanged"] == r["accepted"]
        ok &= same and r["read"] == r["accepted"] + r["quarantined"] + r["duplicates"]
        total_rows += r["read"]
        total_secs += secs
        print(
            f"{name:<26}{r['read']:>9,d}{r['accepted']:>10,d}{r['quarantined']:>7,d}{r['duplicates']:>6,d}"
            f"{secs:>8.1f}{r['read'] / secs:>10,.0f}{_peak_mb():>9,.0f}  {r['reasons'] or '-'}"
            f"  | re-ingest {secs_again:.1f} s, bytes {'identical' if same else 'CHANGED'}"
        )
    print(
        f"{'total':<26}{total_rows:>9,d}{'':>23}{total_secs:>8.1f}{total_rows / max(total_secs, 1e-9):>10,.0f}{_peak_mb():>9,.0f}"
    )
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args()
    if args.home is not None:
        return run(args.data, args.home)
    with tempfile.TemporaryDirectory(prefix="rw-bench-") as tmp:
        return run(args.data, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
