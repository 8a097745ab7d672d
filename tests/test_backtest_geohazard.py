"""Geohazard nowcast backtest: leak-free daily features, outputs per method, skill."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskwarn.models.geohazard import (
    GeohazardSpec,
    citywide_features,
    daily_event_counts,
    run_citywide_backtest,
)

TZ = "Asia/Hong_Kong"


def synthetic_rain_and_counts(seed: int = 0) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    days = pd.date_range("2000-01-01", "2011-12-31", freq="D")
    wet = rng.random(len(days)) < 0.3
    rain = pd.Series(np.where(wet, rng.gamma(0.8, 25.0, len(days)), 0.0), index=days)
    r3 = rain.rolling(3, min_periods=1).sum().to_numpy()
    counts = pd.Series(rng.poisson(0.02 + 0.002 * r3 + 1e-5 * r3**2), index=days)
    return rain, counts


@pytest.fixture(scope="module")
def backtest():
    rain, counts = synthetic_rain_and_counts()
    spec = GeohazardSpec(
        tz=TZ,
        start=pd.Timestamp("2010-01-01"),
        end=pd.Timestamp("2011-12-31"),
        train_start=pd.Timestamp("2000-01-01"),
        major_threshold=3,
        max_rounds=150,
    )
    return run_citywide_backtest(rain, counts, spec)


def test_citywide_output_every_day_and_method(backtest) -> None:
    city, metrics = backtest
    assert set(city["method"]) == {"xgboost", "caine", "guzzetti", "effective_rain"}
    assert city.groupby("method").size().eq(730).all()
    assert city["p_any"].between(0, 1).all() and city["p_major"].between(0, 1).all()
    assert set(city["level"].unique()) <= {0, 1, 2, 3, 4}
    assert str(min(city["date"])) == "2010-01-01"
    m = metrics["methods"]["xgboost"]
    assert m["any"]["auc"] > 0.7 and m["any"]["tss"] > 0.2
    for key in ("average_precision", "brier", "pod", "far", "csi"):
        assert np.isfinite(m["any"][key])


def test_same_day_landslides_never_feed_that_days_features() -> None:
    rain, counts = synthetic_rain_and_counts(1)
    f1 = citywide_features(rain, counts)
    day = pd.Timestamp("2005-06-01")
    changed = counts.copy()
    changed.loc[day:] += 50
    f2 = citywide_features(rain, changed)
    cols = [c for c in f1.columns if c != "label_count"]
    upto = f1.index <= day
    pd.testing.assert_frame_equal(f1.loc[upto, cols], f2.loc[upto, cols])
    assert (f2.loc[day + pd.Timedelta(days=1), "landslides_prev_1d"]) == (
        f1.loc[day + pd.Timedelta(days=1), "landslides_prev_1d"] + 50
    )


def test_daily_event_counts_use_local_days() -> None:
    ev = pd.DataFrame(
        {"occurred_at": pd.to_datetime(["2010-05-01 16:30", "2010-05-01 15:30"], utc=True)}
    )
    idx = pd.date_range("2010-05-01", "2010-05-03", freq="D")
    c = daily_event_counts(ev, TZ, idx)
    assert list(c) == [1, 1, 0]  # 16:30 UTC is 00:30 on 2 May in Hong Kong


def test_a_landslide_reported_late_is_unknown_until_its_report() -> None:
    """Failed on 1 May, reported on 4 May: the 2-4 May nowcasts do not know it, 5 May does;
    the label stays on the failure day."""
    from riskwarn.models.geohazard import daily_known_counts

    ev = pd.DataFrame(
        {
            "occurred_at": pd.to_datetime(["2010-05-01 02:00", "2010-05-02 03:00"], utc=True),
            "reported_at": pd.to_datetime(["2010-05-04 02:00", pd.NaT], utc=True),
        }
    )
    idx = pd.date_range("2010-04-20", "2010-05-10", freq="D")
    rain = pd.Series(0.0, index=idx)
    counts, known = daily_event_counts(ev, TZ, idx), daily_known_counts(ev, TZ, idx)
    f = citywide_features(rain, counts, known)
    prev = f["landslides_prev_7d"]
    assert f.loc["2010-05-01", "label_count"] == 1 and f.loc["2010-05-04", "label_count"] == 0
    assert list(prev.loc["2010-05-01":"2010-05-05"]) == [0, 0, 1, 1, 2]  # 2 May: no report date
    leaky = citywide_features(rain, counts)["landslides_prev_7d"]
    assert leaky.loc["2010-05-02"] == 1  # what the features said before report dates counted


def test_caine_and_guzzetti_are_also_judged_at_their_published_threshold(backtest) -> None:
    _, metrics = backtest
    rain, counts = synthetic_rain_and_counts()
    f = citywide_features(rain, counts).loc["2010-01-01":"2011-12-31"]
    for name, col in (("caine", "caine_ratio"), ("guzzetti", "guzzetti_ratio")):
        w = metrics["native_thresholds"][name]["any"]
        warned = f[col].to_numpy() >= 1.0
        assert w["warned_share"] == pytest.approx(warned.mean())
        hits = (warned & (f["label_count"].to_numpy() >= 1)).sum()
        assert w["pod"] == pytest.approx(hits / (f["label_count"] >= 1).sum())
