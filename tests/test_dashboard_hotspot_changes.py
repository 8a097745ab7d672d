"""The "how hotspots changed" panel (docs/dashboard.md): no change labels without an earlier week,
and a place the model would not put on watch is no hotspot.

The demo has one week published: the overview used to call its top 20 places "emerging"
on both tabs, the disputes tab's at 0.2 % probability while its map said "no warning
this week"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st

from dashboard import queries, trends
from riskwarn.store import Store
from tests.test_store import ORIGIN, run_meta

DOMAIN = "disputes"


def week(origin: pd.Timestamp, probs: dict[str, float]) -> pd.DataFrame:
    """One week's forecasts: places ``probs`` ranked by probability."""
    ordered = sorted(probs, key=lambda u: -probs[u])
    return pd.DataFrame(
        {
            "unit_id": ordered,
            "origin": origin,
            "score": [probs[u] for u in ordered],
            "probability": [probs[u] for u in ordered],
            "rank": range(1, len(ordered) + 1),
        }
    )


def test_one_week_gets_no_change_labels() -> None:
    o = pd.Timestamp(ORIGIN)
    history = week(o, {"a": 0.9, "b": 0.6, "c": 0.4})
    assert trends.weeks_published(history) == 1
    assert trends.classify_hotspots(history, top_n=20).empty
    assert trends.classify_hotspots(history, top_n=20, floor=0.3).empty


def test_a_place_below_the_floor_is_no_hotspot() -> None:
    """Top 20 of a quiet week at 0.2 %: neither "emerging" nor (the week after a real
    hotspot faded under the floor) still hot."""
    o = pd.Timestamp(ORIGIN)
    quiet = {f"q{i}": 0.002 for i in range(5)}
    history = pd.concat(
        [
            week(o, {"a": 0.6, "b": 0.5, **quiet}),
            week(o + timedelta(days=7), {"a": 0.65, "b": 0.1, "n": 0.45, **quiet}),
        ],
        ignore_index=True,
    )
    out = trends.classify_hotspots(history, top_n=20, floor=0.3)
    got = dict(zip(out["unit_id"], out["label"], strict=True))
    assert got == {"a": "persistent", "n": "emerging", "b": "diminishing"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    Store(url).upgrade()
    st.cache_data.clear()
    yield url
    st.cache_data.clear()


def publish_week(url: str, origin: pd.Timestamp, probs: dict[str, float]) -> None:
    frame = week(origin, probs).drop(columns="origin")
    with Store(url) as s:
        run_id = s.stage_run(run_meta(origin, domain=DOMAIN))
        s.write_forecasts(
            run_id,
            frame.assign(
                unit_type="cell",
                valid_to=origin + pd.Timedelta(days=7),
                county_code="340803",
                township_code=None,
                cell_x=range(len(frame)),
                cell_y=0,
                lon=117.0,
                lat=30.5,
            ),
        )
        s.publish_run(run_id)


def test_the_overview_s_labels_of_a_published_domain(store_url: str) -> None:
    """Through the store: one week published -> no labels, 1 week; a second week ->
    labels by the domain's blue threshold (0.3 for disputes), not by rank alone."""
    o = pd.Timestamp(ORIGIN)
    floor = queries.hotspot_floor(DOMAIN)
    assert floor is not None and 0.002 < floor <= 0.45
    quiet = {f"q{i}": 0.002 for i in range(20)}
    publish_week(store_url, o, {"a": 0.6, **quiet})
    snap = queries.snapshot(store_url)
    assert queries.hotspot_weeks(snap, DOMAIN) == 1
    assert queries.hotspot_labels(snap, DOMAIN).empty

    publish_week(store_url, o + pd.Timedelta(days=7), {"a": 0.62, "n": 0.45, **quiet})
    snap = queries.snapshot(store_url)
    assert queries.hotspot_weeks(snap, DOMAIN) == 2
    labels = queries.hotspot_labels(snap, DOMAIN)
    assert dict(zip(labels["unit_id"], labels["label"], strict=True)) == {
        "a": "persistent",
        "n": "emerging",
    }
