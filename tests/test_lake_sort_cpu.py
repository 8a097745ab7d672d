"""The lake's read sorts by the key without its constant leading columns (a single
source's rows by ``record_id`` alone): the same rows in the same order, a cheaper sort
(docs/benchmarks.md, "A full day on the city simulation (issue 18.3)")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from riskwarn.lake import read


def _readings(rng: np.random.Generator, n: int, sources: list[str | None]) -> pa.Table:
    ids = rng.integers(0, max(n // 3, 1), n)  # repeated record ids across sources
    return pa.table(
        {
            "source": pa.array(rng.choice(np.array(sources, dtype=object), n), pa.string()),
            "record_id": pa.array([f"S{i % 7:03d}|{i:06d}" for i in ids], pa.string()),
            "sensor_id": pa.array([f"S{i % 7:03d}" for i in ids], pa.string()),
            "observed_at": pa.array(
                pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(ids * 600, "s")
            ),
            "interval_s": pa.array(rng.integers(0, 3, n) * 600, pa.int64()),
            "quantity": pa.array(rng.choice(["rain_mm", "displacement_mm"], n), pa.string()),
            "value": pa.array(rng.normal(size=n)),
            "quality": pa.array(rng.choice(["good", "missing", None], n), pa.string()),
        }
    )


@pytest.mark.parametrize(
    "sources",
    [["simcity"], ["a", "b"], ["simcity", None], [None]],
)
@pytest.mark.parametrize("order_by", [(), ("sensor_id",), ("quantity", "sensor_id")])
def test_the_sorted_frame_is_the_full_key_sort(sources: list[str | None], order_by: tuple) -> None:
    cols = ["sensor_id", "observed_at", "interval_s", "quantity", "value", "quality"]
    rng = np.random.default_rng(len(sources) + len(order_by))
    for n in (0, 1, 50, 3000):
        got = _readings(rng, n, sources)
        keys = [(k, "ascending") for k in [*order_by, "source", "record_id"]]
        want = read.canonical_frame(
            got.take(pc.sort_indices(got, sort_keys=keys)), "sensor_readings", cols
        )
        pd.testing.assert_frame_equal(
            read.sorted_frame(got, "sensor_readings", cols, order_by), want, check_exact=True
        )


def test_a_single_source_is_sorted_by_record_id_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[tuple[str, str]]] = []
    real = pc.sort_indices

    def recording(table: pa.Table, sort_keys: list[tuple[str, str]], **kw: object) -> pa.Array:
        seen.append(list(sort_keys))
        return real(table, sort_keys=sort_keys, **kw)

    monkeypatch.setattr(read.pc, "sort_indices", recording)
    got = _readings(np.random.default_rng(0), 100, ["simcity"])
    read.sorted_frame(got, "sensor_readings", ["sensor_id", "value"])
    read.sorted_frame(
        _readings(np.random.default_rng(1), 100, ["a", "b"]), "sensor_readings", ["value"]
    )
    assert seen == [
        [("record_id", "ascending")],
        [("source", "ascending"), ("record_id", "ascending")],
    ]
