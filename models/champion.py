"""The challenger against the serving champion, on the origins the champion never saw.

One comparison for every model family (docs/design.md, "The champion is compared only
on data neither model was trained on"): the champion scores only the evaluation rows
whose origin is at or after its ``trained_through``
(:func:`models.registry.champion_provenance`), and the family's own paired measure
(hotspot: PAI@5 % over windows; sites: AUC with a day bootstrap; cases: AP with a case
bootstrap) sets the challenger against it on exactly those rows. The result is the
:class:`models.gate.ChampionComparison` the gate judges (:func:`models.gate.champion_check`).

:func:`compare_with_champion` is the comparison itself; :func:`compare_scores_with_champion`
feeds it from a backtest's scores frame (one row per method, origin and key, with the
label: the site and case families).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException

from models.gate import ChampionComparison, older_than_champion
from models.registry import ChampionProvenance, iso_utc

log = logging.getLogger(__name__)

Measure = Callable[[pd.DataFrame], Mapping[str, Any]]
"""The champion's scores (the keys and ``score``) -> ``{"diff", "ci": [lo, hi]}`` of the
challenger minus the champion on those rows."""


def compare_with_champion(
    prov: ChampionProvenance,
    rows: pd.DataFrame,
    *,
    origins: pd.DatetimeIndex,
    n_events: int,
    keys: Sequence[str],
    load: Callable[[], Any],
    measure: Measure,
    recipe_digest: str,
    challenger_through: pd.Timestamp,
    event_words: str,
    inputs: Callable[[Any], pd.DataFrame] | None = None,
    events_of: Callable[[pd.DataFrame], int] | None = None,
) -> ChampionComparison | None:
    """The challenger against the champion of provenance ``prov`` out of sample for both.

    ``rows``: the evaluation rows (``keys`` and the features) whose origin is at or after
    ``prov.trained_through``; ``origins``: the evaluation window's distinct origins;
    ``n_events``: the events (failures, escalations, ...) of the rows at or after it.
    ``load``: the champion (a model with ``features`` and ``predict(None, rows)``;
    ``MlflowException`` if there is none). With too few origins or events after it
    (:attr:`ChampionComparison.enough`) the comparison is returned without a difference
    and nothing is scored; otherwise ``measure`` of the champion's scores of ``rows``
    gives ``diff`` and ``ci``. ``inputs``: the loaded champion -> the rows it scores
    instead of ``rows`` (its own serving inputs, e.g. a hotspot frame of its training
    sources; ``measure`` places its scores on the compared rows). ``events_of``: the events
    of the rows ``inputs`` gave, when the comparison is on them alone (the case family: the
    rows both models may score); the count ``enough`` and the words then use.

    A challenger trained on data ending before the champion's
    (:func:`models.gate.older_than_champion`) is returned without loading the champion:
    the gate fails it on the dates alone.

    None when the champion could not be scored: it could not be loaded, it needs a
    feature ``rows`` lack, or it gives no probability (NaN) for some row. The gate then
    says so and never promotes automatically.
    """
    since = prov.trained_through
    comp = ChampionComparison(
        version=prov.version,
        trained_through=iso_utc(since),
        recipe_same=prov.same_recipe(recipe_digest),
        n_origins=int((origins >= since).sum()),
        window_origins=len(origins),
        n_events=int(n_events),
        challenger_through=iso_utc(challenger_through),
        through_source=prov.through_source,
        event_words=event_words,
    )
    if older_than_champion(comp):  # the gate fails it on the dates alone: nothing to score
        return comp
    try:
        champ = load()
    except MlflowException:
        return None
    if inputs is not None:
        rows = inputs(champ)
        if events_of is not None:
            comp = replace(comp, n_events=int(events_of(rows)))
    missing = [f for f in champ.features if f not in rows.columns]
    if missing:
        log.warning("champion needs features the current table lacks (%s); not comparable", missing)
        return None
    if not comp.enough:
        return comp
    scored = rows[list(keys)].assign(score=0.0)
    if len(rows):
        scored["score"] = champ.predict(None, rows)["probability"].to_numpy()
    if scored["score"].isna().any():
        return None
    d = measure(scored)
    n = d.get("n_clusters")
    return replace(
        comp,
        diff=d["diff"],
        ci=d["ci"],
        resampled=d.get("resampled"),
        n_clusters=int(n) if n is not None else None,
    )


def compare_scores_with_champion(
    prov: ChampionProvenance,
    table: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    keys: Sequence[str],
    load: Callable[[], Any],
    measure: Callable[[pd.DataFrame, pd.DataFrame], Mapping[str, Any]],
    recipe_digest: str,
    challenger_through: pd.Timestamp,
    event_words: str,
    inputs: Callable[[Any, pd.DatetimeIndex], pd.DataFrame | None] | None = None,
) -> ChampionComparison | None:
    """:func:`compare_with_champion` of a backtest's ``scores`` (``method``, ``keys`` with
    ``origin``, ``label``, ``score``): the window is the ``xgboost`` rows' origins, the
    events their labels at or after the champion's ``trained_through``, and the champion
    scores the rows of ``table`` (the features) with those rows' keys. ``measure`` gets the
    challenger's rows there (``xgboost`` only) and the champion's scores.

    ``inputs``: the loaded champion and those origins -> its own serving rows there (the
    features built from the sources it was trained on, as serving builds them), or None
    to score ``table``'s. The comparison is then on the rows both may score: the keys of
    the champion's rows among the challenger's, their events alone counted."""
    model = scores[scores["method"] == "xgboost"]
    later = model[model["origin"] >= prov.trained_through]
    k = list(keys)
    rows = table.merge(later[k], on=k)
    if inputs is None:
        return compare_with_champion(
            prov,
            rows,
            origins=pd.DatetimeIndex(model["origin"].unique()),
            n_events=int(later["label"].sum()),
            keys=keys,
            load=load,
            measure=lambda champ: measure(later, champ),
            recipe_digest=recipe_digest,
            challenger_through=challenger_through,
            event_words=event_words,
        )

    def own(champ: Any) -> pd.DataFrame:
        mine = inputs(champ, pd.DatetimeIndex(later["origin"].unique()))
        return rows if mine is None else mine.merge(later[k], on=k)  # both may score

    def both(champ: pd.DataFrame) -> Mapping[str, Any]:
        return measure(later.merge(champ[k], on=k), champ)

    return compare_with_champion(
        prov,
        rows,
        origins=pd.DatetimeIndex(model["origin"].unique()),
        n_events=int(later["label"].sum()),
        keys=keys,
        load=load,
        measure=both,
        recipe_digest=recipe_digest,
        challenger_through=challenger_through,
        event_words=event_words,
        inputs=own,
        events_of=lambda mine: int(later.merge(mine[k], on=k)["label"].sum()),
    )
