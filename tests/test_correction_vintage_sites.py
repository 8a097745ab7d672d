"""A corrected hazard site, sensor or failure record does not rewrite history for the
monitored-site models: each origin's inputs (the site's attributes, its sensors) come
from the versions known before it (``riskwarn.lake.read_versions`` of ``hazard_sites``,
``sensors``, ``hazard_events``: training and ``riskwarn features build``). Its labels are
what happened as known when they are read (docs/design.md, "Labels of corrected
records"): the table's, the evaluation's truth, count the current versions of the
failures; a refit at cut-off T counts each failure in its version valid at T
(``late_site_labels``, ``site_training_rows``), never a correction made after T. Sensor
readings are not covered yet: a corrected reading still reaches every past origin.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.geohazard_sites import (
    LABEL,
    build_site_table,
    late_site_labels,
    site_config,
    site_training_rows,
)
from riskwarn import lake
from riskwarn.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
STAMP = "datetime64[ns, UTC]"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The small city's geohazard tables (as in test_geohazard_site_models)."""
    from riskwarn.ingest import ingest_files, load_mapping
    from riskwarn.simulate import simulate

    root = tmp_path_factory.mktemp("geo_vintage")
    simulate(root / "sim", "small", seed=3)
    settings = Settings(home=root / "home")
    for name in ("hazard_sites", "sensors", "hazard_events", "sensor_readings"):
        mapping = load_mapping(ROOT / "configs" / "sources" / f"sim_{name}.yaml")
        files = sorted(p for p in (root / "sim" / "extracts").rglob(f"{name}.*") if p.is_file())
        ingest_files(mapping, files, settings, as_of=datetime(2030, 1, 1, tzinfo=UTC))
    return {
        t: lake.read_table(settings.lake_dir, t)
        for t in ("sensor_readings", "sensors", "hazard_sites", "hazard_events")
    }


def _versions(current: pd.DataFrame, picks, when, change) -> pd.DataFrame:
    """``current`` with the rows at ``picks`` corrected by ``change(row)`` at ``when``
    (what ``read_versions`` gives)."""
    cur = current.assign(
        known_from=pd.Series(pd.NaT, index=current.index, dtype=STAMP),
        known_to=pd.Series(pd.NaT, index=current.index, dtype=STAMP),
    )
    old = []
    for i, t in zip(picks, when, strict=True):
        prev = cur.loc[i].copy()
        prev["known_to"] = t
        old.append(prev)
        cur.loc[i, "known_from"] = t
        for col, value in change(cur.loc[i]).items():
            cur.at[i, col] = value
    out = pd.concat([cur, pd.DataFrame(old)], ignore_index=True)
    dtypes = {c: current[c].dtype for c in current.columns}
    return out.astype({**dtypes, "known_from": STAMP, "known_to": STAMP})


def _at(versions: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
    kf, kt = versions["known_from"], versions["known_to"]
    view = versions.loc[(kf.isna() | (kf < t)) & (kt.isna() | (kt >= t))]
    assert view["record_id"].is_unique
    return view.drop(columns=["known_from", "known_to"])


def test_site_rows_match_a_per_origin_rebuild_of_the_versions_known_then(small: dict):
    """Sites whose slope class, people threatened and hazard type were corrected, failures
    moved in time or to another site: every row of the site table equals the table of
    its origin alone built from the versions valid at it (attributes, rule level), its
    labels those of the current versions. Fails on the code before 2026-12-06 (every
    version of a corrected site was a site of its own)."""
    sites, events = small["hazard_sites"], small["hazard_events"]
    ev = events.dropna(subset=["site_id"]).sort_values("occurred_at")
    ev = ev[ev["site_id"].isin(set(sites["record_id"]))]
    assert len(ev) >= 3
    first = pd.Timestamp(ev["occurred_at"].iloc[0])
    origins = pd.date_range(
        (first - pd.Timedelta(hours=30)).floor("h"), periods=10, freq="7h", tz="UTC"
    )
    fix = origins[4] + pd.Timedelta(minutes=20)  # known between two origins
    rng = np.random.default_rng(5)
    picks = rng.choice(len(sites), 4, replace=False)
    site_versions = _versions(
        sites,
        picks,
        [fix, fix, fix + pd.Timedelta(hours=20), fix],
        lambda r: {
            "slope_class": 5 if r["slope_class"] != 5 else 1,
            "people_threatened": 4321,
            "hazard_type": "rockfall" if r["hazard_type"] != "rockfall" else "landslide",
        },
    )
    other = sorted(set(sites["record_id"]) - {ev["site_id"].iloc[0]})[0]
    event_versions = _versions(
        events,
        [ev.index[0], ev.index[1]],
        [fix, fix + pd.Timedelta(hours=20)],
        lambda r: {"site_id": other, "occurred_at": r["occurred_at"] + pd.Timedelta(hours=3)},
    )
    readings, sensors = small["sensor_readings"], small["sensors"]
    readings = readings.loc[readings["observed_at"] < origins[-1]]
    cfg = site_config("geohazard_hourly")
    got = build_site_table(readings, sensors, site_versions, event_versions, origins, cfg)
    assert not got[["origin", "site_id"]].duplicated().any()
    changed = 0
    labels = ["label_count", "label_any"]
    for t in origins:
        alone = build_site_table(
            readings, sensors, _at(site_versions, t), _latest(event_versions), [t], cfg
        )
        row = got[got["origin"] == t].reset_index(drop=True)
        pd.testing.assert_frame_equal(row, alone, check_exact=False, rtol=1e-6, atol=1e-6)
        now = build_site_table(
            readings, sensors, _latest(site_versions), _latest(event_versions), [t], cfg
        )
        pd.testing.assert_frame_equal(row[labels], now[labels])  # what happened, as known now
        changed += int(not row.equals(now))
    assert changed >= 4  # the origins before the corrections do differ from "now"


def _latest(versions: pd.DataFrame) -> pd.DataFrame:
    return versions[versions["known_to"].isna()].drop(columns=["known_from", "known_to"])


def test_site_labels_of_a_corrected_failure_follow_the_refit_and_the_evaluation(small: dict):
    """A failure moved to another site and three hours later, the correction known at C.
    The table's labels (the backtest's evaluation truth) count the corrected failure; a
    refit before C learns the failure where it was first recorded, a refit after C where
    it was corrected: at each cut-off T the training rows equal those of a lake holding
    only the versions valid at T. Fails on the old code, whose labels at each origin were
    the versions valid at the origin: the evaluation and a refit after C counted the
    failure at its first site."""
    sites, events = small["hazard_sites"], small["hazard_events"]
    ev = events.dropna(subset=["site_id"]).sort_values("occurred_at")
    ev = ev[ev["site_id"].isin(set(sites["record_id"]))]
    failed, first_site = pd.Timestamp(ev["occurred_at"].iloc[0]), str(ev["site_id"].iloc[0])
    other = sorted(set(sites["record_id"]) - set(ev["site_id"]))[0]  # no failure of its own
    origins = pd.date_range(
        (failed - pd.Timedelta(hours=30)).floor("h"), periods=80, freq="h", tz="UTC"
    )
    before = failed.ceil("h") + pd.Timedelta(hours=28)  # every window of the failure ended
    fix = before + pd.Timedelta(minutes=30)
    after = before + pd.Timedelta(hours=2)
    versions = _versions(
        events,
        [ev.index[0]],
        [fix],
        lambda r: {"site_id": other, "occurred_at": r["occurred_at"] + pd.Timedelta(hours=3)},
    )
    readings = small["sensor_readings"]
    readings = readings.loc[readings["observed_at"] < origins[-1]]
    sensors, cfg = small["sensors"], site_config("geohazard_hourly")
    got = build_site_table(readings, sensors, sites, versions, origins, cfg)
    now = build_site_table(readings, sensors, sites, _latest(versions), origins, cfg)
    pd.testing.assert_frame_equal(got, now)  # the evaluation sees the corrected failure
    assert got.loc[got["site_id"].astype(str) == other, LABEL].sum() > 0
    late = late_site_labels(versions, sites, origins, cfg)
    seen = {}
    for cut in (before, after):
        lake_then = _at(versions, cut)
        then = build_site_table(readings, sensors, sites, lake_then, origins, cfg)
        want = site_training_rows(then, cut, cfg, late_site_labels(lake_then, sites, origins, cfg))
        rows = site_training_rows(got, cut, cfg, late)
        pd.testing.assert_frame_equal(rows, want)
        seen[cut] = {
            s: int(rows.loc[rows["site_id"].astype(str) == s, LABEL].sum())
            for s in (first_site, other)
        }
    # before the correction the failure trains its first site; after it, the other one
    assert seen[before][other] == 0 and seen[before][first_site] > 0
    assert seen[after][other] > 0
