"""Community x week rows for the disputes-where forecast: admin units (村/社区), not cells.

Disputes are registered where people live, scattered over the community's cells: on the
small simulated city only 5.7 % of a week's disputes fall in a 250 m cell with an earlier
dispute, but 96.5 % in a community with one (``bench/bench_dispute_coverage.py``). So
the unit ranked is the community (``admin_units`` of level ``community``; a dispute's
``admin_code``).

One row per (origin, community) for every community at every origin (the scored area is
the whole city: nothing is left out because it had no earlier dispute). Everything a
feature reads was opened strictly before the origin, in the version of its record known
at the origin (:func:`features.cells.versions_at`); the label counts the disputes opened
in ``[origin, origin + horizon)`` as the caller's table holds them. Disputes of a window
whose ``admin_code`` is missing or names no community are not in any row: they are
returned apart (:attr:`CommunityRows.outside`) so that every metric counts them as misses.

Origins are local midnights: "opened before the origin" is "opened on an earlier local
day", so the counts come from one (community x local day) cube and its cumulative sums.
Pure: frames in, frames out; no personal field is read (only ``opened_at`` and
``admin_code``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from features.calendar import calendar_features, origin_local_days
from features.cells import versions_at
from riskwarn.geo import project

KEYS = ["origin", "admin_code"]
LABEL = "label_count"
# each baseline: the expected disputes of the window in the community, from the rows' own
# columns (so a baseline is scored on exactly the model's rows)
BASELINES = ("last_4w", "long_run", "population_rate")


@dataclass(frozen=True)
class CommunityParams:
    """Time zone of the origins, horizon and the count windows (days) of the features."""

    tz: str = "Asia/Shanghai"
    horizon_days: int = 7
    windows_days: tuple[int, ...] = (28, 91, 182, 364)
    holidays: str = "CN"


@dataclass(frozen=True)
class CommunityRows:
    """``rows``: one per (origin, community), features, baselines, ``label_count``;
    ``outside``: per origin, the window's disputes in no community (``outside_count``)."""

    rows: pd.DataFrame
    outside: pd.DataFrame


def communities(admin_units: pd.DataFrame, crs: str) -> pd.DataFrame:
    """The communities of ``admin_units`` (``level == 'community'``): ``admin_code``,
    ``township_code``, ``county_code``, ``population`` (0 when unknown), ``area_km2``
    (of the WKT boundary projected to ``crs``; NaN without one), sorted by code."""
    units = admin_units.drop_duplicates("record_id", keep="last")
    parent = dict(zip(units["record_id"].astype(str), units["parent_id"], strict=True))
    c = units[units["level"] == "community"].sort_values("record_id", kind="stable")
    codes = c["record_id"].astype(str).to_numpy()
    township = [parent.get(code) for code in codes]
    county = [parent.get(str(t)) if t is not None else None for t in township]
    area = np.full(len(c), np.nan)
    wkt = c["geometry_wkt"] if "geometry_wkt" in c else pd.Series([None] * len(c))
    for i, text in enumerate(wkt):
        if isinstance(text, str) and text:
            geom = shapely.transform(
                shapely.from_wkt(text), lambda xy: np.column_stack(project(xy[:, 0], xy[:, 1], crs))
            )
            area[i] = shapely.area(geom) / 1e6
    pop = pd.to_numeric(c["population"], errors="coerce") if "population" in c else np.nan
    return pd.DataFrame(
        {
            "admin_code": codes,
            "township_code": pd.Series(township, dtype="object").astype("string").to_numpy(),
            "county_code": pd.Series(county, dtype="object").astype("string").to_numpy(),
            "population": np.nan_to_num(np.asarray(pop, dtype=float), nan=0.0),
            "area_km2": area,
        }
    )


def _local_days(ts: pd.Series, tz: str) -> np.ndarray:
    at = pd.DatetimeIndex(pd.to_datetime(ts, utc=True)).tz_convert(tz).tz_localize(None)
    return at.normalize().to_numpy().astype("datetime64[D]").astype("int64")


@dataclass(frozen=True)
class _Cube:
    """Cumulative disputes per community before each local day: ``cum[c, d - day0]`` =
    disputes of community ``c`` opened on a local day ``< d``; ``last[c, d - day0]`` the
    last such day (-1: none); ``first`` the city's first dispute day (None: no dispute)."""

    day0: int
    cum: np.ndarray
    last: np.ndarray
    first: int | None

    def before(self, day: np.ndarray) -> np.ndarray:
        """(communities, len(day)) disputes opened before each local day."""
        return self.cum[:, np.clip(day - self.day0, 0, self.cum.shape[1] - 1)]

    def last_before(self, day: np.ndarray) -> np.ndarray:
        return self.last[:, np.clip(day - self.day0, 0, self.last.shape[1] - 1)]


def _cube(day: np.ndarray, pos: np.ndarray, n_units: int, day0: int, day1: int) -> _Cube:
    """The cube of the disputes (``day``, community position ``pos``; -1: none) over local
    days ``day0 .. day1`` (both inclusive, as origins)."""
    n_days = day1 - day0 + 2
    keep = (pos >= 0) & (day >= day0) & (day <= day1)
    daily = np.zeros((n_units, n_days), dtype=np.int64)
    np.add.at(daily, (pos[keep], day[keep] - day0 + 1), 1)  # counted from the next day on
    cum = np.cumsum(daily, axis=1)
    idx = np.where(daily > 0, np.arange(n_days)[None, :] - 1 + day0, -1)
    last = np.maximum.accumulate(idx, axis=1)
    first = int(day.min()) if len(day) else None
    return _Cube(day0, cum, last, first)


def _positions(codes: pd.Series, units: pd.DataFrame) -> np.ndarray:
    """Position of each dispute's community in ``units`` (-1: missing or no community)."""
    index = pd.Index(units["admin_code"])
    return index.get_indexer(codes.astype("string").fillna("").to_numpy())


def _features(
    cube: _Cube, units: pd.DataFrame, origins: pd.DatetimeIndex, params: CommunityParams
) -> pd.DataFrame:
    """The feature and baseline columns of ``origins`` x ``units`` (origin-major, units
    in their order)."""
    days = origin_local_days(origins, params.tz).astype("int64")
    n_u, n_o = len(units), len(days)
    h = params.horizon_days

    def flat(grid: np.ndarray) -> np.ndarray:  # (units, origins) -> origin-major rows
        return np.asarray(grid, dtype=float).T.ravel()

    before = cube.before(days)  # (units, origins): disputes opened before each origin

    def last_days(w: int) -> np.ndarray:
        return before - cube.before(days - w)

    out: dict[str, np.ndarray] = {
        "origin": np.repeat(origins.to_numpy(), n_u),
        "admin_code": np.tile(units["admin_code"].to_numpy(), n_o),
    }
    for w in params.windows_days:
        out[f"n_{w}d"] = flat(last_days(w))
    out["n_all"] = flat(before)
    last = cube.last_before(days)
    out["days_since_last"] = flat(np.where(last >= 0, days[None, :] - last, np.nan))
    city_all = before.sum(axis=0).astype(float)
    # days of data before the origin: from the city's first dispute (0: none yet)
    first = cube.first if cube.first is not None else 0
    history = np.where(city_all > 0, days - first, 0).astype(float)
    out["history_days"] = np.repeat(history, n_u)
    # the township's disputes over the longest window (the community's neighbourhood)
    town = units["township_code"].astype("string").fillna("").to_numpy()
    t_codes, t_pos = np.unique(town, return_inverse=True)
    w_max = max(params.windows_days)
    t_sum = np.zeros((len(t_codes), n_o))
    np.add.at(t_sum, t_pos, last_days(w_max))
    out[f"township_n_{w_max}d"] = flat(t_sum[t_pos])
    out["city_n_28d"] = np.repeat(last_days(28).sum(axis=0).astype(float), n_u)
    pop = units["population"].to_numpy(float)
    area = units["area_km2"].to_numpy(float)
    t_pop = np.zeros(len(t_codes))
    np.add.at(t_pop, t_pos, pop)
    out["population"] = np.tile(pop, n_o)
    out["township_population"] = np.tile(t_pop[t_pos], n_o)
    out["area_km2"] = np.tile(area, n_o)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["density"] = np.tile(np.where(area > 0, pop / area, np.nan), n_o)
    # the baselines: expected disputes of the window [origin, origin + h) in the community
    per_day = h / np.maximum(history, 1.0)  # (origins,)
    share = pop / pop.sum() if pop.sum() > 0 else np.full(n_u, 1.0 / max(n_u, 1))
    out["last_4w"] = flat(last_days(28)) * h / 28
    out["long_run"] = flat(before * per_day[None, :])
    out["population_rate"] = flat(share[:, None] * (city_all * per_day)[None, :])
    cal = calendar_features(origins, params.tz, h, params.holidays)
    cal = cal.drop(columns=["cal_day_of_week", "cal_day_of_year"])
    return pd.DataFrame(out).merge(cal, on="origin", how="left", validate="many_to_one")


def _labels(cube: _Cube, days: np.ndarray, horizon: int) -> np.ndarray:
    """(origins x units, origin-major) disputes opened in ``[day, day + horizon)``."""
    return (cube.before(days + horizon) - cube.before(days)).T.ravel().astype(float)


def community_week_rows(
    disputes: pd.DataFrame,
    units: pd.DataFrame,
    origins: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    params: CommunityParams | None = None,
    *,
    labels_from: pd.DataFrame | None = None,
) -> CommunityRows:
    """Rows of every (origin, community): features from the disputes opened before the
    origin (each record's version known at it, when ``disputes`` holds versions), the
    baselines (:data:`BASELINES`: ``last_4w``, ``long_run``, ``population_rate``) and
    ``label_count``: disputes opened in the window, read from ``labels_from`` (default:
    the current versions of ``disputes``).

    ``disputes``: ``opened_at`` (UTC), ``admin_code``; optional ``known_from`` /
    ``known_to`` (:func:`riskwarn.lake.read_versions`). ``units``: :func:`communities`.
    """
    params = params or CommunityParams()
    idx = pd.DatetimeIndex(sorted(set(pd.DatetimeIndex(origins))))
    if len(idx) and idx.tz is None:
        raise ValueError("origins must be timezone-aware (UTC) timestamps")
    days = origin_local_days(idx, params.tz).astype("int64")
    current = labels_from if labels_from is not None else _current(disputes)
    if len(idx) == 0:
        return CommunityRows(pd.DataFrame(columns=[*KEYS, LABEL]), _no_outside())
    every_day = _local_days(disputes["opened_at"], params.tz)
    lo = int(days.min()) - max(max(params.windows_days), 28) - 1
    lo = min(lo, int(every_day.min())) if len(every_day) else lo
    hi = int(days.max()) + params.horizon_days
    parts: list[pd.DataFrame] = []
    for pos, known in versions_at(disputes, idx):
        d = _local_days(known["opened_at"], params.tz)
        cube = _cube(d, _positions(known["admin_code"], units), len(units), lo, hi)
        parts.append(_features(cube, units, idx[pos], params))
    rows = pd.concat(parts, ignore_index=True).sort_values(KEYS, kind="stable")
    rows = rows.reset_index(drop=True)
    cd = _local_days(current["opened_at"], params.tz)
    cp = _positions(current["admin_code"], units)
    label_cube = _cube(cd, cp, len(units), lo, hi)
    labels = pd.DataFrame(
        {
            "origin": np.repeat(idx.to_numpy(), len(units)),
            "admin_code": np.tile(units["admin_code"].to_numpy(), len(idx)),
            LABEL: _labels(label_cube, days, params.horizon_days),
        }
    )
    rows = rows.merge(labels, on=KEYS, how="left", validate="one_to_one")
    in_window = (cd[None, :] >= days[:, None]) & (cd[None, :] < days[:, None] + params.horizon_days)
    outside = pd.DataFrame(
        {"origin": idx, "outside_count": (in_window & (cp < 0)[None, :]).sum(axis=1).astype(float)}
    )
    return CommunityRows(rows, outside)


def _current(disputes: pd.DataFrame) -> pd.DataFrame:
    if "known_to" not in disputes.columns:
        return disputes
    return disputes.loc[disputes["known_to"].isna()]


def _no_outside() -> pd.DataFrame:
    return pd.DataFrame({"origin": pd.DatetimeIndex([], tz="UTC"), "outside_count": []})


def feature_columns(rows: pd.DataFrame) -> list[str]:
    """The model's inputs: every column but the keys, the label and the codes."""
    skip = {*KEYS, LABEL, "township_code", "county_code"}
    return [c for c in rows.columns if c not in skip]


# The disputes-where rule served by community (README "Civil disputes by community"): the
# baseline the community model did not beat in its rolling-origin backtest
# (bench/bench_community_disputes.py, docs/benchmarks-models.md), served instead of it:
# a model must never lose to the rule it replaces.
SERVED = "population_rate"
# the version of the served rule's definition, stored with every published ranking
# (riskwarn.pipeline.publish_communities): raise it when the rule's arithmetic changes,
# so a re-published origin says it was ranked by another version
SERVED_VERSION = "1"


def served_ranking(
    disputes: pd.DataFrame,
    units: pd.DataFrame,
    origin: pd.Timestamp,
    params: CommunityParams | None = None,
) -> pd.DataFrame:
    """Every community at ``origin`` ranked by the served rule (:data:`SERVED`), highest
    first: ``admin_code``, ``township_code``, ``county_code``, ``score`` (what it is
    ranked by: the rule's value), ``expected`` (disputes of the window from ``origin``:
    the same number for this rule), ``n_28d`` and ``n_364d`` (disputes in the 4 and 52
    weeks before it), ``rank`` (1 = highest; ties share the order of the codes).
    ``disputes`` may hold the versions of corrected records
    (:func:`riskwarn.lake.read_versions`): each is counted as it was known at ``origin``."""
    params = params or CommunityParams()
    built = community_week_rows(disputes, units, pd.DatetimeIndex([origin]), params)
    rows = built.rows.merge(
        units[["admin_code", "township_code", "county_code"]], on="admin_code", how="left"
    )
    out = pd.DataFrame(
        {
            "admin_code": rows["admin_code"],
            "township_code": rows["township_code"],
            "county_code": rows["county_code"],
            "score": rows[SERVED],
            "expected": rows[SERVED],
            "n_28d": rows["n_28d"],
            "n_364d": rows["n_364d"],
        }
    )
    out = out.sort_values(["score", "admin_code"], ascending=[False, True], kind="stable")
    out["rank"] = np.arange(1, len(out) + 1)
    return out.reset_index(drop=True)
