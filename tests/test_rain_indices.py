"""Rain-rule indices from daily totals, and the landslide-reporting inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.landslide_reporting import (
    calendar_inputs,
    daily_counts,
    landslide_days,
    reporting_era,
)
from features.rain_indices import rain_indices

DAYS = pd.date_range("2020-01-01", periods=40, freq="D")
rain_lists = st.lists(st.floats(0, 400, allow_nan=False), min_size=40, max_size=40)


def test_indices_by_hand() -> None:
    rain = pd.Series([0.0, 10.0, 20.0, 200.0, np.nan, 0.0], index=DAYS[:6])
    f = rain_indices(rain)
    assert f.loc[DAYS[3], "rain_3d_mm"] == 230.0  # the 72-hour rain over three calendar days
    assert f.loc[DAYS[4], "rain_1d_mm"] == 0.0  # unavailable counts as 0
    assert f.loc[DAYS[5], "max_1d_in_3d_mm"] == 200.0
    assert f.loc[DAYS[3], "intensity_1d_mm_per_h"] == pytest.approx(200 / 24)
    k = 0.84
    assert f.loc[DAYS[3], "effective_rain_mm"] == pytest.approx(200 + k * 20 + k**2 * 10)
    assert f.loc[DAYS[3], "antecedent_rain_mm"] == pytest.approx(k * 20 + k**2 * 10)
    assert f.loc[DAYS[3], "api_mm"] == pytest.approx(200 + k * 20 + k**2 * 10)
    # Caine: 24 h threshold 14.82 * 24^-0.39 mm/h; 200 mm in a day is well above it
    caine_1d = (200 / 24) / (14.82 * 24**-0.39)
    assert f.loc[DAYS[3], "caine_ratio"] == pytest.approx(caine_1d)  # the 1-day spell is worst
    assert f.loc[DAYS[0], "caine_ratio"] == 0.0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rain=rain_lists, day=st.integers(0, 39), extra=st.floats(0.1, 300))
def test_raising_any_days_rain_never_lowers_any_index(rain, day, extra) -> None:
    base = rain_indices(pd.Series(rain, index=DAYS))
    wetter = list(rain)
    wetter[day] += extra
    more = rain_indices(pd.Series(wetter, index=DAYS))
    assert (more.to_numpy() >= base.to_numpy() - 1e-9).all()
    # and the days before the raised one do not move (no index looks ahead)
    pd.testing.assert_frame_equal(base.iloc[:day], more.iloc[:day])


def _events(occurred: list[str], reported: list[str | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "occurred_at": pd.to_datetime(occurred).tz_localize("Asia/Hong_Kong").tz_convert("UTC"),
            "reported_at": pd.to_datetime(reported).tz_localize("Asia/Hong_Kong").tz_convert("UTC"),
        }
    )


def test_records_count_by_occurrence_and_from_when_they_became_known() -> None:
    ev = _events(
        ["2001-12-30 10:00", "2001-06-01 10:00", "2002-03-01 10:00"],
        ["2002-02-01 10:00", None, "2002-03-01 11:00"],
    )
    days = landslide_days(ev, "Asia/Hong_Kong")
    idx = pd.date_range("2001-01-01", "2002-12-31", freq="D")
    occ = daily_counts(days, idx)
    assert occ.sum() == 3 and occ.loc["2001-12-30"] == 1
    known = daily_counts(days, idx, by="known_day")
    assert known.loc["2001-12-30"] == 0 and known.loc["2002-02-01"] == 1
    # a model fitted on 1 January 2002 does not know the December failure reported later
    as_of = daily_counts(days, idx, known_before=pd.Timestamp("2002-01-01"))
    assert as_of.loc["2001-12-30"] == 0 and as_of.sum() == 1


def test_reporting_era_uses_earlier_years_known_before_each_first_of_january() -> None:
    ev = _events(
        ["1999-07-01", "1999-07-01", "2000-05-01", "2000-12-31"],
        ["1999-07-01", "1999-07-02", "2000-05-02", "2001-01-05"],
    )
    days = landslide_days(ev, "Asia/Hong_Kong")
    era = reporting_era(days, [1999, 2000, 2001, 2002], first_year=1999, window_years=5)
    assert np.isnan(era[1999])  # no earlier year in the record
    assert era[2000] == 1.0  # one landslide day in 1999
    assert era[2001] == 1.0  # (1 + 1) / 2: the 31 Dec 2000 record was reported in 2001
    assert era[2002] == pytest.approx(3 / 3)  # 2001 had none: (1 + 2 + 0) / 3


def test_calendar_inputs_mark_hong_kong_holidays() -> None:
    idx = pd.date_range("2010-12-24", "2010-12-28", freq="D")
    c = calendar_inputs(idx)
    assert c["day_of_week"].tolist() == [4, 5, 6, 0, 1]
    assert c.loc["2010-12-25", "is_public_holiday"] == 1.0  # Christmas Day
    assert c.loc["2010-12-24", "is_public_holiday"] == 0.0
