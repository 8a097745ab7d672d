"""The overview map's caching pieces: compact deck JSON, warnings fingerprint, bench scorer."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")

from dashboard import maps, queries

ROOT = Path(__file__).resolve().parents[1]


def _deck() -> maps.pdk.Deck:
    n = 300  # a map's worth of warned cells: the indentation is what costs
    warnings = pd.DataFrame(
        {
            "warning_id": [f"w{i}" for i in range(n)],
            "unit_id": [f"c{1800 + i % 20}_{13500 + i // 20}" for i in range(n)],
            "level": ["red", "orange", "yellow"] * (n // 3),
            "probability": np.linspace(0.9, 0.3, n),
            "county_code": "C1",
            "township_code": "T1",
        }
    )
    squares = maps.warned_squares(
        warnings, {}, "zh", cell_size_m=250, crs="EPSG:32650", fmt_probability=str
    )
    return maps.risk_deck(
        pd.DataFrame(columns=["record_id", "polygon", "colour", "place", "level_label", "detail"]),
        squares,
        pd.DataFrame(columns=["name", "level", "path"]),
        pd.DataFrame(columns=["text", "position", "size", "colour", "priority"]),
        lang="zh",
        width_px=600,
        height_px=500,
        cell_size_m=250,
        tooltip_html="<b>{place}</b>",
    )


def test_deck_spec_is_the_same_deck_in_compact_json() -> None:
    deck = _deck()
    spec = maps.DeckSpec(deck)
    assert json.loads(spec.to_json()) == json.loads(deck.to_json())
    assert len(spec.to_json()) < 0.6 * len(deck.to_json())  # pydeck indents by two spaces
    assert "\n" not in spec.to_json()
    assert spec._tooltip == {"html": "<b>{place}</b>", "style": {"fontSize": "13px"}}


def test_warnings_version_changes_with_reviews_and_new_warnings() -> None:
    w = pd.DataFrame({"warning_id": ["w1", "w2"], "version": [1, 1]})
    base = queries.warnings_version(w)
    assert queries.warnings_version(w.copy()) == base
    assert queries.warnings_version(w.assign(version=[2, 1])) != base  # a review
    assert queries.warnings_version(w.iloc[:1]) != base  # a dismissal drops one
    assert queries.warnings_version(w.iloc[:0]) == "0"


def _bench_module():
    spec = importlib.util.spec_from_file_location(
        "bench_dashboard", ROOT / "bench" / "bench_dashboard.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_dashboard"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_bench_long_run_baseline_uses_only_events_before_the_origin() -> None:
    bench = _bench_module()
    origin = pd.Timestamp("2024-03-01", tz="UTC")
    t = pd.to_datetime(
        ["2024-01-01", "2024-02-25", "2024-02-28", "2024-03-01", "2024-03-05"], utc=True
    )
    events = pd.DataFrame({"occurred_at": t, "cell_x": [0, 0, 1, 0, 1], "cell_y": [0, 0, 0, 0, 0]})
    cells = pd.DataFrame({"cell_x": [0, 1, 2], "cell_y": [0, 0, 0]})
    out = bench.long_run_probability(events, cells, origin, "occurred_at").set_index("cell_x")
    days = (origin - t[0]).total_seconds() / 86400
    assert out["count_all"].tolist() == [2, 1, 0]  # the events at/after the origin are unseen
    assert out.loc[0, "score"] == pytest.approx(2 / days)
    assert out.loc[1, "count_7d"] == 1 and out.loc[0, "count_7d"] == 1
    assert out.loc[0, "probability"] == pytest.approx(1 - np.exp(-7 * 2 / days))
    assert out.loc[2, "probability"] == 0.0
    later = events.assign(
        occurred_at=events["occurred_at"].where(t < origin, t + pd.Timedelta(days=30))
    )
    again = bench.long_run_probability(later, cells, origin, "occurred_at").set_index("cell_x")
    pd.testing.assert_frame_equal(out, again)  # moving future events changes nothing
