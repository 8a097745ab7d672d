"""Who an audit entry of a CLI command names, when the store URL carries a database user
(review 2026-12-06).

On the old code ``postgresql://alice@host/db`` left no trace of ``alice`` in the audit
log: ``riskwarn stream ack --by duty-1`` recorded actor ``duty-1`` (a name as typed,
checked by nothing) and nothing else about who ran it; ``promote`` / ``rollback`` /
``ingest`` / ``backup`` recorded the OS account only. Now every entry written on
PostgreSQL names the role the database authenticated (``details.db_user``, from
``session_user``, not from the URL's text), and ``stream ack`` also names the OS account
that ran it (``details.run_by``). SQLite has no database users: ``run_by`` only.
"""

from __future__ import annotations

import os
import pwd
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from riskwarn.cli import main
from riskwarn.store import Store
from riskwarn.store.roles import WRITER, create_group_roles
from tests.test_stream_acks import _sent_changes

OS_ACCOUNT = f"os:{pwd.getpwuid(os.getuid()).pw_name}"


@pytest.fixture
def alice(pg_url: str) -> Iterator[tuple[str, str]]:
    """A login role of the pipeline's group on a fresh database: (its URL, its name)."""
    name = f"rw_alice_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        create_group_roles(conn)
        conn.exec_driver_sql(f"CREATE ROLE {name} LOGIN IN ROLE {WRITER}")
    url = sa.make_url(pg_url).set(username=name).render_as_string(hide_password=False)
    try:
        yield url, name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {name}")
        admin.dispose()


def _ack_entries(url: str, warning_id: str) -> list[dict[str, Any]]:
    with Store(url) as store:
        return store.audit_entries("warning", warning_id, ("acknowledge_warning",))


def _ack_by_cli(url: str, warning_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKWARN_STORE_URL", url)
    assert main(["stream", "ack", warning_id, "--by", "duty-1"]) == 0


@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_a_cli_ack_names_the_database_user_and_the_os_account(
    pg_url: str,
    alice: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    alice_url, alice_name = alice
    store, _, changes = _sent_changes(pg_url, tmp_path, 1)  # set up by the owner (admin)
    store.close()
    _ack_by_cli(alice_url, changes[0].warning_id, monkeypatch)  # run as alice

    [entry] = _ack_entries(pg_url, changes[0].warning_id)
    assert entry["actor"] == "duty-1"  # the name typed, as before
    details = entry["details"]
    assert details["via"] == "cli"
    assert details["db_user"] == alice_name  # old: no db_user
    assert details["run_by"] == OS_ACCOUNT  # old: no run_by
    # the same rule for every entry: the owner's own entries name the owner's role
    with Store(pg_url) as owner:
        owner.audit("pipeline", "probe", "test", "x", {})
        [probe] = owner.audit_entries("test", "x", ("probe",))
        (admin_role,) = owner.engine.connect().execute(sa.text("SELECT session_user")).one()
    assert probe["details"] == {"db_user": admin_role}


@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_db_user_is_the_login_role_not_a_role_set_after(
    pg_url: str, alice: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``SET ROLE`` changes ``current_user``, not who logged in: the entry names the
    role the server authenticated (``session_user``), alice, not the group role she
    switched to."""
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    store, _, _ = _sent_changes(pg_url, tmp_path, 1)  # the schema, made by the owner
    store.close()
    alice_url, alice_name = alice
    with Store(alice_url) as as_alice:

        @sa.event.listens_for(as_alice.engine, "connect")
        def _set_role(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET ROLE {WRITER}")
            dbapi_conn.commit()  # else the pool's rollback on return undoes it

        as_alice.audit("pipeline", "probe", "test", "set-role", {})
        with as_alice.engine.connect() as conn:  # the same pooled connection
            assert conn.execute(sa.text("SELECT current_user")).scalar_one() == WRITER
    with Store(pg_url) as owner:
        [probe] = owner.audit_entries("test", "set-role", ("probe",))
    assert probe["details"]["db_user"] == alice_name  # current_user: riskwarn_writer


def test_on_sqlite_a_cli_ack_names_the_os_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    store, _, changes = _sent_changes(url, tmp_path, 1)
    store.close()
    _ack_by_cli(url, changes[0].warning_id, monkeypatch)
    [entry] = _ack_entries(url, changes[0].warning_id)
    assert entry["actor"] == "duty-1"
    assert entry["details"]["run_by"] == OS_ACCOUNT  # old: no run_by
    assert "db_user" not in entry["details"]  # SQLite: no database users


def test_a_uid_without_an_account_name_is_named_by_its_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container run with ``--user 12345`` (OpenShift's random uid) has no passwd
    entry: ``stream ack`` (and ingest, backup, restore) died with KeyError (review
    2026-12-06); the audit names ``os:uid=<n>`` instead."""
    from riskwarn.store.base import os_actor

    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    store, _, changes = _sent_changes(url, tmp_path, 1)
    store.close()

    def no_entry(uid: int) -> Any:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(os, "getuid", lambda: 12345)
    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    assert os_actor() == "os:uid=12345"
    _ack_by_cli(url, changes[0].warning_id, monkeypatch)  # old: KeyError
    [entry] = _ack_entries(url, changes[0].warning_id)
    assert entry["actor"] == "duty-1"
    assert entry["details"]["run_by"] == "os:uid=12345"
