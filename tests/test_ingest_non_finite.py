"""Infinite and absurd numbers never reach the lake (an attacker's review, finding 1).

``inf`` and ``-1e308`` in the city's sensor readings were stored as rain_mm inf /
-1e308 (the city mapping had no range, and ``pd.to_numeric("inf")`` is a number), and a
day's rain summed over them became inf. Now a non-finite number in any number column
of any mapping is ``non_finite_value:<col>`` (coordinates read from x/y too), and the
city's sensor mapping has physical ranges per quantity (``value_ranges``), which the
MQTT path applies as well (it validates with the same mapping).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from riskwarn.ingest.mapping import map_chunk
from riskwarn.sources import SourceMapping, load_mapping

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "configs" / "sources"
AS_OF = datetime(2024, 1, 1, tzinfo=UTC)


def _reasons(mapping: SourceMapping, raw: pd.DataFrame) -> list[str]:
    _, why = map_chunk(mapping, raw.astype(object), pseudonym_key="k" * 32, as_of=AS_OF)
    return [str(r) for r in why]


def _readings(values: list[str], quantity: str = "雨量", interval: str = "600") -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame(
        {
            "设备编号": ["SB00001"] * n,
            "采集时间": [f"2023-06-01 00:{i:02d}:00" for i in range(n)],
            "采样间隔": [interval] * n,
            "监测项": [quantity] * n,
            "数值": values,
            "数据状态": ["正常"] * n,
        }
    )


def test_non_finite_readings_are_quarantined() -> None:
    m = load_mapping(SOURCES / "sim_sensor_readings.yaml")
    why = _reasons(m, _readings(["1.5", "inf", "-inf", "Infinity", "1e999", "-1e400", "nan"]))
    assert why[0] == ""
    assert why[1:6] == ["non_finite_value:value"] * 5
    assert why[6] == "unparseable_number:value"


def test_non_finite_in_an_integer_column_is_quarantined_not_a_crash() -> None:
    """interval_s is an integer field: ``inf`` there raised in the Int64 cast before."""
    m = load_mapping(SOURCES / "sim_sensor_readings.yaml")
    raw = _readings(["1.0", "1.0"])
    raw["采样间隔"] = ["600", "inf"]
    assert _reasons(m, raw) == ["", "non_finite_value:interval_s"]


@pytest.mark.parametrize(
    ("quantity", "value", "reason"),
    [
        ("雨量", "-0.5", "negative_value"),
        ("雨量", "-1e308", "negative_value"),
        ("雨量", "1e308", "absurd_value"),
        ("雨量", "401", "absurd_value"),
        ("雨量", "98.7", ""),  # a simulated spike: flagged suspect later, kept
        ("累计位移", "-113.7", ""),  # displacement may go back
        ("累计位移", "-1e308", "below_range"),
        ("累计位移", "20000", "absurd_value"),
        ("裂缝宽度", "-13.25", ""),  # change from the install width
        ("裂缝宽度", "5000", "absurd_value"),
    ],
)
def test_city_sensor_mapping_has_physical_ranges(quantity: str, value: str, reason: str) -> None:
    m = load_mapping(SOURCES / "sim_sensor_readings.yaml")
    assert _reasons(m, _readings([value], quantity)) == [reason]


def test_every_mapping_quarantines_inf_in_every_number_column() -> None:
    """Each mapping file, each column rule reading one source column into a number
    field: ``inf`` there is never a value, and the row has a reason (another column's
    reason may come first in these made-up rows of "1")."""
    from riskwarn.contracts import TABLES

    checked = 0
    for path in sorted(SOURCES.glob("*.yaml")):
        m = load_mapping(path)
        table = TABLES[m.table]
        cols = [(n, r.sources[0]) for n, r in m.columns.items() if len(r.sources) == 1]
        cols = [
            (n, c)
            for n, c in cols
            if table.field(n).dtype in ("float", "int")
            and not (m.columns[n].map or m.columns[n].extract or m.columns[n].when)
        ]
        if m.x and m.y:
            cols.append(("lon", m.x))
        for name, col in cols:
            every = m.source_columns + [c for cs in m.pseudonymise.values() for c in cs]
            raw = pd.DataFrame({c: ["1", "1"] for c in every})
            raw.loc[1, col] = "inf"
            out, why = map_chunk(m, raw.astype(object), pseudonym_key="k" * 32, as_of=AS_OF)
            assert pd.isna(out[name].iloc[1]), (path.name, name)
            assert str(why.iloc[1]) != "", (path.name, name)
            if str(why.iloc[0]) == "":  # the row of "1" passes: inf is its only fault
                assert str(why.iloc[1]).startswith("non_finite_value:"), (path.name, name)
            checked += 1
    assert checked >= 10


def test_ranges_must_be_finite_and_need_quantities() -> None:
    spec = {
        "name": "t",
        "table": "sensor_readings",
        "columns": {
            "sensor_id": {"from": "a"},
            "observed_at": {"from": "b"},
            "quantity": {"from": "c"},
            "value": {"from": "d"},
            "interval_s": {"const": 600},
        },
    }
    SourceMapping.model_validate({**spec, "value_ranges": {"rain_mm": [0, 400]}})
    for bad in ([0, float("inf")], [5, 1]):
        with pytest.raises(ValueError, match="finite"):
            SourceMapping.model_validate({**spec, "value_ranges": {"rain_mm": bad}})


def test_stream_applies_the_same_ranges() -> None:
    """MQTT readings go through the same mapping: negative and absurd rain are
    quarantined; NaN/Infinity are refused by the payload check (``not_finite``)."""
    from riskwarn.stream.payload import topic_for
    from riskwarn.stream.validate import Message, validate_messages

    m = load_mapping(SOURCES / "sim_sensor_readings.yaml")
    topic = topic_for("simcity", "_", "SB00001")

    def msg(minute: int, value: str) -> Message:
        payload = (
            f'{{"sensor_id":"SB00001","observed_at":"2023-06-01T00:{minute:02d}:00+08:00",'
            f'"interval_s":600,"quantity":"rain_mm","value":{value},"quality":"good"}}'
        )
        return Message(topic, payload.encode())

    batch = validate_messages(
        m,
        [msg(0, "1.5"), msg(1, "-2"), msg(2, "1e308"), msg(3, "Infinity"), msg(4, "NaN")],
        as_of=AS_OF,
        batch_id="t",
    ).batch
    assert len(batch.accepted) == 1
    assert sorted(batch.quarantine["reason"]) == [
        "absurd_value",
        "negative_value",
        "not_finite",
        "not_finite",
    ]
