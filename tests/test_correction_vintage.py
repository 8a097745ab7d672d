"""A corrected record does not rewrite history: each forecast origin sees the version of
the record that was known before it (``riskwarn.lake.read_versions``, the hotspot frame
of training, backtests and ``riskwarn features build``).

The reviewer's case: Cincinnati incident 18-000001 ingested at (-84.51, 39.10) with
as_of 2018-01-06 and corrected to (-84.45, 39.15) with as_of 2018-03-01. Before, the lake
held only the corrected row, so every origin, 2018-01-15 too, saw the corrected place.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.incidents import CellFeatureParams, build_cell_features, build_cell_labels

MAPPING = Path(__file__).resolve().parents[1] / "configs/sources/cincinnati_burglary.yaml"
HEADER = "incident_no,offense_date,offense,longitude,latitude\n"
P1, P2 = (-84.51, 39.10), (-84.45, 39.15)
FIRST = datetime(2018, 1, 6, tzinfo=UTC)
FIX = datetime(2018, 3, 1, tzinfo=UTC)
TZ = "America/New_York"


def _background() -> list[str]:
    """Incidents Dec 2017 .. Mar 2018 around both places (both cells already active)."""
    rng = np.random.default_rng(7)
    rows = []
    for i in range(80):
        lon, lat = (P1, P2)[i % 2]
        at = pd.Timestamp("2017-12-01T10:00:00Z") + pd.Timedelta(hours=int(rng.integers(0, 2200)))
        if at >= pd.Timestamp(FIRST):  # first batch: only what had happened by its as_of
            at = pd.Timestamp("2017-12-20T12:00:00Z") + pd.Timedelta(hours=i)
        dx, dy = rng.normal(0, 0.002, 2) if i >= 10 else (0.0, 0.0)  # some at the very place
        rows.append(f"17-{i:06d},{at:%Y-%m-%dT%H:%M:%SZ},BURGLARY,{lon + dx:.5f},{lat + dy:.5f}")
    return rows


CORRECTED = "18-000001,2018-01-05T10:00:00Z,BURGLARY,{},{}"
# a second record, ingested after its label window's origin and corrected later too
LATE = "18-000002,2018-02-20T15:00:00Z,BURGLARY,{},{}"


def _lake(root: Path, batches: list[tuple[list[str], datetime]]) -> Path:
    from riskwarn.ingest import ingest_files, load_mapping
    from riskwarn.settings import Settings
    from tests.conftest import TEST_PSEUDONYM_KEY

    root.mkdir(parents=True)
    settings = Settings(home=root / "home", pseudonym_key=TEST_PSEUDONYM_KEY)
    mapping = load_mapping(MAPPING)
    for i, (rows, as_of) in enumerate(batches):
        path = root / f"b{i}.csv"
        path.write_text(HEADER + "\n".join(rows) + "\n")
        ingest_files(mapping, [path], settings, as_of=as_of)
    return root / "home"


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """corrected: the original, then the correction; original: never corrected; fixed:
    the corrected values from the start (what every origin saw before this change)."""
    tmp = tmp_path_factory.mktemp("vintage")
    bg = _background()
    first = [*bg, CORRECTED.format(*P1)]
    late_day = datetime(2018, 2, 21, tzinfo=UTC)
    return {
        "corrected": _lake(
            tmp / "corrected",
            [
                (first, FIRST),
                ([LATE.format(*P1)], late_day),
                ([CORRECTED.format(*P2), LATE.format(*P2)], FIX),
            ],
        ),
        "original": _lake(tmp / "original", [(first, FIRST), ([LATE.format(*P1)], late_day)]),
        "fixed": _lake(
            tmp / "fixed",
            [([*bg, CORRECTED.format(*P2)], FIRST), ([LATE.format(*P2)], late_day)],
        ),
    }


def test_read_versions_gives_each_version_its_knowledge_interval(lakes: dict[str, Path]):
    from riskwarn.lake import read_table, read_versions

    lake_dir = lakes["corrected"] / "lake"
    got = read_versions(lake_dir, "incidents")
    now = read_table(lake_dir, "incidents")
    one = got[got["record_id"] == "18-000001"].sort_values("known_to", na_position="last")
    assert one[["lon", "lat"]].to_numpy().tolist() == [list(P1), list(P2)]
    assert one["known_from"].isna().tolist() == [True, False]
    assert one["known_to"].iloc[0] == pd.Timestamp(FIX) == one["known_from"].iloc[1]
    assert pd.isna(one["known_to"].iloc[1])
    # uncorrected records: one open row each; the current rows are read_table's
    assert len(got) == len(now) + 2
    current = got[got["known_to"].isna()].drop(columns=["known_from", "known_to"])
    pd.testing.assert_frame_equal(current.reset_index(drop=True), now)
    plain = got[~got["record_id"].isin(["18-000001", "18-000002"])]
    assert plain["known_from"].isna().all() and plain["known_to"].isna().all()
    # a lake without corrections: exactly read_table (no extra columns)
    lake_dir = lakes["original"] / "lake"
    pd.testing.assert_frame_equal(
        read_versions(lake_dir, "incidents"), read_table(lake_dir, "incidents")
    )


def _features_build(home: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> pd.DataFrame:
    from riskwarn.cli import main

    monkeypatch.setenv("RISKWARN_HOME", str(home))
    args = ["features", "build", "incidents", "--start", "2018-01-15", "--end", "2018-03-20"]
    args += ["--out", str(out), "--crs", "EPSG:32616", "--tz", TZ, "--cell-size", "250"]
    assert main(args) == 0
    parts = sorted(out.glob("origin=*/part.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def test_each_origin_sees_the_version_known_before_it(
    lakes: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Features, stacked baselines and long-memory inputs at an origin before the
    correction are those of a lake that never got it; after it, those of a lake that had
    the corrected values all along. The labels, at every origin, are those of the latter:
    what happened, as known now (tests/test_case_label_vintage.py's rule). Fails on the
    old code: the frame at 2018-01-15 was the corrected one (18-000001 in the cell of P2),
    and (before labels were read at the current versions) the labels before the
    correction were the uncorrected lake's."""
    frames = {k: _features_build(h, tmp_path / k, monkeypatch) for k, h in lakes.items()}
    got = frames["corrected"]
    fix = pd.Timestamp(FIX)
    origins = pd.DatetimeIndex(got["origin"].unique())
    assert (origins < fix).sum() > 30 and (origins > fix).sum() > 10
    labels = [c for c in got.columns if c.startswith("label_")]
    for name, sel in (("original", origins < fix), ("fixed", origins > fix)):
        want = frames[name]
        a = got[got["origin"].isin(origins[sel])].reset_index(drop=True)
        b = want[want["origin"].isin(origins[sel])].reset_index(drop=True)
        assert list(a.columns) == list(b.columns)
        now = (
            frames["fixed"]
            .set_index(["origin", "cell_x", "cell_y"])
            .loc[pd.MultiIndex.from_frame(b[["origin", "cell_x", "cell_y"]])]
        )
        for c in labels:
            b[c] = now[c].to_numpy().astype(b[c].dtype)
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6, atol=1e-6)
    # and the two differ where they must: the record's place changed the counts
    early = origins[origins < fix][0]
    a, b = (frames[k][frames[k]["origin"] == early] for k in ("original", "fixed"))
    assert not np.array_equal(a["count_28d"].to_numpy(), b["count_28d"].to_numpy())
    # 18-000002 (2018-02-20) counted in the label of 2018-02-15 where it was first known
    o = pd.Timestamp("2018-02-15", tz=TZ).tz_convert("UTC")
    la, lb = (frames[k].loc[frames[k]["origin"] == o, "label_count"] for k in ("original", "fixed"))
    assert not np.array_equal(la.to_numpy(), lb.to_numpy())


def test_cell_features_match_a_per_origin_rebuild_of_the_versions_known_then():
    """Many corrected records (some twice, some moved in time, some reported late),
    chunks cutting the origins: every row equals the table built for its origin alone
    from the versions valid at it (every window, decayed count, long-run rate, days
    since last); its labels are those of the current versions, and with
    ``labels_known_at`` the origin, those of the versions valid at it."""
    rng = np.random.default_rng(3)
    base = pd.Timestamp("2018-01-01", tz=TZ).tz_convert("UTC")
    n = 200
    occ = base + pd.to_timedelta(rng.uniform(0, 400, n), unit="D")
    late = np.where(rng.random(n) < 0.3, rng.uniform(0, 20, n), 0)
    cur = pd.DataFrame(
        {
            "record_id": [f"r{i}" for i in range(n)],
            "occurred_at": occ,
            "reported_at": occ + pd.to_timedelta(late, unit="D"),
            "cell_x": rng.integers(0, 4, n),
            "cell_y": rng.integers(0, 4, n),
            "category_group": rng.choice(["a", "b"], n),
            "known_from": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]"),
            "known_to": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]"),
        }
    )
    old = []
    for k, i in enumerate(rng.choice(n, 40, replace=False)):
        when = cur.loc[i, "reported_at"] + pd.Timedelta(days=float(rng.uniform(0.5, 300)))
        for t in [when] + ([when + pd.Timedelta(days=float(rng.uniform(1, 60)))] if k < 10 else []):
            prev = cur.loc[i].copy()
            prev["known_to"] = t
            old.append(prev)
            cur.loc[i, ["known_from", "cell_x", "cell_y"]] = [t, *rng.integers(0, 4, 2)]
            cur.loc[i, "category_group"] = rng.choice(["a", "b"])
            if k % 3 == 0:
                cur.loc[i, "occurred_at"] += pd.Timedelta(days=float(rng.uniform(-3, 3)))
    versions = pd.concat([cur, pd.DataFrame(old)], ignore_index=True)
    versions = versions.astype({"cell_x": "int64", "cell_y": "int64"})
    cells = pd.DataFrame({"cell_x": np.repeat(np.arange(4), 4), "cell_y": np.tile(np.arange(4), 4)})
    origins = pd.date_range("2018-02-01", "2019-04-01", freq="11D", tz=TZ).tz_convert("UTC")
    params = CellFeatureParams(
        tz=TZ, groups=("a", "b"), data_start=base, chunk_origins=4, max_chunk_rows=10**6
    )
    got = build_cell_features(versions, cells, origins, params)

    def day(ts: pd.Series) -> pd.Series:
        return ts.dt.tz_convert(TZ).dt.normalize()

    # the labels: what happened, the current versions alone
    current = versions[versions["known_to"].isna()].drop(columns=["known_from", "known_to"])
    now = build_cell_labels(current, cells, origins, 7, TZ)

    for t in origins:
        local = t.tz_convert(TZ).normalize()
        kf, kt = versions["known_from"], versions["known_to"]
        valid = (kf.isna() | (day(kf) < local)) & (kt.isna() | (day(kt) >= local))
        view = versions.loc[valid].drop(columns=["known_from", "known_to"])
        assert view["record_id"].is_unique and len(view) == n
        want = build_cell_features(view, cells, [t], params)
        row = got[got["origin"] == t].reset_index(drop=True)
        lab = ["label_count", "label_any"]
        then = build_cell_labels(versions, cells, [t], 7, TZ, labels_known_at=t)
        pd.testing.assert_frame_equal(then[lab], want[lab])
        for c in lab:
            want[c] = now.loc[now["origin"] == t, c].to_numpy().astype(want[c].dtype)
        pd.testing.assert_frame_equal(row, want, check_exact=False, rtol=1e-6, atol=1e-6)
    # labels alone (no decayed counts: the backtest's labels outside the scored area)
    labels = build_cell_labels(versions, cells, origins, 7, TZ)
    pd.testing.assert_frame_equal(labels, got[labels.columns])
    # without versions the table is the plain one (the columns are simply absent)
    plain = versions[versions["known_to"].isna()].drop(columns=["known_from", "known_to"])
    pd.testing.assert_frame_equal(
        build_cell_features(plain, cells, origins, params),
        build_cell_features(plain.assign(known_from=pd.NaT), cells, origins, params),
    )


def test_a_backtest_before_a_correction_matches_the_lake_without_it():
    """Records corrected (moved ~1 km, another category group) after the backtest's
    last window: every forecast's scores equal those of the backtest of the uncorrected
    events (inputs as known at each origin; each refit's training labels as known at its
    origin: the correction is after every refit), while the evaluation counts the
    corrected events (the ex-post ceilings, which score by the labels, differ). Fails
    on the old code (the corrected places fed every origin's inputs; then, the evaluation
    labels left the corrections out)."""
    from models.backtest import ModelConfig
    from models.hotspot_backtest import HotspotBacktestSpec, run_hotspot_backtest
    from testkit.synthetic_hotspots import CRS, TZ, synthetic_events

    events = synthetic_events()
    events = events.loc[events["occurred_at"] < pd.Timestamp("2016-04-15", tz="UTC")]
    events = events.reset_index(drop=True)
    rng = np.random.default_rng(11)
    fixed = rng.choice(len(events), 400, replace=False)
    when = pd.Timestamp("2016-04-20", tz="UTC")
    stamp = "datetime64[ns, UTC]"
    current = events.assign(
        known_from=pd.Series(pd.NaT, index=events.index, dtype=stamp),
        known_to=pd.Series(pd.NaT, index=events.index, dtype=stamp),
    )
    before = current.loc[fixed].assign(known_to=when)
    current.loc[fixed, "known_from"] = when
    current.loc[fixed, "lon"] += 0.01
    current.loc[fixed, "category_group"] = "other"
    versions = pd.concat([current, before], ignore_index=True)
    spec = HotspotBacktestSpec(
        holiday_country="US",
        crs=CRS,
        cell_size_m=250,
        tz=TZ,
        start=pd.Timestamp("2016-02-01"),
        end=pd.Timestamp("2016-03-31"),
        model=ModelConfig(
            train_window_days=210,
            es_origins=3,
            cal_origins=3,
            max_rounds=30,
            early_stopping_rounds=10,
            refit_every_days=28,
            grid=({"max_depth": 3, "learning_rate": 0.2, "min_child_weight": 1.0},),
        ),
        max_cells=150,
    )
    got = run_hotspot_backtest(versions, spec)
    want = run_hotspot_backtest(events, spec)
    key = ["method", "origin", "cell_x", "cell_y"]
    oracle = ["ceiling", "ceiling_loo"]
    a, b = (
        r.scores[~r.scores["method"].isin(oracle)].sort_values(key).reset_index(drop=True)
        for r in (got, want)
    )
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6, atol=1e-9)
    ceil = [
        r.scores[r.scores["method"] == "ceiling"].sort_values(key)["score"].to_numpy()
        for r in (got, want)
    ]
    assert not np.array_equal(*ceil)  # the evaluation's truth: the current versions
