"""One scored area for training, backtest refits, evaluation and serving: a hotspot row
(origin, cell) exists only when the cell holds an event known before the origin
(``features.cells.ActiveArea``).

The backtest used to pick its cells once (those active at its start) and build rows for
them at every origin, the training origins before the start included: a row existed
because its cell had an event later, often in that row's own label window (a selection
on the future that serving, which scores the cells active at each origin, never makes),
and cells first seen after the start were never scored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.cells import CELL_KEYS, ActiveArea, active_cells, assign_cells, visible_mask
from models.backtest import KEYS, ModelConfig
from models.hotspot_backtest import HotspotBacktestSpec, run_hotspot_backtest
from riskwarn.geo import unproject
from testkit.synthetic_hotspots import CRS, TZ, synthetic_events

TINY = ModelConfig(
    train_window_days=120,
    es_origins=3,
    cal_origins=3,
    max_rounds=10,
    early_stopping_rounds=5,
    grid=({"max_depth": 2, "learning_rate": 0.3, "min_child_weight": 1.0},),
)
# two cells away from the synthetic grid: the first first seen inside the label window of
# a training origin before the start, the second first seen after the start
EARLY_CELL, LATE_CELL = (1830, 18430), (1840, 18440)
EARLY_FIRST = pd.Timestamp("2015-12-18 10:00", tz=TZ)
LATE_FIRST = pd.Timestamp("2016-01-20 10:00", tz=TZ)


def local(day: str) -> pd.Timestamp:
    return pd.Timestamp(day, tz=TZ).tz_convert("UTC")


def _new_cell_events(cell: tuple[int, int], first: pd.Timestamp, n: int) -> pd.DataFrame:
    t = pd.DatetimeIndex([first + pd.Timedelta(days=4 * k) for k in range(n)])
    x = np.full(n, (cell[0] + 0.5) * 250.0)
    y = np.full(n, (cell[1] + 0.5) * 250.0)
    lon, lat = unproject(x, y, CRS)
    return pd.DataFrame(
        {
            "occurred_at": t.tz_convert("UTC"),
            "lon": lon,
            "lat": lat,
            "category_group": "violent",
            "admin_code": "east",
        }
    )


def _events() -> pd.DataFrame:
    return pd.concat(
        [
            synthetic_events(seed=1, n_cells=6, days=460),
            _new_cell_events(EARLY_CELL, EARLY_FIRST, 12),
            _new_cell_events(LATE_CELL, LATE_FIRST, 8),
        ],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def result():
    spec = HotspotBacktestSpec(
        holiday_country="US",
        crs=CRS,
        cell_size_m=250,
        tz=TZ,
        start=pd.Timestamp("2016-01-01"),
        end=pd.Timestamp("2016-02-26"),
        model=TINY,
    )
    return run_hotspot_backtest(_events(), spec)


def _rows_of(frame: pd.DataFrame, cell: tuple[int, int]) -> pd.DataFrame:
    return frame[(frame["cell_x"] == cell[0]) & (frame["cell_y"] == cell[1])]


def test_no_training_row_for_a_cell_before_its_first_known_event(result) -> None:
    """Leakage by construction: the early cell's first event falls in the label window of
    the training origin before it; that origin (and every earlier one) has no row of it."""
    frame = result.frame
    early = _rows_of(frame, EARLY_CELL)
    assert len(early), "the early cell is scored once its first event is known"
    first_utc = EARLY_FIRST.tz_convert("UTC")
    assert (pd.DatetimeIndex(early["origin"]) > first_utc).all()
    # the origin whose window holds the first event exists in the frame (other cells)
    window_origins = [
        o
        for o in pd.DatetimeIndex(frame["origin"].unique())
        if o <= first_utc < o + pd.Timedelta(days=7)
    ]
    assert window_origins
    assert not early["origin"].isin(window_origins).any()
    # every row of the frame: its cell holds an event known before its origin
    area = ActiveArea(_located())
    assert area.mask(frame["origin"], frame["cell_x"], frame["cell_y"]).all()


def _located() -> pd.DataFrame:
    ev = assign_cells(_events(), CRS, 250).dropna(subset=CELL_KEYS)
    return ev.astype({"cell_x": "int64", "cell_y": "int64"})


def test_a_cell_first_seen_after_the_start_is_scored_from_then_on(result) -> None:
    """Evaluation scores at each origin the cells active then, as serving does; the late
    cell's first event (no earlier one: not scored at that origin) is a miss."""
    first_utc = LATE_FIRST.tz_convert("UTC")
    for method, g in result.scores.groupby("method"):
        late = _rows_of(g, LATE_CELL)
        expected = [o for o in result.eval_origins if o > first_utc]
        assert sorted(pd.DatetimeIndex(late["origin"])) == expected, method
    missed = _rows_of(result.outside, LATE_CELL)
    holding_first = [o for o in result.eval_origins if o <= first_utc < o + pd.Timedelta(days=7)]
    assert set(pd.DatetimeIndex(missed["origin"])) >= set(holding_first)


def test_every_method_is_judged_on_the_same_rows(result) -> None:
    keys = {m: set(map(tuple, g[KEYS].to_numpy())) for m, g in result.scores.groupby("method")}
    model = keys.pop("xgboost")
    assert keys and all(k == model for k in keys.values())


def test_every_event_of_a_window_is_counted(result) -> None:
    """Hit rate and PAI denominators hold every located event of the evaluation windows
    (local days [origin, origin + 7)): scored cells' labels plus the misses outside."""
    ev = _located()
    local_day = pd.DatetimeIndex(ev["occurred_at"]).tz_convert(TZ).normalize()
    total = 0
    for o in result.eval_origins:
        d0 = o.tz_convert(TZ).normalize()
        total += int(((local_day >= d0) & (local_day < d0 + pd.DateOffset(days=7))).sum())
    assert result.metrics["methods"]["xgboost"]["events"] == total
    assert result.metrics["methods"]["long_run"]["events"] == total


def test_training_and_serving_build_the_same_rows_for_an_origin(result) -> None:
    """Train/serve agreement: the backtest's rows at a training origin before the start
    (and at an evaluation origin) are exactly the rows serving builds there
    (models.frames.hotspot_frame on the events before the origin, as
    riskwarn.serving_frames.cell_scoring_frame)."""
    from models.frames import CityGrid, hotspot_frame
    from riskwarn import domains

    ev = _events()
    frame = result.frame
    origins = pd.DatetimeIndex(frame["origin"].unique()).sort_values()
    after_early = [o for o in origins if o > EARLY_FIRST.tz_convert("UTC")]
    checked = [
        [o for o in origins if o < EARLY_FIRST.tz_convert("UTC")][-1],  # training origin
        after_early[0],
        result.eval_origins[-1],
    ]
    for origin in checked:
        served = hotspot_frame(
            domains.get("incidents"),
            ev[ev["occurred_at"] < origin],
            pd.DatetimeIndex([origin]),
            CityGrid(CRS, 250, TZ),
        )
        trained = frame[frame["origin"] == origin]
        assert set(map(tuple, trained[CELL_KEYS].to_numpy())) == set(
            map(tuple, served[CELL_KEYS].to_numpy())
        ), origin


def test_active_area_is_the_visible_mask_rule() -> None:
    """ActiveArea.cells(t) = the cells of the rows visible before t (report times and
    corrected records' versions), at every t; mask() agrees row by row."""
    rng = np.random.default_rng(0)
    n = 1500
    t0 = pd.Timestamp("2020-01-01", tz="UTC")
    ev = pd.DataFrame(
        {
            "cell_x": rng.integers(0, 25, n),
            "cell_y": rng.integers(0, 25, n),
            "occurred_at": t0 + pd.to_timedelta(rng.integers(0, 400 * 24, n), unit="h"),
        }
    )
    ev["reported_at"] = ev["occurred_at"] + pd.to_timedelta(rng.integers(0, 720, n), unit="h")
    nat = pd.Series(pd.NaT, index=ev.index, dtype="datetime64[ns, UTC]")
    ev["known_from"], ev["known_to"] = nat, nat.copy()
    ev.loc[rng.random(n) < 0.05, "known_from"] = t0 + pd.Timedelta(days=100)
    sup = rng.random(n) < 0.1
    ev.loc[sup, "known_to"] = ev.loc[sup, "occurred_at"] + pd.Timedelta(days=50)
    area = ActiveArea(ev)
    for d in range(0, 450, 9):
        t = t0 + pd.Timedelta(days=d)
        seen = ev.loc[visible_mask(ev, t), CELL_KEYS].drop_duplicates()
        want = seen.astype("int64").sort_values(CELL_KEYS).reset_index(drop=True)
        pd.testing.assert_frame_equal(area.cells(t), want)
        pd.testing.assert_frame_equal(active_cells(ev, t), want)
        grid = pd.MultiIndex.from_product([range(25), range(25)]).to_frame(index=False)
        got = area.mask(t, grid[0].to_numpy(), grid[1].to_numpy())
        keys = set(map(tuple, want.to_numpy()))
        assert list(got) == [(a, b) in keys for a, b in grid.to_numpy()]
