"""The memory-saving road of hotspot training gives the model the same inputs as the
copying road it replaced (issue 18.3: the city's ``train incidents`` passed 11.5 GB).

The stacked baseline inputs are read out of per-origin arrays instead of a pivot of the
long score table; the extra features are added by position instead of a merge; the
backtest's model frame, its training rows and the fit / early-stopping / calibration
slices are positional slices of the one frame instead of copies. Each is compared here
with the old computation (kept in this file as the reference) on a tiny frame: the same
values, columns, order and index, so the boosters see the same matrices.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.cells import active_cells, assign_cells
from features.incidents import CellFeatureParams, build_cell_features
from models.backtest import KEYS, ModelConfig, label_window_end, split_by_time, training_rows
from models.baselines import HotspotParams, hotspot_baseline_scores
from models.extra_features import ExtraFeatureParams, build_extra_features
from models.grid import history_cube
from models.hotspot_backtest import (
    STACKED_BASELINES,
    HotspotBacktestSpec,
    add_stacked_features,
    event_cells,
    history_start,
    is_origin_cell_grid,
    join_aligned,
    model_rows,
    with_columns,
)
from tests.test_backtest import CRS, TZ, synthetic_events

SPEC = HotspotBacktestSpec(
    crs=CRS,
    cell_size_m=250.0,
    tz=TZ,
    start=pd.Timestamp("2016-01-04"),
    end=pd.Timestamp("2016-03-28"),
    holiday_country="US",
)


def _frame() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DatetimeIndex]:
    ev = assign_cells(synthetic_events(n_cells=8, days=460), CRS, 250.0)
    ev = ev.astype({"cell_x": "int64", "cell_y": "int64"})
    start = pd.Timestamp(SPEC.start).tz_localize(TZ).tz_convert("UTC")
    cells = active_cells(ev, start)
    origins = pd.date_range("2015-08-03", "2016-03-28", freq="7D", tz=TZ).tz_convert("UTC")
    frame = build_cell_features(ev, cells, origins, CellFeatureParams(tz=TZ, holiday_country="US"))
    frame["origin"] = frame["origin"].astype("datetime64[ns, UTC]")
    return frame, ev, cells, origins


def _old_add_stacked_features(frame, events, cells, spec) -> pd.DataFrame:
    """``add_stacked_features`` as it was before the memory work (long scores, pivot,
    merges): the reference."""
    origins = pd.DatetimeIndex(frame["origin"].unique()).sort_values()
    params = HotspotParams(
        cell_size_m=spec.cell_size_m,
        kde_bandwidth_m=spec.baselines.kde_bandwidth_m,
        prospective_bandwidth_m=spec.baselines.prospective_bandwidth_m,
        prospective_time_window_days=spec.baselines.prospective_time_window_days,
        methods=tuple(STACKED_BASELINES),
    )
    cube = history_cube(
        events,
        event_cells(events, cells),
        origins.max(),
        spec.tz,
        start=history_start(origins, params),
    )
    base = hotspot_baseline_scores(cube, list(origins), params)
    wide = base.pivot_table(index=KEYS, columns="method", values="score").reset_index()
    wide = wide.rename(columns=STACKED_BASELINES)
    wide = wide.merge(cells[["cell_x", "cell_y"]], on=["cell_x", "cell_y"])
    frame = frame.merge(wide, on=KEYS, how="left", validate="one_to_one")
    extra = build_extra_features(
        events, cells, origins, ExtraFeatureParams(tz=spec.tz, horizon_days=spec.horizon_days)
    )
    return frame.merge(extra, on=KEYS, how="left", validate="one_to_one")


def test_stacked_and_extra_inputs_equal_the_pivot_and_merge_they_replace() -> None:
    frame, ev, cells, _ = _frame()
    new = add_stacked_features(frame, ev, cells, SPEC)
    old = _old_add_stacked_features(frame, ev, cells, SPEC)
    assert list(new.columns) == list(old.columns)  # column order is the model's input order
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    assert {"hist_kde", "hist_count_all", "hist_prospective"} <= set(new.columns)


def test_a_misaligned_table_is_still_merged_by_key() -> None:
    frame, *_ = _frame()
    more = frame[KEYS].assign(extra=np.arange(len(frame), dtype=np.float32))
    shuffled = more.sample(frac=1.0, random_state=0)
    expected = frame.merge(shuffled, on=KEYS, how="left", validate="one_to_one")
    pd.testing.assert_frame_equal(join_aligned(frame, shuffled), expected, check_exact=True)
    pd.testing.assert_frame_equal(join_aligned(frame, more), expected, check_exact=True)


def test_the_model_frame_is_the_frame_itself_when_sorted() -> None:
    frame, _, _, origins = _frame()
    train, evals = origins[:-4], origins[-6:]
    old = (
        pd.concat([frame[frame["origin"].isin(train)], frame[frame["origin"].isin(evals)]])
        .drop_duplicates(KEYS)
        .sort_values(KEYS, kind="stable", ignore_index=True)
    )
    new = model_rows(frame, train, evals)
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    assert np.shares_memory(new["count_7d"].to_numpy(), frame["count_7d"].to_numpy())
    # an unsorted frame takes the old road and gives the same rows
    pd.testing.assert_frame_equal(
        model_rows(frame.sample(frac=1.0, random_state=1), train, evals), old, check_exact=True
    )


def test_training_rows_and_time_slices_are_the_masked_rows_without_copies() -> None:
    frame, _, _, origins = _frame()
    config = ModelConfig(horizon_days=7, tz=TZ, train_window_days=140)
    refit = origins[-3]
    label_end = label_window_end(frame["origin"], 7, TZ)
    mask = (label_end <= refit) & (frame["origin"] >= refit - pd.Timedelta(days=140))
    rows = training_rows(frame, refit, config)
    pd.testing.assert_frame_equal(rows, frame.loc[mask], check_exact=True)
    assert np.shares_memory(rows["count_7d"].to_numpy(), frame["count_7d"].to_numpy())
    fit, es, cal = split_by_time(rows, 3, 2)
    o = np.sort(rows["origin"].unique())
    pd.testing.assert_frame_equal(fit, rows[rows["origin"] < o[-5]], check_exact=True)
    pd.testing.assert_frame_equal(
        es, rows[(rows["origin"] >= o[-5]) & (rows["origin"] < o[-2])], check_exact=True
    )
    pd.testing.assert_frame_equal(cal, rows[rows["origin"] >= o[-2]], check_exact=True)
    # unsorted rows: the masked road, same rows per slice
    shuffled = rows.sample(frac=1.0, random_state=0)
    for a, b in zip(split_by_time(shuffled, 3, 2), (fit, es, cal), strict=True):
        pd.testing.assert_frame_equal(a.sort_index(), b.sort_index(), check_exact=True)


def test_boosters_from_origin_blocks_equal_the_dmatrix_boosters(monkeypatch) -> None:
    """The QuantileDMatrix fed in blocks of whole origins grows the same trees, stops at
    the same round and predicts the same margins as the DMatrix of every row at once."""
    import xgboost as xgb

    import models.backtest as bt
    import models.matrices as mx
    from models.hotspot_backtest import build_model_frame

    frame, ev, cells, origins = _frame()
    frame = build_model_frame(ev, cells, origins, SPEC)
    features = [c for c in frame.columns if c not in KEYS and not c.startswith("label_")]
    config = ModelConfig(horizon_days=7, tz=TZ, max_rounds=30, early_stopping_rounds=5)
    rows = training_rows(frame, origins[-1], replace_window(config))
    fit, es, _ = split_by_time(rows, 4, 2)
    for objective in ("rank:pairwise", "count:poisson"):
        cfg = ModelConfig(objective=objective, max_rounds=30, early_stopping_rounds=5)
        params = bt._xgb_params(cfg, cfg.grid[1], features, int(fit.groupby("origin").size().max()))
        params.pop("eval_metric", None)
        params["disable_default_eval_metric"] = 1
        monkeypatch.setattr(mx, "QUANTILE_BLOCK_ROWS", 3 * len(cells))  # several blocks
        new = bt.train_booster(params, fit, es, features, cfg)
        # the same booster from an external-memory fit matrix (the city's size)
        monkeypatch.setattr(mx, "EXTERNAL_MEMORY_VALUES", 1)
        ext = bt.train_booster(params, fit, es, features, cfg)
        monkeypatch.setattr(mx, "EXTERNAL_MEMORY_VALUES", 1 << 25)
        assert isinstance(mx.quantile_dmatrix(fit, features, objective, params), xgb.DMatrix)
        assert ext.best_iteration == new.best_iteration
        assert ext.save_raw("json") == new.save_raw("json")
        old = xgb.train(
            params,
            mx._dmatrix(fit, features, objective),
            num_boost_round=cfg.max_rounds,
            evals=[(mx._dmatrix(es, features, objective), "es")],
            custom_metric=bt.top_share_hit_rate_metric(es, cfg.top_fraction),
            maximize=True,
            early_stopping_rounds=cfg.early_stopping_rounds,
            verbose_eval=False,
        )
        assert new.best_iteration == old.best_iteration
        assert new.save_raw("json") == old.save_raw("json")
        d = mx._dmatrix(es, features, objective)
        np.testing.assert_array_equal(
            new.predict(d, output_margin=True), old.predict(d, output_margin=True)
        )
        # margins predicted in blocks of rows equal those of one matrix of every row
        model = bt.FittedModel(new, None, features, params, new.best_iteration, origins[-1], 0)  # type: ignore[arg-type]
        whole = new.predict(d, iteration_range=(0, new.best_iteration + 1), output_margin=True)
        monkeypatch.setattr(bt, "PREDICT_BLOCK_ROWS", 7)
        np.testing.assert_array_equal(model.margin(es), whole)
        monkeypatch.setattr(bt, "PREDICT_BLOCK_ROWS", 1 << 19)


def replace_window(config: ModelConfig) -> ModelConfig:
    from dataclasses import replace

    return replace(config, train_window_days=3650)


def test_the_early_stopping_metric_by_origin_blocks_equals_the_lexsort() -> None:
    """The per-origin partition (rows sorted by origin, as every fit gives them) finds the
    same top rows as the lexsort over all rows, ties to the earlier row included."""
    from models.backtest import top_share_hit_rate_metric

    rng = np.random.default_rng(3)
    origins = pd.date_range("2024-01-01", periods=6, freq="7D", tz="UTC")
    frame = pd.DataFrame(
        {
            "origin": np.repeat(origins, [50, 120, 7, 300, 1, 90]),
            "label_count": rng.poisson(0.3, 568).astype(float),
        }
    )
    fast = top_share_hit_rate_metric(frame, 0.05)
    group = pd.factorize(frame["origin"], sort=True)[0]
    sizes = np.bincount(group)
    k = np.maximum(1, np.round(0.05 * sizes)).astype(int)
    counts = frame["label_count"].to_numpy(float)
    for scores in (
        rng.normal(size=568),
        np.round(rng.normal(size=568), 1),  # many ties
        np.zeros(568),
    ):
        p = scores.astype(np.float32)
        order = np.lexsort((-p, group))
        g = group[order]
        rank = np.arange(len(order)) - np.searchsorted(g, g, side="left")
        expected = counts[order][rank < k[g]].sum() / counts.sum()
        assert fast(p, None) == ("hit_rate@0.05", expected)


def test_negative_subsampling_drops_only_fit_rows_without_events() -> None:
    """A training frame built with case-control subsampling holds, at origins before the
    cut, every row with an event and a deterministic share of the others; at and after
    the cut every row; and each kept row has exactly the values it has in the full frame
    (the inputs do not depend on which rows are kept)."""
    from dataclasses import replace

    from models.case_control import sampling_cut
    from models.hotspot_backtest import build_model_frame, origins_for

    ev = assign_cells(synthetic_events(n_cells=8, days=460), CRS, 250.0)
    ev = ev.astype({"cell_x": "int64", "cell_y": "int64"})
    start = pd.Timestamp(SPEC.start).tz_localize(TZ).tz_convert("UTC")
    cells = active_cells(ev, start)
    spec = replace(SPEC, model=replace(SPEC.model, tz=TZ, train_window_days=182))
    evals, train = origins_for(spec)
    assert sampling_cut(evals, train, spec.model) is None  # off by default
    cut = sampling_cut(evals, train, replace(spec.model, negative_rate=0.3))
    assert cut is not None
    usable = train[label_window_end(pd.Series(train), 7, TZ).to_numpy() <= evals.min()]
    k = spec.model.es_origins + spec.model.cal_origins
    assert (usable >= cut).sum() == k  # the first refit's validation origins stay whole
    origins = evals.union(train)
    full = build_model_frame(ev, cells, origins, replace(spec, sample_negatives_before=None))
    rate = replace(spec, model=replace(spec.model, negative_rate=0.3))
    part = build_model_frame(ev, cells, origins, replace(rate, sample_negatives_before=cut))
    again = build_model_frame(ev, cells, origins, replace(rate, sample_negatives_before=cut))
    pd.testing.assert_frame_equal(part, again)  # deterministic
    assert list(part.columns) == list(full.columns)
    merged = full.merge(part[KEYS].assign(kept=True), on=KEYS, how="left")
    kept = merged["kept"].fillna(False).to_numpy(bool)
    early = (full["origin"] < cut).to_numpy()
    events = (full["label_count"] > 0).to_numpy()
    assert kept[~early].all() and kept[events].all()
    drawn = early & ~events
    assert 0.15 < kept[drawn].mean() < 0.45  # about the rate
    expected = full.loc[kept].reset_index(drop=True)
    pd.testing.assert_frame_equal(part, expected)


def test_non_ranking_objectives_weigh_the_subsampled_rows() -> None:
    """With ``count:poisson`` the kept rows without events carry weight 1 / rate (the
    case-control correction), every other row weight 1; ranking needs no weights."""
    from dataclasses import replace

    from models.case_control import negative_sampler

    frame = pd.DataFrame(
        {
            "origin": pd.DatetimeIndex(["2024-01-01"] * 4 + ["2024-03-01"] * 2, tz="UTC"),
            "cell_x": [0, 1, 2, 3, 0, 1],
            "cell_y": [0, 0, 0, 0, 0, 0],
            "label_count": [1, 0, 0, 0, 0, 2],
        }
    )
    base = replace(SPEC, sample_negatives_before=pd.Timestamp("2024-02-01", tz="UTC"))
    poisson = replace(base, model=replace(base.model, objective="count:poisson", negative_rate=0.5))
    keep = negative_sampler(poisson.model, poisson.sample_negatives_before)
    assert keep is not None
    out = keep(frame)
    pairs = zip(out["origin"], out["cell_x"], strict=True)
    w = dict(zip(pairs, out["label_weight"], strict=True))
    jan, mar = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-03-01", tz="UTC")
    assert w[(jan, 0)] == 1.0 and w[(mar, 0)] == 1.0 and w[(mar, 1)] == 1.0
    assert all(v == 2.0 for (o, x), v in w.items() if o == jan and x != 0)
    cut = base.sample_negatives_before
    ranked = negative_sampler(replace(base.model, negative_rate=0.5), cut)
    assert ranked is not None and "label_weight" not in ranked(frame).columns
    assert negative_sampler(replace(base.model, negative_rate=None), cut) is None


def test_with_columns_is_assign_without_copying_the_arrays() -> None:
    frame, *_ = _frame()
    added = {
        "a": np.arange(len(frame), dtype=np.float32),
        "b": np.linspace(0.0, 1.0, len(frame)),
    }
    new = with_columns(frame, added)
    pd.testing.assert_frame_equal(new, frame.assign(**added), check_exact=True)
    assert all(np.shares_memory(new[c].to_numpy(), v) for c, v in added.items())
    assert np.shares_memory(new["count_7d"].to_numpy(), frame["count_7d"].to_numpy())
    # a name that is already a column: replaced in place, as assign does
    again = with_columns(new, {"a": np.zeros(len(frame), dtype=np.float32)})
    assert list(again.columns) == list(new.columns)
    assert (again["a"] == 0).all()


def test_the_stacked_frame_holds_its_inputs_once() -> None:
    """The city's ``train incidents`` held the 32 ``lr_*`` columns twice while they were
    joined (``assign`` copied them: 1.8 GB) and the cell features were the same arrays
    throughout: the joined frame shares the cell features' arrays."""
    frame, ev, cells, origins = _frame()
    assert is_origin_cell_grid(frame, origins, cells)
    new = add_stacked_features(frame, ev, cells, SPEC)
    for c in ("count_7d", "decayed_count_hl14d", "label_count"):
        assert np.shares_memory(new[c].to_numpy(), frame[c].to_numpy())
    # a frame not in grid order goes through the join by key (same values)
    shuffled = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    assert not is_origin_cell_grid(shuffled, origins, cells)
    assert not is_origin_cell_grid(frame.iloc[1:], origins, cells)


def test_an_external_memory_fit_matrix_with_missing_values_grows_the_same_booster() -> None:
    """The city's fit rows hold missing values (XGBoost then keeps a 4-byte bin index per
    value in memory); the external-memory matrix gives the same booster, byte for byte."""
    import xgboost as xgb

    import models.backtest as bt
    import models.matrices as mx

    rng = np.random.default_rng(5)
    n_origins, n_cells, n_feat = 30, 400, 6
    origin = np.repeat(pd.date_range("2024-01-01", periods=n_origins, freq="7D", tz="UTC"), n_cells)
    x = rng.gamma(1.0, 2.0, size=(n_origins * n_cells, n_feat)).astype(np.float32)
    x[rng.random(x.shape) < 0.15] = np.nan
    features = [f"count_{i}" for i in range(n_feat)]
    frame = pd.DataFrame(x, columns=features).assign(
        origin=origin,
        cell_x=np.tile(np.arange(n_cells), n_origins),
        cell_y=0,
        label_count=rng.poisson(np.nan_to_num(x[:, 0]) * 0.3).astype(np.int32),
    )
    frame["label_any"] = (frame["label_count"] > 0).astype(np.int8)
    fit, es = frame.iloc[: 24 * n_cells], frame.iloc[24 * n_cells :]
    for objective in ("rank:pairwise", "count:poisson"):
        cfg = ModelConfig(objective=objective, max_rounds=25, early_stopping_rounds=5)
        params = bt._xgb_params(cfg, cfg.grid[1], features, n_cells)
        params.pop("eval_metric", None)
        params["disable_default_eval_metric"] = 1
        d_fit = mx.quantile_dmatrix(fit, features, objective, params, block_rows=3 * n_cells)
        d_ext = mx._external_memory_dmatrix(fit, features, objective, params, 3 * n_cells)
        assert isinstance(d_ext, xgb.ExtMemQuantileDMatrix)
        boosters = []
        for d in (d_fit, d_ext):
            d_es = mx.quantile_dmatrix(es, features, objective, params, ref=d)
            boosters.append(bt._grow(params, d, d_es, es, cfg))
        assert boosters[0].best_iteration == boosters[1].best_iteration
        assert boosters[0].save_raw("json") == boosters[1].save_raw("json")
