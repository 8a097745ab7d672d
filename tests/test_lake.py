"""The Delta lake: layout, MERGE upsert, no-op re-ingest, history by versions, pruning,
windowed reads, quarantine, maintenance, snapshot and the old-layout migration."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from riskwarn import lake
from riskwarn.contracts import HAZARD_SITES, INCIDENTS, SENSOR_READINGS, TABLES, conform
from riskwarn.lake import layout, maintenance, migrate, write


def _incidents(
    ids: list[str], cats: list[str], years: list[int], source: str = "t"
) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            {
                "source": source,
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


def _readings(ids: list[str], times: list[str], values: list[float]) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            {
                "source": "t",
                "record_id": ids,
                "sensor_id": "s",
                "observed_at": pd.to_datetime(times, utc=True),
                "interval_s": 600,
                "quantity": "rain_mm",
                "value": values,
            }
        ),
        SENSOR_READINGS,
    )


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and layout.LOCKS not in p.parts
    }


def _data_files(root: Path) -> list[str]:
    return sorted(
        str(p.parent.relative_to(root))
        for p in root.rglob("*.parquet")
        if "_delta_log" not in p.parts and "_change_data" not in p.parts
    )


def test_layout_and_read_back(tmp_path: Path) -> None:
    frame = _incidents(["b", "a", "c"], ["x", "y", "z"], [2020, 2020, 2021])
    counts = lake.upsert(tmp_path, "incidents", "t", frame, batch_id="b1")
    assert counts == {"new": 3, "updated": 0, "unchanged": 0}
    assert (tmp_path / "incidents" / "_delta_log").is_dir()
    assert _data_files(tmp_path / "incidents") == [
        "source=t/year=2020/month=0",
        "source=t/year=2021/month=0",
    ]
    back = lake.read_table(tmp_path, "incidents")
    assert back["record_id"].tolist() == ["a", "b", "c"]
    assert list(back.columns) == INCIDENTS.columns
    assert str(back["occurred_at"].dtype) == "datetime64[ns, UTC]"
    assert back["category"].tolist() == ["y", "x", "z"]
    pd.testing.assert_frame_equal(back, conform(back, INCIDENTS))
    assert lake.read_table(tmp_path, "incidents", sources=["other"]).empty
    assert lake.read_table(tmp_path, "disputes").empty  # no table yet
    con = lake.connect(tmp_path)
    assert con.execute("select count(*) from incidents where year = 2020").fetchone() == (2,)


def test_static_table_is_partitioned_by_source_only(tmp_path: Path) -> None:
    sites = conform(
        pd.DataFrame({"source": "t", "record_id": ["s1"], "hazard_type": "landslide"}), HAZARD_SITES
    )
    lake.upsert(tmp_path, "hazard_sites", "t", sites, batch_id="b")
    assert _data_files(tmp_path / "hazard_sites") == ["source=t"]
    assert lake.upsert(tmp_path, "hazard_sites", "t", sites, batch_id="b")["unchanged"] == 1


def test_reingest_of_unchanged_rows_makes_no_version_and_touches_no_file(tmp_path: Path) -> None:
    frame = _incidents(["a", "b"], ["x", "y"], [2020, 2021])
    lake.upsert(tmp_path, "incidents", "t", frame, batch_id="b1")
    version = lake.table_version(tmp_path, "incidents")
    before = _digest(tmp_path)
    counts = lake.upsert(tmp_path, "incidents", "t", frame.iloc[::-1], batch_id="b2")
    assert counts == {"new": 0, "updated": 0, "unchanged": 2}
    assert lake.table_version(tmp_path, "incidents") == version
    assert _digest(tmp_path) == before


def test_correction_updates_in_place_and_history_comes_from_versions(tmp_path: Path) -> None:
    lake.upsert(
        tmp_path, "incidents", "t", _incidents(["a", "b"], ["x", "y"], [2020, 2020]), batch_id="b1"
    )
    counts = lake.upsert(
        tmp_path, "incidents", "t", _incidents(["a", "c"], ["x2", "z"], [2021, 2021]), batch_id="b2"
    )
    assert counts == {"new": 1, "updated": 1, "unchanged": 0}
    back = lake.read_table(tmp_path, "incidents").set_index("record_id")
    assert back["category"].to_dict() == {"a": "x2", "b": "y", "c": "z"}
    assert back["occurred_at"]["a"].year == 2021
    assert "source=t/year=2020/month=0" in _data_files(tmp_path / "incidents")
    con = lake.connect(tmp_path)
    assert con.execute("select year from incidents where record_id = 'a'").fetchall() == [(2021,)]
    hist = lake.record_history(tmp_path, "incidents", "a")
    assert hist["change"].tolist() == ["insert", "before", "after"]
    assert hist["category"].tolist() == ["x", "x", "x2"]
    assert hist["batch_id"].tolist() == ["b1", "b2", "b2"]
    assert [t.year for t in hist["occurred_at"]] == [2020, 2020, 2021]
    assert hist["version"].is_monotonic_increasing
    # the version before the correction is still readable as it was (time travel)
    old = lake.dataset(tmp_path, "incidents", version=int(hist["version"].iloc[0]))
    assert old is not None
    assert sorted(old.to_table(columns=["category"])["category"].to_pylist()) == ["x", "y"]
    assert lake.record_history(tmp_path, "incidents", "nope").empty


def test_monthly_partitions_and_records_moving_between_them(tmp_path: Path) -> None:
    frame = _readings(
        ["r1", "r2", "r3"],
        ["2021-01-31 23:50", "2021-02-01 00:00", "2022-02-01 00:00"],
        [0.2, 0.4, 0.0],
    )
    lake.upsert(tmp_path, "sensor_readings", "t", frame, batch_id="b", grain="month")
    assert _data_files(tmp_path / "sensor_readings") == [
        "source=t/year=2021/month=1",
        "source=t/year=2021/month=2",
        "source=t/year=2022/month=2",
    ]
    moved = frame.iloc[[0]].assign(observed_at=pd.Timestamp("2022-02-02", tz="UTC"), value=1.0)
    got = lake.upsert(tmp_path, "sensor_readings", "t", moved, batch_id="b2", grain="month")
    assert got == {"new": 0, "updated": 1, "unchanged": 0}
    back = lake.read_table(tmp_path, "sensor_readings")
    assert back["record_id"].tolist() == ["r1", "r2", "r3"]
    con = lake.connect(tmp_path)
    assert con.execute("select count(*) from sensor_readings where month = 2").fetchone() == (3,)


def test_merge_looks_only_where_an_id_can_live() -> None:
    """Candidates: the batch's own partitions, plus (ids without their time) partitions whose
    record_id statistics may hold an id; a grain change keeps the same year's twin."""
    files = pa.table(
        {
            "partition.source": ["t", "t", "t", "u"],
            "partition.year": pa.array([2020, 2021, 2022, 2020], pa.int32()),
            "partition.month": pa.array([0, 0, 3, 0], pa.int32()),
            "min.record_id": ["a1", "b1", "c1", "a1"],
            "max.record_id": ["a9", "b9", "c9", "z9"],
        }
    )
    batch = write.to_arrow_batch(
        _readings(["b5", "x1"], ["2022-03-05", "2023-01-01"], [1.0, 2.0]),
        SENSOR_READINGS,
        "month",
    )
    got = write._candidates(files, batch, "t", SENSOR_READINGS, ids_carry_time=False)
    assert got == ([(2021, 0), (2022, 3), (2023, 1)], True)  # b5 may be in 2021's file
    got = write._candidates(files, batch, "t", SENSOR_READINGS, ids_carry_time=True)
    assert got == ([(2022, 3), (2023, 1)], True)
    yearly = write.to_arrow_batch(_readings(["q"], ["2022-07-01"], [1.0]), SENSOR_READINGS, "year")
    got = write._candidates(files, yearly, "t", SENSOR_READINGS, ids_carry_time=True)
    assert got == ([(2022, 0), (2022, 3)], True)  # the source went from month to year grain
    got = write._candidates(files, yearly, "t", SENSOR_READINGS, ids_carry_time=False)
    assert got == ([(2022, 0)], False)  # no file's id range holds "q": append
    # per row: ids that carry their time may be stored only where their partition has
    # files; other ids only where a file's id range may hold them (b5: 2021's file)
    mine = files.slice(0, 3)  # source t's files
    flags = write._may_be_stored(mine, batch, SENSOR_READINGS, ids_carry_time=True)
    assert flags.tolist() == [True, False]
    flags = write._may_be_stored(mine, batch, SENSOR_READINGS, ids_carry_time=False)
    assert flags.tolist() == [True, False]
    later = write.to_arrow_batch(_readings(["d1"], ["2022-03-05"], [1.0]), SENSOR_READINGS, "month")
    assert write._may_be_stored(mine, later, SENSOR_READINGS, ids_carry_time=False).tolist() == [
        False
    ]  # in a partition with files, but above every file's id range: surely new
    # truncated statistics stay bounds: a longer id past a truncated max is still looked for
    assert write._may_hold(files, "record_id", pa.array(["a9zzz", "b0"])).tolist() == [
        True,
        False,
        False,
        True,
    ]


def test_ids_carrying_their_time_are_merged_in_their_partition_only(tmp_path: Path) -> None:
    first = _readings(["s|2021-01-05", "s|2021-02-05"], ["2021-01-05", "2021-02-05"], [1.0, 2.0])
    lake.upsert(
        tmp_path, "sensor_readings", "t", first, batch_id="b1", grain="month", ids_carry_time=True
    )
    again = _readings(["s|2021-02-05", "s|2021-03-05"], ["2021-02-05", "2021-03-05"], [2.5, 3.0])
    got = lake.upsert(
        tmp_path, "sensor_readings", "t", again, batch_id="b2", grain="month", ids_carry_time=True
    )
    assert got == {"new": 1, "updated": 1, "unchanged": 0}
    back = lake.read_table(tmp_path, "sensor_readings")
    assert back["value"].tolist() == [1.0, 2.5, 3.0]


def test_windowed_and_column_pruned_reads(tmp_path: Path) -> None:
    frame = _readings(
        ["r1", "r2", "r3", "r4"],
        ["2021-01-31 23:50", "2021-02-01 00:00", "2021-02-01 00:10", "2022-02-01 00:00"],
        [0.2, 0.4, 0.5, 0.0],
    )
    lake.upsert(tmp_path, "sensor_readings", "t", frame, batch_id="b", grain="month")
    got = lake.read_table(
        tmp_path,
        "sensor_readings",
        columns=["record_id", "value"],
        start="2021-02-01",
        end="2021-02-01 00:10",
    )
    assert list(got.columns) == ["record_id", "value"]
    assert got["record_id"].tolist() == ["r2"]
    got = lake.read_table(tmp_path, "sensor_readings", start=pd.Timestamp("2022-01-01", tz="UTC"))
    assert got["record_id"].tolist() == ["r4"]
    got = lake.read_table(tmp_path, "sensor_readings", where={"record_id": ["r1", "r3"]})
    assert got["value"].tolist() == [0.2, 0.5]
    with pytest.raises(ValueError, match="no event time"):
        lake.read_table(tmp_path, "hazard_sites", start="2021-01-01")


def test_quarantine_keyed_by_batch_and_row_and_idempotent(tmp_path: Path) -> None:
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
    assert lake.write_quarantine(tmp_path, "t", q) is True
    first = _digest(tmp_path)
    assert lake.write_quarantine(tmp_path, "t", q) is False
    assert _digest(tmp_path) == first
    assert lake.write_quarantine(tmp_path, "t", q.assign(table_name="disputes")) is True
    back = lake.read_quarantine(tmp_path)
    assert back["row_number"].tolist() == [1, 2, 1, 2]
    assert lake.read_quarantine(tmp_path, sources=["x"]).empty
    assert lake.connect(tmp_path).execute("select count(*) from quarantine").fetchone() == (4,)


def test_quarantine_write_replaces_the_batch(tmp_path: Path) -> None:
    """A batch's quarantine replaces what it held: rows not in it leave (one commit, the
    other batches and tables untouched); an empty one with ``batches`` empties it."""

    def q(batch: str, rows: list[int], table: str = "incidents") -> pd.DataFrame:
        return pd.DataFrame(
            {
                "source": "t",
                "table_name": table,
                "batch_id": batch,
                "file_name": "f.csv",
                "row_number": pd.Series(rows, dtype="int64"),
                "reason": "spike",
                "message": "m",
                "original": "{}",
            }
        )

    for frame in (q("a", [1, 2, 3]), q("b", [1, 2]), q("a", [1, 4], "disputes")):
        assert lake.write_quarantine(tmp_path, "t", frame) is True

    def held() -> list[tuple[str, str, int]]:
        back = lake.read_quarantine(tmp_path)
        return sorted(zip(back["table_name"], back["batch_id"], back["row_number"], strict=True))

    assert lake.write_quarantine(tmp_path, "t", q("a", [2, 5])) is True
    assert held() == [
        ("disputes", "a", 1),
        ("disputes", "a", 4),
        ("incidents", "a", 2),
        ("incidents", "a", 5),
        ("incidents", "b", 1),
        ("incidents", "b", 2),
    ]
    assert lake.write_quarantine(tmp_path, "t", q("a", [2, 5])) is False
    empty = q("a", [])
    assert lake.write_quarantine(tmp_path, "t", empty, batches=[("incidents", "a")]) is True
    assert lake.write_quarantine(tmp_path, "t", empty, batches=[("incidents", "a")]) is False
    assert [r[:2] for r in held()] == [("disputes", "a")] * 2 + [("incidents", "b")] * 2
    # nothing stored, nothing to store: no table is created
    other = tmp_path / "other"
    assert lake.write_quarantine(other, "t", empty, batches=[("incidents", "a")]) is False
    assert not (other / "_quarantine").exists()


def test_maintenance_compacts_vacuums_and_keeps_what_retention_needs(tmp_path: Path) -> None:
    for i in range(4):
        lake.upsert(
            tmp_path, "incidents", "t", _incidents([f"a{i}"], ["x"], [2020]), batch_id=f"b{i}"
        )
    lake.upsert(tmp_path, "incidents", "t", _incidents(["a0"], ["y"], [2020]), batch_id="fix")
    assert len(_data_files(tmp_path / "incidents")) >= 5
    done = maintenance.maintain(tmp_path, history_days=30, target_file_mb=8)
    inc = next(d for d in done if d["table"] == "incidents")
    assert inc["files_compacted"] >= 4 and inc["files_written"] == 1
    assert inc["files_vacuumed"] == 0  # everything is younger than 30 days
    assert lake.read_table(tmp_path, "incidents")["category"].tolist() == ["y", "x", "x", "x"]
    assert lake.record_history(tmp_path, "incidents", "a0")["category"].tolist() == ["x", "x", "y"]
    # a zero-day retention keeps only the current version's files
    done = maintenance.maintain(tmp_path, history_days=0, target_file_mb=8)
    assert next(d for d in done if d["table"] == "incidents")["files_vacuumed"] >= 5
    assert lake.read_table(tmp_path, "incidents")["category"].tolist() == ["y", "x", "x", "x"]
    assert len(_data_files(tmp_path / "incidents")) == 1


def test_snapshot_is_a_consistent_readable_copy(tmp_path: Path) -> None:
    src = tmp_path / "lake"
    lake.upsert(
        src, "incidents", "t", _incidents(["a", "b"], ["x", "y"], [2020, 2021]), batch_id="b"
    )
    lake.upsert(src, "incidents", "t", _incidents(["a"], ["x2"], [2020]), batch_id="c")
    done = maintenance.snapshot(src, tmp_path / "snap")
    assert done["linked"] > 0
    lake.upsert(src, "incidents", "t", _incidents(["z"], ["q"], [2020]), batch_id="d")
    snap = lake.read_table(tmp_path / "snap", "incidents")
    assert snap["record_id"].tolist() == ["a", "b"]
    assert lake.record_history(tmp_path / "snap", "incidents", "a")["category"].tolist() == [
        "x",
        "x",
        "x2",
    ]
    with pytest.raises(lake.LakeError, match="already exists"):
        maintenance.snapshot(src, tmp_path / "snap")


def _old_layout(root: Path) -> None:
    """A lake as the Parquet-partition code wrote it (before Delta)."""

    def put(path: Path, frame: pd.DataFrame) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)

    inc = _incidents(["a", "b", "c"], ["x2", "y", "z"], [2020, 2020, 2021], source="old")
    put(root / "incidents/source=old/year=2020/part.parquet", inc.iloc[:2])
    put(root / "incidents/source=old/year=2021/part.parquet", inc.iloc[2:])
    rd = _readings(["r1", "r2"], ["2021-01-01", "2021-02-01"], [1.0, 2.0])
    put(root / "sensor_readings/source=t/year=2021/month=01/part.parquet", rd.iloc[:1])
    put(root / "sensor_readings/source=t/year=2021/month=02/part.parquet", rd.iloc[1:])
    hist = _incidents(["a"], ["x"], [2019], source="old").assign(superseded_by_batch="b0")
    put(root / "_history/incidents/source=old/part.parquet", hist)
    q = pd.DataFrame(
        {
            "source": ["old"],
            "table_name": "incidents",
            "batch_id": "b0",
            "file_name": "f.csv",
            "row_number": [7],
            "reason": "missing_id",
            "message": "m",
            "original": "{}",
        }
    )
    put(root / "_quarantine/source=old/part.parquet", q)


def test_old_parquet_layout_is_refused_then_migrated_without_loss(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    _old_layout(root)
    for call in (
        lambda: lake.read_table(root, "incidents"),
        lambda: lake.upsert(
            root, "incidents", "old", _incidents(["q"], ["x"], [2020], "old"), batch_id="n"
        ),
        lambda: lake.read_quarantine(root),
        lambda: lake.connect(root),
    ):
        with pytest.raises(lake.LegacyLakeError, match="riskwarn lake migrate"):
            call()
    result = migrate.migrate(root)
    assert result["rows"] == {
        "incidents": 3,
        "sensor_readings": 2,
        "_quarantine": 1,
        "_history/incidents": 1,
    }
    kept = Path(result["old_lake_kept_at"])
    assert (kept / "incidents/source=old/year=2020/part.parquet").exists()
    assert lake.read_table(root, "incidents")["category"].tolist() == ["x2", "y", "z"]
    assert _data_files(root / "sensor_readings") == [
        "source=t/year=2021/month=1",
        "source=t/year=2021/month=2",
    ]
    assert lake.read_quarantine(root)["row_number"].tolist() == [7]
    hist = lake.record_history(root, "incidents", "a", source="old")
    assert hist["change"].tolist() == ["legacy", "insert"]
    assert hist["category"].tolist() == ["x", "x2"]
    with pytest.raises(lake.LakeError, match="nothing to migrate"):
        migrate.migrate(root)


def test_every_table_has_a_delta_schema() -> None:
    for name, table in TABLES.items():
        schema = layout.delta_schema(table)
        assert schema.names[: len(table.columns)] == table.columns, name
        assert all(not pa.types.is_timestamp(f.type) or f.type == layout.TS for f in schema), name


def test_lake_history_command_shows_each_version(tmp_path: Path, monkeypatch, capsys) -> None:
    from riskwarn.cli import main

    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path))
    lake_dir = tmp_path / "lake"
    lake.upsert(lake_dir, "incidents", "t", _incidents(["a"], ["x"], [2020]), batch_id="first")
    lake.upsert(lake_dir, "incidents", "t", _incidents(["a"], ["x2"], [2021]), batch_id="fix")
    assert main(["lake", "history", "incidents", "--record", "a"]) == 0
    out = capsys.readouterr().out.splitlines()
    heads = [line.split()[3] for line in out if line.startswith("v")]
    assert heads == ["insert", "before", "after"]
    assert "category=x2" in out[-1] and "2021-06-01" in out[-1]
    assert main(["lake", "history", "incidents", "--record", "a", "--json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)
    assert [r["batch_id"] for r in rows] == ["first", "fix", "fix"]
    assert main(["lake", "history", "incidents", "--record", "zz"]) == 2
    assert "no record 'zz'" in capsys.readouterr().err


def test_mapping_says_whether_its_ids_carry_the_event_time() -> None:
    from riskwarn.sources import parse_mapping

    base = "name: m\ntable: sensor_readings\n"
    cols = (
        "columns:\n  sensor_id: {from: dev}\n  observed_at: {from: t}\n  interval_s: {const: 600}\n"
        "  quantity: {const: rain_mm}\n  value: {from: v}\n"
    )
    assert parse_mapping(base + "id: {columns: [dev, t]}\n" + cols).ids_carry_time
    assert not parse_mapping(base + "id: {columns: [dev]}\n" + cols).ids_carry_time
    assert not parse_mapping(base + cols).ids_carry_time
    fallback = cols.replace("{from: t}", "{from: [t, t2]}")
    assert not parse_mapping(base + "id: {columns: [dev, t]}\n" + fallback).ids_carry_time
