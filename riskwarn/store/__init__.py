"""The serving store: forecasts, warnings, reviews and the audit log (SQLite or PostgreSQL).

The documented schema (``docs/serving-store.md``) is the integration point for the
city's other systems; riskwarn code goes through :class:`Store`.
"""

from sqlalchemy.exc import SQLAlchemyError

from riskwarn.store.api import (
    AlreadyAcknowledgedError,
    NeverSentError,
    PersonalDataError,
    ReplacedWarningError,
    RunRestagedError,
    StaleWarningError,
    Store,
    WithdrawnWarningError,
    community_run_id,
    run_id_for,
    warning_id_for,
)

# what a store that cannot answer raises (a blip, a failover, a full disk): for callers
# that must not import SQLAlchemy themselves (the dashboard reads no SQL of its own)
STORE_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, OSError)

__all__ = [
    "STORE_ERRORS",
    "AlreadyAcknowledgedError",
    "NeverSentError",
    "PersonalDataError",
    "ReplacedWarningError",
    "RunRestagedError",
    "StaleWarningError",
    "Store",
    "WithdrawnWarningError",
    "community_run_id",
    "run_id_for",
    "warning_id_for",
]
