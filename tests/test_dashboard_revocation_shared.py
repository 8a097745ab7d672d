"""Session revocation is shared by every dashboard process on the serving store (review
2026-12-06).

On the old code a sign-out was written to ``<home>/secrets/dashboard_revoked.json`` of
the process that signed out, read-modified-written under a lock of that process only: a
second dashboard server on the same store (its own home, the same signing key, as behind
a load balancer) kept the signed-out session valid, and two processes signing out at
once could each drop the other's entry. Now a revocation is an audit entry in the store
(``dashboard.sessions.revoke``), checked on every run of a signed-in session, by any
process, and kept across restarts. Both backends, as the other store tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dashboard import auth, sessions
from riskwarn.store import Store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'serving.db'}"
    pg: str = request.getfixturevalue("pg_url")
    return pg


def _app() -> None:
    """One page run of the dashboard's frame: the signed-in user, and a sign-out button."""
    import streamlit as st

    from dashboard import queries, shell

    user = shell.current_user(queries.settings())
    st.markdown(f"user: {user.username if user else '-'}")
    st.button("out", on_click=shell.sign_out, key="out")


def _instance(
    home: Path, url: str, monkeypatch: pytest.MonkeyPatch, app: Any = _app, **state: Any
) -> Any:
    """A run of a dashboard instance of ``home`` on the store ``url`` (the script
    ``app``), whose browser session holds ``state``."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("RISKWARN_HOME", str(home))
    monkeypatch.setenv("RISKWARN_STORE_URL", url)
    at = AppTest.from_function(app, default_timeout=60)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def _user(at: Any) -> str:
    assert not at.exception, at.exception
    return str(at.markdown[0].value).removeprefix("user: ")


def _homes(tmp_path: Path) -> tuple[Path, Path]:
    """Two servers' homes: their own folders, the demo users and one signing key (a key
    copied to both, as two servers behind one address need)."""
    a, b = tmp_path / "server-a", tmp_path / "server-b"
    for home in (a, b):
        auth.write_demo_users(auth.users_file_path(home), "pw-not-used-here")
    key = sessions.signing_key(a)
    sessions.key_path(b).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(sessions.key_path(a), sessions.key_path(b))
    assert sessions.signing_key(b) == key
    return a, b


@pytest.mark.timeout(300)
def test_a_sign_out_on_one_server_ends_the_session_on_another_and_after_a_restart(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(url) as store:
        store.upgrade()
    a, b = _homes(tmp_path)
    now = sessions.now_utc()
    token = sessions.issue(
        sessions.signing_key(a), "reviewer", "reviewer", now, sessions.idle_timeout()
    )
    payload = sessions.read(sessions.signing_key(a), token, now)
    assert payload is not None
    user = auth.User("reviewer", "评估专家", "reviewer")
    state = {"user": user, "token_payload": payload, "last_active": now}

    # the same session (a copied cookie, or the load balancer's other server) is open on both
    on_a = _instance(a, url, monkeypatch, **state)
    assert _user(on_a) == "reviewer"
    assert _user(_instance(b, url, monkeypatch, **state)) == "reviewer"

    # signed out on server A ...
    monkeypatch.setenv("RISKWARN_HOME", str(a))
    on_a = on_a.button(key="out").click().run()
    assert _user(on_a) == "-"
    # ... server B's next run of that session ends it (old code: still signed in there)
    on_b = _instance(b, url, monkeypatch, **state)
    assert _user(on_b) == "-"
    assert "user" not in on_b.session_state

    # a restarted server (a new process, nothing in memory) refuses it too
    check = (
        "import sys; from dashboard import sessions; from riskwarn.store import Store; "
        "s = Store(sys.argv[1]); print(sessions.is_revoked(s, {'jti': sys.argv[2]}))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", check, url, str(payload["jti"])],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip() == "True", out

    with Store(url) as store:
        entries = store.audit_entries(
            sessions.SESSION_OBJECT, str(payload["jti"]), (sessions.REVOKED_ACTION,)
        )
    # one revocation (the sign-out); server B's end of the session added none
    assert [(e["actor"], e["details"]["reason"]) for e in entries] == [("reviewer", "logout")]


def test_sign_outs_at_once_are_all_kept(tmp_path: Path, url: str) -> None:
    """Twelve sign-outs at once on one store (threads here, processes on the servers):
    each is an INSERT, none overwrites another (the old file's read-modify-write was
    serialized within one process only)."""
    import threading

    with Store(url) as store:
        store.upgrade()
    start = threading.Barrier(12)
    errors: list[str] = []

    def sign_out(i: int) -> None:
        start.wait()
        try:
            with Store(url) as own:  # each its own engine, as another process would
                sessions.revoke(own, {"u": "u", "jti": f"j{i}", "exp": 2**31 - 1})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=sign_out, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with Store(url) as store:
        assert all(sessions.is_revoked(store, {"jti": f"j{i}"}) for i in range(12))
        assert not sessions.is_revoked(store, {"jti": "j12"})


def test_the_revoked_file_of_earlier_versions_is_carried_into_the_store(
    tmp_path: Path, url: str
) -> None:
    """Sessions signed out before the upgrade stay signed out: the file's unexpired
    entries go to the store (the expired ones need nothing), then the file is removed."""
    import json

    now = sessions.now_utc()
    path = sessions.legacy_revoked_path(tmp_path)
    path.parent.mkdir(parents=True)
    live, gone = int(now.timestamp()) + 600, int(now.timestamp()) - 600
    path.write_text(json.dumps({"live": live, "gone": gone}), encoding="utf-8")
    with Store(url) as store:
        store.upgrade()
        assert sessions.carry_legacy_revocations(tmp_path, store, now) == 1
        assert not path.exists()
        assert sessions.is_revoked(store, {"jti": "live"})
        assert not sessions.is_revoked(store, {"jti": "gone"})
        assert sessions.carry_legacy_revocations(tmp_path, store, now) == 0


def test_an_open_page_reruns_when_its_session_ends_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The open page's timer (``shell.watch_session``, every ``sessions.WATCH_S`` s):
    a session no longer valid reruns the whole app, which ends it; a valid one does
    nothing. The old code had no timer: the page stayed until its next click."""
    from dashboard import shell

    reruns: list[dict[str, Any]] = []
    monkeypatch.setattr(shell.queries, "settings", lambda: None)
    monkeypatch.setattr(shell.st, "rerun", lambda **kw: reruns.append(kw))
    monkeypatch.setattr(shell, "still_signed_in", lambda settings: True)
    shell.watch_session()
    assert reruns == []
    monkeypatch.setattr(shell, "still_signed_in", lambda settings: False)
    shell.watch_session()
    assert reruns == [{"scope": "app"}]
    assert 0 < sessions.WATCH_S <= 60


def _signed_in_state(home: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A reviewer's browser session on the server of ``home``: (its state, its payload)."""
    now = sessions.now_utc()
    key = sessions.signing_key(home)
    payload = sessions.read(
        key, sessions.issue(key, "reviewer", "reviewer", now, sessions.idle_timeout()), now
    )
    assert payload is not None
    user = auth.User("reviewer", "评估专家", "reviewer")
    return {"user": user, "token_payload": payload, "last_active": now}, payload


@pytest.mark.timeout(300)
def test_a_sign_out_the_store_cannot_record_still_ends_the_session_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store fails at the sign-out (a blip, a failover). Old code: the token was
    dropped before the revocation, which raised; the user stayed signed in and the next
    run issued a new token (a new jti, a fresh 12 hours) while the old one, never
    revoked, still worked on another server. Now the session ends in this browser, the
    sign-in screen says the sign-out was not recorded, and the revocation is recorded
    once the store answers."""
    import sqlalchemy as sa

    from dashboard import shell
    from dashboard.i18n import t

    url = f"sqlite:///{tmp_path / 'serving.db'}"
    with Store(url) as store:
        store.upgrade()
    a, b = _homes(tmp_path)
    state, payload = _signed_in_state(a)
    on_a = _instance(a, url, monkeypatch, **state)
    assert _user(on_a) == "reviewer"

    real, down = sessions.revoke, [True]

    def failing(store: Any, p: Any, reason: str = "logout") -> None:
        if down[0]:
            raise sa.exc.OperationalError("INSERT", {}, Exception("server closed the connection"))
        real(store, p, reason)

    monkeypatch.setattr(sessions, "revoke", failing)
    on_a = on_a.button(key="out").click().run()
    assert _user(on_a) == "-"  # old: the click raised, the user stayed signed in
    on_a = on_a.run()  # a reload while the store still fails
    assert _user(on_a) == "-"  # old: signed in again, with a new token
    assert "token_payload" not in on_a.session_state
    assert on_a.session_state["cookie_out"] is None  # the cookie is deleted
    assert on_a.session_state["signin_flash"] == "signout_unrecorded"
    assert on_a.session_state[shell.REVOKE_PENDING][0]["jti"] == payload["jti"]
    for lg in ("en", "zh"):
        assert "12" in t("signout_unrecorded", lg)
    assert t("signout_unrecorded", "en") != t("signout_unrecorded", "zh")

    down[0] = False  # the store answers again: this browser's next run records it
    on_a = on_a.run()
    assert _user(on_a) == "-"
    assert shell.REVOKE_PENDING not in on_a.session_state
    with Store(url) as store:
        assert sessions.is_revoked(store, payload)
    assert _user(_instance(b, url, monkeypatch, **state)) == "-"  # the copied cookie


def test_the_dashboard_carries_the_old_revoked_file_on_its_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session signed out before the upgrade (its jti in the old file) is refused by
    the dashboard's first run on the new code: shell._store carries the file."""
    import json

    url = f"sqlite:///{tmp_path / 'serving.db'}"
    with Store(url) as store:
        store.upgrade()
    a, _ = _homes(tmp_path)
    state, payload = _signed_in_state(a)
    path = sessions.legacy_revoked_path(a)
    path.write_text(json.dumps({payload["jti"]: payload["exp"]}), encoding="utf-8")
    assert _user(_instance(a, url, monkeypatch, **state)) == "-"
    assert not path.exists()


def _still_app() -> None:
    """The wall screen's and the watch's check, outside main()."""
    import streamlit as st

    from dashboard import queries, shell

    st.markdown(f"still: {shell.still_signed_in(queries.settings())}")


@pytest.mark.timeout(300)
def test_the_watch_check_sees_a_revocation_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """still_signed_in (the open page's timer, the wall screen's refresh) is False once
    another process revoked the session, without any run of main()."""
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    with Store(url) as store:
        store.upgrade()
    a, _ = _homes(tmp_path)
    state, payload = _signed_in_state(a)
    at = _instance(a, url, monkeypatch, _still_app, **state)
    assert not at.exception, at.exception
    assert at.markdown[0].value == "still: True"
    with Store(url) as store:  # another server signs it out
        sessions.revoke(store, payload)
    at.run()
    assert at.markdown[0].value == "still: False"


def test_a_token_without_a_jti_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing could revoke a token without a jti (every token this code signs has one):
    it counts as revoked, in the store check and in a signed-in run."""
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    with Store(url) as store:
        store.upgrade()
        assert sessions.is_revoked(store, {"u": "reviewer", "exp": 2**31 - 1})
        assert sessions.is_revoked(store, {"u": "reviewer", "jti": ""})
    a, _ = _homes(tmp_path)
    state, payload = _signed_in_state(a)
    no_jti = {k: v for k, v in payload.items() if k != "jti"}
    assert _user(_instance(a, url, monkeypatch, **{**state, "token_payload": no_jti})) == "-"


def _main_app() -> None:
    from dashboard import shell

    shell.main()


def test_main_starts_the_session_watch_on_a_signed_in_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """main() runs watch_session as a fragment every WATCH_S seconds after the page
    (signed in only); without it an open page never learns of a sign-out elsewhere."""
    from types import SimpleNamespace

    import streamlit as st

    from dashboard import shell

    url = f"sqlite:///{tmp_path / 'serving.db'}"
    with Store(url) as store:
        store.upgrade()
    a, _ = _homes(tmp_path)
    state, _ = _signed_in_state(a)
    fragments: list[dict[str, Any]] = []
    real_fragment = st.fragment

    def fragment(*args: Any, **kw: Any) -> Any:
        fragments.append(kw)
        return real_fragment(*args, **kw)

    page = SimpleNamespace(run=lambda: None, url_path="overview")
    monkeypatch.setattr(shell, "navigation", lambda user: page)
    monkeypatch.setattr(shell, "watch_session", lambda: st.markdown("watching"))
    monkeypatch.setattr(shell.st, "fragment", fragment)
    at = _instance(a, url, monkeypatch, _main_app, **state)
    assert not at.exception, at.exception
    assert [m.value for m in at.markdown if m.value == "watching"] == ["watching"]
    assert fragments == [{"run_every": sessions.WATCH_S}]


@pytest.mark.parametrize(
    "text",
    [
        '{"x": null, "y": "soon", "z": [1], "w": 1e999, "live": LIVE, "gone": GONE}',
        "not json",
        "[1, 2]",
    ],
)
def test_a_bad_old_revoked_file_is_set_aside_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    """Entries that are not (id, expiry) are skipped with a warning (no token ids in
    it), the good ones carried, and the file kept as ``.invalid``. Old code: TypeError
    on every dashboard run for ``{"x": null}``; other bad files deleted silently."""
    import logging

    url = f"sqlite:///{tmp_path / 'serving.db'}"
    with Store(url) as store:
        store.upgrade()
    a, _ = _homes(tmp_path)
    state, _ = _signed_in_state(a)
    now = sessions.now_utc()
    live, gone = int(now.timestamp()) + 600, int(now.timestamp()) - 600
    path = sessions.legacy_revoked_path(a)
    content = text.replace("LIVE", str(live)).replace("GONE", str(gone))
    path.write_text(content, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="dashboard.sessions"):
        # the dashboard's run goes on (old: TypeError on every run for the first file)
        assert _user(_instance(a, url, monkeypatch, **state)) == "reviewer"
    assert not path.exists()
    assert path.with_name(path.name + ".invalid").read_text(encoding="utf-8") == content
    warned = [r.getMessage() for r in caplog.records if r.name == "dashboard.sessions"]
    assert len(warned) == 1 and "invalid" in warned[0]
    assert not any(jti in warned[0] for jti in ('"x"', "live", "gone", "soon"))
    with Store(url) as store:
        assert sessions.is_revoked(store, {"jti": "live"}) == text.startswith("{")
        assert not sessions.is_revoked(store, {"jti": "gone"})
        assert not sessions.is_revoked(store, {"jti": "x"})


def _ended(url: str, payload: dict[str, Any]) -> list[tuple[str, bool]]:
    """The reviewer's session-end audit entries, oldest first, each with whether the
    token of ``payload`` was revoked before it was written (audit ids ascend)."""
    with Store(url) as store:
        revoked = store.audit_entries(
            sessions.SESSION_OBJECT, str(payload["jti"]), (sessions.REVOKED_ACTION,)
        )
        ends = store.audit_entries("user", "reviewer", ("logout", "session_ended"))
    first = min((int(r["id"]) for r in revoked), default=None)
    return [(str(e["action"]), first is not None and first < int(e["id"])) for e in reversed(ends)]


@pytest.mark.timeout(300)
def test_the_end_of_a_session_is_audited_only_once_its_token_is_revoked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review 2026-12-06: the sign-out audited ``logout`` first and revoked the token
    second (and so did an idle session's end, ``session_ended``): a crash or a store
    failing between the two left the end recorded while the token still worked. Now the
    token is revoked first; while that cannot be recorded nothing says the session
    ended, and the end is audited after the revocation once the store takes it."""
    import sqlalchemy as sa

    from dashboard import shell

    url = f"sqlite:///{tmp_path / 'serving.db'}"
    with Store(url) as store:
        store.upgrade()
    a, _ = _homes(tmp_path)
    real, down = sessions.revoke, [True]

    def failing(store: Any, p: Any, reason: str = "logout") -> None:
        if down[0]:
            raise sa.exc.OperationalError("INSERT", {}, Exception("server closed the connection"))
        real(store, p, reason)

    monkeypatch.setattr(sessions, "revoke", failing)

    # a sign-out whose revocation the store refuses (the audit itself would be taken)
    state, payload = _signed_in_state(a)
    on_a = _instance(a, url, monkeypatch, **state)
    on_a = on_a.button(key="out").click().run()
    assert _user(on_a) == "-"
    with Store(url) as store:
        assert not sessions.is_revoked(store, payload)  # the token still works
    assert _ended(url, payload) == []  # old: [("logout", False)]
    down[0] = False  # the store takes it: the revocation, then the logout
    on_a = on_a.run()
    assert shell.REVOKE_PENDING not in on_a.session_state
    assert _ended(url, payload) == [("logout", True)]

    # an idle session's end, the same way
    down[0] = True
    state, payload = _signed_in_state(a)
    state["last_active"] = state["last_active"] - sessions.idle_timeout() * 2
    on_a = _instance(a, url, monkeypatch, **state)
    assert _user(on_a) == "-"
    assert _ended(url, payload)[1:] == []  # old: the session_ended entry
    down[0] = False
    on_a = on_a.run()
    assert _ended(url, payload)[1:] == [("session_ended", True)]

    # a sign-out the store records at once: revoked, then audited
    state, payload = _signed_in_state(a)
    on_a = _instance(a, url, monkeypatch, **state)
    on_a = on_a.button(key="out").click().run()
    assert _user(on_a) == "-"
    assert _ended(url, payload)[2:] == [("logout", True)]


@pytest.mark.timeout(300)
def test_a_crash_at_the_revocation_audits_no_logout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process stops at the revocation (an error no code handles, as a crash would
    stop it there): nothing says the user logged out, as the token was not revoked."""
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    with Store(url) as store:
        store.upgrade()
    a, _ = _homes(tmp_path)

    def crash(store: Any, p: Any, reason: str = "logout") -> None:
        raise RuntimeError("the process died here")

    monkeypatch.setattr(sessions, "revoke", crash)
    state, payload = _signed_in_state(a)
    on_a = _instance(a, url, monkeypatch, **state)
    on_a.button(key="out").click().run()
    with Store(url) as store:
        assert not sessions.is_revoked(store, payload)
    assert _ended(url, payload) == []  # old: [("logout", False)]
