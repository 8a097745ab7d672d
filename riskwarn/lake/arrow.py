"""Arrow helpers shared by ingestion and the lake: column conversion and key order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def to_arrow(values: pd.Series) -> pa.Array:
    """A column as an Arrow array (Arrow-backed strings without a copy; NaN -> null)."""
    arr = pa.array(values, from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def sort_order(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """Positions that sort ``frame`` by ``keys`` ascending, stable, nulls last: the order of
    ``frame.sort_values(keys, kind="stable")`` (strings by code point = UTF-8 bytes),
    computed by Arrow, which is much faster on string keys."""
    if len(frame) == 0:
        return np.array([], dtype=np.int64)
    tbl = pa.table({f"k{i}": to_arrow(frame[k]) for i, k in enumerate(keys)})
    order = pc.sort_indices(
        tbl, options=pc.SortOptions([(f"k{i}", "ascending", "at_end") for i in range(len(keys))])
    )
    return order.to_numpy()
