"""Block bootstrap, rank AUC, ceiling and per-cell scores used by the real-data report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from models.geohazard import (
    cell_daily_scores,
    cell_hit_rates,
    susceptibility_prior,
)
from models.metrics import (
    block_bootstrap_indices,
    block_bootstrap_skill,
    gap_closed_share,
    rank_auc,
)

TZ = "Asia/Hong_Kong"


def test_rank_auc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.2
    s = np.round(rng.random(500) + y * 0.3, 1)  # many ties
    assert abs(rank_auc(y, s) - roc_auc_score(y, s)) < 1e-12
    assert np.isnan(rank_auc(np.zeros(5, bool), np.arange(5.0)))


def test_block_bootstrap_draws_whole_blocks() -> None:
    blocks = np.repeat(np.arange(6), [3, 1, 4, 2, 5, 1])
    for idx in block_bootstrap_indices(blocks, n_boot=20, seed=1):
        drawn = blocks[idx]
        # every block that appears appears a whole number of times in full
        for b in np.unique(drawn):
            assert (drawn == b).sum() % (blocks == b).sum() == 0
        assert len(np.unique(drawn)) <= 6


def test_paired_bootstrap_separates_a_better_method_and_covers_the_point() -> None:
    rng = np.random.default_rng(2)
    n = 24 * 30
    y = rng.random(n) < 0.2
    good = np.clip(0.2 + 0.5 * y + rng.normal(0, 0.15, n), 0, 1)
    weak = np.clip(0.2 + 0.1 * y + rng.normal(0, 0.15, n), 0, 1)
    blocks = np.repeat(np.arange(24), 30)
    res = block_bootstrap_skill(
        y, {"good": (good, good > 0.45), "weak": (weak, weak > 0.45)}, blocks, "good", 300
    )
    auc = res["methods"]["good"]["auc"]
    assert auc["ci"][0] <= auc["value"] <= auc["ci"][1]
    d = res["reference_minus"]["weak"]["auc"]
    assert d["diff"] > 0 and d["ci"][0] > 0  # the paired CI excludes no improvement
    assert "good" not in res["reference_minus"]


def test_gap_closed_share() -> None:
    assert gap_closed_share(0.8, 0.7, 0.9) == pytest.approx(0.5)
    assert np.isnan(gap_closed_share(0.8, 0.9, 0.9))


def _events(cells: list[tuple[int, int]], when: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "occurred_at": pd.Timestamp(when, tz="UTC"),
            "cell_x": [c[0] for c in cells],
            "cell_y": [c[1] for c in cells],
        }
    )


def test_prior_uses_only_past_events_and_smooths_to_neighbours() -> None:
    cells = pd.DataFrame({"cell_x": [0, 1, 5], "cell_y": [0, 0, 0]})
    past = _events([(0, 0)] * 4, "2009-06-01")
    future = _events([(5, 0)] * 50, "2010-06-01")
    ev = pd.concat([past, future], ignore_index=True)
    before = pd.Timestamp("2010-01-01", tz="UTC")
    p = susceptibility_prior(ev, cells, before, smooth_cells=1.0)
    assert abs(p.sum() - 1) < 1e-12
    assert p[0] > p[1] > p[2]  # the neighbour inherits some, the far cell only the floor
    raw = susceptibility_prior(ev, cells, before, smooth_cells=0.0)
    assert raw[1] == raw[2]  # unsmoothed: no spill-over


def test_cell_scores_reward_the_method_that_picks_the_landslide_day() -> None:
    cells = pd.DataFrame({"cell_x": [0, 1, 2, 3], "cell_y": [0, 0, 0, 0]})
    hist = _events([(0, 0), (0, 0), (1, 0)], "2009-03-01")
    days = pd.date_range("2010-01-01", periods=10, freq="D").date
    city = pd.concat(
        [
            pd.DataFrame(
                {"date": days, "p_any": [0.9 if i == 4 else 0.1 for i in range(10)]}
            ).assign(method="sharp"),
            pd.DataFrame({"date": days, "p_any": 0.3}).assign(method="flat"),
        ],
        ignore_index=True,
    )
    scores = cell_daily_scores(city, hist, cells, TZ)
    assert len(scores) == 2 * 10 * 4
    slide = _events([(0, 0)], "2010-01-05 03:00")  # local 2010-01-05 = day index 4
    res = cell_hit_rates(scores, slide, TZ)
    # within the day both rank cells by the same prior
    assert res["sharp"]["day_hit_rate@0.2"] == res["flat"]["day_hit_rate@0.2"]
    # over cell-days only the sharp method puts the landslide cell-day on top
    assert res["sharp"]["st_auc"] == 1.0 and res["flat"]["st_auc"] < 1.0
    assert res["sharp"]["st_hit_rate@0.05"] > res["flat"]["st_hit_rate@0.05"]


def test_pooling_quarterly_runs_weights_hit_rates_by_events() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from bench_backtest import pool_hotspot_runs

    def run(hr: float, events: float, auc: float) -> dict:
        m = {f"hit_rate@{f}": hr for f in ("0.01", "0.05", "0.1")}
        m |= {f"pai@{f}": hr / float(f) for f in ("0.01", "0.05", "0.1")}
        return {"events": events, "auc": auc, **m}

    runs = [
        {"methods": {"xgboost": run(0.3, 100, 0.8), "ceiling": run(0.4, 100, 0.9),
                     "long_run": run(0.2, 100, 0.7)}, "n_origins": 90, "n_active_cells": 10},
        {"methods": {"xgboost": run(0.1, 300, 0.6), "ceiling": run(0.4, 300, 0.9),
                     "long_run": run(0.2, 300, 0.7)}, "n_origins": 92, "n_active_cells": 11},
    ]  # fmt: skip
    pooled = pool_hotspot_runs(runs)
    x = pooled["methods"]["xgboost"]
    assert x["hit_rate@0.05"] == pytest.approx((0.3 * 100 + 0.1 * 300) / 400)
    assert x["pai@0.05"] == pytest.approx(x["hit_rate@0.05"] / 0.05)
    assert pooled["n_origins"] == 182 and pooled["best_baseline"] == "long_run"
    assert pooled["gap_closed_share"] == pytest.approx((0.15 - 0.2) / (0.4 - 0.2))


def test_loo_ceiling_scores_each_window_by_the_other_windows() -> None:
    from models.hotspot_evaluation import loo_ceiling_scores

    o1, o2, o3 = pd.to_datetime(["2016-01-01", "2016-01-08", "2016-01-15"], utc=True)
    labels = pd.DataFrame(
        {
            "origin": [o1, o1, o2, o2, o3, o3],
            "cell_x": [0, 1, 0, 1, 0, 1],
            "cell_y": [0, 0, 0, 0, 0, 0],
            "label_count": [5, 0, 1, 2, 0, 3],
        }
    )
    out = loo_ceiling_scores(labels).set_index(["origin", "cell_x"])["score"]
    # cell 0: total 6; cell 1: total 5; each window drops its own count
    assert out[(o1, 0)] == 1 and out[(o1, 1)] == 5
    assert out[(o2, 0)] == 5 and out[(o2, 1)] == 3
    assert out[(o3, 0)] == 6 and out[(o3, 1)] == 2
    assert set(loo_ceiling_scores(labels)["method"]) == {"ceiling_loo"}


def test_evaluate_methods_keeps_ex_post_oracles_out_of_the_baselines() -> None:
    from models.hotspot_evaluation import ceiling_scores, evaluate_methods, loo_ceiling_scores

    rng = np.random.default_rng(5)
    origins = pd.date_range("2016-01-01", periods=20, freq="7D", tz="UTC")
    rate = rng.gamma(0.6, 1.0, 200)
    rows = [
        pd.DataFrame(
            {"origin": o, "cell_x": np.arange(200), "cell_y": 0, "label_count": rng.poisson(rate)}
        )
        for o in origins
    ]
    labels = pd.concat(rows, ignore_index=True)
    labels["label_any"] = labels["label_count"] > 0
    keys = labels[["origin", "cell_x", "cell_y"]]
    scores = pd.concat(
        [
            keys.assign(method="xgboost", score=np.tile(rate, 20) / (1 + np.tile(rate, 20))),
            keys.assign(method="long_run", score=np.tile(rate, 20) + rng.normal(0, 0.5, 4000)),
            ceiling_scores(labels),
            loo_ceiling_scores(labels),
        ],
        ignore_index=True,
    )
    res = evaluate_methods(scores, labels, n_boot=50)
    assert res["best_baseline"] == "long_run"
    assert set(res["model_minus_baseline"]) == {"long_run"}
    m = res["methods"]
    # the in-sample ceiling also counts each window's own events; the oracle does not
    assert m["ceiling"]["pai@0.05"] > m["ceiling_loo"]["pai@0.05"]
    assert res["gap_closed_share_loo"] == pytest.approx(
        gap_closed_share(
            m["xgboost"]["pai@0.05"], m["long_run"]["pai@0.05"], m["ceiling_loo"]["pai@0.05"]
        )
    )


def test_oracles_separate_a_windows_own_chance_from_the_cells_intensity() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from bench_oracles import oracle_table

    rng = np.random.default_rng(2)
    rate = rng.gamma(0.5, 0.4, 2000)  # fixed intensities: all signal is static
    windows = rng.poisson(rate, size=(60, 2000)).astype(float)
    history = rng.poisson(rate * 100).astype(float)
    expanding = history + np.vstack([np.zeros(2000), np.cumsum(windows, 0)[:-1]])
    res = oracle_table(windows, history / 100, expanding, year_split=30, local_ks=(5,))
    # the in-sample ceiling counts each window's own events: it beats every oracle
    assert res["ceiling"] > res["loo"] + 0.05
    assert res["ceiling"] > res["loo+history"]["pai"]
    # leaving the own window out costs nothing real: the truth ranks no better than loo+history
    from models.metrics import window_hit_table

    truth = sum(window_hit_table(rate, w, (0.05,))["captured@0.05"] for w in windows)
    truth_pai = truth / windows.sum() / 0.05
    assert res["loo+history"]["pai"] == pytest.approx(truth_pai, rel=0.05)
    assert res["loo+history"]["pai"] >= res["loo"]
    assert res["local"]["5"]["pai"] <= res["loo+history"]["pai"] + 0.05
    # every event counts: events in cells outside the area are misses for every oracle
    outside = [np.array([3.0, 1.0]) for _ in range(60)]
    counted = oracle_table(
        windows, history / 100, expanding, year_split=30, local_ks=(5,), outside=outside
    )
    shrink = windows.sum() / (windows.sum() + 4.0 * 60)
    for key in ("ceiling", "loo", "long_run"):
        assert counted[key] == pytest.approx(res[key] * shrink), key


def test_pooled_window_cis_rebuild_counts_from_published_scores(tmp_path) -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from bench_backtest import pooled_window_cis

    from models.hotspot_evaluation import ceiling_scores, loo_ceiling_scores
    from models.metrics import hotspot_windows, pooled_hotspot_metrics

    rng = np.random.default_rng(4)
    rate = rng.gamma(0.5, 0.3, 300)
    folders, direct, outsides = [], [], []
    for q, start in enumerate(("2016-01-01", "2016-04-01")):
        origins = pd.date_range(start, periods=30, freq="D")
        labels = pd.concat(
            [
                pd.DataFrame(
                    {"origin": o, "cell_x": np.arange(300), "cell_y": 0,
                     "label_count": rng.poisson(rate)}
                )
                for o in origins
            ],
            ignore_index=True,
        )  # fmt: skip
        keys = labels[["origin", "cell_x", "cell_y"]]
        good = np.tile(rate, 30)
        scores = pd.concat(
            [
                keys.assign(method="xgboost", score=good),
                keys.assign(method="long_run", score=good + rng.normal(0, 0.3, len(good))),
                ceiling_scores(labels),
                loo_ceiling_scores(labels),
            ],
            ignore_index=True,
        )
        # events of the windows in cells outside the scored area: misses for every method
        outside = pd.DataFrame(
            {"origin": origins[::3], "cell_x": 999, "cell_y": 0, "label_count": 2}
        )  # fmt: skip
        folder = tmp_path / f"q{q}"
        folder.mkdir()
        scores.to_parquet(folder / "scores.parquet")
        folders.append(folder)
        outsides.append(outside)
        direct.append(
            hotspot_windows(labels.assign(score=good), fractions=(0.05,), outside=outside)
        )
    assert pooled_window_cis(folders, n_boot=20) == {}  # a run without its outside events
    for folder, outside in zip(folders, outsides, strict=True):
        outside.to_parquet(folder / "events_outside_area.parquet")
    res = pooled_window_cis(folders, n_boot=200)
    assert res["n_windows_pooled"] == 60
    pai = pooled_hotspot_metrics(pd.concat(direct), (0.05,))["pai@0.05"]
    assert res["pai@0.05"]["xgboost"] == pytest.approx(pai)
    lo, hi = res["pai@0.05_ci"]["xgboost"]
    assert lo <= pai <= hi
    assert set(res["model_minus_baseline_pooled"]) == {"long_run"}
    assert res["model_minus_baseline_pooled"]["long_run"]["ci"][0] > 0
    # only the windows from a date on: fewer windows, the same counts
    later = pooled_window_cis(folders, n_boot=200, origins_from="2016-04-11")
    assert later["n_windows_pooled"] == 20
    pai_later = pooled_hotspot_metrics(pd.concat(direct).query("origin >= '2016-04-11'"), (0.05,))
    assert later["pai@0.05"]["xgboost"] == pytest.approx(pai_later["pai@0.05"])
    lo, hi = later["pai@0.05_ci"]["xgboost"]
    assert lo <= pai_later["pai@0.05"] <= hi


def test_a_landslide_outside_the_scored_cells_is_a_miss_for_every_method() -> None:
    cells = pd.DataFrame({"cell_x": [0, 1, 2, 3], "cell_y": [0, 0, 0, 0]})
    hist = _events([(0, 0), (0, 0), (1, 0)], "2009-03-01")
    days = pd.date_range("2010-01-01", periods=10, freq="D").date
    city = pd.DataFrame({"date": days, "p_any": [0.9 if i == 4 else 0.1 for i in range(10)]})
    scores = cell_daily_scores(city.assign(method="sharp"), hist, cells, TZ)
    inside = _events([(0, 0)], "2010-01-05 03:00")
    outside = _events([(9, 9)], "2010-01-05 04:00")  # a cell never scored
    alone = cell_hit_rates(scores, inside, TZ)["sharp"]
    both = cell_hit_rates(scores, pd.concat([inside, outside]), TZ)["sharp"]
    assert alone["st_hit_rate@0.05"] == 1.0 and both["st_hit_rate@0.05"] == 0.5
    assert both["n_events"] == 2 and both["n_events_outside"] == 1
    assert both["day_hit_rate@0.2"] == alone["day_hit_rate@0.2"] / 2


def test_oracles_bench_reads_the_shared_data_folder_from_the_environment(tmp_path) -> None:
    """bench_oracles.py honours RISKWARN_SHARED_DATA like the other benches (it read
    ../shared/data only): pointed at an empty folder it skips instead of running."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "RISKWARN_SHARED_DATA": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, str(root / "bench" / "bench_oracles.py"), "--out", str(tmp_path / "o")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == f"skipped: {tmp_path / 'chicago'} not found", out.stdout


def test_post_only_pools_the_finished_quarters_and_the_report_names_them(tmp_path) -> None:
    import json
    import sys
    from pathlib import Path

    import pandas as pd

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from bench_backtest import QUARTERS, run_daily_quarters
    from report import pooled_daily_section

    def run(hr: float, events: float) -> dict:
        fs = ("0.01", "0.05", "0.1")
        pai = {f"pai@{f}": hr / float(f) for f in fs}
        return {"events": events, "auc": 0.7, **{f"hit_rate@{f}": hr for f in fs}, **pai}

    for (start, _), hr in zip(QUARTERS[:2], (0.3, 0.1), strict=True):
        sub = tmp_path / f"q_{start}"
        sub.mkdir()
        methods = {"xgboost": run(hr, 100), "ceiling": run(0.4, 100), "long_run": run(0.2, 100)}
        (sub / "metrics.json").write_text(
            json.dumps({"methods": methods, "n_origins": 90, "n_active_cells": 10})
        )
        (sub / "bench.json").write_text(json.dumps({"wall_s": 5.0, "command": f"run {start}"}))
        pd.DataFrame({"origin": [start], "cell_x": [0], "cell_y": [0], "method": ["xgboost"],
                      "score": [1.0]}).to_parquet(sub / "scores.parquet")  # fmt: skip
    pooled = run_daily_quarters(tmp_path, finished_only=True)  # runs nothing
    assert pooled["quarters"] == ["2016-01-01", "2016-04-01"] and pooled["n_runs"] == 2
    assert pooled["wall_s"] == 10.0 and pooled["commands"] == ["run 2016-01-01", "run 2016-04-01"]
    text = pooled_daily_section(pooled)
    assert "only the quarters starting 2016-01-01, 2016-04-01 finished" in text
