"""The hotspot backtest end to end: events in, scores of every method and metrics out.

Pure: the caller reads the events (through ``riskwarn.ingest``) and writes the outputs.

1. cells: ``floor(projected coordinate / cell size)``; at each origin (training and
   evaluation alike, as serving) the scored cells are those with an event known before
   it (:class:`features.cells.ActiveArea`);
2. origins: evaluation origins ``start, start + step, ...`` (local midnights) and training
   origins on a ``train_step_days`` grid before (and during) the backtest;
3. features: ``features`` cell x origin table plus the baselines' own scores as
   inputs (a stacked model: kernel density, near-repeat, all-history counts);
4. the rolling-origin model backtest, the baselines and the ex-post ceiling on the same
   rows (origin, cell); every metric per method (``evaluate_methods``), counting every
   event of a window: those in cells not scored at its origin (no earlier known event)
   are misses for every method (``outside_area_labels``; with a study area, the study
   area's events).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import pandas as pd

from features.calendar import local_midnights
from features.cells import ActiveArea, assign_cells, latest_versions, versions_at
from features.context import ContextParams, join_context
from features.derived import add_derived_features
from features.incidents import (
    CellFeatureParams,
    build_cell_features,
    build_cell_labels,
    feature_columns,
)
from models.backtest import (
    KEYS,
    BoosterTrainer,
    ModelBacktest,
    ModelConfig,
    label_window_end,
    run_model_backtest,
)
from models.baselines import (
    HotspotParams,
    hotspot_baseline_scores,
    kde_scores,
    last_period_scores,
    long_run_scores,
    prospective_scores,
)
from models.case_control import negative_sampler, sampling_cut
from models.extra_features import ExtraFeatureParams, build_extra_features
from models.grid import CountCube, history_cube
from models.hotspot_evaluation import (
    ceiling_scores,
    evaluate_methods,
    loo_ceiling_scores,
)
from models.known_labels import late_label_events
from models.metrics import probability_metrics_numpy
from riskwarn.domains import Domain

log = logging.getLogger(__name__)

STACKED_BASELINES = {
    "long_run": "hist_count_all",
    "kde": "hist_kde",
    "prospective": "hist_prospective",
}


@dataclass(frozen=True)
class HotspotBacktestSpec:
    """What to backtest: grid, time zone, origins and the model/baseline settings."""

    crs: str
    cell_size_m: float
    tz: str
    start: pd.Timestamp
    end: pd.Timestamp
    holiday_country: str  # the city's ``holidays`` calendar (no default: say which city)
    horizon_days: int = 7
    step_days: int = 7
    train_step_days: int = 7
    model: ModelConfig = field(default_factory=ModelConfig)
    baselines: HotspotParams = field(default_factory=HotspotParams)
    feature_groups: tuple[str, ...] | None = None
    group_column: str = "category_group"
    max_cells: int | None = None  # tests: score (and count events in) only the busiest cells
    extra_features: bool = True  # long-memory ``lr_*`` inputs (models.extra_features)
    # training frames only (set by run_hotspot_backtest, never by serving): rows at origins
    # before this keep every row with an event and a share ``model.negative_rate`` of the
    # others (case-control subsampling, see models.case_control)
    sample_negatives_before: pd.Timestamp | None = None
    # True: every given cell has a row at every origin (a study area's cells, whether or
    # not they had an event); False (training, backtests, serving): a cell has a row at an
    # origin only when it holds an event known before it (features.cells.ActiveArea)
    every_given_cell: bool = False


@dataclass
class HotspotBacktestResult:
    """Long scores (origin, cell_x, cell_y, method, score), metrics, model run details."""

    scores: pd.DataFrame
    metrics: dict[str, Any]
    model: ModelBacktest
    features: list[str]
    timings_s: dict[str, float]
    cells: pd.DataFrame
    frame: pd.DataFrame  # feature + label rows of every origin (training and evaluation)
    eval_origins: pd.DatetimeIndex
    spec: HotspotBacktestSpec
    outside: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Evaluation windows' events in cells outside the scored area (origin, cell_x, cell_y,
    label_count): misses for every method, counted by the metrics (the standard count)."""
    late_labels: pd.DataFrame | None = None
    """The frame's label events known only after their window ended (origin, cell_x,
    cell_y, known_at; :func:`late_cell_labels`): a refit at a cut-off leaves out those
    known at or after it (:func:`models.backtest.training_rows`)."""
    labels: pd.DataFrame | None = None
    """The evaluation rows' labels the metrics counted (origin, cell_x, cell_y,
    label_count, label_any): the ``judged`` events' (every source) when the model's
    inputs are some sources only, else the frame's own."""


def domain_spec(
    domain: Domain,
    *,
    crs: str,
    cell_size_m: float,
    tz: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    **overrides: Any,
) -> HotspotBacktestSpec:
    """The frame and backtest settings of a hotspot domain (its horizon, step, category
    column and holiday calendar): training and serving both build their frames with it."""
    if domain.family != "hotspot":
        raise ValueError(f"domain {domain.name!r} is not a cell hotspot domain")
    values: dict[str, Any] = {
        "horizon_days": domain.horizon_days,
        "step_days": domain.step_days,
        # weekly: every other week's origins (half the rows) was measured and not adopted,
        # not non-inferior at PAI@1 % (docs/benchmarks.md, issue 18.3, "Fewer training origins")
        "train_step_days": max(domain.step_days, 7),
        "group_column": domain.group_column,
        "holiday_country": domain.holiday_calendar,
        **overrides,
    }
    return HotspotBacktestSpec(
        crs=crs, cell_size_m=cell_size_m, tz=tz, start=start, end=end, **values
    )


def cell_frame(
    domain: Domain,
    events: pd.DataFrame,
    origins: pd.DatetimeIndex,
    *,
    crs: str,
    cell_size_m: float,
    tz: str,
    cells: pd.DataFrame | None = None,
    frame_builder: FrameBuilder | None = None,
    **spec_overrides: Any,
) -> pd.DataFrame:
    """Cell x origin model inputs (+ labels) of a hotspot domain at ``origins``
    (:func:`models.frames.hotspot_frame`, the builder of training, backtests and serving;
    here so that training's gate builds it without importing :mod:`models.frames`).
    ``events``: the domain's lake rows (its time column); ``cells``: default every cell
    with an event known before the last origin; a cell has a row at an origin only when
    it holds an event known before it (:class:`features.cells.ActiveArea`)."""
    ev = events.rename(columns={domain.time_column: "occurred_at"}).dropna(subset=["lon", "lat"])
    ev = assign_cells(ev, crs, cell_size_m).dropna(subset=["cell_x", "cell_y"])
    ev = ev.astype({"cell_x": "int64", "cell_y": "int64"})
    origins = pd.DatetimeIndex(origins).sort_values()
    if cells is None:
        cells = ActiveArea(ev).ever(origins[-1])
    if cells.empty:
        return pd.DataFrame()
    local = origins.tz_convert(tz).tz_localize(None)
    spec = domain_spec(
        domain,
        crs=crs,
        cell_size_m=cell_size_m,
        tz=tz,
        start=local[0],
        end=local[-1],
        **spec_overrides,
    )
    return (frame_builder or build_model_frame)(ev, cells, origins, spec)


def origins_for(spec: HotspotBacktestSpec) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """Evaluation origins and training origins (local midnights, UTC)."""
    evals = local_midnights(spec.start, spec.end, spec.step_days, spec.tz)
    back = spec.model.train_window_days + spec.horizon_days + spec.train_step_days
    first = pd.Timestamp(spec.start) - pd.Timedelta(days=back)
    # the training grid ends on the start day so it lines up with the evaluation origins
    n = back // spec.train_step_days + 1
    before = pd.DatetimeIndex(
        [pd.Timestamp(spec.start) - pd.Timedelta(days=k * spec.train_step_days) for k in range(n)]
    )
    before = before[before >= first]
    during = pd.date_range(
        pd.Timestamp(spec.start), pd.Timestamp(spec.end), freq=f"{spec.train_step_days}D"
    )
    train = before.union(during).tz_localize(spec.tz).tz_convert("UTC")
    return evals, train


def add_stacked_features(
    frame: pd.DataFrame, events: pd.DataFrame, cells: pd.DataFrame, spec: HotspotBacktestSpec
) -> pd.DataFrame:
    """Join the past-only model inputs computed from the events at each origin.

    The baselines' scores (``hist_*``: a stacked model) and, with ``spec.extra_features``,
    the long-memory inputs of :mod:`models.extra_features` (``lr_*``: multi-scale
    and neighbour-smoothed long-run counts, same season in earlier years, location-category
    and night-time composition). Live scoring calls this too, so both see the same columns.
    """
    origins = pd.DatetimeIndex(frame["origin"].unique()).sort_values()
    # the kernels see every cell with an event, not only the scored ones, so a cell's
    # inputs do not depend on which other cells are scored (training scores the cells
    # active at the backtest start, serving those active at the origin)
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
    frame = with_columns(frame, stacked_baseline_columns(frame, cube, cells, origins, params))
    del cube
    if not spec.extra_features:
        return frame
    xparams = ExtraFeatureParams(tz=spec.tz, horizon_days=spec.horizon_days)
    if is_origin_cell_grid(frame, origins, cells):
        # the frame holds every origin x cell row in that order (training's and serving's
        # frames do): the lr_* columns are added by position, without key columns to join on
        extra = build_extra_features(events, cells, origins, xparams, keys=False)
        return with_columns(frame, {c: extra.pop(c).to_numpy() for c in list(extra.columns)})
    extra = build_extra_features(
        events, cells, origins, xparams, subset_positions(frame, origins, cells)
    )
    return join_aligned(frame, extra)


def add_stacked_features_at(
    frame: pd.DataFrame, events: pd.DataFrame, cells: pd.DataFrame, spec: HotspotBacktestSpec
) -> pd.DataFrame:
    """:func:`add_stacked_features` where ``events`` may hold the earlier versions of
    corrected records (:func:`riskwarn.lake.read_versions`): each origin's inputs from the
    versions valid at it (:func:`features.cells.versions_at`; one pass per stretch of
    origins between two corrections' times, one pass in all without corrections)."""
    origins = pd.DatetimeIndex(frame["origin"].unique()).sort_values()
    groups = versions_at(events, origins)
    if len(groups) == 1:
        return add_stacked_features(frame, groups[0][1], cells, spec)
    row_origin = origins.get_indexer(pd.DatetimeIndex(frame["origin"]))
    added: dict[str, np.ndarray] = {}
    for pos, view in groups:
        rows = np.flatnonzero(np.isin(row_origin, pos))
        part = add_stacked_features(frame.iloc[rows], view, cells, spec)
        for c in part.columns:
            if c not in frame.columns:
                values = part[c].to_numpy()
                if c not in added:
                    added[c] = np.empty(len(frame), dtype=values.dtype)
                added[c][rows] = values
    return with_columns(frame, added)


def is_origin_cell_grid(
    frame: pd.DataFrame, origins: pd.DatetimeIndex, cells: pd.DataFrame
) -> bool:
    """``frame``'s rows are exactly ``origins`` x ``cells``, origin-major, cells in their
    given order (what :func:`models.extra_features.build_extra_features` returns), checked
    one origin at a time (no copy of the key columns)."""
    n_cells = len(cells)
    if n_cells == 0 or len(frame) != len(origins) * n_cells:
        return False
    cx = cells["cell_x"].to_numpy().astype(np.int64)
    cy = cells["cell_y"].to_numpy().astype(np.int64)
    o = pd.DatetimeIndex(frame["origin"])
    x, y = frame["cell_x"].to_numpy(), frame["cell_y"].to_numpy()
    if o.tz is None or pd.DatetimeIndex(origins).tz is None:
        return False
    wanted = pd.DatetimeIndex(origins).as_unit("ns").asi8
    got = o.as_unit("ns").asi8
    for i, origin in enumerate(wanted):
        a, b = i * n_cells, (i + 1) * n_cells
        if not ((got[a:b] == origin).all() and (x[a:b] == cx).all() and (y[a:b] == cy).all()):
            return False
    return True


def subset_positions(
    frame: pd.DataFrame, origins: pd.DatetimeIndex, cells: pd.DataFrame
) -> np.ndarray | None:
    """Positions of ``frame``'s rows in the origin-major ``origins`` x ``cells`` table (cells
    in their given order) when ``frame`` holds only some of its rows, in its order (a
    subsampled training frame); None when it holds them all, or is not such a subset."""
    cell_keys = cells[["cell_x", "cell_y"]].astype("int64").reset_index(drop=True)
    if len(frame) >= len(origins) * len(cell_keys) or not keys_strictly_sorted(
        cell_keys.assign(origin=pd.Timestamp(0, tz="UTC"))[KEYS]
    ):
        return None
    oi = origins.get_indexer(pd.DatetimeIndex(frame["origin"]))
    ci = cell_positions(cell_keys, frame)
    if (oi < 0).any() or (ci < 0).any():
        return None
    pos = oi.astype(np.int64) * len(cell_keys) + ci
    return pos if bool((np.diff(pos) > 0).all()) else None


def stacked_baseline_columns(
    frame: pd.DataFrame,
    cube: CountCube,
    cells: pd.DataFrame,
    origins: pd.DatetimeIndex,
    params: HotspotParams,
) -> dict[str, np.ndarray]:
    """The stacked baseline inputs (``hist_*``) of each row of ``frame``: the score of
    :func:`models.baselines.hotspot_baseline_scores` of its origin and cell (NaN for a
    cell outside ``cells``), columns in the order of the method names (as a pivot of the
    long scores gave them).

    Computed per origin as ``origins x cube cells`` arrays and read out by position: the
    long table of every origin x cell x method and its pivot (several times the frame's
    size at city scale) is never built; the values are the same numbers.
    """
    per_method = {m: np.empty((len(origins), len(cube.cells))) for m in sorted(params.methods)}
    scorers = {
        "long_run": lambda o: long_run_scores(cube, o),
        "kde": lambda o: kde_scores(
            cube, o, params.kde_bandwidth_m, params.cell_size_m, params.kde_window_days
        ),
        "prospective": lambda o: prospective_scores(
            cube,
            o,
            params.prospective_bandwidth_m,
            params.prospective_time_window_days,
            params.cell_size_m,
        ),
        "last_period": lambda o: last_period_scores(cube, o, params.last_period_days),
    }
    for i, origin in enumerate(origins):
        o = cube.day_index(origin)
        for method, values in per_method.items():
            values[i] = scorers[method](o).astype(float)
    row_origin = origins.get_indexer(pd.DatetimeIndex(frame["origin"]))
    cube_cells = cube.cells[["cell_x", "cell_y"]].astype("int64")
    row_cell = cell_positions(cube_cells, frame)
    scored = cells[["cell_x", "cell_y"]].astype("int64").drop_duplicates()
    in_cells = cell_positions(scored.sort_values(["cell_x", "cell_y"]), frame) >= 0
    ok = (row_origin >= 0) & (row_cell >= 0) & in_cells
    columns: dict[str, np.ndarray] = {}
    for method, values in per_method.items():
        col = np.full(len(frame), np.nan)
        col[ok] = values[row_origin[ok], row_cell[ok]]
        columns[STACKED_BASELINES[method]] = col
    return columns


def keys_strictly_sorted(frame: pd.DataFrame) -> bool:
    """Rows strictly increasing in (origin, cell_x, cell_y): sorted by ``KEYS``, each once."""
    if len(frame) < 2:
        return True
    o = pd.DatetimeIndex(frame["origin"]).asi8
    x = frame["cell_x"].to_numpy(np.int64)
    y = frame["cell_y"].to_numpy(np.int64)
    do, dx, dy = np.diff(o), np.diff(x), np.diff(y)
    return bool(((do > 0) | ((do == 0) & ((dx > 0) | ((dx == 0) & (dy > 0))))).all())


def model_rows(
    frame: pd.DataFrame, train: pd.DatetimeIndex, evals: pd.DatetimeIndex
) -> pd.DataFrame:
    """The rows of ``frame`` at the training and evaluation origins, once per key, sorted
    by ``KEYS`` with a fresh index (what the backtest fits and scores). ``frame`` itself
    (no copy) when it already is that: the frames built here hold exactly those origins,
    sorted and unique."""
    if frame["origin"].isin(train.union(evals)).all() and keys_strictly_sorted(frame):
        return frame.reset_index(drop=True)
    return (
        pd.concat([frame[frame["origin"].isin(train)], frame[frame["origin"].isin(evals)]])
        .drop_duplicates(KEYS)
        .sort_values(KEYS, kind="stable", ignore_index=True)
    )


def cell_positions(sorted_cells: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """Position of each row's (cell_x, cell_y) in ``sorted_cells`` (sorted, unique; -1 if
    absent)."""
    from features.incidents import _cell_codes

    return _cell_codes(sorted_cells.reset_index(drop=True), rows)


def join_aligned(frame: pd.DataFrame, more: pd.DataFrame) -> pd.DataFrame:
    """``frame.merge(more, on=KEYS, how="left", validate="one_to_one")``; when ``more``
    holds the same keys in the same row order (the extra features are built that way),
    its columns are added as they are, without the merge's copy of every column."""
    same = len(frame) == len(more) and all(
        pd.Index(frame[k]).equals(pd.Index(more[k])) for k in KEYS
    )
    if same and keys_strictly_sorted(frame):  # sorted and unique: one to one
        cols = [c for c in more.columns if c not in KEYS]
        return with_columns(frame, {c: more[c].to_numpy() for c in cols})
    return frame.merge(more, on=KEYS, how="left", validate="one_to_one")


def with_columns(frame: pd.DataFrame, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """``frame.assign(**columns)`` (same columns, order, dtypes and values) without its
    copy of every added array: ``assign`` copies them, so while the city's 32 ``lr_*``
    columns were joined the process held them twice (1.8 GB more at the peak). The arrays
    become the new columns as they are (the caller drops its own references); a name that
    is already a column goes through ``assign``."""
    if not columns or any(c in frame.columns for c in columns) or len(frame) == 0:
        return frame.assign(**columns)
    added = pd.DataFrame(columns, index=frame.index, copy=False)
    return pd.concat([frame, added], axis=1)


def history_start(origins: pd.DatetimeIndex, params: HotspotParams) -> pd.Timestamp:
    """The first day the baselines' windows reach back to from the earliest origin: the
    count cube holds days from there on (and one all-history sum before it)."""
    reach = max(
        params.last_period_days,
        params.prospective_time_window_days,
        params.kde_window_days or 0,
    )
    return pd.DatetimeIndex(origins).min() - pd.Timedelta(days=reach + 1)


def event_cells(events: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """The scored ``cells`` and every cell holding an event, sorted, once each."""
    both = pd.concat([cells[["cell_x", "cell_y"]], events[["cell_x", "cell_y"]]])
    both = both.dropna().astype("int64").drop_duplicates()
    return both.sort_values(["cell_x", "cell_y"], ignore_index=True)


def build_model_frame(
    events: pd.DataFrame,
    cells: pd.DataFrame,
    origins: pd.DatetimeIndex,
    spec: HotspotBacktestSpec,
    context: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The model's input rows: feature table + stacked baseline scores (+ labels).

    The one path for backtests, training and live scoring. The derived inputs of
    :mod:`features.derived` come last. ``events`` must already carry
    ``cell_x``/``cell_y`` (:func:`features.cells.assign_cells`); ``origins`` are
    local midnights as UTC timestamps. Labels of origins whose window is not over yet are
    simply incomplete counts and must not be used for training. ``context``: points of
    other sources (``kind, known_at, cell_x, cell_y``, :mod:`features.context`)
    whose recent activity per cell and ring becomes ``ctx_*`` inputs.

    Rows: the (origin, cell) of ``cells`` x ``origins`` whose cell holds an event known
    before the origin (:class:`features.cells.ActiveArea`, the rule serving scores by), so
    no row exists because its cell had an event later (with ``spec.every_given_cell``:
    every given cell at every origin, a study area).
    """
    fparams = CellFeatureParams(
        tz=spec.tz,
        horizon_days=spec.horizon_days,
        groups=spec.feature_groups if spec.feature_groups is not None else (),
        group_column=spec.group_column,
        holiday_country=spec.holiday_country,
    )
    frame = build_cell_features(
        events,
        cells,
        origins,
        fparams,
        chain_filters(
            None if spec.every_given_cell else ActiveArea(events).row_filter(),
            negative_sampler(spec.model, spec.sample_negatives_before),
        ),
    )
    frame["origin"] = frame["origin"].astype("datetime64[ns, UTC]")
    if frame.empty:  # no cell in the area at any of these origins
        return frame
    frame = add_stacked_features_at(frame, events, cells, spec)
    frame = join_context(frame, context, ContextParams(tz=spec.tz))
    return add_derived_features(frame, "hotspot", KEYS)


def chain_filters(
    *filters: Callable[[pd.DataFrame], pd.DataFrame] | None,
) -> Callable[[pd.DataFrame], pd.DataFrame] | None:
    """The row filters (None: keep every row) applied one after the other, or None."""
    todo = [f for f in filters if f is not None]
    if not todo:
        return None
    if len(todo) == 1:
        return todo[0]

    def apply(chunk: pd.DataFrame) -> pd.DataFrame:
        for f in todo:
            chunk = f(chunk)
        return chunk

    return apply


class FrameBuilder(Protocol):
    """Builds the model frame ``(events, cells, origins, spec, context)``:
    :func:`build_model_frame` here, or ``riskwarn.engine`` per origin block on a cluster
    (the same rows). Backtests, training and serving all build it so, the ``ctx_*``
    context inputs joined before the derived features in every one."""

    def __call__(
        self,
        events: pd.DataFrame,
        cells: pd.DataFrame,
        origins: pd.DatetimeIndex,
        spec: HotspotBacktestSpec,
        context: pd.DataFrame | None = None,
    ) -> pd.DataFrame: ...


def run_hotspot_backtest(
    events: pd.DataFrame,
    spec: HotspotBacktestSpec,
    area_cells: pd.DataFrame | None = None,
    context: pd.DataFrame | None = None,
    *,
    frame_builder: FrameBuilder | None = None,
    trainer: BoosterTrainer | None = None,
    judged: pd.DataFrame | None = None,
) -> HotspotBacktestResult:
    """Backtest the model and every baseline on ``events`` (canonical incidents frame).

    ``judged``: the events the forecasts are judged on (canonical, every source the
    city's warnings cover) when ``events`` are some sources only (``riskwarn train
    --source``): the model's inputs and training labels come from ``events``, but every
    method's evaluation windows count ``judged`` (their labels, the events outside the
    scored area, those without coordinates; ``metrics["counted_on_sources"]`` names
    them). None: ``events`` themselves.

    The scored area is ``area_cells`` (a study area's cells,
    :func:`features.cells.cells_in_area`) when given (every cell at every origin), else
    at each origin every cell with an event known before it (training origins included,
    :class:`features.cells.ActiveArea`). ``context``: other sources' points on the same grid
    (see :func:`build_model_frame`). ``frame_builder`` and ``trainer`` say where the model
    frame is built and the boosters grown (default: here; ``riskwarn.engine``).
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    versions, unlocated = _located(events, spec)
    if judged is not None:  # the windows count every source's events, not the inputs' only
        judged_versions, unlocated = _located(judged, spec)
    else:
        judged_versions = versions
    # ``events`` may hold the earlier versions of corrected records (riskwarn.lake.
    # read_versions): every input of an origin takes the version valid at it (at the
    # start: the area, the busiest cells, the cells' admin codes); the evaluation's labels
    # the current versions, each refit's training labels those valid at its origin
    # (late_cell_labels)
    ev = latest_versions(versions)
    start_utc = pd.Timestamp(spec.start).tz_localize(spec.tz).tz_convert("UTC")
    at_start = versions_at(versions, pd.DatetimeIndex([start_utc]))[0][1]
    spec = replace(spec, model=replace(spec.model, tz=spec.tz, horizon_days=spec.horizon_days))
    evals, train = origins_for(spec)
    all_origins = evals.union(train)
    # the scored area at each origin: the cells with an event known before it (ActiveArea,
    # as serving scores), so the frame holds rows of every cell active at some origin and
    # build_model_frame keeps, at each origin, those active then (a study area: every cell)
    area = ActiveArea(versions)
    if area_cells is not None:
        cells = area_cells[["cell_x", "cell_y"]].astype("int64")
        cells = cells.drop_duplicates().sort_values(["cell_x", "cell_y"], ignore_index=True)
        spec = replace(spec, every_given_cell=True)
    else:
        cells = area.ever(all_origins.max())
    n_at_start = len(area.cells(start_utc)) if area_cells is None else len(cells)
    restricted = area_cells is None and spec.max_cells is not None and n_at_start > spec.max_cells
    if restricted:
        assert spec.max_cells is not None
        busiest = (
            at_start[at_start["occurred_at"] < start_utc]
            .groupby(["cell_x", "cell_y"])
            .size()
            .nlargest(spec.max_cells)
            .index
        )
        cells = pd.DataFrame(list(busiest), columns=["cell_x", "cell_y"]).sort_values(
            ["cell_x", "cell_y"], ignore_index=True
        )
    if cells.empty or n_at_start == 0:
        raise ValueError(
            "no cells to score: the study area holds no cell centre"
            if area_cells is not None
            else "no active cells: no events before the backtest start"
        )
    incomplete = windows_past_data_end(evals, ev["occurred_at"].max(), spec)
    if incomplete:
        log.warning(
            "%d forecast window(s) run past the last day of the data (%s); their labels "
            "count only the days the data covers",
            len(incomplete),
            ", ".join(incomplete),
        )
    spec = replace(spec, sample_negatives_before=sampling_cut(evals, train, spec.model))
    # the context inputs inside the one frame builder, before the derived features, as
    # training's and serving's frames have them (they were joined after them here)
    build: FrameBuilder = frame_builder or build_model_frame
    frame = build(versions, cells, all_origins, spec, context)
    features = feature_columns(frame)
    timings["features_s"] = time.perf_counter() - t0
    log.info(
        "features: %d rows x %d features in %.1fs", len(frame), len(features), timings["features_s"]
    )

    t1 = time.perf_counter()
    eval_labels = frame.loc[frame["origin"].isin(evals), [*KEYS, "label_count", "label_any"]]
    if judged is not None:  # the same rows, their windows' events of every judged source
        eval_labels = judged_labels(judged_versions, eval_labels[KEYS], cells, evals, spec)
    model_frame = model_rows(frame, train, evals)
    del frame  # model_frame is the frame itself when it was already sorted (no second copy)
    late = late_cell_labels(versions, cells, all_origins, spec)
    mb = run_model_backtest(model_frame, list(evals), features, spec.model, trainer, late)
    timings["model_s"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    parts = []
    for pos, view in versions_at(versions, evals):  # one pass without corrections
        at = evals[pos]
        cube = history_cube(view, cells, at.max(), spec.tz, start=history_start(at, spec.baselines))
        parts.append(hotspot_baseline_scores(cube, list(at), spec.baselines))
    base = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    # every method on the model's rows: the cells active at each origin (paired windows)
    base = base.merge(eval_labels[KEYS], on=KEYS, how="inner", validate="many_to_one")
    timings["baselines_s"] = time.perf_counter() - t2

    labels = eval_labels
    scores = pd.concat(
        [
            mb.scores[[*KEYS, "score"]].assign(method="xgboost"),
            base,
            ceiling_scores(labels),
            loo_ceiling_scores(labels),
        ],
        ignore_index=True,
    )
    t3 = time.perf_counter()
    # the standard count: every event of a window, those in a cell not scored at its origin
    # (no event known before it) misses for every method (with a study area, or the tests'
    # busiest cells, the events of those cells only)
    counted_all = area_cells is None and not restricted
    # (labels by the current versions, as the evaluation rows' labels)
    outside = outside_area_labels(
        judged_versions, labels[KEYS], evals, spec, None if counted_all else cells
    )
    metrics = evaluate_methods(scores, labels, outside=outside)
    metrics["counted_on_sources"] = source_names(judged if judged is not None else events)
    timings["metrics_s"] = time.perf_counter() - t3
    if "admin_code" in ev.columns and ev["admin_code"].notna().any():
        metrics["calibration_by_admin"] = calibration_per_admin(
            # (a report's grouping, no model input: each scored cell's admin unit, from the
            # events before the last origin, as cells join the area after the start)
            mb.scores,
            labels,
            cell_admin_codes(ev[ev["occurred_at"] < evals.max()]),
        )
    metrics["windows_past_data_end"] = incomplete
    # events of the evaluation windows without coordinates (no cell): in no method's hit
    # rate or PAI denominator (every method alike); counted so that reports can say so
    last_end = label_window_end(pd.Series([evals.max()]), spec.horizon_days, spec.tz).iloc[0]
    metrics["events_without_coordinates"] = int(
        ((unlocated >= evals.min()) & (unlocated < last_end)).sum()
    )
    per_origin = labels.groupby("origin").size()
    metrics["n_active_cells"] = int(labels[["cell_x", "cell_y"]].drop_duplicates().shape[0])
    metrics["active_cells_per_origin"] = [int(per_origin.min()), int(per_origin.max())]
    metrics["active_area"] = (
        "study area: every cell whose centre lies in the given polygon (events outside "
        "it are not counted)"
        if area_cells is not None
        else f"the {spec.max_cells} busiest cells before the start, each from its first event "
        "known on (a test restriction: events elsewhere are not counted)"
        if restricted
        else "at each origin the cells with an event known before it, as served (events "
        "elsewhere are counted as misses)"
    )
    metrics["n_origins"] = len(evals)
    metrics["objective"] = spec.model.objective
    metrics["hyperparameter_trials"] = mb.trials
    metrics["refits"] = len(mb.fits)
    if spec.model.blend:
        metrics["blends"] = mb.fits["blend"].tolist()
    metrics["features"] = features
    timings["total_s"] = time.perf_counter() - t0
    metrics["timings_s"] = timings
    return HotspotBacktestResult(
        scores,
        metrics,
        mb,
        features,
        timings,
        cells,
        model_frame,
        evals,
        spec,
        outside,
        late,
        labels.reset_index(drop=True),
    )


def _located(events: pd.DataFrame, spec: HotspotBacktestSpec) -> tuple[pd.DataFrame, pd.Series]:
    """The versions of ``events`` with a cell (integer cell_x / cell_y) and the times of
    the events without coordinates (no cell), each record once (its current version)."""
    located = assign_cells(events, spec.crs, spec.cell_size_m)
    has_cell = located[["cell_x", "cell_y"]].notna().all(axis=1).to_numpy()
    versions = located[has_cell].astype({"cell_x": "int64", "cell_y": "int64"})
    current = located["known_to"].isna().to_numpy() if "known_to" in located else True
    unlocated = pd.to_datetime(located.loc[~has_cell & current, "occurred_at"], utc=True)
    return versions, unlocated


def source_names(events: pd.DataFrame) -> list[str]:
    """The sources of ``events`` (their ``source`` column, sorted; [] without one): the
    sources whose events a backtest's windows counted (``metrics["counted_on_sources"]``)."""
    if "source" not in events.columns:
        return []
    return sorted({str(s) for s in events["source"].dropna().unique()})


def judged_labels(
    judged: pd.DataFrame,
    rows: pd.DataFrame,
    cells: pd.DataFrame,
    origins: pd.DatetimeIndex,
    spec: HotspotBacktestSpec,
) -> pd.DataFrame:
    """``label_count`` / ``label_any`` of ``rows`` (origin, cell_x, cell_y) counted on the
    ``judged`` events (located versions: each origin counts the version valid at it, as
    :func:`features.incidents.build_cell_labels` does), for ``cells`` at ``origins``."""
    area = cells[["cell_x", "cell_y"]].astype("int64").drop_duplicates()
    area = area.sort_values(["cell_x", "cell_y"], ignore_index=True)
    labels = build_cell_labels(judged, area, origins, spec.horizon_days, spec.tz)
    labels["origin"] = labels["origin"].astype(rows["origin"].dtype)
    out = rows[KEYS].merge(labels, on=KEYS, how="left", validate="one_to_one")
    out["label_count"] = out["label_count"].fillna(0).astype(labels["label_count"].dtype)
    out["label_any"] = (out["label_count"] > 0).astype(labels["label_any"].dtype)
    out.index = rows.index
    return out


def late_cell_labels(
    events: pd.DataFrame,
    cells: pd.DataFrame,
    origins: pd.DatetimeIndex,
    spec: HotspotBacktestSpec,
) -> pd.DataFrame:
    """The label events of the ``origins`` x ``cells`` rows known only after their window
    ended (``origin, cell_x, cell_y, known_at``; :func:`models.known_labels.late_label_events`
    with the windows of :func:`models.backtest.label_window_end`, the local days the
    labels count). ``events``: ``occurred_at``, optional ``reported_at``, integer cells.
    With the earlier versions of corrected records (:func:`riskwarn.lake.read_versions`)
    the rows' labels count the current versions (what happened, the evaluation's truth),
    so these are the current versions known after the window ended (a correction from its
    ``known_from``) and, with a ``gone_at`` (their ``known_to``), the superseded versions
    still valid after it: a refit at cut-off ``T`` counts each record in its version valid
    at ``T`` (:func:`models.known_labels.labels_known_by`), never a correction made later."""
    area = cells[["cell_x", "cell_y"]].astype("int64").drop_duplicates()
    idx = pd.DatetimeIndex(origins).sort_values()
    ends = pd.DatetimeIndex(label_window_end(pd.Series(idx), spec.horizon_days, spec.tz))
    current = latest_versions(events).merge(area, on=["cell_x", "cell_y"])
    late = late_label_events(current, ["cell_x", "cell_y"], idx, ends)
    if "known_to" not in events.columns:
        return late
    old = events.loc[events["known_to"].notna()].merge(area, on=["cell_x", "cell_y"])
    gone = late_label_events(old, ["cell_x", "cell_y"], idx, ends, until="known_to")
    return pd.concat([late, gone], ignore_index=True) if len(gone) else late


def outside_area_labels(
    events: pd.DataFrame,
    scored: pd.DataFrame,
    origins: pd.DatetimeIndex,
    spec: HotspotBacktestSpec,
    area: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Labels (origin, cell_x, cell_y, label_count) of the windows at ``origins`` in the
    cells that hold an event in the window but no row of ``scored`` (origin, cell_x,
    cell_y) at that origin: a cell with no event known before the origin (not in the
    scored area then, :class:`features.cells.ActiveArea`) or outside the scored cells; by
    the labels' own rule (local days [origin, origin + horizon)); only rows with events.
    ``area`` (cell_x, cell_y): count only these cells' events (a study area, the tests'
    busiest cells); None: every cell's."""
    lo = origins.min() - pd.Timedelta(days=2)
    hi = origins.max() + pd.Timedelta(days=spec.horizon_days + 2)
    near = events[(events["occurred_at"] >= lo) & (events["occurred_at"] < hi)]
    candidates = near[["cell_x", "cell_y"]].drop_duplicates().astype("int64")
    if area is not None:
        candidates = candidates.merge(area[["cell_x", "cell_y"]].drop_duplicates(), how="inner")
    if candidates.empty:
        return pd.DataFrame(
            {
                "origin": pd.Series(dtype="datetime64[ns, UTC]"),
                "cell_x": pd.Series(dtype="int64"),
                "cell_y": pd.Series(dtype="int64"),
                "label_count": pd.Series(dtype="int32"),
            }
        )
    labels = build_cell_labels(
        events,
        candidates[["cell_x", "cell_y"]].sort_values(["cell_x", "cell_y"]),
        origins,
        spec.horizon_days,
        spec.tz,
    )
    labels["origin"] = labels["origin"].astype("datetime64[ns, UTC]")
    labels = labels.loc[labels["label_count"].to_numpy() > 0]
    keys = scored[KEYS].astype({"origin": "datetime64[ns, UTC]"})
    flagged = labels.merge(keys, on=KEYS, how="left", indicator=True, validate="one_to_one")
    unscored = (flagged["_merge"] == "left_only").to_numpy()
    return labels.loc[unscored, [*KEYS, "label_count"]].reset_index(drop=True)


def windows_past_data_end(
    origins: pd.DatetimeIndex, last_event: pd.Timestamp, spec: HotspotBacktestSpec
) -> list[str]:
    """Local dates of the origins whose window [origin, origin + horizon) ends after the
    local day of the last event (the data's end as far as the events tell)."""
    if pd.isna(last_event):
        return []
    data_end = pd.Timestamp(last_event).tz_convert(spec.tz).normalize() + pd.DateOffset(days=1)
    local = origins.tz_convert(spec.tz)
    ends = local + pd.DateOffset(days=spec.horizon_days)
    return [str(o.date()) for o, e in zip(local, ends, strict=True) if e > data_end]


def cell_admin_codes(events: pd.DataFrame) -> pd.DataFrame:
    """Each cell's admin unit: the most frequent ``admin_code`` of its events."""
    ev = events.dropna(subset=["admin_code"])
    counts = ev.groupby(["cell_x", "cell_y", "admin_code"]).size().rename("n").reset_index()
    top = counts.sort_values(
        ["cell_x", "cell_y", "n", "admin_code"], ascending=[True, True, False, True]
    )
    return top.drop_duplicates(["cell_x", "cell_y"])[["cell_x", "cell_y", "admin_code"]]


def calibration_per_admin(
    model_scores: pd.DataFrame, labels: pd.DataFrame, admin: pd.DataFrame
) -> list[dict[str, Any]]:
    """Brier / ECE / AUC of the calibrated probability per admin unit (e.g. district)."""
    frame = (
        model_scores[[*KEYS, "score"]]
        .merge(labels, on=KEYS)
        .merge(admin, on=["cell_x", "cell_y"], how="left")
        .fillna({"admin_code": "unknown"})
        .rename(columns={"score": "probability"})
    )
    return calibration_by_admin(frame).to_dict("records")


def calibration_by_admin(frame: pd.DataFrame, group_col: str = "admin_code") -> pd.DataFrame:
    """:func:`models.calibration.calibration_by_group` of ``frame`` (``label_any``,
    ``probability``) per ``group_col`` (no missing keys), the same columns, rows and values
    within floating rounding, through :func:`models.metrics.probability_metrics_numpy`
    on one sort of the rows instead of a pandas group and scikit-learn's checks per group
    (tests/test_calibration_by_admin.py)."""
    codes, keys = pd.factorize(frame[group_col], sort=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(codes, minlength=len(keys)))]
    y = frame["label_any"].to_numpy()[order]
    p = frame["probability"].to_numpy()[order]
    rows = []
    for i, key in enumerate(keys):
        a, b = bounds[i], bounds[i + 1]
        res = probability_metrics_numpy(y[a:b], p[a:b])
        res.update({group_col: key, "n": int(b - a), "mean_probability": float(p[a:b].mean())})
        rows.append(res)
    return pd.DataFrame(rows)


def scores_for_output(scores: pd.DataFrame, tz: str) -> pd.DataFrame:
    """``scores.parquet`` layout: origin as the local date, integer cells, method, score."""
    out = scores.copy()
    out["origin"] = pd.DatetimeIndex(out["origin"]).tz_convert(tz).date
    out["cell_x"] = out["cell_x"].astype(np.int64)
    out["cell_y"] = out["cell_y"].astype(np.int64)
    return out[["origin", "cell_x", "cell_y", "method", "score"]].sort_values(
        ["method", "origin", "cell_x", "cell_y"], ignore_index=True
    )


def outside_for_output(outside: pd.DataFrame, tz: str) -> pd.DataFrame:
    """``events_outside_area.parquet``: the windows' events in cells outside the scored area
    (origin as the local date, like ``scores.parquet``), so that hit rates rebuilt from the
    published files count every event."""
    out = outside.copy()
    out["origin"] = pd.DatetimeIndex(out["origin"]).tz_convert(tz).date
    out = out.astype({"cell_x": np.int64, "cell_y": np.int64, "label_count": np.int64})
    return out[["origin", "cell_x", "cell_y", "label_count"]].sort_values(
        ["origin", "cell_x", "cell_y"], ignore_index=True
    )
