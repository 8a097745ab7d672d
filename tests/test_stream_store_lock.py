"""Two ``riskwarn stream`` consumers against one serving store (issue 16): a second one
started by mistake from another home (its own home lock, the same ``RISKWARN_STORE_URL``)
would receive every reading under its own client id and publish every level change and
send every message a second time. It must refuse with a clear message while the first
runs; the first keeps going (every reading stored once, no change published twice);
after a ``kill -9`` of the first the lock is free.

Checked to fail without the lock: with ``StoreLock.acquire`` returning at once, the
second consumer starts and keeps running (the test fails waiting for it to exit; the
SQLite one fails at ``pytest.raises``).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from testkit.stream_helpers import MOSQUITTO, Broker, wait_for
from tests.test_stream import MAPPING, ROOT, _lake, _publish
from tests.test_stream_instances import _spiky

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed")


def test_second_home_on_the_same_postgres_store_refuses(
    settings: Any, broker: Broker, pg_url: str, tmp_path: Path
) -> None:
    from riskwarn.settings import Settings
    from riskwarn.store import Store
    from riskwarn.stream.publish import DOMAIN

    other = Settings(home=tmp_path / "other-home", pseudonym_key=settings.pseudonym_key)
    other.home.mkdir()

    def start(home: Path, client_id: str) -> subprocess.Popen[str]:
        env = {**os.environ, "RISKWARN_HOME": str(home), "RISKWARN_STORE_URL": pg_url}
        cmd = [sys.executable, "-m", "riskwarn.cli", "stream", "--port", str(broker.port)]
        cmd += ["--batch-s", "0.2", "--source", str(MAPPING), "--confirm-steps", "1"]
        cmd += ["--client-id", client_id, "--no-model"]
        return subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )

    status = settings.home / "run" / "stream.status.json"

    def state() -> dict[str, Any]:
        return json.loads(status.read_text())

    sites = _spiky(2)
    total = sum(len(r) for r in sites.values())
    first = start(settings.home, "rw-home-1")
    procs = [first]
    try:
        wait_for(lambda: status.exists() and state()["connected"], 180)
        second = start(other.home, "rw-home-2")  # another home, another client id
        procs.append(second)
        _, err = second.communicate(timeout=120)
        assert second.returncode != 0, err
        assert "already publishes source simcity to this serving store" in err, err
        assert f"pid={first.pid}" in err and "advisory lock" in err, err
        assert err.strip().count("\n") == 0  # one line, no traceback
        assert not (other.home / "lake").exists()  # it touched neither lake nor broker
        assert first.poll() is None and state()["connected"]
        for site, r in sites.items():
            _publish(broker, r, site=site)
        wait_for(lambda: state()["received"] >= total, 120)
        wait_for(lambda: state()["level_changes"] >= len(sites) and state()["backlog"] == 0, 180)
        # a crash of the first frees the store: the other home's consumer may start now
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        third = start(other.home, "rw-home-2")
        procs.append(third)
        other_status = other.home / "run" / "stream.status.json"
        wait_for(
            lambda: other_status.exists() and json.loads(other_status.read_text())["connected"],
            180,
        )
        assert third.poll() is None
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(30)
    lake = _lake(settings)
    assert len(lake) == total and lake["record_id"].is_unique  # each reading once
    store = Store(pg_url)
    try:
        w = store.warnings(domain=DOMAIN)
        hist = store.forecast_history(DOMAIN)
    finally:
        store.close()
    assert sorted(w["unit_id"]) == sorted(sites) and set(w["level"]) == {"blue"}
    snaps = [
        tuple(zip(g["unit_id"], g["score"], strict=True))
        for _, g in hist.sort_values(["origin", "unit_id"]).groupby("run_id", sort=False)
    ]
    assert 1 <= len(snaps) <= len(sites)  # each change published once
    assert all(a != b for a, b in itertools.pairwise(snaps)), snaps


def test_second_home_on_the_same_sqlite_store_refuses(settings: Any, tmp_path: Path) -> None:
    """The same for a SQLite store shared by two homes (an ``flock`` beside the file)."""
    from riskwarn.stream.lock import StoreTaken
    from testkit.stream_helpers import stream_consumer

    url = f"sqlite:///{tmp_path / 'shared-store.db'}"
    (tmp_path / "h2").mkdir()
    first = stream_consumer(settings.home, 1, store_url=url, client_id="a")
    try:
        with pytest.raises(StoreTaken, match="already publishes source simcity"):
            stream_consumer(tmp_path / "h2", 1, store_url=url, client_id="b")
        # the refused one left the other home's lock free
        assert not (tmp_path / "h2" / "run" / "stream.status.json").exists()
    finally:
        first.store_lock.release()
        first.instance_lock.release()
    second = stream_consumer(tmp_path / "h2", 1, store_url=url, client_id="b")
    second.store_lock.release()
    second.instance_lock.release()


def test_sqlite_store_reached_by_a_symlink_or_a_relative_path_is_the_same_store(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock beside a SQLite store is named after the database's real path: a second
    home reaching the same file through a symlink (to the file or to its directory) or a
    relative path is refused too (failed before the fix: each name had its own lock
    file, both consumers started and would have published everything twice)."""
    from riskwarn.stream.lock import StoreLock, StoreTaken
    from testkit.stream_helpers import stream_consumer

    real = tmp_path / "data" / "shared-store.db"
    real.parent.mkdir()
    (tmp_path / "file-link.db").symlink_to(real)
    (tmp_path / "dir-link").symlink_to(real.parent, target_is_directory=True)
    (tmp_path / "h2").mkdir()
    first = stream_consumer(settings.home, 1, store_url=f"sqlite:///{real}", client_id="a")
    try:
        with pytest.raises(StoreTaken, match="already publishes source simcity"):
            stream_consumer(tmp_path / "h2", 1, store_url=f"sqlite:///{tmp_path / 'file-link.db'}")
        monkeypatch.chdir(tmp_path)
        for url in (
            f"sqlite:///{tmp_path / 'dir-link' / 'shared-store.db'}",
            "sqlite:///dir-link/shared-store.db",
            "sqlite:///data/../file-link.db",
        ):
            lock = StoreLock(url, "simcity")
            with pytest.raises(StoreTaken):
                lock.acquire(pid=0)
    finally:
        first.store_lock.release()
        first.instance_lock.release()
    # free again: any of the names takes it
    lock = StoreLock("sqlite:///file-link.db", "simcity")
    lock.acquire(pid=0)
    lock.release()


@pytest.mark.postgres
def test_the_lock_holder_named_is_the_one_in_this_database(pg_url: str) -> None:
    """Advisory locks are per database but ``pg_locks`` lists every database's: the
    refusal named another database's stream (a second installation on the same server, or
    the other ``make test`` worker) as this store's holder (seen in a parallel CI run)."""
    import secrets

    import sqlalchemy as sa

    from riskwarn.stream.lock import advisory_lock_holder
    from tests.conftest import PG_ADMIN_URL

    key = secrets.randbits(62)
    lock = sa.text("SELECT pg_advisory_lock(:k)")

    def engine(url: str, name: str) -> sa.Engine:
        args = {"application_name": name}
        return sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args=args)

    elsewhere, here = engine(PG_ADMIN_URL, "rw-other-database"), engine(pg_url, "rw-this-one")
    try:
        with elsewhere.connect() as other:
            other.execute(lock, {"k": key})
            other.commit()
            with here.connect() as look:
                assert advisory_lock_holder(look, key) is None  # held in another database only
                with here.connect() as holder:
                    holder.execute(lock, {"k": key})
                    holder.commit()
                    look.rollback()  # pg_stat_activity is read once per transaction
                    assert advisory_lock_holder(look, key) == "rw-this-one"
    finally:
        elsewhere.dispose()
        here.dispose()
