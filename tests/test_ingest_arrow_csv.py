"""The pyarrow.csv parse of plain CSV lines (issue 18.2) gives exactly what the old
pandas-only parse gave: same accepted rows (values and dtypes), same quarantine rows,
reasons, messages and originals, same counts, same lake, on files with every kind of
defect (bad lines deep in a big file, unclosed and valid quotes, wrong types, NUL bytes,
over-long values and lines, blank and CRLF lines, bad encodings, personal columns), on
the small simulation's extracts and on the public datasets in ../shared/data."""

from __future__ import annotations

import gzip
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from riskwarn.ingest import flow, ingest_files, lines, read_and_validate
from riskwarn.ingest import mapping as mapping_mod
from riskwarn.lake import read_quarantine, read_table
from riskwarn.settings import Settings
from riskwarn.sources import SourceMapping, load_mapping, parse_mapping

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "configs" / "sources"
SHARED = ROOT.parent / "shared" / "data"
AS_OF = datetime(2024, 6, 1, tzinfo=UTC)
KEY = "test-only-key-" + "0" * 32

INC_HEADER = (
    "警情编号,发案时间,报警时间,时间精度,警情大类,警情类别,警情级别,经度,纬度,"
    "所属社区代码,发案场所,处警单位"
)
DIS_HEADER = (
    "案件编号,登记时间,纠纷类型,所属社区代码,网格编码,经度,纬度,甲方姓名,甲方联系电话,"
    "甲方身份证号,乙方姓名,乙方联系电话,乙方身份证号,当事人数,涉及金额（元）,纠纷简述,登记人"
)


def _mapping(name: str, **overrides: Any) -> SourceMapping:
    """A city mapping with small chunks and limits, so defects land in several chunks."""
    spec = yaml.safe_load((SOURCES / name).read_text(encoding="utf-8"))
    spec.update(overrides)
    return parse_mapping(yaml.safe_dump(spec, allow_unicode=True))


def _inc_row(i: int, same: bool = False) -> str:
    """Row ``i``; with ``same`` its id is that of the good row ``i`` (else a defect's own).
    From row 100 on, times and coordinates are nearly all distinct (as in the city's
    extracts), so a big chunk takes the shortcuts for such columns."""
    if i >= 100:
        t = (datetime(2023, 1, 1) + timedelta(minutes=7 * i)).strftime("%Y-%m-%d %H:%M:%S")
        return (
            f"JQ{i:08d},{t},{t},精确到分,侵财类,{['盗窃', '诈骗', '打架斗殴', '其他'][i % 4]},"
            f"{1 + i % 3},116.{i:06d},30.{i * 37 % 10**6:06d},3408{i % 50:08d},住宅小区,"
            f"某某派出所{i % 7}"
        )
    return (
        f"{'JQ' if same else 'JX'}{i:08d},2023-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00,"
        f"2023-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:30,精确到分,侵财类,"
        f"{['盗窃', '诈骗', '打架斗殴', '其他'][i % 4]},{1 + i % 3},116.{i % 997:03d}5,"
        f"30.{i % 991:03d}1,3408{i % 50:08d},住宅小区,某某派出所{i % 7}"
    )


def _field(i: int, at: int, value: str) -> str:
    """Row ``i`` (an id of its own) with field ``at`` replaced by ``value``."""
    fields = _inc_row(i).split(",")
    fields[at] = value
    return ",".join(fields)


def _incidents_with_defects(n: int, seed: int = 0) -> list[str]:
    rows = [_inc_row(i, same=True) for i in range(n)]
    rnd = random.Random(seed)
    defects = [
        _inc_row(1)[:-3] + ",x,y,z",  # bad_line: too many fields
        "JQ9,2023-01-01 00:00:00,2023-01-01 00:00:00",  # bad_line: too few
        '"JQ8,2023-01-01 00:00:00,' + _inc_row(8)[30:],  # unclosed quote
        _inc_row(7).replace("某某派出所0", '"派出所,带逗号"'),  # a valid quoted value
        _inc_row(6).replace("住宅小区", '"住宅""小区"'),  # doubled quotes
        _inc_row(5).replace("2023-06-06 05:05:00", "2023-02-30 05:05:00", 1),  # impossible
        _inc_row(4).replace("2023-05-05 04:04:00", "yesterday", 1),  # unparseable date
        _inc_row(3).replace("116.", "abc", 1),  # unparseable number
        "," + _inc_row(2).split(",", 1)[1],  # missing id
        _inc_row(10, same=True),  # identical duplicate of row 10
        _inc_row(11, same=True).replace("精确到分", "仅日期"),  # conflicting duplicate of row 11
        _inc_row(12).replace("某某派出所5", "派出所\x00"),  # NUL in a dropped column
        _inc_row(13).replace("住宅小区", "住宅\x00小区"),  # NUL in a read column
        _inc_row(14).replace("住宅小区", "长" * 300),  # field_too_long
        _inc_row(15).replace("某某派出所1", "长" * 600),  # long, in a dropped column
        _inc_row(23).replace("住宅小区", "x" * 5_000_000),  # line_too_long (> a block)
        "",  # blank line
        "   \t",  # whitespace-only line
        _inc_row(16) + "\r",  # CRLF line end
        _inc_row(17).replace(",116.", ", 116.", 1),  # spaces around a value
        _inc_row(18).replace("2023-07-19 18:18:00", "2031-07-19 18:18:00", 1),  # future
        _inc_row(19).replace("116.", "16.", 1),  # outside the area
        _inc_row(20).replace("116.0205,30.0201", "30.0201,116.0205"),  # swapped lon/lat
        _inc_row(21).replace("精确到分", ""),  # empty value
        _inc_row(24).replace(",116.0245,", ",,"),  # no lon: incomplete coordinates
        _inc_row(25).replace(",116.0255,", ",  ,"),  # blank lon
        _inc_row(26).replace(",30.0261,", ",1e2,"),  # exponent (outside the area)
        _inc_row(27).replace(",30.0271,", ",0x1E,"),  # hex: not a number
        _inc_row(28).replace(",30.0281,", ",inf,"),  # infinity
        _inc_row(29).replace(",30.0291,", ",30.0291 ,"),  # trailing space
        ",,,,,,,,,,,",  # all empty
        # times and numbers beside the fixed-width / plain-decimal shortcuts (fastparse)
        _field(30, 1, "2023-7-07 06:30:00"),  # short field
        _field(31, 1, " 2023-08-08 07:31:00"),  # padded
        _field(32, 1, "2023-09-09 24:00:00"),  # hour 24
        _field(33, 1, "2023-10-10 09:33:60"),  # second 60
        _field(34, 1, "2023-02-29 10:34:00"),  # not a leap year
        _field(35, 1, "2024-02-29 11:35:00"),  # leap day
        _field(37, 1, "2023-02-14T13:37:00"),  # another separator
        _field(38, 1, "２０２３-03-15 14:38:00"),  # wide digits
        _field(39, 2, "2023-04-16 15:39:00.5"),  # longer
        _field(40, 1, "2023-00-17 16:40:00"),  # month 0
        _field(41, 7, "+116.0415"),  # plus sign
        _field(42, 7, "116."),  # no decimals
        _field(43, 8, "30.1234567890123456"),  # more digits than a double holds
        _field(44, 7, "00116.0445"),  # leading zeros
        _field(45, 7, "１１６.0455"),  # wide digits
        _field(46, 6, "-0"),  # severity -0
        _field(47, 6, "2.5"),  # severity not whole
        _field(48, 8, "-30.5"),  # negative (outside the area)
        # outside pandas' nanosecond range (1677-09-21 .. 2262-04-11): out_of_range_date
        _field(49, 1, "1500-01-01 10:00:00"),
        _field(50, 2, "9999-12-31 23:59:59"),
        _field(51, 1, "1677-09-21 23:59:59"),  # in pandas' range, not once in UTC
        _field(52, 1, "0001-01-01 00:00:00"),
        _field(53, 1, "1900-01-01 10:00:00"),  # in range: accepted (no far-past rule)
        _field(54, 2, "2200-01-01 10:00:00"),  # in range: future_timestamp
    ]
    for d in defects:
        rows.insert(rnd.randrange(len(rows)), d)
    rows.insert(len(rows) - 5, _inc_row(22).replace("某某派出所1", "late\x00"))
    return rows


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """``text`` in ``encoding``; each U+E000 becomes the byte 0xFF (undecodable in UTF-8)."""
    data = text.encode(encoding).replace("\ue000".encode(encoding), b"\xff")
    if path.name.endswith(".gz"):
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    return path


def _new_path(on: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The new CSV path (on) or the old one: pandas parse, every row hashed while
    mapping, every rule column factorized first, numbers through Python objects."""
    monkeypatch.setattr(lines, "USE_ARROW", on)
    monkeypatch.setattr(lines, "SKIP_DROPPED", on)
    monkeypatch.setattr(flow, "CSV_HASH_LATER", on)
    monkeypatch.setattr(mapping_mod, "_SAMPLE_ROWS", 5_000 if on else 10**12)
    monkeypatch.setattr(mapping_mod, "FAST_NUMBERS", on)
    monkeypatch.setattr(mapping_mod, "ARROW_NUMBERS", on)
    monkeypatch.setattr(mapping_mod, "ARROW_TIMES", on)


def _run(mapping: SourceMapping, path: Path, arrow: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    _new_path(arrow, monkeypatch)
    return read_and_validate(mapping, path, pseudonym_key=KEY, as_of=AS_OF)


def assert_same_batch(old: Any, new: Any) -> None:
    pd.testing.assert_frame_equal(old.accepted, new.accepted, check_exact=True)
    pd.testing.assert_frame_equal(old.quarantine, new.quarantine, check_exact=True)
    assert (old.read, old.duplicates, old.messages) == (new.read, new.duplicates, new.messages)
    assert old.batch_id == new.batch_id


def _both(mapping: SourceMapping, path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, int]:
    """Old and new batch of one file, checked equal; how many chunks Arrow parsed."""
    parsed = {"arrow": 0}
    real = lines.CsvRecords._arrow_frame

    def counting(self: lines.CsvRecords, body: bytes) -> pd.DataFrame | None:
        frame = real(self, body)
        parsed["arrow"] += frame is not None
        return frame

    monkeypatch.setattr(lines.CsvRecords, "_arrow_frame", counting)
    old = _run(mapping, path, False, monkeypatch)
    assert parsed["arrow"] == 0
    new = _run(mapping, path, True, monkeypatch)
    assert_same_batch(old, new)
    assert old.read == len(old.accepted) + len(old.quarantine) + old.duplicates
    return new, parsed["arrow"]


INC_LIMITS = {"chunk_rows": 700, "limits": {"max_field_chars": 200, "max_line_bytes": 1000}}


@pytest.mark.parametrize(
    ("name", "chunk_rows"),
    [("incidents.csv", 700), ("incidents.csv.gz", 700), ("incidents.csv", 200_000)],
)
def test_incidents_with_every_defect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, chunk_rows: int
) -> None:
    """Small chunks (most plain, some not) and one big chunk (the shortcuts for long
    columns: whole-column evaluation, Arrow numbers)."""
    mapping = _mapping("sim_incidents.yaml", **{**INC_LIMITS, "chunk_rows": chunk_rows})
    rows = _incidents_with_defects(20_000)
    # undecodable bytes (bad_encoding): in a dropped column, and in a line with quotes
    rows.insert(len(rows) // 3, _inc_row(55).replace("某某派出所", "某某\ue000派出所"))
    rows.insert(2 * len(rows) // 3, _inc_row(56).replace("住宅小区", '"住宅\ue000小区"'))
    path = _write(tmp_path / name, INC_HEADER + "\n" + "\n".join(rows))  # no final newline
    batch, arrow_chunks = _both(mapping, path, monkeypatch)
    assert batch.reasons["bad_encoding"] == 2
    bad = batch.quarantine[batch.quarantine["reason"] == "bad_encoding"]
    lines_of = [json.loads(o)["line"] for o in bad["original"]]
    assert lines_of == [
        2 + next(i for i, r in enumerate(rows) if "\ue000" in r and m in r)
        for m in ("JX00000055", "JX00000056")
    ]
    if chunk_rows == 700:  # most chunks are plain; the ones with quotes or NUL are not
        assert arrow_chunks >= 3
    reasons = batch.reasons
    for reason in (
        "bad_line",
        "unclosed_quote",
        "line_too_long",
        "impossible_date:occurred_at",
        "unparseable_date:occurred_at",
        "unparseable_number:lon",
        "missing_id",
        "duplicate_id_conflict",
        "nul_byte:发案场所",
        "field_too_long:发案场所",
        "future_timestamp:occurred_at",
        "outside_area",
        "swapped_lon_lat",
    ):
        assert reason in reasons, (reason, reasons)
    assert reasons["out_of_range_date:occurred_at"] == 3  # 1500, 1677-09-21, 0001
    assert reasons["out_of_range_date:reported_at"] == 1  # 9999
    assert "future_timestamp:reported_at" in reasons  # 2200: the rule that was there
    assert "JX00000053" in set(batch.accepted["record_id"])  # 1900: accepted, as before
    assert batch.duplicates >= 1
    assert not batch.quarantine["original"].str.contains("派出所").any()  # dropped column


def test_lakes_written_by_both_paths_are_equal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mapping = _mapping("sim_incidents.yaml", **INC_LIMITS)
    path = _write(
        tmp_path / "inc.csv", INC_HEADER + "\n" + "\n".join(_incidents_with_defects(3_000))
    )
    tables = []
    for arrow in (False, True):
        _new_path(arrow, monkeypatch)
        settings = Settings(home=tmp_path / f"home_{arrow}", pseudonym_key=KEY)
        [report] = ingest_files(mapping, [path], settings, as_of=AS_OF)
        [again] = ingest_files(mapping, [path], settings, as_of=AS_OF)  # changes nothing
        assert (again["new"], again["updated"]) == (0, 0)
        lake = read_table(settings.lake_dir, "incidents").sort_values("record_id")
        q = read_quarantine(settings.lake_dir).sort_values("row_number")
        tables.append((report, lake.reset_index(drop=True), q.reset_index(drop=True)))
    (r0, lake0, q0), (r1, lake1, q1) = tables
    assert {k: v for k, v in r0.items() if "second" not in k} == {
        k: v for k, v in r1.items() if "second" not in k
    }
    pd.testing.assert_frame_equal(lake0, lake1, check_exact=True)
    pd.testing.assert_frame_equal(
        q0.drop(columns=["quarantined_at"], errors="ignore"),
        q1.drop(columns=["quarantined_at"], errors="ignore"),
        check_exact=True,
    )


def _dis_row(i: int) -> str:
    return (
        f"MD{i:08d},2023-{1 + i % 12:02d}-{1 + i % 28:02d} 10:{i % 60:02d}:00,"
        f"{['邻里纠纷', '债务纠纷', '新类型纠纷'][i % 3]},3408{i % 40:08d},G{i},"
        f"116.{i % 997:03d}3,30.{i % 991:03d}7,张{i % 9},138{i:08d},"
        f"3408{i:014d},李{i % 5},139{i:08d},{'' if i % 4 else f'3408{i + 7:014d}'},"
        f"{2 + i % 3},{'' if i % 5 else i * 10.5},邻里吵架{i},王五"
    )


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8"])
def test_disputes_with_personal_data_and_defects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    mapping = _mapping("sim_disputes.yaml", chunk_rows=500)  # declares gb18030
    rows = [_dis_row(i) for i in range(3_000)]
    rows[1200] = rows[1200].replace("邻里吵架", '"吵架,打人"')  # quoted, with a comma
    rows[1700] = rows[1700] + ",extra"  # bad_line
    rows[2100] = rows[2100].replace(",2,", ",two,")  # unparseable number
    rows[2500] = rows[2500].replace("10:", "25:", 1)  # impossible time
    rows[2900] = '"' + rows[2900]  # unclosed quote
    path = _write(
        tmp_path / "disputes.csv", DIS_HEADER + "\r\n" + "\r\n".join(rows) + "\r\n", encoding
    )
    batch, arrow_chunks = _both(mapping, path, monkeypatch)
    # three chunks, the first (with the quoted row) parsed by pandas; the old ">= 3" was
    # met only because the file was read twice when the contract check (category isin)
    # failed: an unmapped category is now quarantined in the mapping, one read
    assert arrow_chunks >= 2
    assert batch.reasons["unmapped_category:category"] == 998  # 新类型纠纷: not in the map
    assert set(batch.reasons) >= {"bad_line", "unclosed_quote", "unparseable_number:n_parties"}
    text = batch.quarantine["original"].str.cat() + batch.accepted.astype(str).to_csv()
    for personal in ("张", "13800000001", "李", "13900000001", "吵架", "王五", "3408000000000000"):
        assert personal not in text, personal  # names, phones, ID numbers, free text
    if encoding == "utf-8":
        assert any("wrong encoding" in m for m in batch.messages)


@pytest.mark.parametrize(
    "body",
    [
        b"\xef\xbb\xbf" + (INC_HEADER + "\n" + _inc_row(1) + "\n").encode(),  # BOM
        (INC_HEADER + "\n" + _inc_row(1) + "\n" + _inc_row(2)[:-2]).encode() + b"\xff\xfe\n",
        (INC_HEADER + "," + INC_HEADER.split(",")[0] + ",\n" + _inc_row(1) + ",x,y\n").encode(),
        (INC_HEADER.replace(",", ";") + "\n" + _inc_row(1).replace(",", ";") + "\n").encode(),
        (INC_HEADER + "\r" + _inc_row(1) + "\r" + _inc_row(2) + "\r").encode(),  # lone CR
        (INC_HEADER + "\n").encode(),  # header only
        (
            INC_HEADER
            + "\n"
            + _inc_row(1).replace("住宅小区", '"住宅小区"')  # quoted, no delimiter inside
            + "\n"
            + _inc_row(2).replace("住宅小区", '"住宅""小区"')  # a doubled quote
            + "\n"
        ).encode(),
    ],
    ids=[
        "bom",
        "invalid-utf8-late",
        "dup-and-empty-header",
        "semicolon",
        "lone-cr",
        "header-only",
        "quoted-values",
    ],
)
def test_file_level_cases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: bytes) -> None:
    mapping = _mapping("sim_incidents.yaml")
    path = tmp_path / "f.csv"
    path.write_bytes(body + b"".join(_inc_row(i).encode() + b"\n" for i in range(30, 80)))
    _both(mapping, path, monkeypatch)


def test_small_simulation_extracts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from riskwarn.simulate import simulate

    out = tmp_path / "sim"
    simulate(size="small", seed=3, out=out)
    ex = out / "extracts"
    for mapping_name, file_name in [
        ("sim_incidents.yaml", "incidents.2023.csv.gz"),
        ("sim_disputes.yaml", "disputes.csv"),
        ("sim_dispute_events.yaml", "dispute_events.csv"),
    ]:
        _, arrow_chunks = _both(load_mapping(SOURCES / mapping_name), ex / file_name, monkeypatch)
        assert arrow_chunks >= 1


REAL = [
    ("chicago.yaml", "chicago/aggravated_assaults_2010_2017.csv.gz"),
    ("hongkong_landslides.yaml", "hongkong/landslides_1984_2014.csv"),
    ("hongkong_rainfall.yaml", "hongkong/hko_daily_rainfall_1884_2014.csv"),
    ("portland_calls.yaml", "portland/portland_cfs_2016_aug_sep.csv.gz"),
    ("cincinnati_burglary.yaml", "cincinnati/burglary_2016_2018.csv.gz"),
    ("vancouver_thefts.yaml", "vancouver/thefts_2020.csv.gz"),
    ("threegorges_rainfall.yaml", "threegorges/rainfall_daily.csv"),
    ("threegorges_displacement.yaml", "threegorges/displacement_monthly.csv"),
]


@pytest.mark.parametrize(("mapping_name", "file_name"), REAL)
def test_public_datasets(
    monkeypatch: pytest.MonkeyPatch, mapping_name: str, file_name: str
) -> None:
    path = SHARED / file_name
    if not path.exists():
        pytest.skip(f"{path} not available")
    _both(load_mapping(SOURCES / mapping_name), path, monkeypatch)


def test_long_value_in_a_chunk_cut_from_the_middle_of_a_block(tmp_path: Path) -> None:
    """A block's good lines (pieces between bad lines) may go to several chunks; each
    chunk must know its own longest line, else a chunk started in the middle of a block
    passed as plain text and an over-long value was stored (found by this file's defect
    test; fails on 8c89d59)."""
    mapping = _mapping("sim_incidents.yaml", chunk_rows=100, limits={"max_field_chars": 200})
    rows = [_inc_row(i, same=True) for i in range(1_000)]
    rows[100] += ",one,too,many"  # a bad line: the block's good lines are two pieces
    rows[550] = rows[550].replace("住宅小区", "长" * 300)  # in the second piece
    path = _write(tmp_path / "long.csv", INC_HEADER + "\n" + "\n".join(rows) + "\n")
    batch = read_and_validate(mapping, path, pseudonym_key=KEY, as_of=AS_OF)
    assert batch.reasons == {"bad_line": 1, "field_too_long:发案场所": 1}
    assert sorted(batch.quarantine["row_number"].tolist()) == [101, 551]


@pytest.mark.parametrize("key", ["k", KEY, "K" * 64, "L" * 65, "ключ" * 30])
def test_pseudonyms_are_the_hmac_of_each_value(key: str) -> None:
    import hashlib
    import hmac

    from riskwarn.ingest.raw_rows import pseudonym, pseudonyms

    values = ["340802198703154512", " 3408 ", "", "  ", None, float("nan"), "张三", "x" * 200]
    values += ["\u3000a\u3000", "\x1fa"]
    expected = [
        hmac.new(key.encode(), v.strip().encode(), hashlib.sha256).hexdigest()[:16]
        if isinstance(v, str) and v.strip()
        else ""
        for v in values
    ]
    assert pseudonyms(values, key) == expected
    assert [pseudonym(v, key) for v in values if isinstance(v, str) and v.strip()] == [
        e for e in expected if e
    ]


@pytest.mark.parametrize("block_bytes", [lines.BLOCK_BYTES, 4096])
def test_bom_character_at_the_start_of_a_piece(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    """A U+FEFF (UTF-8 bytes EF BB BF) starting a line in the middle of the file: when
    that line begins a piece (right after the header, after a bad line, at a block
    boundary), pyarrow.csv took it for a file's BOM and dropped it, pandas keeps it; the
    Arrow path must give what pandas gives (failed before the fix: the ids differed)."""
    monkeypatch.setattr(lines, "BLOCK_BYTES", block_bytes)
    mapping = _mapping("sim_incidents.yaml", chunk_rows=100)
    rows = [_inc_row(i, same=True) for i in range(400)]
    bom = "\ufeff"
    rows[0] = bom + rows[0]  # right after the header: the first piece
    rows[120] += ",one,too,many"  # a bad line: the next line starts a piece
    rows[121] = bom + rows[121]
    body = INC_HEADER + "\n" + "\n".join(rows) + "\n"
    # the line starting the second block (blocks are cut at the last line end)
    second = body.encode()[:block_bytes].rfind(b"\n") + 1
    at = body.encode()[:second].count(b"\n") - 1  # its index in rows
    if block_bytes < len(body.encode()):
        assert 0 < at < len(rows) and at not in (120, 121)
        rows[at] = bom + rows[at]
        body = INC_HEADER + "\n" + "\n".join(rows) + "\n"
    path = _write(tmp_path / "bom.csv", body)
    batch, _ = _both(mapping, path, monkeypatch)
    assert batch.read == len(rows)
    assert batch.reasons.get("bad_line") == 1


def _city_disputes(n: int) -> list[str]:
    """Disputes rows whose times and coordinates are nearly all distinct (as in the
    city's register), so that a big chunk takes the whole-column shortcuts."""
    out = []
    for i in range(n):
        t = (datetime(2023, 1, 1) + timedelta(minutes=11 * i)).strftime("%Y-%m-%d %H:%M:%S")
        f = _dis_row(i).split(",")
        f[1], f[5], f[6] = t, f"116.{i:06d}", f"30.{i * 37 % 10**6:06d}"
        out.append(",".join(f))
    return out


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8"])
def test_big_disputes_with_bad_rows_deep_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    """One big chunk (times by NumPy, numbers by Arrow, dropped columns not parsed) with
    bad rows spread through it and at its end; old and new give the same batch, and the
    frames of the new path hold no column the mapping only drops (names, phones, free
    text)."""
    mapping = _mapping("sim_disputes.yaml", chunk_rows=200_000)
    rows = _city_disputes(25_000)
    for at, field, value in [
        (3_000, 1, "2023-02-30 10:00:00"),  # impossible
        (7_000, 1, "2023-2-03 10:00:00"),  # short field (pandas reads it)
        (9_000, 1, " 2023-02-03 10:00:00"),  # padded (pandas reads it)
        (10_000, 1, "yesterday"),
        (11_000, 5, "116.5e0"),  # exponent
        (13_000, 6, "91.0"),  # bad coordinates
        (15_000, 13, "two"),  # wrong type
        (17_000, 14, "+12.5"),  # plus sign
        (19_000, 0, rows[18_999].split(",")[0]),  # duplicate id, other content
        (24_998, 1, "2023-13-01 00:00:00"),  # deep, near the end
        (22_000, 1, "1500-01-01 10:00:00"),  # out of pandas' range
        (24_997, 1, "9999-12-31 23:59:59"),
    ]:
        f = rows[at].split(",")
        f[field] = value
        rows[at] = ",".join(f)
    rows.insert(21_000, rows[20_001])  # identical duplicate (of a mapped category's row)
    rows.insert(24_990, rows[24_989] + ",extra")  # a bad line deep in the file
    path = _write(tmp_path / "disputes.csv", DIS_HEADER + "\n" + "\n".join(rows) + "\n", encoding)
    batch, arrow_chunks = _both(mapping, path, monkeypatch)
    assert arrow_chunks >= 1
    assert set(batch.reasons) >= {
        "bad_line",
        "impossible_date:opened_at",
        "unparseable_date:opened_at",
        "unparseable_number:n_parties",
        "duplicate_id_conflict",
        "out_of_range_date:opened_at",
    }
    assert batch.duplicates == 1
    _new_path(True, monkeypatch)
    from riskwarn.ingest.read import read_raw_chunks

    frames = [c.frame for c in read_raw_chunks(mapping, path, [])]
    for dropped in ("甲方姓名", "甲方联系电话", "纠纷简述", "登记人"):
        assert all(dropped not in f.columns for f in frames)


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8"])
def test_bad_encoding_in_a_dropped_column_deep_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    """An invalid byte in a name (a column only dropped) late in a big file, far beyond
    the first 64 KB the encoding is sniffed from: the new path must not hide it by
    skipping the column, it ends as the old path ends. In UTF-8 too, where the pieces go
    to Arrow undecoded and Arrow checks only the columns it reads."""
    mapping = _mapping("sim_disputes.yaml", chunk_rows=200_000, encoding=encoding)
    rows = _city_disputes(22_000)
    data = (DIS_HEADER + "\n" + "\n".join(rows) + "\n").encode(encoding)
    cut = data.rfind("张".encode(encoding), 0, len(data) - 2_000)
    assert cut > 1 << 20  # deep inside the file
    path = tmp_path / "disputes.csv"
    path.write_bytes(data[:cut] + b"\x80\xff" + data[cut + 2 :])
    batch, _ = _both(mapping, path, monkeypatch)
    # that line only (before: the whole file, one record), in both paths
    assert batch.read == 22_000 and batch.reasons["bad_encoding"] == 1
    assert set(batch.reasons) == {"bad_encoding", "unmapped_category:category"}
    bad = batch.quarantine[batch.quarantine["reason"] == "bad_encoding"]
    assert json.loads(bad["original"].iloc[0])["line"] == data[:cut].count(b"\n") + 1
