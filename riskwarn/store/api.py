"""The serving-store API: the one way riskwarn reads and writes forecasts, warnings and audit.

The contract is ``docs/serving-store.md``. In short:

* a scoring run is *staged* (``stage_run``), filled (``write_forecasts``,
  ``write_warnings``) into staging tables, then *published* in one transaction
  (``publish_run``); readers only ever read published runs, so they never see a
  partial or empty run, and a failed run leaves the last published one in service;
* ids are deterministic, so re-running a scoring interval rewrites the same rows;
* review decisions use optimistic concurrency (``review_warning``) and are appended
  to ``warning_reviews`` and ``audit_log``, which the database keeps append-only.

The class is assembled from one mixin per responsibility: ``base`` (connections,
schema, ingest counts, audit), ``publishing`` (stage, fill, publish a run),
``reads`` (what is served), ``reviews`` (decisions on warnings), ``deliveries``
(the warning delivery log and acknowledgements of the streaming path) and
``communities`` (the weekly disputes ranking by community).
"""

from __future__ import annotations

from riskwarn.store.communities import CommunityStore, community_run_id
from riskwarn.store.deliveries import AlreadyAcknowledgedError, DeliveryStore, NeverSentError
from riskwarn.store.publishing import (
    PublishingStore,
    RunRestagedError,
    run_id_for,
    warning_id_for,
)
from riskwarn.store.reviews import (
    PersonalDataError,
    ReplacedWarningError,
    ReviewStore,
    StaleWarningError,
    WithdrawnWarningError,
)
from riskwarn.store.sql import json_dumps, make_engine

__all__ = [
    "AlreadyAcknowledgedError",
    "NeverSentError",
    "PersonalDataError",
    "ReplacedWarningError",
    "RunRestagedError",
    "StaleWarningError",
    "Store",
    "WithdrawnWarningError",
    "community_run_id",
    "json_dumps",
    "make_engine",
    "run_id_for",
    "warning_id_for",
]


class Store(PublishingStore, ReviewStore, DeliveryStore, CommunityStore):
    """The serving store at a SQLAlchemy URL (SQLite file or PostgreSQL)."""
