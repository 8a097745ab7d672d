"""A refit learns only from labels known by its cut-off (docs/design.md, "What a forecast
may know"): a training row's label counts the events of its window known (the later of
occurrence and report, features.cells.known_times) before the refit origin. Before, a row
was used as soon as its window ended and its label counted every event that occurred in
it, so a report that arrived after the refit trained it (reviewer's finding, 2026-12-06)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.cells import assign_cells
from features.incidents import CellFeatureParams, build_cell_features, build_cell_labels
from models.backtest import ModelConfig, run_model_backtest, training_rows
from models.hotspot_backtest import HotspotBacktestSpec, late_cell_labels, run_hotspot_backtest
from models.known_labels import labels_known_by, late_label_events
from testkit.synthetic_hotspots import CRS, TZ, synthetic_events

SH = "Asia/Shanghai"


def _at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=SH).tz_convert("UTC")


def _one_cell(reported: str) -> tuple[pd.DataFrame, pd.DataFrame, HotspotBacktestSpec]:
    """One cell, an old event (so the cell exists) and one that occurred on 2024-03-02
    (in the window of the 2024-03-01 origin) and was reported at ``reported``."""
    ev = pd.DataFrame(
        {
            "occurred_at": [_at("2024-01-05 10:00"), _at("2024-03-02 10:00")],
            "reported_at": [_at("2024-01-05 11:00"), _at(reported)],
            "cell_x": [0, 0],
            "cell_y": [0, 0],
            "category_group": ["x", "x"],
        }
    )
    cells = pd.DataFrame({"cell_x": [0], "cell_y": [0]})
    origins = pd.DatetimeIndex([_at("2024-03-01"), _at("2024-03-08"), _at("2024-03-15")])
    f = build_cell_features(ev, cells, origins, CellFeatureParams(tz=SH, horizon_days=7, groups=()))
    spec = HotspotBacktestSpec(
        crs=CRS,
        cell_size_m=250,
        tz=SH,
        start=pd.Timestamp("2024-03-01"),
        end=pd.Timestamp("2024-03-15"),
        holiday_country="CN",
    )
    return f, late_cell_labels(ev, cells, origins, spec), cells


def _label_at(rows: pd.DataFrame, origin: str) -> tuple[int, int]:
    row = rows.loc[rows["origin"] == _at(origin)]
    return int(row["label_count"].iloc[0]), int(row["label_any"].iloc[0])


def test_a_label_reported_after_the_refit_does_not_train_it() -> None:
    """The reviewer's case: the 2024-03-01 row's only event was reported on 2024-03-20, so
    the refit of 2024-03-15 learns 0 there; a refit after the report learns 1; the frame
    keeps the occurrence count (the evaluation's truth)."""
    cfg = ModelConfig(tz=SH, horizon_days=7)
    f, late, _ = _one_cell("2024-03-20 09:00")
    assert _label_at(f, "2024-03-01") == (1, 1)  # what happened
    assert len(late) == 1 and late["known_at"].iloc[0] == _at("2024-03-20 09:00")
    rows = training_rows(f, _at("2024-03-15"), cfg, late)
    assert _label_at(rows, "2024-03-01") == (0, 0)
    assert _label_at(rows, "2024-03-08") == (0, 0)
    later = pd.concat([f, f.assign(origin=f["origin"] + pd.Timedelta(days=21))])
    assert _label_at(training_rows(later, _at("2024-03-29"), cfg, late), "2024-03-01") == (1, 1)


def test_the_cut_off_is_strict_and_a_report_within_the_window_always_counts() -> None:
    """Known *before* the cut: a report at the refit origin itself is not known to it, one
    a minute before is; a report before the window ended is never in the late table."""
    cfg = ModelConfig(tz=SH, horizon_days=7)
    f, late, _ = _one_cell("2024-03-15 00:00")
    assert _label_at(training_rows(f, _at("2024-03-15"), cfg, late), "2024-03-01") == (0, 0)
    f, late, _ = _one_cell("2024-03-14 23:59")
    assert _label_at(training_rows(f, _at("2024-03-15"), cfg, late), "2024-03-01") == (1, 1)
    f, late, _ = _one_cell("2024-03-07 23:00")  # reported within its own window
    assert late.empty
    assert _label_at(training_rows(f, _at("2024-03-08"), cfg, late), "2024-03-01") == (1, 1)


def test_late_events_are_listed_once_per_row_of_every_window_they_fall_in() -> None:
    """Daily origins, 3-day windows: an event labels three rows, each listed with its
    known time when that comes at or after the row's window end, and taken out of exactly
    the rows of a cut before it."""
    origins = pd.date_range("2024-03-01", periods=6, freq="D", tz="UTC")
    ends = origins + pd.Timedelta(days=3)
    ev = pd.DataFrame(
        {
            "occurred_at": [pd.Timestamp("2024-03-03 12:00", tz="UTC")],
            "reported_at": [pd.Timestamp("2024-03-05 06:00", tz="UTC")],
            "site_id": ["s1"],
        }
    )
    late = late_label_events(ev, ["site_id"], origins, ends)
    # windows holding 03-03 12:00: origins 03-01, 03-02, 03-03; known 03-05 06:00 is at or
    # after the ends 03-04 and 03-05 00:00, not after 03-06
    assert list(late["origin"].dt.day) == [1, 2]
    rows = pd.DataFrame(
        {
            "origin": origins,
            "site_id": "s1",
            "label_count": [1, 1, 1, 0, 0, 0],
            "label_any": np.int8([1, 1, 1, 0, 0, 0]),
        }
    )
    # reported exactly at the cut: not known before it, out of both rows
    cut = labels_known_by(rows, late, pd.Timestamp("2024-03-05 06:00", tz="UTC"), KEYS_SITE)
    assert list(cut["label_count"]) == [0, 0, 1, 0, 0, 0]
    assert list(cut["label_any"]) == [0, 0, 1, 0, 0, 0]
    assert cut["label_any"].dtype == np.int8
    assert list(rows["label_count"]) == [1, 1, 1, 0, 0, 0]  # the frame is left as it was
    after = pd.Timestamp("2024-03-05 06:01", tz="UTC")
    assert labels_known_by(rows, late, after, KEYS_SITE) is rows


KEYS_SITE = ["origin", "site_id"]


def test_the_hotspot_backtest_does_not_learn_from_reports_after_its_refits() -> None:
    """End to end: events reported after the whole backtest change no refit. The backtest
    of events of which a share was reported after the last evaluation window must score
    exactly as the same model frame (the same inputs) whose labels never held those events
    at all; before, the late events were training labels and the scores moved."""
    ev = synthetic_events(seed=3, n_cells=10, days=430)
    small = ModelConfig(
        train_window_days=150,
        es_origins=3,
        cal_origins=3,
        max_rounds=30,
        early_stopping_rounds=10,
        refit_every_days=14,
        grid=({"max_depth": 3, "learning_rate": 0.2, "min_child_weight": 1.0},),
    )
    spec = HotspotBacktestSpec(
        holiday_country="US",
        crs=CRS,
        cell_size_m=250,
        tz=TZ,
        start=pd.Timestamp("2016-01-01"),
        end=pd.Timestamp("2016-02-12"),
        model=small,
    )
    ev["reported_at"] = ev["occurred_at"]
    busy = ev["occurred_at"].between(
        pd.Timestamp("2015-09-01", tz="UTC"), pd.Timestamp("2016-01-25", tz="UTC")
    )
    late = (busy & (np.arange(len(ev)) % 2 == 0)).to_numpy()
    assert late.sum() > 100
    ev.loc[late, "reported_at"] = pd.Timestamp("2016-06-01", tz="UTC")
    a = run_hotspot_backtest(ev, spec)
    assert len(a.model.fits) >= 3
    assert a.late_labels is not None and len(a.late_labels) > 100
    # the same frame, labelled without the late events (what every refit could know)
    known = assign_cells(ev[~late], CRS, 250).dropna(subset=["cell_x", "cell_y"])
    known = known.astype({"cell_x": "int64", "cell_y": "int64"})
    origins = pd.DatetimeIndex(a.frame["origin"].unique())
    labels = build_cell_labels(known, a.cells, origins, spec.horizon_days, TZ)
    labels["origin"] = labels["origin"].astype(a.frame["origin"].dtype)
    b = a.frame.drop(columns=["label_count", "label_any"]).merge(
        labels, on=["origin", "cell_x", "cell_y"], how="left", validate="one_to_one"
    )
    assert a.frame["label_count"].sum() > b["label_count"].sum()  # the frame: what happened
    evals = list(a.eval_origins)
    scores = run_model_backtest(b, evals, a.features, a.spec.model).scores
    pd.testing.assert_frame_equal(a.model.scores, scores, check_exact=True)
