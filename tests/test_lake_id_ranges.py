"""The lake's id-range probes (riskwarn.lake.write._may_hold / _in_id_ranges) by binary
search over the Arrow ids give what the earlier NumPy object-array search gave."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from riskwarn.lake.write import _in_id_ranges, _may_hold


def _old_may_hold(files: pa.Table, key: str, values: pa.Array) -> np.ndarray:
    """The search as it was (352ad3c)."""
    n = files.num_rows
    ids = np.sort(np.asarray(pc.unique(values.cast(pa.string())).to_pylist(), dtype=object))
    out = np.ones(n, dtype=bool)
    los, his = files.column(f"min.{key}").to_pylist(), files.column(f"max.{key}").to_pylist()
    for i, (lo, hi) in enumerate(zip(los, his, strict=True)):
        if lo is None or hi is None:
            continue
        first = np.searchsorted(ids, lo, side="left")
        last = np.searchsorted(ids, hi + "\U0010ffff", side="right")
        out[i] = last > first
    return out


def _old_in_id_ranges(files: pa.Table, batch: pa.Table) -> np.ndarray:
    n = batch.num_rows
    lo, hi = files.column("min.record_id"), files.column("max.record_id")
    ids = np.asarray(batch["record_id"].to_pylist(), dtype=object)
    mark = np.zeros(n + 1, dtype=np.int64)
    for a, b in zip(lo.to_pylist(), hi.to_pylist(), strict=True):
        first = 0 if a is None else int(np.searchsorted(ids, a, side="left"))
        last = n if b is None else int(np.searchsorted(ids, b + "\U0010ffff", side="right"))
        if last > first:
            mark[first] += 1
            mark[last] -= 1
    return np.cumsum(mark[:n]) > 0


ALPHABET = ["J", "Q", "0", "1", "9", "a", "z", "é", "警", "情", "\U0001f600", "|", " "]


def _id(rnd: random.Random) -> str:
    return "".join(rnd.choice(ALPHABET) for _ in range(rnd.randrange(0, 8)))


@pytest.mark.parametrize("seed", range(6))
def test_probes_equal_the_old_search(seed: int) -> None:
    rnd = random.Random(seed)
    ids = sorted({_id(rnd) for _ in range(rnd.choice([1, 5, 300, 3000]))})
    files = []
    for _ in range(rnd.randrange(1, 40)):
        a, b = sorted([_id(rnd), _id(rnd)])
        if rnd.random() < 0.3:  # truncated statistics: a shorter min, a raised max
            a = a[: rnd.randrange(0, 3)]
            b = b[:2] + "\U0010ffff" if rnd.random() < 0.5 else b
        files.append((None if rnd.random() < 0.1 else a, None if rnd.random() < 0.1 else b))
    stats = pa.table(
        {"min.record_id": [f[0] for f in files], "max.record_id": [f[1] for f in files]}
    )
    batch = pa.table({"record_id": pa.array(ids, pa.string())})
    assert (_in_id_ranges(stats, batch) == _old_in_id_ranges(stats, batch)).all()
    for values in (batch["record_id"], pa.array(rnd.sample(ids, len(ids)) + ids[:3])):
        assert (
            _may_hold(stats, "record_id", values) == _old_may_hold(stats, "record_id", values)
        ).all()
