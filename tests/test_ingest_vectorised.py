"""The vectorised paths of ingestion give exactly what the value-by-value / pandera
paths give: contract masks vs pandera, column stringification, Arrow sorting, row
equality, large-frame validation and duplicate handling."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskwarn.contracts import TABLES, UTC_TS
from riskwarn.ingest import conform, finish_batch, map_chunk, read, validate
from riskwarn.ingest import mapping as ingest_mapping
from riskwarn.lake import sort_order
from riskwarn.sources import parse_mapping

AS_OF = datetime(2024, 1, 1, tzinfo=UTC)


def _random_frame(table_name: str, n: int, seed: int) -> pd.DataFrame:
    """A frame of the table with nulls, values outside `allowed`/ranges and repeated keys."""
    rng = np.random.default_rng(seed)
    table = TABLES[table_name]
    data: dict[str, object] = {}
    for f in table.fields:
        if f.dtype == "str":
            pool = np.array([*(f.allowed or ("a", "b", "c")), "zzz", None], dtype=object)
            data[f.name] = rng.choice(pool, n)
        elif f.dtype == "int":
            lo = int(f.min_value) - 3 if f.min_value is not None else -3
            hi = int(f.max_value) + 3 if f.max_value is not None else 5
            values = pd.array(rng.integers(lo, hi, n), dtype="Int64")
            values[::7] = pd.NA
            data[f.name] = values
        elif f.dtype == "float":
            lo = f.min_value if f.min_value is not None else -500.0
            hi = f.max_value if f.max_value is not None else 500.0
            v = rng.uniform(lo - 10, hi + 10, n)
            v[::5] = np.nan
            data[f.name] = v
        else:
            data[f.name] = pd.to_datetime(rng.integers(0, 10**9, n), unit="s", utc=True)
    frame = pd.DataFrame(data)
    frame["source"] = "s"
    frame["record_id"] = rng.choice([f"r{i}" for i in range(int(n * 0.8))], n)
    return conform(frame, table)


@pytest.mark.parametrize("table_name", sorted(TABLES))
def test_contract_masks_match_pandera(table_name: str) -> None:
    table = TABLES[table_name]
    frame = _random_frame(table_name, 120, seed=len(table_name))
    expected = validate._pandera_reasons(frame, table)
    got = validate._contract_reasons(frame, table)
    assert (expected != "").sum() > 0  # the frame does break rules
    pd.testing.assert_series_equal(got, expected)


def test_large_frames_use_masks_and_agree_with_pandera(monkeypatch: pytest.MonkeyPatch) -> None:
    table = TABLES["sensor_readings"]
    frame = _random_frame("sensor_readings", 400, seed=3)
    monkeypatch.setattr(validate, "_PANDERA_ROWS", 50)  # force the large-frame path
    pd.testing.assert_series_equal(
        validate._schema_reasons(frame, table), validate._pandera_reasons(frame, table)
    )


def test_stringify_matches_value_by_value_text() -> None:
    frame = pd.DataFrame(
        {
            "cat": pd.Categorical(["雨量", "位移", None, "雨量"]),
            "f": [0.0, -0.0, np.nan, 1e-7],
            "t": pd.to_datetime(["2024-01-01 00:10", None, "2024-01-01 00:00", "2024-02-29 23:59"]),
            "i": [1, 2, 3, 2],
            "b": [True, False, True, True],
        }
    )
    text = read.stringify(frame)
    assert text["cat"].tolist() == ["雨量", "位移", "", "雨量"]
    assert text["f"].tolist() == ["0.0", "-0.0", "", "1e-07"]
    assert text["t"].tolist() == [
        "2024-01-01 00:10:00",
        "",
        "2024-01-01 00:00:00",
        "2024-02-29 23:59:00",
    ]
    assert text["i"].tolist() == ["1", "2", "3", "2"]
    assert text["b"].tolist() == ["True", "False", "True", "True"]


def test_sort_order_is_pandas_stable_sort() -> None:
    frame = pd.DataFrame(
        {
            "a": pd.Series(["b", "a", "é", "Z", None, "a", "aa"], dtype="str"),
            "t": pd.to_datetime([3, 2, 1, 1, 0, 2, 5], unit="s", utc=True),
            "n": [1, 2, 3, 4, 5, 6, 7],
        }
    )
    expected = frame.sort_values(["a", "t"], kind="stable").index.to_numpy()
    assert sort_order(frame, ["a", "t"]).tolist() == expected.tolist()


def test_repeated_ids_duplicate_vs_conflict_in_a_long_batch() -> None:
    mapping = parse_mapping(
        """
name: t
table: sensor_readings
id: {columns: [sid, t, q]}
columns:
  sensor_id: {from: sid}
  observed_at: {from: t}
  interval_s: {const: 600}
  quantity: {from: q}
  value: {from: v}
"""
    )
    n = 3000
    raw = pd.DataFrame(
        {
            "sid": ["S1"] * n,
            "t": pd.date_range("2023-01-01", periods=n, freq="10min").strftime("%Y-%m-%d %H:%M"),
            "q": ["rain_mm"] * n,
            "v": ["1.0"] * n,
        },
        dtype="str",
    )
    raw = pd.concat([raw, raw.iloc[[10]], raw.iloc[[20]].assign(v="2.0")], ignore_index=True)
    cand, why = map_chunk(mapping, raw, pseudonym_key="k", as_of=AS_OF)
    batch = finish_batch(
        mapping, cand, why, read=len(raw), batch_id="b", file_name="f", messages=[]
    )
    assert batch.duplicates == 1
    assert batch.quarantine["reason"].tolist() == ["duplicate_id_conflict"] * 2
    assert sorted(batch.quarantine["row_number"].tolist()) == [21, n + 2]
    assert len(batch.accepted) == n - 1
    assert batch.accepted["observed_at"].dtype == UTC_TS


def test_stringify_keeps_text_of_equal_but_different_objects() -> None:
    frame = pd.DataFrame(
        {
            "obj": pd.Series([Decimal("1.0"), Decimal("1.00"), None, 1, True], dtype=object),
            "f32": np.array([0.1, -0.0, np.nan, 0.1, 2.5], dtype="float32"),
        }
    )
    text = read.stringify(frame)
    assert text["obj"].tolist() == ["1.0", "1.00", "", "1", "True"]
    assert text["f32"].tolist() == ["0.1", "-0.0", "", "0.1", "2.5"]


def test_join_nonempty_pseudonym_lists() -> None:
    frame = pd.DataFrame({"a": ["x", "", "", "p"], "b": ["y", "z", "", ""]}, dtype=object)
    assert ingest_mapping._join_nonempty(frame, ["a", "b"]).tolist() == ["x;y", "z", None, "p"]


def test_hashing_only_repeated_ids_gives_the_same_batch(tmp_path: Path) -> None:
    """Parquet rows are hashed only where their id repeats (re-read across chunks): the
    batch equals the one from hashing every row while mapping (duplicates, conflicts)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from riskwarn.ingest import flow, load_mapping
    from riskwarn.ingest.read import read_raw_chunks

    root = Path(__file__).resolve().parents[1]
    mapping = load_mapping(root / "configs" / "sources" / "sim_sensor_readings.yaml")
    mapping = mapping.model_copy(update={"chunk_rows": 40})
    n = 300
    times = np.datetime64("2023-03-01T00:00:00") + (np.arange(n) % 100 * 600).astype(
        "timedelta64[s]"
    )
    values = np.round(np.arange(n) * 0.5, 2)
    values[200:250] = values[100:150] + 1.0
    table = pa.table(
        {
            "设备编号": pa.array(["S1"] * 100 + ["S2"] * 100 + ["S1"] * 100).dictionary_encode(),
            "采集时间": pa.array(times.astype("datetime64[s]"), pa.timestamp("s")),
            "监测项": pa.array(["雨量"] * n),
            "数值": pa.array(values),
            "采样间隔": pa.array([600] * n, pa.int32()),
            "数据状态": pa.array(["正常"] * n),
        }
    )  # rows 200-299 repeat the ids of rows 0-99: 200-249 with other values, 250-299 exactly
    table = table.set_column(3, "数值", pa.array(np.concatenate([values[:250], values[50:100]])))
    path = tmp_path / "r.parquet"
    pq.write_table(table, path)
    batches = []
    for later in (False, True):
        batches.append(
            flow.validate_chunks(
                mapping,
                read_raw_chunks(mapping, path, []),
                pseudonym_key="k" * 32,
                as_of=AS_OF,
                batch_id="b",
                file_name=path.name,
                messages=[],
                reread=lambda: read_raw_chunks(mapping, path, []),
                hash_later=later,
            )
        )
    eager, late = batches
    assert eager.duplicates == late.duplicates == 50
    assert eager.reasons == late.reasons == {"duplicate_id_conflict": 100}
    pd.testing.assert_frame_equal(eager.accepted, late.accepted)
    pd.testing.assert_frame_equal(eager.quarantine, late.quarantine)


def test_shortcuts_for_ordered_input_give_the_sorted_answer() -> None:
    """Ids and (series, time) that already come in order skip their sort: same order and
    groups as the sorting path, for ordered and shuffled input, ties and missing times."""
    rng = np.random.default_rng(5)
    pool = np.array(["a", "b", "é", "ab", "", "b|1", "Z"], dtype=object)
    for trial in range(60):
        ids = rng.choice(pool, int(rng.integers(2, 30)))
        if trial % 2:
            ids = np.sort(ids)
        got = validate._IdOrder(pd.Series(ids, dtype="str"))
        rank = pd.Series(ids).rank(method="dense").to_numpy()  # code-point order, like Arrow
        order = np.argsort(rank, kind="stable")
        assert got.order.tolist() == order.tolist()
        assert got.group.tolist() == rank[order].astype(int).tolist()

        n = int(rng.integers(2, 30))
        series = np.sort(rng.integers(-1, 3, n)) if trial % 2 else rng.integers(-1, 3, n)
        times = pd.Series(pd.to_datetime(rng.integers(0, 4, n), unit="h", utc=True))
        times[rng.random(n) < 0.2] = pd.NaT
        if trial % 2:
            times = times.sort_values(na_position="last").reset_index(drop=True)
        rows = np.arange(1, n + 1)
        frame = pd.DataFrame({"series": series, "t": times, "row": rows})
        expected = sort_order(frame, ["series", "t", "row"])
        assert validate._series_time_order(series, times, rows).tolist() == expected.tolist()


def test_reader_factorized_columns_are_the_text_columns() -> None:
    """The codes the Parquet reader hands to the map stage spell each text column, with
    unique distinct texts (a dictionary's '' and a null share one)."""
    frame = pd.DataFrame(
        {
            "d": pd.Categorical(["x", "", None, "x", "y", "", None, "x"]),
            "t": pd.to_datetime(
                ["2023-01-01 00:10", None, "2023-01-01 00:10"] + ["2023-01-02 00:00"] * 5
            ),
            "v": [0.0, -0.0, np.nan, 1.5, 1.5, 1.5, 0.0, 1.5],
        }
    )
    text, factorized = read.stringify_factorized(frame)
    pd.testing.assert_frame_equal(text, read.stringify(frame))
    assert {"d", "t"} <= set(factorized)  # (a column of mostly distinct values is left out)
    for col, (codes, uniq) in factorized.items():
        assert len(set(uniq.tolist())) == len(uniq)
        assert uniq[codes].tolist() == text[col].tolist()
