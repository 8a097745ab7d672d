"""The long-memory hotspot inputs (``models.extra_features``): values and no leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.extra_features import (
    ExtraFeatureParams,
    availability_day,
    build_extra_features,
    night_mask,
    prefix_rasters,
)

TZ = "America/Chicago"


def _events(rows: list[tuple[str, int, int, str]]) -> pd.DataFrame:
    """Events from (local time, cell_x, cell_y, location_type)."""
    local = pd.DatetimeIndex([r[0] for r in rows]).tz_localize(TZ)
    return pd.DataFrame(
        {
            "occurred_at": local.tz_convert("UTC"),
            "cell_x": [r[1] for r in rows],
            "cell_y": [r[2] for r in rows],
            "location_type": [r[3] for r in rows],
        }
    )


def _origins(*days: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(list(days)).tz_localize(TZ).tz_convert("UTC")


CELLS = pd.DataFrame({"cell_x": [0, 0, 1, 5], "cell_y": [0, 1, 0, 5]})
PARAMS = ExtraFeatureParams(tz=TZ, locations=("street", "residence"))
BASE = _events(
    [
        ("2014-01-10 21:30", 0, 0, "street"),
        ("2014-06-01 12:00", 0, 0, "residence"),
        ("2015-01-12 23:00", 0, 0, "street"),
        ("2015-06-01 10:00", 0, 1, "street"),
        ("2015-12-31 23:59", 1, 0, "residence"),
        ("2015-03-01 00:00", 5, 5, "residence"),  # exact midnight: unknown time, not night
    ]
)
ORIGINS = _origins("2016-01-01", "2016-01-08")


def _features(events: pd.DataFrame, origins=ORIGINS) -> pd.DataFrame:
    out = build_extra_features(events, CELLS, origins, PARAMS)
    return out.set_index(["origin", "cell_x", "cell_y"]).sort_index()


def test_counts_windows_and_composition_have_the_expected_values():
    f = _features(BASE)
    row = f.loc[(ORIGINS[0], 0, 0)]
    assert row["lr_count_all"] == 3
    assert row["lr_count_2y"] == 3  # 2014-01-10 is within 730 days of 2016-01-01
    assert row["lr_count_loc_street"] == 2
    assert row["lr_share_loc_street"] == pytest.approx(2 / 3)
    assert row["lr_count_night"] == 2  # 21:30 and 23:00
    # same weeks a year before 2016-01-01 (+-14 days): 2015-01-12 only
    assert row["lr_season_1y"] == 1
    assert row["lr_season_2y"] == 1  # 2014-01-10
    assert f.loc[(ORIGINS[0], 5, 5), "lr_count_night"] == 0
    # the 23:59 event of 2015-12-31 counts from the next local day on
    assert f.loc[(ORIGINS[0], 1, 0), "lr_count_all"] == 1
    # decayed counts are below the plain count and grow with the half-life
    assert 0 < row["lr_decayed_hl365d"] < row["lr_decayed_hl730d"] < 3
    # smoothing spreads cell (0, 0)'s events to its neighbour (0, 1)
    assert f.loc[(ORIGINS[0], 0, 1), "lr_smooth_all_s1"] > 0


def test_events_at_or_after_the_origin_change_nothing_before_it():
    before = _features(BASE)
    late = _events(
        [
            ("2016-01-01 00:00", 0, 0, "street"),  # at the origin
            ("2016-01-01 00:30", 0, 1, "residence"),
            ("2016-01-05 22:00", 1, 0, "street"),
            ("2017-01-01 03:00", 5, 5, "street"),
        ]
    )
    after = _features(pd.concat([BASE, late], ignore_index=True))
    first = ORIGINS[0]
    pd.testing.assert_frame_equal(before.loc[[first]], after.loc[[first]])
    # ...while the later origin does see the events of the first week
    assert after.loc[(ORIGINS[1], 0, 0), "lr_count_all"] == 4
    assert after.loc[(ORIGINS[1], 1, 0), "lr_count_night"] == 2  # 23:59 and 22:00


def test_records_reported_after_the_origin_are_not_used():
    ev = BASE.assign(reported_at=BASE["occurred_at"])
    late_report = ev.iloc[[0]].assign(
        reported_at=pd.Timestamp("2016-01-03 12:00", tz=TZ).tz_convert("UTC")
    )
    f = _features(pd.concat([ev.iloc[1:], late_report], ignore_index=True))
    assert f.loc[(ORIGINS[0], 0, 0), "lr_count_all"] == 2
    assert f.loc[(ORIGINS[1], 0, 0), "lr_count_all"] == 3
    assert availability_day(late_report, TZ)[0] > availability_day(ev.iloc[[0]], TZ)[0]


def test_prefix_rasters_count_strictly_before_each_query_day():
    day = np.array([5, 3, 7, 7])
    flat = np.array([0, 1, 0, 1])
    out = prefix_rasters(day, flat, np.ones(4), np.array([7, 3, 8]), 2)
    np.testing.assert_array_equal(out, [[1, 1], [0, 0], [2, 2]])


def test_night_mask_leaves_out_unknown_midnights():
    ev = _events(
        [
            ("2015-01-01 00:00", 0, 0, "x"),
            ("2015-01-01 00:01", 0, 0, "x"),
            ("2015-01-01 12:00", 0, 0, "x"),
            ("2015-01-01 20:00", 0, 0, "x"),
        ]
    )
    assert night_mask(ev, TZ).tolist() == [False, True, False, True]


def test_real_chicago_slice_is_past_only(shared_data):
    from features.cells import assign_cells

    path = shared_data / "chicago" / "aggravated_assaults_2010_2017.csv.gz"
    raw = pd.read_csv(path, nrows=4000, parse_dates=["date"])
    ev = pd.DataFrame(
        {
            "occurred_at": raw["date"].dt.tz_localize(TZ, ambiguous="NaT", nonexistent="NaT"),
            "lon": raw["longitude"],
            "lat": raw["latitude"],
            "location_type": raw["loc_cat"],
        }
    ).dropna()
    ev["occurred_at"] = ev["occurred_at"].dt.tz_convert("UTC")
    ev = assign_cells(ev, "EPSG:32616", 250).dropna(subset=["cell_x", "cell_y"])
    ev = ev.astype({"cell_x": "int64", "cell_y": "int64"})
    mid = ev["occurred_at"].sort_values().iloc[len(ev) // 2]
    origin = mid.tz_convert(TZ).normalize().tz_convert("UTC")
    cells = ev[["cell_x", "cell_y"]].drop_duplicates().sort_values(["cell_x", "cell_y"])
    params = ExtraFeatureParams(tz=TZ, locations=("street",))
    full = build_extra_features(ev, cells, [origin], params)
    past = build_extra_features(ev[ev["occurred_at"] < origin], cells, [origin], params)
    pd.testing.assert_frame_equal(full, past)
    assert full["lr_count_all"].sum() == (ev["occurred_at"] < origin).sum()
