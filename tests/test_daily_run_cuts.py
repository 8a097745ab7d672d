"""The daily run's speed cuts (issue 18.3) leave its outputs as they were.

* A hotspot domain's warnings carry the model's explanation of their cell; the other
  cells' explanations are never read, so scoring explains the warned cells alone
  (:func:`riskwarn.scoring.warned_explanations`): the same entries, fewer rows explained.
* Exports write their times through one vectorised :func:`riskwarn.pipeline.export_times`
  instead of a Timestamp per row: the same texts.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from riskwarn import domains, scoring
from riskwarn.pipeline import _json_ready, export_time, export_times, forecasts_geojson
from riskwarn.scoring import score_domain
from tests.test_scoring import (  # noqa: F401  (fixtures)
    ORIGIN,
    registry,
    scored_home,
)

# --------------------------------------------------------------------------- explanations


class _Explaining:
    """A python model whose explanation of a row depends on that row alone; it records
    how many rows it was asked to explain."""

    def __init__(self) -> None:
        self.rows_explained: list[int] = []

    def explain(self, frame: pd.DataFrame, top_n: int = 3) -> list[dict[str, Any]]:
        self.rows_explained.append(len(frame))
        return [
            {"sentence": f"{u}: {c:g} events", "sentence_zh": f"{u}：{c:g} 起"}
            for u, c in zip(frame["unit_id"], frame["count_28d"], strict=True)
        ]


class _Champion:
    def __init__(self, model: _Explaining) -> None:
        self._model = model
        self.domain, self.name, self.version = "incidents", "riskwarn-incidents", "1"

    def python_model(self) -> _Explaining:
        return self._model


def test_warned_explanations_are_the_whole_frames_entries_of_the_warned_units() -> None:
    from riskwarn.scoring import warned_explanations

    frame = pd.DataFrame({"unit_id": [f"c{i}" for i in range(6)], "count_28d": [0, 3, 1, 8, 2, 5]})
    model = _Explaining()
    whole = scoring.model_explanations(_Champion(model), frame)  # type: ignore[arg-type]
    warned = {"c3", "c5", "c1"}
    got = warned_explanations(_Champion(model), frame, warned)  # type: ignore[arg-type]
    assert got == {u: whole[u] for u in warned}
    assert model.rows_explained == [6, 3]
    assert warned_explanations(_Champion(model), frame, set()) == {}  # type: ignore[arg-type]
    assert model.rows_explained == [6, 3]  # nobody warned: nothing explained


def test_daily_hotspot_scoring_explains_only_the_warned_cells_and_writes_the_same_warnings(
    scored_home,  # noqa: F811
    monkeypatch,
) -> None:
    """On the old code every scored cell was explained (12 rows here); now the warned
    ones alone, and the warnings' reasons are those the whole frame's explanations give."""
    settings, store, frame = scored_home
    model = _Explaining()
    real_explanations = scoring.model_explanations

    def explaining(champion: Any, rows: pd.DataFrame) -> dict[str, list[Any]]:
        return real_explanations(_Champion(model), rows)  # type: ignore[arg-type]

    monkeypatch.setattr(scoring, "model_explanations", explaining)
    # levels that warn some of the 12 cells, not all
    policy = domains.LevelPolicy((0.9, 0.95, 0.97, 0.99), (0.85, 0.9, 0.95, 0.98), None)
    score_domain(settings, "incidents", ORIGIN, store=store, policy=policy)
    warnings = store.warnings(domain="incidents")
    assert 0 < len(warnings) < len(frame)
    assert model.rows_explained == [len(warnings)]
    whole = real_explanations(_Champion(_Explaining()), frame)  # type: ignore[arg-type]
    for unit, reasons in zip(warnings["unit_id"], warnings["reasons"], strict=True):
        assert reasons[-len(whole[unit]) :] == whole[unit]


# --------------------------------------------------------------------------- export times


def _times() -> pd.DataFrame:
    aware = pd.Series(
        pd.to_datetime(
            [
                "2025-12-31T16:00:00Z",
                "2026-01-07T16:00:00.000123Z",
                None,
                "1999-01-01T00:00:00.5Z",
                "2025-06-30T23:59:59.999999Z",
            ],
            utc=True,
            format="ISO8601",
        )
    )
    return pd.DataFrame(
        {
            "utc": aware,
            "local": aware.dt.tz_convert("Asia/Shanghai"),
            "naive": aware.dt.tz_localize(None),
            "ns": aware + pd.Timedelta(nanoseconds=7),
        }
    )


def test_export_times_writes_what_export_time_writes_value_by_value() -> None:
    for col, once in _times().items():
        values = pd.concat([once, once.iloc[::-1], once], ignore_index=True)  # repeated times
        got = export_times(values).tolist()
        assert got == [export_time(v) for v in values], col
        assert export_times(values).dtype == object
    empty = pd.Series(pd.DatetimeIndex([], tz="UTC"))
    assert export_times(empty).tolist() == []


def test_forecasts_geojson_is_what_the_per_row_conversion_gave() -> None:
    t = _times()
    forecasts = pd.DataFrame(
        {
            "run_id": "incidents:20251231T1600Z",
            "domain": "incidents",
            "unit_type": "cell",
            "unit_id": [f"c{i}" for i in range(5)],
            "origin": t["utc"],
            "valid_to": t["local"],
            "score": [0.9, np.nan, 0.5, 0.1, 0.3],
            "probability": [0.9, 0.2, np.nan, 0.1, 0.3],
            "rank": [1, 5, 2, 4, 3],
            "county_code": ["a", None, "b", "c", "d"],
            "township_code": ["t1", "t2", None, "t4", "t5"],
            "lon": [116.1, 116.2, np.nan, 116.4, 116.5],
            "lat": [30.1, 30.2, 30.3, 30.4, 30.5],
            # columns a feature does not read (a case's explanation, a 250 m cell)
            "explanation": [None, [{"en": "x", "zh": "甲"}], None, [], ["y"]],
            "cell_x": [1, 2, 3, 4, 5],
        }
    )
    warnings = pd.DataFrame({"unit_id": ["c0", "c3"], "level": ["red", "blue"]})
    # the conversion before the cut: every value of every row through _json_ready
    levels = warnings.set_index("unit_id")["level"].to_dict()
    expected = []
    for r in forecasts.sort_values(["rank", "unit_id"]).to_dict("records"):
        if r.get("lon") is None or pd.isna(r.get("lon")):
            continue
        keys = ("run_id", "domain", "unit_type", "unit_id", "origin", "valid_to", "score")
        keys += ("probability", "rank", "county_code", "township_code")
        props = {k: _json_ready(r[k]) for k in keys if k in r}
        props["level"] = levels.get(r["unit_id"])
        expected.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [float(r["lon"]), float(r["lat"])]},
                "properties": props,
            }
        )
    got = forecasts_geojson(forecasts, warnings)
    assert got == {"type": "FeatureCollection", "features": expected}
    text = json.dumps(got, ensure_ascii=False, sort_keys=True, indent=1)
    old = json.dumps(
        {"type": "FeatureCollection", "features": expected},
        ensure_ascii=False,
        sort_keys=True,
        indent=1,
    )
    assert text == old


# --------------------------------------------------------------------------- readings order


def test_recent_readings_come_in_the_order_of_the_two_sorts_they_replace(tmp_path) -> None:
    """One sort by sensor, time and then key gives what the key sort followed by a
    stable sort by sensor and time gave: ties (a sensor's two readings of one time, two
    sources) keep the key's order, a missing sensor id sorts last."""
    from riskwarn import lake
    from riskwarn.contracts import SENSOR_READINGS, conform
    from riskwarn.serving_frames import read_recent_readings
    from riskwarn.settings import Settings

    settings = Settings(home=tmp_path)
    origin = pd.Timestamp("2025-12-31T16:00Z")
    rng = np.random.default_rng(3)
    n = 400
    for source in ("b", "a"):
        frame = pd.DataFrame(
            {
                "source": source,
                "record_id": [f"r{rng.integers(0, 10**6):07d}-{i}" for i in range(n)],
                "sensor_id": rng.choice(["s2", "s10", "s1", None], n),
                "observed_at": origin - pd.to_timedelta(rng.integers(1, 60, n) * 600, unit="s"),
                "interval_s": 600,
                "quantity": rng.choice(["rain_mm", "displacement_mm"], n),
                "value": rng.normal(size=n),
            }
        )
        lake.upsert(
            settings.lake_dir,
            "sensor_readings",
            source,
            conform(frame, SENSOR_READINGS),
            batch_id=source,
            grain="month",
        )
    cols = ["sensor_id", "observed_at", "interval_s", "quantity", "value", "quality"]
    old = lake.read_table(
        settings.lake_dir,
        "sensor_readings",
        columns=cols,
        start=origin - pd.Timedelta(days=35),
        end=origin,
    )
    old = old.take(lake.sort_order(old, ["sensor_id", "observed_at"])).reset_index(drop=True)
    old["observed_at"] = pd.to_datetime(old["observed_at"], utc=True)
    new = read_recent_readings(settings, origin, 35)
    assert len(new) == 2 * n and new.duplicated(["sensor_id", "observed_at"]).any()
    assert new["sensor_id"].isna().any()
    pd.testing.assert_frame_equal(new, old)


# --------------------------------------------------------------------------- store rows


def _records_before(frame: pd.DataFrame, table: Any) -> list[dict[str, Any]]:
    """``records_for`` as it was: a dict per row, each value through ``_coerce``."""
    from riskwarn.store.sql import _coerce

    cols = [c for c in frame.columns if c in table.c]
    obj = frame[cols].astype(object).where(frame[cols].notna(), None)
    return [{k: _coerce(table.c[k], v) for k, v in row.items()} for row in obj.to_dict("records")]


def test_records_for_gives_the_rows_the_per_value_conversion_gave() -> None:
    import sqlalchemy as sa

    from riskwarn.store.models import StagedForecast, StagedWarning, UTCDateTime
    from riskwarn.store.sql import records_for, table_of

    origin = pd.Timestamp("2025-12-31T16:00Z")
    n = 7
    forecasts = pd.DataFrame(
        {
            "unit_type": "cell",
            "unit_id": [f"c{i}" for i in range(n)],
            "domain": "incidents",
            "origin": origin,
            "valid_to": pd.Series(
                [origin + pd.Timedelta(days=7)] * (n - 1) + [pd.NaT]
            ).dt.tz_convert("Asia/Shanghai"),
            "score": [0.5, np.nan, np.inf, 1e-300, 0.1, 0.2, 0.3],
            "probability": pd.array([0.5, None, 0.2, 0.1, 0.1, 0.2, 0.3], dtype="Float64"),
            "rank": np.arange(1, n + 1),
            "county_code": ["a", None, np.nan, "b", 3, np.int64(4), "c"],
            "township_code": pd.array(["t", None, "u", "v", "w", "x", "y"], dtype="string"),
            "cell_x": pd.array([1, None, 3, 4, 5, 6, 7], dtype="Int64"),
            "cell_y": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0],
            "lon": np.arange(n, dtype=np.float32) / 3,
            "lat": [1, 2, 3, 4, 5, 6, 7],
            "explanation": [
                None,
                {"en": "x", "v": np.float64(np.nan)},
                [np.int64(2)],
                "s",
                1,
                2.5,
                {},
            ],
            "not_a_column": 1,
        }
    )
    table = table_of(StagedForecast)
    assert records_for(forecasts, table) == _records_before(forecasts, table)
    warnings = pd.DataFrame(
        {
            "warning_id": ["w1", "w2"],
            "origin": [origin, origin],
            "valid_from": [origin, origin],
            "valid_to": [origin, pd.NaT],
            "level": ["red", "blue"],
            "level_rank": np.array([4, 1], dtype=np.int32),
            "reasons": [[{"en": "a", "zh": "甲"}], []],
            "evidence": [{"n": np.int64(3)}, None],
            "lead_time_hours": [np.nan, 24],
        }
    )
    table = table_of(StagedWarning)
    assert records_for(warnings, table) == _records_before(warnings, table)
    other = sa.Table(
        "t",
        sa.MetaData(),
        sa.Column("flag", sa.Boolean),
        sa.Column("at", UTCDateTime()),
        sa.Column("naive_at", sa.DateTime),
    )
    frame = pd.DataFrame(
        {
            "flag": [True, False, None],
            "at": pd.to_datetime(
                ["2025-01-01T00:00Z", None, "2025-01-02T00:00:00.000001Z"],
                utc=True,
                format="ISO8601",
            ),
            "naive_at": pd.to_datetime(["2025-01-01", None, "2025-01-02"]),
        }
    )
    for convert in (records_for, _records_before):  # a naive time is refused, as before
        with pytest.raises(ValueError, match="naive datetime"):
            convert(frame, other)
    aware = frame.drop(columns=["naive_at"])
    assert records_for(aware, other) == _records_before(aware, other)
    got = records_for(aware, other)
    assert [type(r["flag"]) for r in got] == [bool, bool, type(None)]
    assert records_for(frame[[]], other) == _records_before(frame[[]], other)


# --------------------------------------------------------------------------- geojson text


def _random_json(rng: np.random.Generator, depth: int = 0) -> Any:
    kind = rng.integers(0, 10 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return bool(rng.integers(0, 2))
    if kind == 2:
        return int(rng.integers(-(10**12), 10**12))
    if kind == 3:
        return float(
            rng.choice(
                [
                    rng.normal() * 10.0 ** int(rng.integers(-8, 8)),
                    np.nan,
                    np.inf,
                    -np.inf,
                    0.0,
                    -0.0,
                    1e300,
                ]
            )
        )
    if kind in (4, 5):
        return "".join(rng.choice(list('ab"\\\n\t\x01é中文 /,:{}[]'), rng.integers(0, 8)))
    if kind in (6, 7):
        return [_random_json(rng, depth + 1) for _ in range(rng.integers(0, 4))]
    if kind == 8:
        return tuple(_random_json(rng, depth + 1) for _ in range(rng.integers(0, 3)))
    return {
        "".join(rng.choice(list('kéy中 "_'), rng.integers(0, 5))): _random_json(rng, depth + 1)
        for _ in range(rng.integers(0, 5))
    }


def test_dumps_indent1_writes_the_text_json_dumps_writes() -> None:
    from riskwarn.pipeline import dumps_indent1

    rng = np.random.default_rng(7)
    for _ in range(400):
        value = _random_json(rng)
        assert dumps_indent1(value) == json.dumps(
            value, ensure_ascii=False, sort_keys=True, indent=1
        )
    # what it does not write itself (numpy numbers, keys that are not strings) is json's
    for value in ({"a": np.int64(3)}, {1: "x", "2": [np.float32(0.5)]}, [np.bool_(True)]):
        try:
            expected = json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1)
        except TypeError as exc:
            with pytest.raises(type(exc)):
                dumps_indent1(value)
        else:
            assert dumps_indent1(value) == expected
    t = _times()
    forecasts = pd.DataFrame(
        {
            "unit_id": ["c0", "c1", "c2"],
            "origin": t["utc"].iloc[:3],
            "score": [0.5, np.nan, 0.25],
            "rank": [1, 2, 3],
            "lon": [116.1, 116.2, 116.3],
            "lat": [30.1, 30.2, 30.3],
            "county_code": ["县", None, "b"],
        }
    )
    geo = forecasts_geojson(forecasts, pd.DataFrame({"unit_id": ["c0"], "level": ["red"]}))
    assert dumps_indent1(geo) == json.dumps(geo, ensure_ascii=False, sort_keys=True, indent=1)
