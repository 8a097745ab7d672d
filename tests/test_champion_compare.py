"""models.champion: the one comparison with the serving champion every family uses.

The families' training tests (tests/test_champion_out_of_sample.py, the site twin tests)
run it with real champions; here its rules on a small table: only the rows at or after
the champion's ``trained_through`` are scored, nothing is scored when they are too few,
and a champion that cannot be loaded, lacks a feature or gives no probability is
"could not be scored" (None). The stand-in model only records what it is asked to score:
a real champion never returns NaN, which is the case to check.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from models.champion import compare_scores_with_champion
from models.gate import MIN_CHAMPION_ORIGINS
from models.registry import ChampionProvenance

KEYS = ["origin", "site_id"]
ORIGINS = pd.date_range("2026-10-01", periods=8, freq="7D", tz="UTC")


class Model:
    """A champion with feature ``x``: probability ``x`` (or NaN where ``nan_at``)."""

    def __init__(self, nan_at: pd.Timestamp | None = None) -> None:
        self.features = ["x"]
        self.scored: list[pd.Timestamp] = []
        self.nan_at = nan_at

    def predict(self, context: Any, rows: pd.DataFrame) -> pd.DataFrame:
        self.scored.extend(rows["origin"])
        p = rows["x"].where(rows["origin"] != self.nan_at)
        return pd.DataFrame({"probability": p.to_numpy()}, index=rows.index)


def _table() -> tuple[pd.DataFrame, pd.DataFrame]:
    table = pd.DataFrame(
        [
            (o, s, 0.1 * (i % 3) + 0.05 * j)
            for i, o in enumerate(ORIGINS)
            for j, s in enumerate("ab")
        ],
        columns=[*KEYS, "x"],
    )
    label = ((table.index % 3) == 1).astype(int)
    scores = pd.concat(
        [
            table[KEYS].assign(method="xgboost", score=table["x"] + 0.01, label=label),
            table[KEYS].assign(method="velocity", score=0.5, label=label),
        ]
    )
    return table, scores


def _compare(since: pd.Timestamp, model: Model | None, seen: list[Any], recipe: str = "r"):
    table, scores = _table()
    prov = ChampionProvenance("3", "run", since, "trained_through", recipe)

    def load() -> Model:
        if model is None:
            raise MlflowException("no champion")
        return model

    def measure(later: pd.DataFrame, champ: pd.DataFrame) -> dict[str, Any]:
        seen.append((later, champ))
        return {"diff": 0.25, "ci": [0.1, 0.4]}

    return compare_scores_with_champion(
        prov,
        table,
        scores,
        keys=KEYS,
        load=load,
        measure=measure,
        recipe_digest="r",
        challenger_through=ORIGINS[-1],
        event_words="site failure",
    )


def test_only_the_rows_at_or_after_trained_through_are_scored_and_measured() -> None:
    since = ORIGINS[-MIN_CHAMPION_ORIGINS]
    model, seen = Model(), []
    comp = _compare(since, model, seen)
    assert comp is not None and comp.recipe_same and comp.event_words == "site failure"
    later = [o for o in ORIGINS if o >= since]
    assert (comp.n_origins, comp.window_origins) == (len(later), len(ORIGINS))
    assert set(model.scored) == set(later) and len(model.scored) == 2 * len(later)
    ((challenger, champ),) = seen
    assert set(challenger["method"]) == {"xgboost"} and set(challenger["origin"]) == set(later)
    assert comp.n_events == int(challenger["label"].sum()) > 0
    table, _ = _table()
    expect = table[table["origin"] >= since].set_index(KEYS)["x"]
    got = champ.set_index(KEYS)["score"]
    assert np.allclose(got.sort_index(), expect.sort_index())  # the champion's own scores
    assert (comp.diff, list(comp.ci or [])) == (0.25, [0.1, 0.4])


def test_too_few_later_origins_are_not_scored() -> None:
    model, seen = Model(), []
    comp = _compare(ORIGINS[-MIN_CHAMPION_ORIGINS + 1], model, seen)
    assert comp is not None and comp.n_origins == MIN_CHAMPION_ORIGINS - 1
    assert comp.diff is None and comp.ci is None and model.scored == [] and seen == []


@pytest.mark.parametrize("why", ["not loaded", "feature missing", "NaN probability"])
def test_a_champion_that_cannot_be_scored_is_none(why: str) -> None:
    since = ORIGINS[-MIN_CHAMPION_ORIGINS]
    model: Model | None = Model(nan_at=ORIGINS[-1] if why == "NaN probability" else None)
    if why == "not loaded":
        model = None
    elif why == "feature missing":
        model.features = ["x", "rain_72h"]  # type: ignore[union-attr]
    seen: list[Any] = []
    assert _compare(since, model, seen) is None and seen == []
