"""The multi-city section (bench/bench_cities.py) and its place in the models report
(bench/report.py ``--keep``): pure functions on small made-up inputs."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_cities
import report


def _metrics(model: float, base: float, ci: tuple[float, float]) -> dict:
    def fig(v: float) -> dict:
        return {
            "pai@0.01": v,
            "pai@0.05": v,
            "pai@0.1": v,
            "hit_rate@0.01": v / 100,
            "hit_rate@0.05": v / 20,
            "events": 100.0,
        }

    return {
        "methods": {"xgboost": fig(model), "kde": fig(base), "ceiling_loo": fig(6.0),
                    "ceiling": fig(7.0)},
        "best_baseline": "kde",
        "model_minus_baseline": {"kde": {"diff": model - base, "ci": list(ci)}},
        "gap_closed_share": (model - base) / (7.0 - base),
        "gap_closed_share_loo": (model - base) / (6.0 - base),
        "n_origins": 10,
        "n_active_cells": 500,
        "events_outside_area": 7.0,
    }  # fmt: skip


def test_every_city_gets_a_row_and_a_verdict_from_its_paired_ci() -> None:
    rows = [
        bench_cities.city_row(bench_cities.CITIES[0], _metrics(4.0, 3.5, (0.1, 0.9)), {}),
        bench_cities.city_row(bench_cities.CITIES[2], _metrics(3.4, 3.5, (-0.3, 0.1)), {}),
        bench_cities.city_row(bench_cities.CITIES[3], _metrics(3.0, 3.5, (-0.8, -0.2)), {}),
        {"city": "cincinnati", "skipped": "not found"},
    ]
    for r in rows[:3]:
        r.update(wall_s=1.0, command="riskwarn backtest ...")
    text = bench_cities.section_markdown({"cities": rows, "wall_s": 3.0, "command": "x"})
    assert (
        "| chicago | 10 x 500 | 100 (7) | n/m | +0.500 [+0.100, +0.900] | n/m | win at 5% "
        "| 0.14 | 0.20 |" in text
    )
    # DOMAIN.md's share (to the ex-post ceiling) first, the leave-one-out one beside it
    assert "| share of the gap to `ceiling` closed | to `ceiling_loo` |" in text
    assert "| chicago | `ceiling` (ex post) | 7.00 |" in text
    # a tie says where its point lies: behind the baseline on the point is named as such
    assert "vancouver (kept aside)" in text and "| tie, point below at 5% |" in text
    assert "**loss (worse beyond noise)** at 5%" in text
    assert "| cincinnati | skipped: not found |" in text


def test_keep_replaces_only_the_sections_this_run_writes() -> None:
    old = (
        "# Benchmarks: models\n\nold intro\n\n## Chicago\n\nold chicago\n\n"
        "## Hong Kong\n\nold hk\n\n## Tuning\n\nold tuning\n"
    )
    new = "# Benchmarks: models\n\nnew intro\n\n## Hong Kong\n\nnew hk\n\n## Cities\n\nnew\n"
    got = report.merge_kept(old, new)
    assert "old chicago" in got and "new hk" in got and "old hk" not in got
    assert "new intro" in got and "old intro" not in got and "old tuning" in got
    # a new section goes before the next section of the new document the old one has
    # (none here: at the end)
    assert got.index("## Hong Kong") < got.index("## Tuning") < got.index("## Cities")
    both = report.merge_kept(old, "# B\n\n## New\n\nn\n\n## Hong Kong\n\nh\n")
    assert both.index("## Chicago") < both.index("## New") < both.index("## Hong Kong")
    assert report.merge_kept(got, new) == got  # idempotent


def test_a_loss_at_one_fraction_is_worse_beyond_noise_and_the_plain_booster_beside() -> None:
    """Within noise at 5 % but a paired CI below zero at 1 %: the city is 'worse beyond
    noise at 1%' (a 5 %-only verdict would hide it); the plain booster's run (--no-blend)
    gets its own rows, and the default run's chosen blends are listed."""
    diffs = {
        "0.01": {"diff": -2.0, "ci": [-3.0, -1.0]},
        "0.05": {"diff": 0.01, "ci": [-0.05, 0.06]},
        "0.1": {"diff": 0.0, "ci": [-0.02, 0.02]},
    }
    metrics = {**_metrics(8.0, 8.0, (-0.05, 0.06)), "blends": ["hist_count_all x 0.5"]}
    row = bench_cities.city_row(bench_cities.CITIES[2], metrics, {}, diffs)
    row.update(wall_s=1.0, command="riskwarn backtest ...")
    pdiffs = {f: {"diff": 0.1, "ci": [-0.1, 0.3]} for f in bench_cities.FRACTIONS}
    row["plain"] = bench_cities.plain_row(
        _metrics(8.1, 8.0, (-0.1, 0.3)),
        {"wall_s": 2.0, "command": "riskwarn backtest ... --no-blend"},
        pdiffs,
    )
    text = bench_cities.section_markdown({"cities": [row], "wall_s": 3.0, "command": "x"})
    assert "| -2.000 [-3.000, -1.000] | +0.010 [-0.050, +0.060] |" in text
    assert (
        "| **loss (worse beyond noise)** at 1%; tie, point at 0 at 10%; tie, point above at 5% |"
        in text
    )
    assert "| vancouver (kept aside) | xgboost, plain booster | 8.10 |" in text
    assert "| vancouver: plain booster | | | +0.100 [-0.100, +0.300]" in text
    assert "blend chosen at each refit: hist_count_all x 0.5" in text
    assert "--no-blend`" in text


def test_the_default_run_blends_and_the_plain_run_says_no_blend(tmp_path) -> None:
    city = bench_cities.CITIES[3]
    assert "--blend" not in city.args(tmp_path) and "--no-blend" not in city.args(tmp_path)
    assert city.args(tmp_path, plain=True)[-1] == "--no-blend"


def test_a_kept_section_that_counts_every_event_is_not_flagged_as_old_count() -> None:
    """The stale-count note goes only on sections from before the standard count; the
    oracle and simulated-city sections say 'every event of a window counts' mid-sentence."""
    new = "## Oracles\n\n105 windows x 6625 active cells, as every event of a window counts.\n"
    assert report.flag_stale_counting(new) == new
    cities = "## Multi-city\n\nactive area = cells ..., every event of a window counted.\n"
    assert report.flag_stale_counting(cities) == cities
    old = "## Daily\n\n731 origins x 6625 active cells.\n"
    assert report.STALE_COUNT_NOTE in report.flag_stale_counting(old)


def test_the_untouched_windows_say_when_the_ci_includes_zero() -> None:
    res = {
        "pai@0.05": {"long_run": 4.5, "kde": 4.0, "xgboost": 4.56},
        "model_minus_baseline_pooled": {
            "long_run": {"diff": 0.066, "ci": [-0.009, 0.137]},
            "kde": {"diff": 0.6, "ci": [0.5, 0.7]},
        },
    }
    text = report.untouched_verdict(res)
    assert "`long_run`" in text and "+0.066 [-0.009, +0.137]" in text
    assert "**the CI includes zero**" in text and "tie, point above" in text
    res["model_minus_baseline_pooled"]["long_run"]["ci"] = [0.01, 0.1]
    assert "holds on the untouched windows" in report.untouched_verdict(res)
    res["model_minus_baseline_pooled"]["long_run"].update(diff=-0.05, ci=[-0.1, 0.02])
    assert "tie, point below" in report.untouched_verdict(res)
    res["model_minus_baseline_pooled"]["long_run"]["ci"] = [-0.1, -0.01]
    assert "loss: the CI lies below zero" in report.untouched_verdict(res)


def test_a_section_already_flagged_by_hand_is_not_flagged_twice() -> None:
    body = "## Daily\n\n**Old count, old model: counted over the active area only** (x).\n\n6625 active cells.\n"
    assert report.flag_stale_counting(body) == body


def test_the_recorded_command_names_no_worktree() -> None:
    """The command a city's run records is the one a reader runs from the checkout's
    root: configs/sources/..., ../shared/data/..., var/bench/... (it named the worktree
    it ran in: /work/wt/cities/configs/sources/...)."""
    city = bench_cities.CITIES[1]
    args = city.args(bench_cities.ROOT / "var" / "bench" / "cities" / city.name)
    shown = " ".join(map(bench_cities.shown_path, args))
    assert f"--source configs/sources/{city.mapping}.yaml" in shown
    assert f"--events ../shared/data/{city.data}" in shown
    assert f"--out var/bench/cities/{city.name}" in shown
    assert str(bench_cities.ROOT) not in shown
