"""Time of the gate's calibration noise bound (``models.metrics.ece_noise_quantile``).

    .venv/bin/python bench/bench_ece_noise.py [--draws 200] [--repeat 3]

Times the 95 % quantile of the ECE of a perfectly calibrated model (consistency
resampling, ``--draws`` Bernoulli draws of every row's label) at 10**5 and 10**6 rows, and
the plain ECE for scale. Two prediction shapes: a site model's (base rate about 1e-4,
most rows near zero, a few high) and a hotspot model's (base rate about 0.05). Prints the
best of ``--repeat`` wall times per case and the quantile itself. Pure numpy, one core.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.metrics import ece_noise_quantile, expected_calibration_error  # noqa: E402


def predictions(shape: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if shape == "site":  # base rate ~1e-4: mostly ~3e-5, one row in 5,000 at 0.1 .. 0.6
        p = rng.lognormal(np.log(2e-5), 1.0, n)
        high = rng.random(n) < 2e-4
        p[high] = rng.uniform(0.1, 0.6, int(high.sum()))
        return p
    return rng.beta(0.5, 9.5, n)  # hotspot-like, base rate ~0.05


def best_time(fn: Callable[..., float], args: tuple, repeat: int) -> tuple[float, float]:
    times, value = [], float("nan")
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn(*args)
        times.append(time.perf_counter() - t0)
    return min(times), value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"draws {args.draws}, best of {args.repeat}")
    for shape in ("site", "hotspot"):
        for n in (10**5, 10**6):
            p = predictions(shape, n, rng)
            y = rng.random(n) < p
            t_ece, ece = best_time(expected_calibration_error, (y, p), args.repeat)
            t_q, q95 = best_time(ece_noise_quantile, (p, args.draws), args.repeat)
            print(
                f"{shape:8s} rows {n:>9,d}  base rate {y.mean():.5f}  events {int(y.sum()):>7,d}  "
                f"ECE {ece:.6f} ({t_ece * 1000:.0f} ms)  q95 {q95:.6f} ({t_q:.2f} s)"
            )


if __name__ == "__main__":
    main()
