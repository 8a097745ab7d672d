"""The Parquet lake: layout, deterministic bytes, upsert with history, quarantine."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from riskwarn import lake
from riskwarn.contracts import HAZARD_SITES, INCIDENTS
from riskwarn.ingest import conform


def _incidents(ids: list[str], cats: list[str], years: list[int]) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            {
                "source": "t",
                "record_id": ids,
                "occurred_at": pd.to_datetime([f"{y}-06-01 12:00" for y in years], utc=True),
                "time_precision": "minute",
                "category": cats,
                "category_group": "violent",
                "lon": 106.5,
                "lat": 29.5,
            }
        ),
        INCIDENTS,
    )


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.parquet"))
    }


def test_layout_and_read_back(tmp_path: Path) -> None:
    frame = _incidents(["b", "a", "c"], ["x", "y", "z"], [2020, 2020, 2021])
    counts = lake.upsert(tmp_path, "incidents", "t", frame, batch_id="b1")
    assert counts == {"new": 3, "updated": 0, "unchanged": 0}
    assert (tmp_path / "incidents/source=t/year=2020/part.parquet").exists()
    assert (tmp_path / "incidents/source=t/year=2021/part.parquet").exists()
    back = lake.read_table(tmp_path, "incidents")
    assert back["record_id"].tolist() == ["a", "b", "c"]
    assert str(back["occurred_at"].dtype) == "datetime64[ns, UTC]"
    assert back["category"].tolist() == ["y", "x", "z"]
    assert lake.read_table(tmp_path, "incidents", sources=["other"]).empty
    con = lake.connect(tmp_path)
    assert con.execute("select count(*) from incidents where year = 2020").fetchone() == (2,)


def test_static_table_has_no_year(tmp_path: Path) -> None:
    sites = conform(
        pd.DataFrame({"source": "t", "record_id": ["s1"], "hazard_type": "landslide"}), HAZARD_SITES
    )
    lake.upsert(tmp_path, "hazard_sites", "t", sites, batch_id="b")
    assert (tmp_path / "hazard_sites/source=t/part.parquet").exists()


def test_upsert_is_byte_stable_and_untouched_when_unchanged(tmp_path: Path) -> None:
    frame = _incidents(["a", "b"], ["x", "y"], [2020, 2020])
    lake.upsert(tmp_path, "incidents", "t", frame, batch_id="b1")
    before = _digest(tmp_path)
    mtime = (tmp_path / "incidents/source=t/year=2020/part.parquet").stat().st_mtime_ns
    counts = lake.upsert(tmp_path, "incidents", "t", frame.iloc[::-1], batch_id="b2")
    assert counts == {"new": 0, "updated": 0, "unchanged": 2}
    assert _digest(tmp_path) == before
    assert (tmp_path / "incidents/source=t/year=2020/part.parquet").stat().st_mtime_ns == mtime


def test_same_content_gives_same_bytes_in_another_lake(tmp_path: Path) -> None:
    frame = _incidents(["a", "b"], ["x", "y"], [2020, 2021])
    lake.upsert(tmp_path / "one", "incidents", "t", frame, batch_id="b1")
    lake.upsert(tmp_path / "two", "incidents", "t", frame.iloc[::-1], batch_id="zz")
    assert _digest(tmp_path / "one") == _digest(tmp_path / "two")


def test_changed_record_replaced_and_history_kept_even_across_years(tmp_path: Path) -> None:
    lake.upsert(
        tmp_path, "incidents", "t", _incidents(["a", "b"], ["x", "y"], [2020, 2020]), batch_id="b1"
    )
    counts = lake.upsert(
        tmp_path, "incidents", "t", _incidents(["a", "c"], ["x2", "z"], [2021, 2021]), batch_id="b2"
    )
    assert counts == {"new": 1, "updated": 1, "unchanged": 0}
    back = lake.read_table(tmp_path, "incidents")
    assert back.set_index("record_id")["category"].to_dict() == {"a": "x2", "b": "y", "c": "z"}
    assert back.set_index("record_id")["occurred_at"]["a"].year == 2021
    hist = lake.read_history(tmp_path, "incidents", "t")
    assert hist["record_id"].tolist() == ["a"]
    assert hist["category"].tolist() == ["x"]
    assert hist["superseded_by_batch"].tolist() == ["b2"]


def test_quarantine_keyed_by_batch_and_row(tmp_path: Path) -> None:
    q = pd.DataFrame(
        {
            "source": "t",
            "table_name": "incidents",
            "batch_id": "b1",
            "file_name": "f.csv",
            "row_number": [2, 1],
            "reason": "spike",
            "message": "m",
            "original": "{}",
        }
    )
    lake.write_quarantine(tmp_path, "t", q)
    first = _digest(tmp_path)
    assert lake.write_quarantine(tmp_path, "t", q) is False
    assert _digest(tmp_path) == first
    back = lake.read_quarantine(tmp_path)
    assert back["row_number"].tolist() == [1, 2]


def test_monthly_partitions_and_records_moving_between_them(tmp_path: Path) -> None:
    from riskwarn.contracts import SENSOR_READINGS

    frame = conform(
        pd.DataFrame(
            {
                "source": "t",
                "record_id": ["r1", "r2", "r3"],
                "sensor_id": "s",
                "observed_at": pd.to_datetime(
                    ["2021-01-31 23:50", "2021-02-01 00:00", "2022-02-01 00:00"], utc=True
                ),
                "interval_s": 600,
                "quantity": "rain_mm",
                "value": [0.2, 0.4, 0.0],
            }
        ),
        SENSOR_READINGS,
    )
    lake.upsert(tmp_path, "sensor_readings", "t", frame, batch_id="b", grain="month")
    parts = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.parquet"))
    assert parts == [
        "sensor_readings/source=t/year=2021/month=01/part.parquet",
        "sensor_readings/source=t/year=2021/month=02/part.parquet",
        "sensor_readings/source=t/year=2022/month=02/part.parquet",
    ]
    moved = frame.iloc[[0]].assign(observed_at=pd.Timestamp("2022-02-02", tz="UTC"), value=1.0)
    assert (
        lake.upsert(tmp_path, "sensor_readings", "t", moved, batch_id="b2", grain="month")[
            "updated"
        ]
        == 1
    )
    assert not (tmp_path / "sensor_readings/source=t/year=2021/month=01/part.parquet").exists()
    assert lake.read_table(tmp_path, "sensor_readings")["record_id"].tolist() == ["r1", "r2", "r3"]
    con = lake.connect(tmp_path)
    assert con.execute("select count(*) from sensor_readings where month = 2").fetchone() == (3,)


def test_partitions_holding_streams_row_groups_and_prunes_by_range(tmp_path):
    """Which partitions hold an incoming id: found in any row group, never pruned wrongly."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from riskwarn.lake import _partitions_holding

    paths = []
    for label, ids in {"a": ["a1", "a2", "a3", "a4", "a5"], "b": ["b1", "b2", "b3", "b4"]}.items():
        path = tmp_path / label / "part.parquet"
        path.parent.mkdir()
        pq.write_table(pa.table({"record_id": ids, "v": range(len(ids))}), path, row_group_size=2)
        assert pq.ParquetFile(path).num_row_groups > 1
        paths.append(str(path))
    holding = _partitions_holding
    assert holding(paths, pa.array(["a5", "zz"]), tmp_path) == {"a"}  # last row group
    assert holding(paths, pa.array(["b3", "a1"]), tmp_path) == {"a", "b"}
    assert holding(paths, pa.array(["a0", "a45", "c"]), tmp_path) == set()  # in range, absent
    assert holding(paths, pa.array([], type=pa.string()), tmp_path) == set()
