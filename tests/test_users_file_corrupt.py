"""A corrupt users file is a clear message, not a crash (attack review 2026-12-07).

With ``RISKWARN_USERS_FILE`` at YAML with an unterminated quote the sign-in page raised
yaml's ScannerError, whose traceback in the server log quoted the start of a
``password_hash`` line; a top-level list or ``users: [a, b]`` gave AttributeError,
non-UTF-8 bytes UnicodeDecodeError. Now the page says what is wrong with the file (en/zh,
no content of it, nothing of it in the log), offers no sign-in, and ``riskwarn dashboard``
refuses to start with one ``error:`` line.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from dashboard import auth
from testkit.dashboard_demo import DEMO_PASSWORD

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
SECRET = "scrypt$16384$8$1$00ff"  # the start of a hash: never shown, never logged

BROKEN = {
    "yaml": f'users:\n  admin:\n    role: admin\n    password_hash: "{SECRET}\n'.encode(),
    "shape_list": b"- admin\n- reviewer\n",
    "shape_users": b"users: [a, b]\n",
    "shape_oidc": b"users: {}\noidc_roles: [x]\n",
    "encoding": b"users:\n  \xff\xfe admin: " + SECRET.encode() + b"\n",
    # a login reviews could not record (the store refuses its reviewer name): refused at
    # the load, not at the reviewer's first decision
    "login_space": f'users:\n  "ann lee":\n    role: reviewer\n    password_hash: "{SECRET}"\n'.encode(),
    "login_markup": f'users:\n  "<img src=x>":\n    role: admin\n    password_hash: "{SECRET}"\n'.encode(),
}
PROBLEM = {"yaml": "yaml", "encoding": "encoding", "login_space": "login", "login_markup": "login"}


@pytest.fixture
def users_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "var"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    for var in ("RISKWARN_STORE_URL", "RISKWARN_MLFLOW_TRACKING_URI"):
        monkeypatch.setenv(var, "x")  # recorded, so that the test's end restores it
        monkeypatch.delenv(var)
    path = tmp_path / "users.yaml"
    monkeypatch.setenv("RISKWARN_USERS_FILE", str(path))
    return path


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_load_users_says_what_is_wrong_and_never_the_content(users_file: Path, kind: str) -> None:
    users_file.write_bytes(BROKEN[kind])
    with pytest.raises(auth.UsersFileError) as info:
        auth.load_users(users_file)
    assert info.value.problem == PROBLEM.get(kind, "shape")
    assert str(users_file) in str(info.value) and SECRET not in str(info.value)
    assert info.value.__context__ is None and info.value.__cause__ is None
    assert auth.usable_users(users_file) is None


def test_a_good_file_and_no_file_still_load(users_file: Path) -> None:
    assert auth.load_users(users_file) == {"users": {}, "oidc_roles": {}}
    auth.write_demo_users(users_file, DEMO_PASSWORD)
    assert auth.authenticate(auth.load_users(users_file), "reviewer", DEMO_PASSWORD)


@pytest.mark.parametrize(
    ("lang", "words"),
    [("en", "nobody can sign in until an administrator"), ("zh", "在管理员修复之前无法登录")],
)
@pytest.mark.parametrize("kind", ["yaml", "shape_users", "encoding"])
def test_the_sign_in_page_says_so_and_offers_no_sign_in(
    users_file: Path, caplog: pytest.LogCaptureFixture, kind: str, lang: str, words: str
) -> None:
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    users_file.write_bytes(BROKEN[kind])
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["lang"] = lang
    with caplog.at_level(logging.DEBUG):
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [str(m.value) for m in at.error]
    assert any(words in e and str(users_file) in e for e in errors), errors
    assert not at.text_input and not at.button  # no sign-in form
    shown = "\n".join([*errors, *(str(m.value) for m in at.markdown)])
    assert SECRET not in shown and "password_hash" not in shown
    assert SECRET not in caplog.text and "Traceback" not in caplog.text


def test_a_signed_in_session_ends_when_the_file_breaks(users_file: Path) -> None:
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    users_file.write_bytes(BROKEN["shape_list"])
    role, name = auth.DEMO_USERS["leader"]
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["user"] = auth.User(username="leader", name=name, role=role)
    at.session_state["lang"] = "en"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("nobody can sign in" in str(m.value) for m in at.error)


def test_riskwarn_dashboard_refuses_to_start_with_one_error_line(
    users_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from riskwarn.cli import main

    execs: list[list[str]] = []
    monkeypatch.setattr(os, "execv", lambda path, argv: execs.append(argv))
    users_file.write_bytes(BROKEN["yaml"])
    assert main(["dashboard", "--port", "8599"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the users file ") and err.count("\n") == 1, err
    assert "is not valid YAML" in err and SECRET not in err
    assert execs == []  # not served
