"""Ingestion unit tests: mapping model, each row rule, pseudonyms, idempotence,
corrections with history, SQL sources (SQLite and PostgreSQL) and the CLI."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from riskwarn.cli import main
from riskwarn.ingest import ingest_files, ingest_sql, map_chunk, pseudonym, read_and_validate
from riskwarn.lake import read_table, record_history
from riskwarn.sources import MappingError, load_mapping, parse_mapping

AS_OF = datetime(2024, 1, 1, tzinfo=UTC)
CORPUS = Path(__file__).parent / "corpus"

DISPUTES_YAML = """
name: city_disputes
table: disputes
id: {columns: [case_no]}
timezone: Asia/Shanghai
drop: [party_a_name, party_b_name, party_a_phone]
pseudonymise: {party_ids: [party_a_id_number, party_b_id_number]}
columns:
  opened_at: {from: opened, format: ["%Y-%m-%d %H:%M", "%Y/%m/%d"]}
  category: {from: kind, map: {邻里: neighbour, 债务: debt}}
  amount_cny: {from: amount_wan, scale: 10000}
  n_parties: {const: 2}
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------- mapping model


def test_bad_mapping_gives_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"m.yaml: mapping: unknown table 'nope'") as exc:
        load_mapping(_write(tmp_path / "m.yaml", "name: x\ntable: nope\ncolumns: {}\n"))
    assert "\n" not in str(exc.value)
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping(_write(tmp_path / "m.yaml", "name: [x\n"))
    with pytest.raises(MappingError, match="required columns of incidents not mapped: occurred_at"):
        parse_mapping("name: x\ntable: incidents\ncolumns: {category: {const: a}}\n")
    with pytest.raises(MappingError, match="mapping file not found"):
        load_mapping(tmp_path / "absent.yaml")


def test_mapping_refuses_personal_columns() -> None:
    text = DISPUTES_YAML.replace(
        "amount_cny: {from: amount_wan, scale: 10000}", "admin_code: {from: party_a_phone}"
    )
    with pytest.raises(MappingError, match="'party_a_phone' looks personal"):
        parse_mapping(text)
    ok = parse_mapping(
        "name: s\ntable: hazard_sites\nnot_personal: [site_name]\n"
        "columns: {name: {from: site_name}, hazard_type: {const: landslide}}\n"
    )
    assert ok.columns["name"].sources == ["site_name"]


def test_every_canonical_table_can_be_mapped() -> None:
    from riskwarn.contracts import TABLES

    for table in TABLES.values():
        cols = {
            f.name: {"const": "1"}
            for f in table.fields
            if not f.nullable and f.name not in ("source", "record_id")
        }
        m = parse_mapping(json.dumps({"name": "s", "table": table.name, "columns": cols}))
        assert m.table == table.name


# ---------------------------------------------------------------- rules


def test_pseudonymise_and_drop_personal_fields(tmp_path: Path) -> None:
    mapping = parse_mapping(DISPUTES_YAML)
    csv = _write(
        tmp_path / "d.csv",
        "case_no,opened,kind,amount_wan,party_a_name,party_b_name,party_a_phone,party_a_id_number,party_b_id_number\n"
        "D1,2023-03-01 09:00,邻里,1.5,张三,李四,13912345678,510101199001011234,510101199202022345\n"
        "D2,2023/03/02,债务,,王五,赵六,13700000000,510101198001011111,\n"
        "D3,2023-02-30 10:00,债务,,王五,赵六,13700000000,510101198001011111,\n",
    )
    batch = read_and_validate(mapping, csv, pseudonym_key="secret", as_of=AS_OF)
    acc = batch.accepted.set_index("record_id")
    assert (
        acc.loc["D1", "party_ids"]
        == f"{pseudonym('510101199001011234', 'secret')};{pseudonym('510101199202022345', 'secret')}"
    )
    assert len(pseudonym("x", "secret")) == 16
    assert acc.loc["D2", "party_ids"] == pseudonym("510101198001011111", "secret")
    assert acc.loc["D1", "amount_cny"] == 15000.0
    assert pd.isna(acc.loc["D2", "amount_cny"])
    assert acc.loc["D2", "opened_at"] == pd.Timestamp(
        "2023-03-01 16:00", tz="UTC"
    )  # second format, local day
    assert acc.loc["D1", "category"] == "neighbour"
    assert batch.reasons == {"impossible_date:opened_at": 1}
    text = batch.accepted.to_json() + batch.quarantine.to_json(force_ascii=False)
    for secret in ("张三", "王五", "13912345678", "510101199001011234"):
        assert secret not in text


def test_content_hash_ids_keep_identical_rows_and_are_stable() -> None:
    mapping = load_mapping(Path(__file__).parents[1] / "configs/sources/chicago.yaml")
    raw = pd.DataFrame(
        {
            "date": ["2015-01-01 10:00", "2015-01-01 10:00", "2015-01-02 10:00"],
            "loc_cat": ["street"] * 3,
            "longitude": ["-87.6"] * 3,
            "latitude": ["41.8"] * 3,
            "district": ["1"] * 3,
        }
    )
    out, why = map_chunk(mapping, raw, pseudonym_key="k", as_of=AS_OF)
    ids = out["record_id"].tolist()
    assert ids[0].endswith("#1") and ids[1].endswith("#2") and ids[2].endswith("#1")
    assert ids[0].split("#")[0] == ids[1].split("#")[0] != ids[2].split("#")[0]
    again, _ = map_chunk(mapping, raw, pseudonym_key="k", as_of=AS_OF)
    assert again["record_id"].tolist() == ids
    assert (why == "").all()
    # America/Chicago in January is UTC-6
    assert out["occurred_at"].iloc[0] == pd.Timestamp("2015-01-01 16:00", tz="UTC")


def test_future_tolerance_and_as_of_are_parameters() -> None:
    mapping = load_mapping(CORPUS / "incidents.yaml")
    raw = pd.read_csv(CORPUS / "good.csv", dtype=str, keep_default_na=False)
    _, why = map_chunk(
        mapping, raw, pseudonym_key="k", as_of=datetime(2023, 5, 1, 3, 0, tzinfo=UTC)
    )
    assert why.tolist() == ["", "future_timestamp:occurred_at", "future_timestamp:occurred_at"]


def test_swapped_projected_coordinates_detected(tmp_path: Path) -> None:
    mapping = load_mapping(Path(__file__).parents[1] / "configs/sources/hongkong_landslides.yaml")
    head = "INCID,CALLDATE,FAILDATE,EASTING,NORTHING,FEATTYPE,SCALE,CONSEC - DEATHNO,CONSEC - INJURYNO\n"
    csv = _write(
        tmp_path / "l.csv",
        head + "2014/12/1,09/12/2014,08/12/2014,833322,815213,Natural Hillside,<1,-,2\n"
        "2014/12/2,09/12/2014,-,808000,856590,Soil Cut,Minor,1,-\n"
        "2014/12/3,-,-,833322,815213,Soil Cut,3,-,-\n",
    )
    batch = read_and_validate(mapping, csv, pseudonym_key="k", as_of=AS_OF)
    assert batch.reasons == {"missing_value:occurred_at": 1, "swapped_lon_lat": 1}
    row = batch.accepted.iloc[0]
    assert row["lon"] == pytest.approx(114.15, abs=0.02) and row["lat"] == pytest.approx(
        22.27, abs=0.02
    )
    assert row["volume_m3"] == 1.0 and row["deaths"] == 0 and row["injuries"] == 2
    assert row["occurred_at"] == pd.Timestamp(
        "2014-12-07 16:00", tz="UTC"
    )  # FAILDATE, HKT midnight
    assert row["feature_type"] == "natural_hillside"


def test_spike_flag_action_keeps_the_reading(tmp_path: Path) -> None:
    text = (
        (CORPUS / "readings.yaml")
        .read_text(encoding="utf-8")
        .replace("action: quarantine", "action: flag")
    )
    mapping = parse_mapping(text)
    batch = read_and_validate(mapping, CORPUS / "spike.csv", pseudonym_key="k", as_of=AS_OF)
    assert len(batch.accepted) == 10 and batch.reasons == {}
    flagged = batch.accepted[batch.accepted["quality"] == "suspect"]
    assert flagged["value"].tolist() == [120.0]


def test_utf8_byte_order_mark_is_not_part_of_the_header(tmp_path: Path) -> None:
    mapping = load_mapping(CORPUS / "incidents.yaml")
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (CORPUS / "good.csv").read_bytes())
    batch = read_and_validate(mapping, path, pseudonym_key="k", as_of=AS_OF)
    assert len(batch.accepted) == 3 and batch.reasons == {}


def test_bad_lines_are_quarantined_not_dropped(tmp_path: Path) -> None:
    mapping = load_mapping(CORPUS / "incidents.yaml")
    text = (CORPUS / "good.csv").read_text(
        encoding="utf-8"
    ) + "C9,2023-05-01 10:00,盗窃,106.5,29.5,D1,x,y,too,many\n"
    batch = read_and_validate(
        mapping, _write(tmp_path / "b.csv", text), pseudonym_key="k", as_of=AS_OF
    )
    assert batch.read == 4 and len(batch.accepted) == 3 and batch.reasons == {"bad_line": 1}


# ---------------------------------------------------------------- lake round trips


def test_ingest_twice_is_byte_identical(settings, tmp_path: Path) -> None:
    mapping = load_mapping(CORPUS / "incidents.yaml")
    files = [
        CORPUS / "good.csv",
        CORPUS / "swapped_lonlat.csv",
        CORPUS / "duplicate_ids.csv",
        CORPUS / "not_a_table.csv",
    ]
    first = ingest_files(mapping, files, settings, as_of=AS_OF)
    before = _digest(settings.lake_dir)
    second = ingest_files(mapping, files, settings, as_of=datetime(2024, 2, 1, tzinfo=UTC))
    assert _digest(settings.lake_dir) == before
    assert [r["new"] for r in first] == [3, 0, 0, 0]  # swapped/duplicate files repeat C1-C3
    assert [r["unchanged"] for r in second] == [3, 3, 2, 0]
    assert all(r["new"] == 0 and r["updated"] == 0 for r in second)


def test_corrected_record_updates_and_keeps_history(settings, tmp_path: Path) -> None:
    mapping = load_mapping(CORPUS / "incidents.yaml")
    good = (CORPUS / "good.csv").read_text(encoding="utf-8")
    ingest_files(mapping, [CORPUS / "good.csv"], settings, as_of=AS_OF)
    fixed = _write(
        tmp_path / "fixed.csv", good.replace("C2,2023-05-01 11:30,斗殴", "C2,2023-05-01 11:45,噪音")
    )
    [report] = ingest_files(mapping, [fixed], settings, as_of=AS_OF)
    assert (report["new"], report["updated"], report["unchanged"]) == (0, 1, 2)
    stored = read_table(settings.lake_dir, "incidents").set_index("record_id")
    assert stored.loc["C2", "category"] == "noise"
    assert stored.loc["C2", "occurred_at"] == pd.Timestamp("2023-05-01 03:45", tz="UTC")
    hist = record_history(settings.lake_dir, "incidents", "C2", source="corpus_incidents")
    assert hist["change"].tolist() == ["insert", "before", "after"]
    assert hist["category"].tolist() == ["fight", "fight", "noise"]


# ---------------------------------------------------------------- SQL sources


def _sql_mapping(url: str) -> str:
    text = (CORPUS / "readings.yaml").read_text(encoding="utf-8")
    return text + f"sql: {{url: '{url}', table: gauge_readings}}\n"


def _fill(url: str) -> None:
    engine = sa.create_engine(url)
    frame = pd.DataFrame(
        {
            "gauge": ["G1", "G1", "G1", "G2"],
            "time": [
                "2023-06-01 00:00",
                "2023-06-01 01:00",
                "2023-06-01 02:00",
                "2023-06-01 00:00",
            ],
            "rain_mm": [0.5, -3.0, 1.0, 2.5],
        }
    )
    frame.to_sql("gauge_readings", engine, index=False)
    engine.dispose()


def _check_sql(url: str, settings) -> None:
    _fill(url)
    mapping = parse_mapping(_sql_mapping(url))
    report = ingest_sql(mapping, settings, as_of=AS_OF)
    assert (report["read"], report["accepted"], report["quarantined"]) == (4, 3, 1)
    assert report["reasons"] == {"negative_value": 1}
    assert report["file_name"] == "sql:gauge_readings"
    again = ingest_sql(mapping, settings, as_of=AS_OF)
    assert again["unchanged"] == 3 and again["batch_id"] == report["batch_id"]
    values = (
        read_table(settings.lake_dir, "sensor_readings").set_index("record_id")["value"].to_dict()
    )
    assert values == {
        "G1|2023-06-01 00:00": 0.5,
        "G1|2023-06-01 02:00": 1.0,
        "G2|2023-06-01 00:00": 2.5,
    }
    query = parse_mapping(
        _sql_mapping(url).replace(
            "table: gauge_readings", "query: \"select * from gauge_readings where gauge = 'G2'\""
        )
    )
    assert ingest_sql(query, settings, as_of=AS_OF)["read"] == 1


def test_sql_source_sqlite(settings, tmp_path: Path) -> None:
    _check_sql(f"sqlite:///{tmp_path / 'city.db'}", settings)


@pytest.mark.postgres
def test_sql_source_postgres(settings, pg_url: str) -> None:
    _check_sql(pg_url, settings)


def test_sql_source_error_is_one_line(settings, tmp_path: Path) -> None:
    mapping = parse_mapping(_sql_mapping(f"sqlite:///{tmp_path / 'empty.db'}"))
    with pytest.raises(ValueError, match="cannot read SQL source") as exc:
        ingest_sql(mapping, settings, as_of=AS_OF)
    assert "\n" not in str(exc.value)


# ---------------------------------------------------------------- CLI


def test_cli_text_report_and_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    code = main(
        [
            "ingest",
            "--as-of",
            "2024-01-01T00:00",
            "--source",
            str(CORPUS / "incidents.yaml"),
            str(CORPUS / "swapped_lonlat.csv"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "read 5, accepted 3 (new 3, updated 0, unchanged 0), quarantined 2, duplicates 0" in out
    assert "quarantined swapped_lon_lat: 1" in out
    assert "read = accepted + quarantined + duplicates: OK" in out
    pytest.importorskip("riskwarn.store")
    from riskwarn.settings import load_settings
    from riskwarn.store import Store

    batches = Store.from_settings(load_settings()).ingest_batches()
    assert batches["read"].tolist() == [5]


def test_cli_user_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    bad = _write(tmp_path / "bad.yaml", "name: x\ntable: incidents\n")
    assert main(["ingest", "--source", str(bad), str(CORPUS / "good.csv")]) == 2
    assert (
        main(["ingest", "--source", str(CORPUS / "incidents.yaml"), str(tmp_path / "nope.csv")])
        == 2
    )
    assert (
        main(
            [
                "ingest",
                "--source",
                str(CORPUS / "incidents.yaml"),
                "--as-of",
                "soon",
                str(CORPUS / "good.csv"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line]
    assert len(lines) == 3 and all(line.startswith("error: ") for line in lines)
    assert "Traceback" not in err


def test_hko_rainfall_quality_rules(tmp_path: Path) -> None:
    mapping = load_mapping(Path(__file__).parents[1] / "configs/sources/hongkong_rainfall.yaml")
    text = (
        "日總雨量(毫米) - 天文台\nDaily Total Rainfall (mm) at the Hong Kong Observatory\n"
        "年/Year,月/Month,日/Day,數值/Value,數據完整性/data Completeness\n"
        "1990,6,1,12.5,C\n1990,6,2,Trace,C\n1990,6,3,***,\n1990,6,4,3.0,#\n1990,6,5,-1.0,C\n"
    )
    batch = read_and_validate(
        mapping, _write(tmp_path / "hko.csv", text), pseudonym_key="k", as_of=AS_OF
    )
    acc = batch.accepted.set_index("record_id")
    assert acc["quality"].to_dict() == {
        "1990|6|1": "good",
        "1990|6|2": "trace",
        "1990|6|3": "missing",
        "1990|6|4": "incomplete",
    }
    assert acc.loc["1990|6|2", "value"] == 0.0 and pd.isna(acc.loc["1990|6|3", "value"])
    assert acc.loc["1990|6|1", "observed_at"] == pd.Timestamp("1990-05-31 16:00", tz="UTC")
    assert batch.reasons == {"negative_value": 1}


def test_chinese_personal_columns_are_refused_and_stripped() -> None:
    with pytest.raises(MappingError, match="looks personal"):
        parse_mapping(
            DISPUTES_YAML.replace("admin_code", "x").replace(
                "amount_cny: {from: amount_wan, scale: 10000}", "admin_code: {from: 甲方联系电话}"
            )
        )


def test_chunked_reading_gives_the_same_batch(tmp_path: Path) -> None:
    text = (CORPUS / "incidents.yaml").read_text(encoding="utf-8")
    whole = parse_mapping(text)
    chunked = parse_mapping(text + "chunk_rows: 2\n")
    for name in ("duplicate_ids.csv", "swapped_lonlat.csv"):
        a = read_and_validate(whole, CORPUS / name, pseudonym_key="k", as_of=AS_OF)
        b = read_and_validate(chunked, CORPUS / name, pseudonym_key="k", as_of=AS_OF)
        pd.testing.assert_frame_equal(a.accepted, b.accepted)
        assert a.quarantine[["row_number", "reason", "original"]].equals(
            b.quarantine[["row_number", "reason", "original"]]
        )
        assert a.duplicates == b.duplicates
    rows = (
        "date,loc_cat,longitude,latitude,district\n" + "2015-01-01 10:00,street,-87.6,41.8,1\n" * 5
    )
    path = _write(tmp_path / "c.csv", rows)
    chicago_yaml = (Path(__file__).parents[1] / "configs/sources/chicago.yaml").read_text(
        encoding="utf-8"
    )
    small = parse_mapping(chicago_yaml + "chunk_rows: 2\n")
    ids = (
        read_and_validate(small, path, pseudonym_key="k", as_of=AS_OF)
        .accepted["record_id"]
        .str.split("#")
        .str[1]
    )
    assert sorted(ids.astype(int)) == [1, 2, 3, 4, 5]


def test_cli_sql_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    url = f"sqlite:///{tmp_path / 'city.db'}"
    _fill(url)
    mapping = _write(tmp_path / "gauges.yaml", _sql_mapping(url))
    code = main(
        [
            "ingest",
            "--no-store",
            "--json",
            "--sql",
            "--as-of",
            "2024-01-01",
            "--source",
            str(mapping),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    [report] = json.loads(out)
    assert (report["read"], report["accepted"], report["reasons"]) == (4, 3, {"negative_value": 1})
    assert main(["ingest", "--sql", "--source", str(CORPUS / "incidents.yaml")]) == 2
    assert "has no sql section" in capsys.readouterr().err
