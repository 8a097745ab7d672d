"""Geohazard nowcast inputs: leak-free daily history, local days, late reports, and the
rules at their published thresholds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.landslide_reporting import daily_counts, landslide_days
from features.rain_indices import rain_indices
from models.citywide_nowcast import citywide_inputs
from models.geohazard import native_threshold_metrics

TZ = "Asia/Hong_Kong"


def _events(occurred: list[str], reported: list[str | None] | None = None) -> pd.DataFrame:
    ev = pd.DataFrame({"occurred_at": pd.to_datetime(occurred, utc=True)})
    if reported is not None:
        ev["reported_at"] = pd.to_datetime(reported, utc=True)
    return ev


def test_same_day_landslides_never_feed_that_days_inputs() -> None:
    idx = pd.date_range("2005-05-01", "2005-06-30", freq="D")
    rain = pd.Series(np.linspace(0, 60, len(idx)), index=idx)
    base = landslide_days(_events(["2005-05-10 02:00"]), TZ)
    day = pd.Timestamp("2005-06-01")
    later = pd.DataFrame({"occurred_day": [day] * 50, "known_day": [day] * 50})
    f1 = citywide_inputs(rain, base, 2005)
    f2 = citywide_inputs(rain, pd.concat([base, later], ignore_index=True), 2005)
    cols = [c for c in f1.columns if c != "label_count"]
    upto = f1.index <= day
    pd.testing.assert_frame_equal(f1.loc[upto, cols], f2.loc[upto, cols])
    assert f2.loc[day, "label_count"] == 50
    nxt = day + pd.Timedelta(days=1)
    assert f2.loc[nxt, "landslides_prev_1d"] == f1.loc[nxt, "landslides_prev_1d"] + 50


def test_landslide_days_are_local_days() -> None:
    days = landslide_days(_events(["2010-05-01 16:30", "2010-05-01 15:30"]), TZ)
    idx = pd.date_range("2010-05-01", "2010-05-03", freq="D")
    assert list(daily_counts(days, idx)) == [1, 1, 0]  # 16:30 UTC is 00:30 on 2 May


def test_a_landslide_reported_late_is_unknown_until_its_report() -> None:
    """Failed on 1 May, reported on 4 May: the 2-4 May nowcasts do not know it, 5 May does;
    the label stays on the failure day."""
    ev = _events(["2010-05-01 02:00", "2010-05-02 03:00"], ["2010-05-04 02:00", None])
    idx = pd.date_range("2010-04-20", "2010-05-10", freq="D")
    f = citywide_inputs(pd.Series(0.0, index=idx), landslide_days(ev, TZ), 2010)
    assert f.loc["2010-05-01", "label_count"] == 1 and f.loc["2010-05-04", "label_count"] == 0
    assert list(f["landslides_prev_7d"].loc["2010-05-01":"2010-05-05"]) == [0, 0, 1, 1, 2]


def test_caine_and_guzzetti_are_also_judged_at_their_published_threshold() -> None:
    rng = np.random.default_rng(0)
    idx = pd.date_range("2010-01-01", "2011-12-31", freq="D")
    rain = pd.Series(np.where(rng.random(len(idx)) < 0.3, rng.gamma(0.8, 40, len(idx)), 0), idx)
    n = rng.poisson(0.002 * rain.rolling(3, min_periods=1).sum().to_numpy() ** 1.3)
    assert (n >= 3).sum() >= 5
    x = rain_indices(rain)
    res = native_threshold_metrics(x, n, 3)
    for name, col in (("caine", "caine_ratio"), ("guzzetti", "guzzetti_ratio")):
        warned = x[col].to_numpy() >= 1.0
        w = res[name]["any"]
        assert w["warned_share"] == pytest.approx(warned.mean())
        assert w["pod"] == pytest.approx((warned & (n >= 1)).sum() / (n >= 1).sum())
        assert res[name]["major"]["pod"] == pytest.approx(
            (warned & (n >= 3)).sum() / (n >= 3).sum()
        )
