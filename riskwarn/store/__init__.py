"""The serving store: forecasts, warnings, reviews and the audit log (SQLite or PostgreSQL).

The documented schema (``docs/serving-store.md``) is the integration point for the
city's other systems; riskwarn code goes through :class:`Store`.
"""

from riskwarn.store.api import (
    AlreadyAcknowledgedError,
    NeverSentError,
    PersonalDataError,
    RunRestagedError,
    StaleWarningError,
    Store,
    WithdrawnWarningError,
    run_id_for,
    warning_id_for,
)

__all__ = [
    "AlreadyAcknowledgedError",
    "NeverSentError",
    "PersonalDataError",
    "RunRestagedError",
    "StaleWarningError",
    "Store",
    "WithdrawnWarningError",
    "run_id_for",
    "warning_id_for",
]
