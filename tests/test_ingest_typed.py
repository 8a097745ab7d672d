"""The typed Parquet path (repeated values printed once and kept as codes) gives exactly
the batch of the all-text path: accepted rows and dtypes, record ids, quarantine rows,
reasons and messages, counts (issue 18.2)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from riskwarn.ingest import flow, load_mapping
from riskwarn.ingest.read import read_raw_chunks
from riskwarn.sources import SourceMapping

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
AS_OF = datetime(2026, 1, 1, tzinfo=UTC)
KEY = "k" * 32


def _text_path(mapping: SourceMapping, path: Path) -> flow.Batch:
    """The reference: every chunk all text (what the reader gave before the typed path)."""
    messages: list[str] = []
    return flow.validate_chunks(
        mapping,
        read_raw_chunks(mapping, path, messages, typed=False),
        pseudonym_key=KEY,
        as_of=AS_OF,
        batch_id=flow.file_batch_id(mapping, path),
        file_name=path.name,
        messages=messages,
        reread=lambda: read_raw_chunks(mapping, path, []),
        hash_later=True,
    )


def _assert_same(mapping: SourceMapping, path: Path) -> flow.Batch:
    typed = flow.read_and_validate(mapping, path, pseudonym_key=KEY, as_of=AS_OF)
    text = _text_path(mapping, path)
    pd.testing.assert_frame_equal(typed.accepted, text.accepted)
    pd.testing.assert_frame_equal(typed.quarantine, text.quarantine)
    assert typed.counts == text.counts
    assert typed.messages == text.messages
    return typed


def _readings(n: int, seed: int) -> dict[str, object]:
    """Readings sensor by sensor, 10-minute times, with the usual repeats."""
    rng = np.random.default_rng(seed)
    sensors = np.repeat([f"S{i:03d}" for i in range(n // 500 + 1)], 500)[:n]
    t = np.datetime64("2023-03-25T00:00:00") + (np.arange(n) % 500 * 600).astype("timedelta64[s]")
    return {
        "设备编号": sensors,
        "采集时间": t,
        "监测项": np.where(rng.random(n) < 0.5, "雨量", "累计位移"),
        "数值": np.round(np.abs(rng.normal(5, 2, n)), 2),  # no negative rain (value_ranges)
        "采样间隔": np.full(n, 600, dtype=np.int32),
        "数据状态": rng.choice(["正常", "可疑", "缺测"], n),
    }


def _write(
    path: Path, cols: dict[str, object], types: dict[str, pa.DataType] | None = None
) -> Path:
    types = types or {}
    arrays = {}
    for name, values in cols.items():
        arr = pa.array(values, types.get(name))
        arrays[name] = arr.dictionary_encode() if name in ("设备编号", "数据状态") else arr
    pq.write_table(pa.table(arrays), path, row_group_size=700)
    return path


@pytest.fixture
def readings_mapping() -> SourceMapping:
    m = load_mapping(ROOT / "configs" / "sources" / "sim_sensor_readings.yaml")
    return m.model_copy(update={"chunk_rows": 1000})


def test_clean_readings_same_batch(tmp_path: Path, readings_mapping: SourceMapping) -> None:
    path = _write(tmp_path / "r.parquet", _readings(5000, 1))
    batch = _assert_same(readings_mapping, path)
    assert len(batch.accepted) == 5000 and not len(batch.quarantine)


@pytest.mark.parametrize("action", ["flag", "quarantine"])
def test_edge_cases_same_batch(
    tmp_path: Path, readings_mapping: SourceMapping, action: str
) -> None:
    """Nulls, '' and blanks, unmapped codes, bad values, out-of-range values (with a
    value_range), exact and conflicting repeats, spikes, a DST-free zone's times, a bad row
    deep in the file (after many clean chunks), NUL bytes and an over-long id in one chunk."""
    n = 6000
    cols = _readings(n, 2)
    sid = cols["设备编号"].astype(object)
    qty = cols["监测项"].astype(object)
    flag = cols["数据状态"].astype(object)
    val = cols["数值"].astype(object)
    sid[[10, 11]] = [None, "  "]  # missing ids
    qty[20] = "未知"  # unmapped quantity: contract isin
    flag[30] = None
    val[[40, 41, 42]] = [None, float("nan"), -0.0]
    val[50] = 1e6  # absurd with the value_range below
    val[51] = -3.0  # negative
    val[300] = 900.0  # a spike among its neighbours
    val[5800] = float("inf")  # a bad row deep in the file
    sid[4200] = "S\x00X"  # NUL byte: that chunk stays all text
    sid[4300] = "x" * 5000  # over limits.max_field_chars
    cols.update({"设备编号": sid, "监测项": qty, "数据状态": flag, "数值": val})
    table = pa.table({k: pa.array(v) for k, v in cols.items()})
    # rows 5900-5949 repeat rows 100-149 exactly, 5950-5999 repeat 150-199 with other values
    rep = table.take(np.r_[100:200])
    vals = rep.column("数值").to_numpy(zero_copy_only=False).copy()
    vals[50:] += 1.0
    rep = rep.set_column(3, "数值", pa.array(vals))
    table = pa.concat_tables([table.slice(0, 5900), rep])
    path = tmp_path / "edge.parquet"
    pq.write_table(table, path, row_group_size=700)
    mapping = readings_mapping.model_copy(
        update={
            "value_range": (0.0, 1000.0),
            "spike": readings_mapping.spike.model_copy(update={"action": action}),  # type: ignore[union-attr]
        }
    )
    batch = _assert_same(mapping, path)
    reasons = batch.reasons
    assert reasons["duplicate_id_conflict"] >= 90 and batch.duplicates >= 40
    assert {"missing_id", "absurd_value", "negative_value", "nul_byte:设备编号"} <= set(reasons)
    assert 5800 + 1 in set(batch.quarantine["row_number"])


@pytest.mark.parametrize(
    "unit,tz",
    [("s", None), ("ms", None), ("us", None), ("ns", None), ("s", "Asia/Shanghai"), ("ms", "UTC")],
)
def test_time_types_same_batch(
    tmp_path: Path, readings_mapping: SourceMapping, unit: str, tz: str | None
) -> None:
    """Naive times in every unit, with sub-second parts and nulls; tz-aware times (which
    the mapping's format does not accept: quarantined the same way on both paths)."""
    n = 3000
    cols = _readings(n, 3)
    t = pd.Series(cols["采集时间"]).astype(f"datetime64[{unit}]")
    if unit != "s":
        t.iloc[7] = t.iloc[7] + pd.Timedelta(milliseconds=250)
    t.iloc[9] = pd.NaT
    arr = pa.array(t, pa.timestamp(unit, tz=tz) if tz is None else pa.timestamp(unit))
    if tz is not None:
        arr = pa.array(t.dt.tz_localize(tz), pa.timestamp(unit, tz=tz))
    cols["采集时间"] = arr
    path = _write(tmp_path / "t.parquet", cols)
    _assert_same(readings_mapping, path)


def test_number_types_same_batch(tmp_path: Path, readings_mapping: SourceMapping) -> None:
    """float32 (printed as float32), integers with nulls (pandas makes them floats),
    values as text with blanks and junk."""
    n = 3000
    cols = _readings(n, 4)
    path = _write(tmp_path / "f32.parquet", cols, {"数值": pa.float32(), "采样间隔": pa.int64()})
    _assert_same(readings_mapping, path)
    iv = pd.array(np.full(n, 600), dtype="Int64")
    iv[5] = None
    cols["采样间隔"] = iv
    vt = pd.Series(cols["数值"]).astype(str).astype(object)
    vt[[3, 4, 5]] = [" 1.5 ", "", "abc"]
    cols["数值"] = vt
    _assert_same(readings_mapping, _write(tmp_path / "mixed.parquet", cols))


@pytest.mark.skipif(not (SHARED / "chicago").exists(), reason="../shared/data is absent")
def test_real_chicago_slice_as_parquet(tmp_path: Path) -> None:
    """A slice of the real Chicago extract written as Parquet (text columns): the typed
    path equals the text path, and both equal the CSV of the same rows."""
    src = SHARED / "chicago" / "aggravated_assaults_2010_2017.csv.gz"
    raw = pd.read_csv(src, dtype=str, keep_default_na=False, nrows=20_000)
    mapping = load_mapping(ROOT / "configs" / "sources" / "chicago.yaml")
    mapping = mapping.model_copy(update={"chunk_rows": 4000})
    pmapping = mapping.model_copy(update={"format": "parquet"})
    path = tmp_path / "chicago.parquet"
    pq.write_table(pa.Table.from_pandas(raw, preserve_index=False), path, row_group_size=3000)
    batch = _assert_same(pmapping, path)
    csv_path = tmp_path / "chicago.csv"
    raw.to_csv(csv_path, index=False)
    from_csv = flow.read_and_validate(mapping, csv_path, pseudonym_key=KEY, as_of=AS_OF)
    pd.testing.assert_frame_equal(batch.accepted, from_csv.accepted)
    assert batch.reasons == from_csv.reasons
    assert len(batch.accepted) > 19_000


def test_ingest_files_writes_in_order_and_reports_before_a_later_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer thread keeps the file order of commits and reports; a failure while
    reading a later file still leaves the file being written in the lake and reported;
    a lake error of a file stops before the next file is written."""
    from riskwarn import lake
    from riskwarn.settings import Settings

    corpus = Path(__file__).parent / "corpus"
    mapping = load_mapping(corpus / "incidents.yaml")
    settings = Settings(home=tmp_path / "home", pseudonym_key=KEY)
    files = []
    for i in range(3):
        f = tmp_path / f"f{i}.csv"
        text = (corpus / "good.csv").read_text(encoding="utf-8")
        f.write_text(text + "\n" * i, encoding="utf-8")  # other bytes, other batch id
        files.append(f)
    real = flow.read_and_validate

    def broken_third(m: SourceMapping, path: Path, **kw: object) -> flow.Batch:
        if Path(path).name == "f2.csv":
            raise RuntimeError("a bug while reading f2")
        return real(m, path, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(flow, "read_and_validate", broken_third)
    seen: list[str] = []
    with pytest.raises(RuntimeError, match="a bug while reading f2"):
        flow.ingest_files(
            mapping, files, settings, as_of=AS_OF, on_report=lambda r: seen.append(r["file_name"])
        )
    assert seen == ["f0.csv", "f1.csv"]
    assert lake.table_version(settings.lake_dir, mapping.table) is not None

    real_store = flow.store_batch

    def full_disk(batch: flow.Batch, *a: object, **kw: object) -> dict[str, object]:
        if batch.file_name == "f1.csv":
            raise lake.LakeError("No space left on device")
        return real_store(batch, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(flow, "read_and_validate", real)
    monkeypatch.setattr(flow, "store_batch", full_disk)
    seen.clear()
    other = Settings(home=tmp_path / "home2", pseudonym_key=KEY)
    with pytest.raises(lake.LakeError, match="No space left"):
        flow.ingest_files(
            mapping, files, other, as_of=AS_OF, on_report=lambda r: seen.append(r["file_name"])
        )
    assert seen == ["f0.csv"]
