"""CPU of one fit matrix from column-major blocks (as before) vs row-major blocks (now).

A synthetic frame of the city's shape per row (61 float inputs, some missing, whole
origins of ``--cells`` rows) fed to :func:`models.matrices.quantile_dmatrix` (an
external-memory matrix at the default size, like the city's incidents fit rows), the two
block layouts alternating ``--pairs`` times; prints each build's CPU (all threads) and
wall seconds and checks that both layouts give the same cuts.

    .venv/bin/python bench/bench_matrix_layout.py [--rows 600000] [--pairs 2]
"""

from __future__ import annotations

# isort: off
import riskwarn  # noqa: F401  (OMP_WAIT_POLICY and the allocators, as in training)

# isort: on
import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

import models.matrices as mx

ROW_MAJOR = mx.OriginBlocks


class ColumnMajorBlocks(ROW_MAJOR):  # type: ignore[misc,valid-type]
    """The blocks as before 2a374d0: ``to_numpy(np.float32)``'s column-major array."""

    def next(self, input_data: Callable[..., None]) -> bool:
        def column_major(**kw: Any) -> None:
            kw["data"] = np.asfortranarray(kw["data"])
            input_data(**kw)

        return bool(super().next(column_major))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=600_000)
    ap.add_argument("--cells", type=int, default=6_000)
    ap.add_argument("--features", type=int, default=61)
    ap.add_argument("--pairs", type=int, default=2)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    n_origins = a.rows // a.cells
    n = n_origins * a.cells
    features = [f"f{i}" for i in range(a.features)]
    x = rng.gamma(1.0, 2.0, size=(n, a.features))
    x[rng.random(x.shape) < 0.05] = np.nan
    frame = pd.DataFrame(x, columns=features)
    frame["origin"] = np.repeat(
        pd.date_range("2023-01-02", periods=n_origins, freq="7D", tz="UTC"), a.cells
    )
    frame["label_count"] = rng.poisson(0.1, n).astype(np.int32)
    params = {"max_bin": 128, "nthread": 2}
    cuts: dict[str, Any] = {}
    for _ in range(a.pairs):
        for name, blocks in (("column-major", ColumnMajorBlocks), ("row-major", ROW_MAJOR)):
            mx.OriginBlocks = blocks  # type: ignore[misc]
            c0, w0 = time.process_time(), time.perf_counter()
            d = mx.quantile_dmatrix(frame, features, "rank:pairwise", params)
            c, w = time.process_time() - c0, time.perf_counter() - w0
            print(f"{name:13s} {type(d).__name__}: {c:6.2f} CPU s, {w:6.1f} s wall", flush=True)
            cuts.setdefault(name, d.get_quantile_cut())
            del d
    mx.OriginBlocks = ROW_MAJOR  # type: ignore[misc]
    same = all(
        np.array_equal(p, q) for p, q in zip(cuts["column-major"], cuts["row-major"], strict=True)
    )
    print("same cuts:", same)


if __name__ == "__main__":
    main()
