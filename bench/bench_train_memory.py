"""Memory profile of training one domain: where the resident memory grows.

    .venv/bin/python bench/bench_train_memory.py --sim DIR --home DIR [--domain incidents]
        [--sources sim_incidents[,...]]

The first run lands the sources' history (the extracts up to the day before the
simulation's last day, cut as ``bench/bench_full_day.py`` cuts them, the last 3 sensor
reading months) in a fresh ``--home`` and ingests them; later runs on the same home train
only. Training (``pipeline.train_domain``, the ``train_models`` DAG's call) runs (unless
``--budget-mb``) without a
memory budget while a thread samples the process's RSS every 20 ms and prints, at each new
peak (in steps of 50 MB), the RSS and the innermost frames of the main thread's stack; the
end prints wall, CPU and the peak. Run it under ``ulimit -v`` to keep a runaway from the
rest of the machine; ``--budget-mb 8192`` trains under the task budget the DAG and
``bench/bench_full_day.py`` use (address space added, VmSize).
"""

from __future__ import annotations

# isort: off
import riskwarn  # noqa: F401  (first: its allocator settings precede pyarrow, riskwarn/allocators.py)

# isort: on
import argparse
import json
import logging
import sys
import threading
import time
import traceback
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def status_mb(key: str) -> float:
    """``key`` (VmRSS, VmSize: the address space a task's budget counts) of this process."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def rss_mb() -> float:
    return status_mb("VmRSS")


class PeakSampler(threading.Thread):
    """Samples RSS; prints the main thread's stack at each new peak."""

    def __init__(self, main_id: int, step_mb: float = 50.0) -> None:
        super().__init__(daemon=True)
        self.main_id, self.step_mb = main_id, step_mb
        self.peak = 0.0
        self.vm_peak = 0.0
        self.done = False

    def run(self) -> None:
        while not self.done:
            r, vm = rss_mb(), status_mb("VmSize")
            self.vm_peak = max(self.vm_peak, vm)
            if r > self.peak + self.step_mb:
                self.peak = r
                frame = sys._current_frames().get(self.main_id)
                stack = [
                    f"{Path(f.filename).name}:{f.lineno} {f.name}"
                    for f in traceback.extract_stack(frame)
                    if "site-packages" not in f.filename
                ][-5:]
                # drop the main thread's frame at once: held here until the next peak it
                # kept that frame's locals alive (an earlier version of this bench showed
                # memory the training itself had already let go)
                del frame
                print(
                    f"[mem] {r:8,.0f} MB  vm {vm:8,.0f} MB  " + " <- ".join(reversed(stack)),
                    flush=True,
                )
            time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", type=Path, required=True)
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--domain", default="incidents")
    ap.add_argument("--sources", default="sim_incidents")
    ap.add_argument(
        "--budget-mb",
        type=int,
        default=0,
        help="train inside orchestration.memory_budget(MB), as bench_full_day.py's stages "
        "and the DAG tasks do (0: no budget)",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(name)s: %(message)s")
    for name in ("models", "features", "riskwarn.pipeline"):  # the training's own steps
        logging.getLogger(name).setLevel(logging.INFO)

    from bench_full_day import SIMULATED_CITY_AREA, land, split_last_day

    from riskwarn import pipeline
    from riskwarn.keys import new_key
    from riskwarn.settings import Settings

    args.home.mkdir(parents=True, exist_ok=True)
    key = args.home / "bench.key"
    if not key.exists():
        key.write_text(new_key())
    settings = Settings(
        home=args.home, pseudonym_key=key.read_text(), city_area=SIMULATED_CITY_AREA
    )
    meta = json.loads((args.sim / "simulation.json").read_text(encoding="utf-8"))
    day_start = pd.Timestamp(meta["end"]).tz_localize(meta.get("timezone", "Asia/Shanghai"))
    marker = args.home / "bench.ingested"
    if not marker.exists():
        plan = split_last_day(args.sim, day_start.strftime("%Y-%m-%d"), args.home / "cut", 3)
        for source in args.sources.split(","):
            land(settings, source, plan[source]["history"])
            mapping = ROOT / "configs" / "sources" / f"{source}.yaml"
            print(source, pipeline.ingest_source(settings, mapping, day_start), flush=True)
        marker.write_text("ok")
    from riskwarn.orchestration import memory_budget

    sampler = PeakSampler(threading.get_ident())
    vm0 = status_mb("VmSize")
    print(f"training starts at VmSize {vm0:,.0f} MB, budget {args.budget_mb} MB", flush=True)
    sampler.start()
    t0, c0 = time.perf_counter(), time.process_time()
    with memory_budget(args.budget_mb):
        out = pipeline.train_domain(settings, args.domain, day_start)
    sampler.done = True
    sampler.vm_peak = max(sampler.vm_peak, status_mb("VmPeak"))  # the kernel's own maximum
    print(
        f"train {args.domain}: {time.perf_counter() - t0:.1f} s wall, "
        f"cpu {time.process_time() - c0:.1f} s, peak RSS {max(sampler.peak, rss_mb()):,.0f} MB, "
        f"peak VmSize {sampler.vm_peak:,.0f} MB (+{sampler.vm_peak - vm0:,.0f} MB over the start)",
        flush=True,
    )
    print(out["gate"], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
