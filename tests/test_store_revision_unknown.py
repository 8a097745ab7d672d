"""A store at a schema revision this code does not know (attack review 2026-12-07).

After the code is rolled back (or a newer riskwarn migrated the store), the store's
revision is unknown here: `riskwarn db current` said "needs `riskwarn db upgrade`" (it
does not: no upgrade of this code helps) and `db upgrade`, `stream ack` and every other
command that upgrades on start died with an Alembic traceback ("Can't locate revision").
Now `db current` names the revision as unknown and every command ends with one `error:`
line saying what it means and what to do, exit 2; nothing is migrated."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from riskwarn.store import Store
from riskwarn.store.base import VERSION_TABLE, UnknownRevisionError


def _at_future(url: str) -> None:
    store = Store(url)
    store.upgrade()
    with store.engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '0017_future'"))
    store.close()


def _revision(url: str) -> str | None:
    store = Store(url)
    try:
        return store.current_revision()
    finally:
        store.close()


def _one_error_line(err: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "'0017_future'" in err and "does not know" in err and "Traceback" not in err, err
    assert "nothing was changed" in err, err


def test_the_store_refuses_to_migrate_it(store_url: str) -> None:
    _at_future(store_url)
    store = Store(store_url)
    try:
        with pytest.raises(UnknownRevisionError, match="newer riskwarn"):
            store.upgrade()
        with pytest.raises(UnknownRevisionError):
            store.upgrade(force=True)
    finally:
        store.close()
    assert _revision(store_url) == "0017_future"


def test_db_current_and_upgrade_say_it_in_one_line(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from riskwarn.cli import main

    _at_future(store_url)
    assert main(["db", "current", "--url", store_url]) == 2
    out, err = capsys.readouterr()
    assert "current: 0017_future" in out and "needs `riskwarn db upgrade`" not in out, out
    _one_error_line(err)
    assert main(["db", "upgrade", "--url", store_url]) == 2
    _one_error_line(capsys.readouterr().err)
    assert _revision(store_url) == "0017_future"


def test_stream_ack_says_it_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from riskwarn.cli import main

    url = f"sqlite:///{tmp_path / 'serving.db'}"
    _at_future(url)
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path))
    monkeypatch.setenv("RISKWARN_STORE_URL", url)
    assert main(["stream", "ack", "w-1", "--by", "duty-1"]) == 2
    _one_error_line(capsys.readouterr().err)
    assert _revision(url) == "0017_future"


@pytest.mark.parametrize(
    ("lang", "words"),
    [("en", "schema revision 0017_future"), ("zh", "结构版本 0017_future")],
)
def test_the_dashboard_says_it_instead_of_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str, words: str
) -> None:
    """Every page opened the store through an upgrade: an unknown revision was an
    exception on the page. Now the page says what it means (en/zh) and reads nothing."""
    pytest.importorskip("streamlit")
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dashboard.auth import users_file_path, write_demo_users
    from testkit.dashboard_server import use_dashboard_env

    url = f"sqlite:///{tmp_path / 'store.db'}"
    _at_future(url)
    write_demo_users(users_file_path(tmp_path), "pw")
    use_dashboard_env(monkeypatch, tmp_path, url)
    st.cache_resource.clear()
    app = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
    at = AppTest.from_file(str(app), default_timeout=120)
    at.session_state["lang"] = lang
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = "\n".join(str(e.value) for e in at.error)
    assert words in shown, shown
    assert _revision(url) == "0017_future"
