"""PostgreSQL roles (issue 13.12): the application cannot erase what audits it.

On the old code the application's own role owned every table: it could disable the
append-only trigger and delete 1,010 audit rows. Here the owner migrates; the pipeline
(writer), the dashboard and the read-only integration role each connect as a login
role that is a member of its group role, and the test checks every door they must
not open, and that the pipeline and the dashboard still work through the Store API.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from riskwarn.store import Store, run_id_for
from riskwarn.store.roles import DASHBOARD, READER, WRITER, create_group_roles

pytestmark = pytest.mark.postgres

ORIGIN = datetime(2026, 3, 2, tzinfo=UTC)
DOMAIN = "incidents"
DENIED = "42501"  # insufficient_privilege
CHECK = "23514"  # check_violation (the review-state trigger)


def url_as(url: str, user: str) -> str:
    return sa.make_url(url).set(username=user).render_as_string(hide_password=False)


@pytest.fixture
def roles(pg_url: str) -> Iterator[dict[str, str]]:
    """Login roles owner / pipeline / dashboard / reader for a fresh database."""
    suffix = uuid.uuid4().hex[:8]
    logins = {
        "owner": (f"rw_owner_{suffix}", None),
        "pipeline": (f"rw_pipeline_{suffix}", WRITER),
        "dashboard": (f"rw_dashboard_{suffix}", DASHBOARD),
        "reader": (f"rw_reader_{suffix}", READER),
    }
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    database = sa.make_url(pg_url).database
    with admin.connect() as conn:
        create_group_roles(conn)
        for name, group in logins.values():
            member = f" IN ROLE {group}" if group else ""
            conn.exec_driver_sql(f"CREATE ROLE {name} LOGIN{member}")
        conn.exec_driver_sql(f'ALTER DATABASE "{database}" OWNER TO {logins["owner"][0]}')
    try:
        yield {k: url_as(pg_url, name) for k, (name, _) in logins.items()}
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{database}" OWNER TO CURRENT_USER')
            for name, _ in logins.values():
                conn.exec_driver_sql(f"REASSIGN OWNED BY {name} TO CURRENT_USER")
                conn.exec_driver_sql(f"DROP OWNED BY {name}")
                conn.exec_driver_sql(f"DROP ROLE {name}")
        admin.dispose()


def publish_run(store: Store) -> str:
    run_id = store.stage_run(
        {
            "run_id": run_id_for(DOMAIN, ORIGIN),
            "domain": DOMAIN,
            "origin": ORIGIN,
            "horizon_hours": 168,
        }
    )
    ts = pd.Timestamp(ORIGIN)
    store.write_forecasts(
        run_id,
        pd.DataFrame(
            {
                "unit_type": "cell",
                "unit_id": ["c1", "c2"],
                "valid_to": ts + pd.Timedelta(days=7),
                "score": [2.0, 1.0],
                "rank": [1, 2],
            }
        ),
    )
    store.write_warnings(
        run_id,
        pd.DataFrame(
            {
                "unit_type": "cell",
                "unit_id": ["c1", "c2"],
                "valid_from": ts,
                "valid_to": ts + pd.Timedelta(days=7),
                "level": ["red", "yellow"],
                "score": [2.0, 1.0],
            }
        ),
    )
    store.publish_run(run_id)
    return run_id


def sqlstate_of(url: str, *statements: str, params: dict[str, Any] | None = None) -> str | None:
    """Run ``statements`` in one transaction as the URL's role; the SQLSTATE it fails with."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement), params or {})
    except sa.exc.DBAPIError as exc:
        return getattr(exc.orig, "sqlstate", "?")
    finally:
        engine.dispose()
    return None


def audit_rows(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM audit_log")).scalar_one()
    engine.dispose()
    return int(n)


def test_roles_cannot_erase_the_audit_or_fake_a_review(roles: dict[str, str]) -> None:
    owner = Store(roles["owner"])
    owner.upgrade()
    owner.close()

    # the pipeline works as the writer
    pipeline = Store(roles["pipeline"])
    assert pipeline.upgrade() == pipeline.head_revision()  # at head: a no-op, no DDL
    run_id = publish_run(pipeline)
    pipeline.audit("pipeline", "test_entry", "test", "1", {"n": 1})
    w = pipeline.warnings(domain=DOMAIN).set_index("unit_id")
    red, yellow = w.loc["c1", "warning_id"], w.loc["c2", "warning_id"]
    pipeline.close()

    # the dashboard reviews through the Store API
    dashboard = Store(roles["dashboard"])
    assert len(dashboard.published_snapshot(DOMAIN)["forecasts"]) == 2
    dashboard.review_warning(red, "accept", "confirmed by patrol", "alice", expected_version=1)
    assert dashboard.get_warning(red)["state"] == "accepted"
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        dashboard.stage_run(
            {"run_id": "incidents:x", "domain": DOMAIN, "origin": ORIGIN, "horizon_hours": 1}
        )
    dashboard.close()

    # the read-only role reads and writes nothing
    reader = Store(roles["reader"])
    assert reader.published_run(DOMAIN)["run_id"] == run_id
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        reader.review_warning(yellow, "dismiss", "no", "mallory", expected_version=1)
    reader.close()

    before = audit_rows(roles["owner"])
    assert before >= 3
    for who in ("pipeline", "dashboard", "reader"):
        url = roles[who]
        for statement in (
            "ALTER TABLE audit_log DISABLE TRIGGER ALL",
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
            "DROP TRIGGER audit_log_append_only ON audit_log",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
            "UPDATE audit_log SET actor = 'nobody'",
            "DELETE FROM warning_reviews",
            "UPDATE warning_reviews SET reviewer = 'nobody'",
            "ALTER TABLE warnings DISABLE TRIGGER warnings_review_state",
            "DELETE FROM warnings",
            "CREATE TABLE audit_copy (id int)",
            "DROP TABLE audit_log",
        ):
            assert sqlstate_of(url, statement) == DENIED, (who, statement)
        # a GRANT without the grant option only warns, and changes nothing
        granted = sqlstate_of(url, "GRANT DELETE ON audit_log TO PUBLIC", "DELETE FROM audit_log")
        assert granted == DENIED, who
    assert audit_rows(roles["owner"]) == before

    # the review state cannot change without a decision on record
    for who in ("pipeline", "dashboard"):
        forged = sqlstate_of(
            roles[who],
            "UPDATE warnings SET state = 'dismissed', reviewed_level = NULL, "
            "version = version + 1 WHERE warning_id = :w",
            params={"w": yellow},
        )
        assert forged == CHECK, who
        undone = sqlstate_of(
            roles[who],
            "UPDATE warnings SET state = 'new', reviewed_level = NULL, version = version + 1 "
            "WHERE warning_id = :w",
            params={"w": red},
        )
        assert undone == CHECK, who
    assert (
        sqlstate_of(
            roles["pipeline"],
            "INSERT INTO warnings (warning_id, run_id, domain, unit_type, unit_id, origin, "
            "valid_from, valid_to, level, level_rank, state, reviewed_level, version, created_at, "
            "updated_at) SELECT 'forged', run_id, domain, unit_type, 'c9', origin, valid_from, "
            "valid_to, 'red', 4, 'accepted', 'red', 2, now(), now() FROM warnings "
            "WHERE warning_id = :w",
            params={"w": red},
        )
        == CHECK
    )

    check = Store(roles["owner"])
    assert check.get_warning(yellow)["state"] == "new"
    assert check.get_warning(red)["state"] == "accepted"
    trail = check.warning_reviews()
    assert list(trail["warning_id"]) == [red]
    check.close()


def test_the_dashboard_role_cannot_migrate_and_says_so(roles: dict[str, str]) -> None:
    from riskwarn.store.base import SchemaPermissionError

    store = Store(roles["dashboard"])
    with pytest.raises(SchemaPermissionError, match="may not change the serving store's schema"):
        store.upgrade()
    store.close()
