"""Each domain's warnings are judged at a time that makes sense for that domain
(docs/dashboard.md, "When a warning is in force").

The demo mixes real 2023 geohazard data with a simulated 2024 city. The dashboard used to
judge every warning at the newest origin of any domain in a replay, so the geohazard
run's warnings (valid for a day in 2023) were all "expired": the site page counted no
warning, called every site "below threshold", and the review queue left them out. On a
live installation whose geohazard run is days old, the page said "below threshold" of
sites nobody had assessed for days."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import streamlit as st

from dashboard import queries
from riskwarn.store import Store
from tests.test_store import ORIGIN, forecast_frame, run_meta, warning_frame

SITES = "geohazard_hourly"
CITY = "incidents"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    Store(url).upgrade()
    st.cache_data.clear()
    yield url
    st.cache_data.clear()


def publish(url: str, domain: str, origin: Any, levels: tuple[str, ...], hours: int) -> None:
    """Publish a run of ``domain`` at ``origin``: five places scored, a warning of each
    of ``levels`` (on the first places), valid ``hours`` from ``origin``."""
    valid_to = pd.Timestamp(origin) + pd.Timedelta(hours=hours)
    with Store(url) as s:
        run_id = s.stage_run(run_meta(origin, domain=domain, horizon_hours=hours))
        s.write_forecasts(run_id, forecast_frame(origin, n=5).assign(valid_to=valid_to))
        if levels:
            s.write_warnings(run_id, warning_frame(origin, levels=levels).assign(valid_to=valid_to))
        s.publish_run(run_id)


def test_a_replay_judges_each_domain_at_its_own_origin(store_url: str) -> None:
    """The site domain published months before the city (both long past: a replay): its
    warnings are in force on its page and in the review queue; the city's too."""
    site_origin = pd.Timestamp(ORIGIN) - pd.Timedelta(days=120)
    publish(store_url, SITES, site_origin, ("yellow", "yellow", "blue"), hours=24)
    publish(store_url, CITY, ORIGIN, ("red",), hours=168)
    snap = queries.snapshot(store_url)
    clock = queries.clock(snap)
    assert clock["replay"]
    assert queries.judged_at(snap, SITES) == site_origin
    assert queries.judged_at(snap, CITY) == pd.Timestamp(ORIGIN)

    site_warnings = queries.warnings(snap, domain=SITES)
    assert sorted(site_warnings["level"]) == ["blue", "yellow", "yellow"]
    queue = queries.warnings(snap, state="new")  # what the review page queues
    assert sorted(zip(queue["domain"], queue["level"], strict=True)) == [
        (SITES, "blue"),
        (SITES, "yellow"),
        (SITES, "yellow"),
        (CITY, "red"),
    ]


def test_a_replay_still_expires_a_domain_s_older_warnings(store_url: str) -> None:
    """Judging at the domain's own origin is not "never expire": a warning of the served
    run that ended before that origin is not in force (the run's own warnings of a past
    interval, as the stream keeps carrying)."""
    site_origin = pd.Timestamp(ORIGIN) - pd.Timedelta(days=120)
    with Store(store_url) as s:
        run_id = s.stage_run(run_meta(site_origin, domain=SITES, horizon_hours=24))
        s.write_forecasts(run_id, forecast_frame(site_origin, n=3))
        frame = warning_frame(site_origin, levels=("yellow", "blue"))
        frame["valid_from"] = [site_origin - pd.Timedelta(hours=30)] * 2
        frame["valid_to"] = [site_origin + pd.Timedelta(hours=24), site_origin - timedelta(hours=6)]
        s.write_warnings(run_id, frame)
        s.publish_run(run_id)
    publish(store_url, CITY, ORIGIN, (), hours=168)
    snap = queries.snapshot(store_url)
    assert queries.warnings(snap, domain=SITES)["level"].tolist() == ["yellow"]
    assert len(queries.warnings(snap, domain=SITES, include_expired=True)) == 2


def site_words(url: str, lake: Path, lang: str = "en") -> dict[str, str]:
    """The site list's "why" of each site, as the geohazard page builds it."""
    snap = queries.snapshot(url)
    stale = queries.staleness(snap, SITES) is not None
    key = queries.warnings_version(queries.warnings(snap, domain=SITES))
    runs = queries.run_key(snap, SITES, queries.STREAM_DOMAIN)
    table = queries.site_table(url, snap, str(lake), SITES, lang, runs, key, "UTC", stale)
    return dict(zip(table["unit_id"], table["detail"], strict=True))


def test_a_stale_live_run_claims_no_site_is_below_threshold(store_url: str, tmp_path: Path) -> None:
    """Live (the city published today), the site run three days old with a 24-hour
    horizon: no site is "below threshold"; the one whose warning expired says so."""
    wall = pd.Timestamp.now(tz="UTC").floor("h")
    site_origin = wall - pd.Timedelta(days=3)
    publish(store_url, SITES, site_origin, ("yellow",), hours=24)
    publish(store_url, CITY, wall - pd.Timedelta(hours=2), ("red",), hours=168)
    snap = queries.snapshot(store_url)
    assert not queries.clock(snap)["replay"]
    age = queries.staleness(snap, SITES)
    assert age is not None and age >= pd.Timedelta(days=3)
    assert queries.staleness(snap, CITY) is None
    assert queries.warnings(snap, domain=SITES).empty  # expired: not in force, not queued

    words = site_words(store_url, tmp_path / "lake")
    assert len(words) == 5
    assert not any("below" in w for w in words.values()), words
    ended = (site_origin + pd.Timedelta(hours=24)).strftime("%d %b %Y %H:%M").lstrip("0")
    assert words["c000"] == f"warning expired at {ended}"
    assert all(w.startswith("no current assessment") for u, w in words.items() if u != "c000")
    zh = site_words(store_url, tmp_path / "lake", lang="zh")
    assert not any("未达" in w for w in zh.values()), zh


def add_sites(lake: Path, ids: list[str]) -> None:
    """Monitored sites ``ids`` in the lake (the page lists every one)."""
    from riskwarn.lake import upsert

    rows = [
        {
            "source": "test",
            "record_id": sid,
            "name": f"测试点{sid}",
            "hazard_type": "landslide",
            "lon": 116.2,
            "lat": 30.8,
            "people_threatened": 50,
        }
        for sid in ids
    ]
    upsert(lake, "hazard_sites", "test", pd.DataFrame(rows), batch_id="t-sites")


def test_a_fresh_live_run_says_below_threshold_only_of_sites_it_scored(
    store_url: str, tmp_path: Path
) -> None:
    """A fresh live run: the sites it scored without a warning are below threshold, the
    warned one shows its level's reason, a monitored site it did not score says so."""
    lake = tmp_path / "lake"
    add_sites(lake, ["c000", "c001", "c002", "c003", "c004", "s999"])
    wall = pd.Timestamp.now(tz="UTC").floor("h")
    publish(store_url, SITES, wall - pd.Timedelta(hours=1), ("yellow",), hours=24)
    words = site_words(store_url, lake)
    assert words["c000"] != "below every threshold"
    assert [words[u] for u in ("c001", "c002", "c003", "c004")] == ["below every threshold"] * 4
    assert words["s999"] == "not scored in the latest run"
