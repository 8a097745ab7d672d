"""The forecasting domains: one frozen record each, the one place a domain is defined.

Shaped like :data:`riskwarn.contracts.TABLES`: every list, dict and if-chain over
domains elsewhere is a lookup here (:func:`get`, :func:`names`). A domain says what is
forecast (its model family and unit), from which lake table, for how long and how
often, with which holiday calendar, how probabilities become warning levels, and which
DAG trains and scores it.

Adding a hotspot domain is one entry in :data:`DOMAINS`; changing warning thresholds is
an edit of its :class:`LevelPolicy` here (reviewed like code: every threshold change is
a commit). Pure data: no pandas, no IO, cheap to import (DAG files import it at parse
time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise
from typing import Literal

Family = Literal["hotspot", "case", "site"]
Unit = Literal["cell", "case", "site"]

# The city's public-holiday calendar (a ``holidays`` country code): the simulated city
# and the deployment city are in mainland China. A backtest on another city's extract
# (Chicago: "US", Hong Kong: "HK") replaces it with that city's calendar.
CITY_HOLIDAYS = "CN"

# DAG ids that train and score domains (the DAG files in dags/ carry the same ids).
TRAIN_DAG = "train_models"
DAILY_SCORING_DAG = "score_and_warn"
NOWCAST_DAG = "geohazard_nowcast"

# A home whose newest published forecast is older than this is a replay (the demo's
# simulated city, a restored backup): the dashboard judges its warnings at their own
# origins (dashboard.queries.clock), and `scripts/services.sh up` starts its DAGs paused
# (riskwarn.orchestration.pause_on_replay).
REPLAY_AFTER = timedelta(days=14)


@dataclass(frozen=True)
class LevelPolicy:
    """How one domain turns calibrated probabilities into levels.

    ``raise_at[i]`` is the probability that raises a unit to rank ``i + 1``;
    ``hold_at[i]`` (lower) is the probability below which a unit already at rank
    ``i + 1`` or above drops under it. ``max_high_per_county`` caps orange+red per
    county per week (None = no cap). ``holds[i]``: whether a unit already at rank
    ``i + 1`` may be held there by its probability (False for a level the model was not
    fitted to warn at: its thresholds are placeholders, and a hold there would publish a
    level the model never chose, e.g. keep the rules' blue for hours after the rules
    dropped it).
    """

    raise_at: tuple[float, float, float, float]
    hold_at: tuple[float, float, float, float]
    max_high_per_county: int | None = None
    holds: tuple[bool, bool, bool, bool] = (True, True, True, True)

    def __post_init__(self) -> None:
        for seq in (self.raise_at, self.hold_at):
            if len(seq) != 4 or any(b <= a for a, b in pairwise(seq)):
                raise ValueError("thresholds must be 4 strictly increasing probabilities")
        if any(h > r for h, r in zip(self.hold_at, self.raise_at, strict=True)):
            raise ValueError("hold_at thresholds must not exceed raise_at thresholds")


@dataclass(frozen=True)
class Domain:
    """One forecasting domain.

    ``event_table`` holds the records counted (hotspots, cases) or used as labels
    (sites: ``hazard_events``); ``time_column`` is when such a record happened and
    ``group_column`` the category counted per group. Horizons and steps are in hours.
    ``scored_by`` is the DAG that publishes its forecasts on a schedule (None: only
    ``riskwarn score``); ``trained_by`` the DAG that retrains it (None: only
    ``riskwarn train``).
    """

    name: str
    family: Family
    unit: Unit
    event_table: str
    time_column: str
    group_column: str
    horizon_hours: int
    step_hours: int
    levels: LevelPolicy
    scored_by: str | None
    trained_by: str | None = TRAIN_DAG
    holiday_calendar: str = CITY_HOLIDAYS
    summary: str = ""
    # scoring refuses when a source the domain is served on has no record known at the
    # origin within this many days (riskwarn.scoring.check_data_age; the default of
    # ``Settings.max_data_age_days``); None: not checked
    max_data_age_days: float | None = None
    # further tables the domain's features read whose sources must be as fresh (the
    # ``event_table`` is always checked): a case's events stopping would read as calm
    also_fresh: tuple[str, ...] = ()

    @property
    def horizon_days(self) -> int:
        """The horizon in whole days (at least 1)."""
        return max(self.horizon_hours // 24, 1)

    @property
    def step_days(self) -> int:
        """The origin step in whole days (at least 1)."""
        return max(self.step_hours // 24, 1)

    @property
    def model_name(self) -> str:
        """The registered MLflow model of the domain."""
        return f"riskwarn-{self.name}"


_WEEKLY_CELL_LEVELS = LevelPolicy((0.30, 0.50, 0.70, 0.85), (0.25, 0.42, 0.60, 0.75), 10)

DOMAINS: dict[str, Domain] = {
    d.name: d
    for d in (
        Domain(
            "incidents",
            "hotspot",
            "cell",
            "incidents",
            "occurred_at",
            "category_group",
            horizon_hours=7 * 24,
            step_hours=7 * 24,
            levels=_WEEKLY_CELL_LEVELS,
            scored_by=DAILY_SCORING_DAG,
            summary="cells by the chance of at least one incident in the next 7 days",
            max_data_age_days=3.0,
        ),
        Domain(
            "incidents_daily",
            "hotspot",
            "cell",
            "incidents",
            "occurred_at",
            "category_group",
            horizon_hours=24,
            step_hours=24,
            levels=LevelPolicy((0.10, 0.20, 0.35, 0.50), (0.08, 0.16, 0.28, 0.42), 10),
            scored_by=None,
            trained_by=None,
            summary="cells by the chance of at least one incident tomorrow",
            max_data_age_days=3.0,
        ),
        Domain(
            "disputes",
            "hotspot",
            "cell",
            "disputes",
            "opened_at",
            "category",
            horizon_hours=7 * 24,
            step_hours=7 * 24,
            levels=_WEEKLY_CELL_LEVELS,
            scored_by=DAILY_SCORING_DAG,
            summary="cells by the chance of at least one new dispute in the next 7 days",
            max_data_age_days=5.0,
        ),
        Domain(
            "dispute_cases",
            "case",
            "case",
            "disputes",
            "opened_at",
            "category",
            horizon_hours=30 * 24,
            step_hours=7 * 24,
            # a third of open cases escalate within 30 days: warn well above that base rate
            levels=LevelPolicy((0.40, 0.55, 0.70, 0.85), (0.35, 0.50, 0.65, 0.80), 10),
            scored_by=DAILY_SCORING_DAG,
            summary="open dispute cases by the chance of escalation within 30 days",
            max_data_age_days=5.0,
            also_fresh=("dispute_events",),
        ),
        Domain(
            "geohazard",
            "site",
            "site",
            "hazard_events",
            "occurred_at",
            "event_type",
            horizon_hours=24,
            step_hours=24,
            levels=LevelPolicy((0.05, 0.15, 0.35, 0.60), (0.04, 0.12, 0.28, 0.50), None),
            scored_by=None,
            summary="monitored sites by the chance of a failure in the next local day",
            max_data_age_days=2.0,
        ),
        Domain(
            "geohazard_hourly",
            "site",
            "site",
            "hazard_events",
            "occurred_at",
            "event_type",
            # hourly origins; the probability is of a failure within the next 24 h
            horizon_hours=24,
            step_hours=1,
            levels=LevelPolicy((0.02, 0.08, 0.25, 0.50), (0.015, 0.06, 0.20, 0.40), None),
            scored_by=NOWCAST_DAG,
            summary="monitored sites by the chance of a failure in the next 24 hours, hourly",
        ),
    )
}


class UnknownDomain(ValueError):
    """A domain name that is not in the registry."""


def get(name: str) -> Domain:
    """The domain called ``name``; :class:`UnknownDomain` (listing the known) if none."""
    try:
        return DOMAINS[name]
    except KeyError:
        raise UnknownDomain(f"unknown domain {name!r}; one of {sorted(DOMAINS)}") from None


def names(
    family: Family | None = None,
    *,
    scored_by: str | None = None,
    trained_by: str | None = None,
) -> tuple[str, ...]:
    """Domain names in registry order, optionally of one family / scored or trained by a DAG."""
    return tuple(
        d.name
        for d in DOMAINS.values()
        if (family is None or d.family == family)
        and (scored_by is None or d.scored_by == scored_by)
        and (trained_by is None or d.trained_by == trained_by)
    )


def served() -> tuple[str, ...]:
    """Domains some DAG publishes on a schedule (the demo trains exactly these)."""
    return tuple(d.name for d in DOMAINS.values() if d.scored_by is not None)


def training_groups(names: Sequence[str]) -> list[tuple[str, ...]]:
    """``names`` cut into the groups trained together (:func:`riskwarn.pipeline.train_domains`,
    the ``train_models`` DAG): every site domain (``geohazard``, ``geohazard_hourly``) in
    one group, at the place of the first, as they read the same readings
    (:func:`riskwarn.pipeline.train_site_group`); any other domain (or a name that is no
    domain) alone. Order kept, duplicates dropped."""
    groups: list[list[str]] = []
    sites: list[str] | None = None
    seen: set[str] = set()
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        try:
            family = get(name).family
        except UnknownDomain:
            family = None
        if family == "site":
            if sites is None:
                sites = []
                groups.append(sites)
            sites.append(name)
        else:
            groups.append([name])
    return [tuple(g) for g in groups]
