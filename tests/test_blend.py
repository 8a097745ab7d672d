"""The blend of the booster with a stacked baseline (issue 17.2: never worse than the best
baseline by more than noise): chosen on validation rows only, weight 0 when the booster
ranks best, towards the baseline when the baseline ranks better."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from models.backtest import Blend, FittedModel, ModelConfig, choose_blend


class _Margins(FittedModel):
    """A fitted model whose booster margin is a given column (the blend reads only it)."""

    def __init__(self, column: str) -> None:
        self.column = column
        self.blend = None

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[self.column].to_numpy(float)


def _rows(seed: int = 0, n_origins: int = 6, n_cells: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.5, 2.0, n_cells)
    frames = []
    for o in range(n_origins):
        frames.append(
            pd.DataFrame(
                {
                    "origin": pd.Timestamp("2020-01-06", tz="UTC") + pd.Timedelta(weeks=o),
                    "cell_x": np.arange(n_cells),
                    "cell_y": 0,
                    "label_count": rng.poisson(rate),
                    "hist_count_all": rng.poisson(rate * 50),
                    "useless": rng.random(n_cells),
                    "good": np.log(rate) + rng.normal(0, 0.01, n_cells),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_a_useless_booster_is_blended_towards_the_baseline() -> None:
    val = _rows()
    blend = choose_blend(_Margins("useless"), val, ["useless", "hist_count_all"], 0.05)
    assert isinstance(blend, Blend) and blend.feature == "hist_count_all"
    assert blend.weight >= 0.75


def test_the_chosen_blend_is_no_worse_on_validation_than_either_part() -> None:
    from models.backtest import _pai_on

    val = _rows(1)
    model = _Margins("good")
    model.blend = choose_blend(model, val, ["good", "hist_count_all"], 0.05)
    assert model.blend is not None
    chosen = _pai_on(val, model.raw(val), 0.05)
    assert chosen >= _pai_on(val, val["good"].to_numpy(float), 0.05) - 1e-9
    assert chosen >= _pai_on(val, val["hist_count_all"].to_numpy(float), 0.05) - 1e-9
    if model.blend.weight == 0:  # weight 0: exactly the booster's margin
        np.testing.assert_array_equal(model.raw(val), val["good"].to_numpy(float))


def test_no_stacked_input_means_no_blend() -> None:
    assert choose_blend(_Margins("useless"), _rows(), ["useless"], 0.05) is None


def test_the_blend_is_chosen_on_every_reported_fraction_not_on_5_percent_alone() -> None:
    """A booster that finds the top 5 % of cells but orders them badly inside (its top 1 %
    is the 5 % set's weakest cells) ties with itself at PAI@5% for every weight, so a 5 %
    criterion keeps it alone (weight 0, ties to the smaller); the 1/5/10 % criterion
    (``ModelConfig.blend_fractions``, geometric mean of the three PAI) blends in the
    baseline, which orders the top right: better at 1 %, better on the criterion, and
    within 1 % of the booster at 5 % (the criterion may trade a little there)."""
    from models.backtest import ModelConfig, _pai_on

    val = _rows(2, n_origins=8, n_cells=1000)
    rate = np.log1p(val["hist_count_all"].to_numpy(float))
    ranks = val.groupby("origin")["hist_count_all"].rank(ascending=False, method="first")
    top5 = ranks <= 50
    # inside the top 5 %: reversed order; outside it: the true order, all below the top 5 %
    val["inverted_top"] = np.where(top5, 100.0 + (50 - (51 - ranks)), rate - 100.0)
    model = _Margins("inverted_top")
    fractions = ModelConfig().blend_fractions
    assert fractions == (0.01, 0.05, 0.1)
    one = choose_blend(model, val, ["inverted_top", "hist_count_all"], 0.05)
    assert one is not None and one.weight == 0.0
    model.blend = choose_blend(model, val, ["inverted_top", "hist_count_all"], fractions)
    assert model.blend is not None and model.blend.weight > 0
    alone = val["inverted_top"].to_numpy(float)
    blended = model.raw(val)
    gm = [
        np.exp(np.mean([np.log(_pai_on(val, s, f)) for f in fractions])) for s in (blended, alone)
    ]
    assert gm[0] > gm[1]
    assert _pai_on(val, blended, 0.01) > 1.1 * _pai_on(val, alone, 0.01)
    assert _pai_on(val, blended, 0.05) >= 0.99 * _pai_on(val, alone, 0.05)


def _weekly(n_origins: int = 30, n_cells: int = 60, seed: int = 3) -> pd.DataFrame:
    """Weekly rows whose booster inputs are weak and whose stacked input is informative."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.7, 1.0, n_cells)
    out = []
    for k, o in enumerate(pd.date_range("2020-01-06", periods=n_origins, freq="7D", tz="UTC")):
        out.append(
            pd.DataFrame(
                {
                    "origin": o,
                    "cell_x": np.arange(n_cells),
                    "cell_y": 0,
                    "noise": rng.random(n_cells),
                    "hist_count_all": rng.poisson(rate * (20 + k)).astype(float),
                    "label_count": rng.poisson(rate),
                }
            )
        )
    f = pd.concat(out, ignore_index=True)
    f["label_any"] = (f["label_count"] > 0).astype(int)
    return f


def test_the_default_blend_sees_only_labels_complete_before_the_refit(monkeypatch) -> None:
    """No leakage, by construction: the default model blends (``ModelConfig().blend``), the
    blend is chosen on rows whose label windows ended before the refit origin, and
    scrambling every label not yet complete at the first forecast changes neither the
    chosen blend nor any forecast."""
    from models import backtest as bt

    cfg = replace(
        ModelConfig(),
        horizon_days=7,
        es_origins=3,
        cal_origins=3,
        max_rounds=15,
        refit_every_days=14,
        grid=({"max_depth": 2, "learning_rate": 0.3, "min_child_weight": 1.0},),
        base_params={**ModelConfig().base_params, "nthread": 1},
    )
    assert ModelConfig().blend and cfg.blend
    f = _weekly()
    evals = sorted(f["origin"].unique())[24:28]
    seen: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    real = bt.choose_blend

    def spy(model, val, features, fraction):  # records what the chooser is given
        seen.append((val["origin"].max(), model.trained_until))
        return real(model, val, features, fraction)

    monkeypatch.setattr(bt, "choose_blend", spy)
    features = ["noise", "hist_count_all"]
    a = bt.run_model_backtest(f, evals, features, cfg)
    assert len(seen) == len(a.fits) >= 2
    for last_val_origin, refit in seen:
        assert last_val_origin + pd.Timedelta(days=cfg.horizon_days) <= refit
    assert a.fits["blend"].notna().all()
    g = f.copy()
    late = g["origin"] + pd.Timedelta(days=7) > evals[0]
    g.loc[late, "label_count"] = np.random.default_rng(9).poisson(3.0, late.sum())
    g["label_any"] = (g["label_count"] > 0).astype(int)
    b = bt.run_model_backtest(g, evals, features, cfg)
    assert list(a.fits["blend"])[:1] == list(b.fits["blend"])[:1]
    first = a.scores["origin"] < evals[0] + pd.Timedelta(days=cfg.refit_every_days)
    pd.testing.assert_frame_equal(a.scores[first], b.scores[first])
