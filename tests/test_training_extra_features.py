"""The long-memory inputs built from prefix sums at the requested cells only (issue 18.3:
time and memory of training) equal the whole-raster computation they replaced, bit for
bit (the old computation is kept in this file as the reference)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from models.extra_features import (
    ExtraFeatureParams,
    _grid,
    _local_day,
    _slug,
    _window,
    availability_day,
    build_extra_features,
    night_mask,
    prefix_rasters,
)

TZ = "Asia/Shanghai"
PARAMS = ExtraFeatureParams(tz=TZ)


def _old_prefix_rasters(day, flat, weight, query_days, n):
    order = np.argsort(day, kind="stable")
    day, flat, weight = day[order], flat[order], weight[order]
    q_sorted = np.unique(query_days)
    ends = np.searchsorted(day, q_sorted, side="left")
    out_sorted = np.zeros((len(q_sorted), n), dtype=np.float64)
    acc = np.zeros(n, dtype=np.float64)
    prev = 0
    for i, end in enumerate(ends):
        if end > prev:
            acc += np.bincount(flat[prev:end], weights=weight[prev:end], minlength=n)
            prev = end
        out_sorted[i] = acc
    return out_sorted[np.searchsorted(q_sorted, query_days)]


def _old_build(events, cells, origins, params) -> pd.DataFrame:
    """``_build_extra_features`` before the change: every input from whole rasters."""
    origins_idx = pd.DatetimeIndex(origins)
    grid = _grid(events, cells)
    n = grid.nx * grid.ny
    day = availability_day(events, params.tz)
    ok = day >= 0
    ev = events.loc[ok]
    day = day[ok]
    flat = grid.flat(ev["cell_x"].to_numpy(), ev["cell_y"].to_numpy())
    o_day = _local_day(pd.Series(origins_idx), params.tz)
    cell_pos = grid.flat(cells["cell_x"].to_numpy(), cells["cell_y"].to_numpy())
    ones = np.ones(len(ev))

    def cum_fn(weight):
        return lambda q: _old_prefix_rasters(day, flat, weight, q, n)

    cols = {}

    def put(name, raster):
        cols[name] = raster[:, cell_pos].astype(np.float32).ravel()

    total = cum_fn(ones)
    all_hist = total(o_day)
    put("lr_count_all", all_hist)
    for years in params.window_years:
        put(f"lr_count_{years}y", _window(total, o_day, o_day - 365 * years))
    pad, h = params.season_pad_days, params.horizon_days
    season = np.zeros_like(all_hist)
    for years in (1, 2):
        lo = o_day - 364 * years - pad
        hi = np.minimum(o_day - 364 * years + h + pad, o_day)
        w = _window(total, hi, lo)
        put(f"lr_season_{years}y", w)
        season += w
    put("lr_season_share", season / np.maximum(all_hist, 1.0))
    ref = int(o_day.max())
    decayed_1y = None
    for hl in params.half_lives_days:
        tau = hl / np.log(2.0)
        w = np.exp((day - ref) / tau)
        dec = cum_fn(w)(o_day) * np.exp(-(o_day - ref) / tau)[:, None]
        put(f"lr_decayed_hl{int(hl)}d", dec)
        if decayed_1y is None:
            decayed_1y = dec
    for name, raster in (("all", all_hist), ("hl1y", decayed_1y)):
        maps = raster.reshape(len(o_day), grid.nx, grid.ny)
        for s in params.smooth_sigmas_cells:
            sm = ndimage.gaussian_filter(maps, sigma=(0, s, s), mode="constant", truncate=3.0)
            put(f"lr_smooth_{name}_s{s:g}", sm.reshape(len(o_day), n))
    denom = np.maximum(all_hist, 1.0)
    lt = ev[params.location_column].astype("string").fillna("").str.lower().to_numpy()
    for loc in params.locations:
        cnt = cum_fn((lt == loc).astype(float))(o_day)
        put(f"lr_count_loc_{_slug(loc)}", cnt)
        put(f"lr_share_loc_{_slug(loc)}", cnt / denom)
    night = cum_fn(night_mask(ev, params.tz).astype(float))(o_day)
    put("lr_count_night", night)
    put("lr_share_night", night / denom)
    keys = {
        "origin": np.repeat(origins_idx, len(cells)),
        "cell_x": np.tile(cells["cell_x"].to_numpy(), len(o_day)),
        "cell_y": np.tile(cells["cell_y"].to_numpy(), len(o_day)),
    }
    return pd.DataFrame({**keys, **cols})


def _events(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    occurred = pd.Timestamp("2021-01-01", tz="UTC") + pd.to_timedelta(
        rng.uniform(0, 3 * 365 * 86400, n), unit="s"
    )
    delay = pd.to_timedelta(rng.exponential(3 * 86400, n), unit="s")
    reported = pd.Series(occurred + delay)
    reported[rng.random(n) < 0.1] = pd.NaT  # unknown report times
    locs = np.array([*PARAMS.locations, "other", None], dtype=object)
    # skewed cells (a few busy ones), on a 40 x 30 box
    cx = np.minimum(rng.geometric(0.08, n), 39)
    cy = rng.integers(0, 30, n)
    return pd.DataFrame(
        {
            "occurred_at": pd.DatetimeIndex(occurred),
            "reported_at": reported,
            "cell_x": cx.astype("int64"),
            "cell_y": cy.astype("int64"),
            "location_type": locs[rng.integers(0, len(locs), n)],
        }
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_inputs_at_the_cells_equal_the_whole_raster_computation(seed: int) -> None:
    ev = _events(6000, seed)
    # every cell with an event plus some with none (inside and beside the events' box)
    cells = (
        pd.concat([ev[["cell_x", "cell_y"]], pd.DataFrame({"cell_x": [45, 2], "cell_y": [31, 29]})])
        .drop_duplicates()
        .sort_values(["cell_x", "cell_y"], ignore_index=True)
        .iloc[::2]  # not every event cell is requested
        .reset_index(drop=True)
    )
    origins = pd.date_range("2022-06-06", "2023-12-25", freq="7D", tz=TZ).tz_convert("UTC")
    new = build_extra_features(ev, cells, origins, PARAMS)
    old = _old_build(ev, cells, origins, PARAMS)
    assert list(new.columns) == list(old.columns)
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    assert (new["lr_count_loc_street"] > 0).any() and (new["lr_smooth_all_s4"] > 0).any()


def test_prefix_rasters_of_sorted_unique_days_need_no_gather() -> None:
    rng = np.random.default_rng(3)
    day, flat = rng.integers(0, 50, 500), rng.integers(0, 20, 500)
    w = rng.random(500)
    for q in (np.arange(0, 60, 7), np.array([30, 7, 30, 55])):
        np.testing.assert_array_equal(
            prefix_rasters(day, flat, w, q, 20), _old_prefix_rasters(day, flat, w, q, 20)
        )
