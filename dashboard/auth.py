"""Who may see and do what on the dashboard.

Two ways to sign in:

* **OIDC** through Streamlit's ``st.login`` when ``[auth]`` is configured in
  ``.streamlit/secrets.toml``. An OIDC account is accepted only with a verified e-mail
  (``email_verified`` true) that the users file's ``oidc_roles`` maps to a role
  (e-mail -> role): there is no default role (issue 13.11).
* **Configured users**: a YAML users file (``RISKWARN_USERS_FILE`` or
  ``<home>/users.yaml``) with scrypt-hashed passwords, for the demo and the tests.

Roles: ``leader`` reads, ``reviewer`` reviews warnings, ``data_scientist`` sees the
models and data pages, ``admin`` everything. Every page calls :func:`require`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dashboard import page_index
from riskwarn.review_text import reviewer_problem

ROLES = ("leader", "reviewer", "data_scientist", "admin")

REVIEW_ROLES = frozenset({"reviewer", "admin"})
RETRAIN_ROLES = frozenset({"data_scientist", "admin"})

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@dataclass(frozen=True)
class User:
    """A signed-in user: login name, display name and role."""

    username: str
    name: str
    role: str


def can_view(role: str, page: str) -> bool:
    """Whether ``role`` may open ``page`` (the ``roles`` of the page's own ``PAGE`` entry,
    :mod:`dashboard.page_index`; no one may open an unknown page)."""
    info = page_index.pages().get(page)
    return info is not None and role in info.roles


def can_review(role: str) -> bool:
    """Whether ``role`` may accept, adjust or dismiss warnings."""
    return role in REVIEW_ROLES


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$<salt hex>$<hash hex>`` for ``password``."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a :func:`hash_password` string."""
    try:
        scheme, n, r, p, salt_hex, hash_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(digest.hex(), hash_hex)


def users_file_path(home: Path) -> Path:
    """The users file: ``RISKWARN_USERS_FILE`` or ``<home>/users.yaml``."""
    env = os.environ.get("RISKWARN_USERS_FILE")
    return Path(env) if env else Path(home) / "users.yaml"


USERS_FILE_PROBLEMS = {  # UsersFileError.problem -> what is wrong, in the CLI's words
    "unreadable": "cannot be read",
    "encoding": "is not UTF-8 text",
    "yaml": "is not valid YAML",
    "shape": "is not a mapping with 'users' and 'oidc_roles' mappings",
    "login": (
        "has a login that is not letters, digits and . _ - + @ only (at most 128 "
        "characters): the login is who a review records"
    ),
}


class UsersFileError(ValueError):
    """The users file exists but cannot be used (attack review 2026-12-07: a corrupt one
    crashed the sign-in page and its traceback showed part of a password hash). The
    message names the file and the kind of problem (:data:`USERS_FILE_PROBLEMS`), never
    its content; nobody can sign in until it is fixed."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(
            f"the users file {path} {USERS_FILE_PROBLEMS[problem]}: nobody can sign in "
            "until it is fixed (docs/security.md)"
        )


def load_users(path: Path) -> dict[str, Any]:
    """The parsed users file (``{'users': {...}, 'oidc_roles': {...}}``); empty if absent.

    Raises :class:`UsersFileError` (no part of the file in its message, and no chained
    exception whose traceback would quote it) when the file cannot be read, is not UTF-8,
    not YAML, or not a mapping whose ``users`` and ``oidc_roles`` are mappings."""
    if not path.is_file():
        return {"users": {}, "oidc_roles": {}}
    problem = None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        problem = "encoding"
    except yaml.YAMLError:
        problem = "yaml"
    except OSError:
        problem = "unreadable"
    if problem is not None:  # raised here: not chained to the parser's error
        raise UsersFileError(path, problem)
    if not isinstance(data, dict):
        raise UsersFileError(path, "shape")
    users, oidc = data.get("users") or {}, data.get("oidc_roles") or {}
    if not isinstance(users, dict) or not isinstance(oidc, dict):
        raise UsersFileError(path, "shape")
    if any(reviewer_problem(str(login)) for login in users):  # reviews would be refused
        raise UsersFileError(path, "login")
    return {"users": users, "oidc_roles": oidc}


def usable_users(path: Path) -> dict[str, Any] | None:
    """:func:`load_users`, or None when the file is not usable (logged as one line naming
    the file and the problem, no traceback: the pages show :class:`UsersFileError`)."""
    try:
        return load_users(path)
    except UsersFileError as exc:
        logging.getLogger(__name__).error("%s", exc)
        return None


def display_names(users: dict[str, Any]) -> dict[str, str]:
    """Login -> display name of every user of the users file (:func:`load_users`) that
    has one: how the dashboard names reviewers in trails and messages."""
    return {
        str(login): str(entry["name"])
        for login, entry in (users.get("users") or {}).items()
        if isinstance(entry, dict) and entry.get("name")
    }


_DUMMY_HASH: list[str] = []


def _dummy_hash() -> str:
    """A hash with the real cost parameters, checked for unknown names so that they take
    as long as a wrong password (no timing difference, issue 13.11)."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password(secrets.token_hex(16)))
    return _DUMMY_HASH[0]


def configured_user(users: dict[str, Any], username: str) -> User | None:
    """The configured user ``username`` with a valid role (no password check), or None."""
    entry = users.get("users", {}).get(username.strip())
    if not isinstance(entry, dict) or entry.get("role") not in ROLES:
        return None
    return User(
        username=username.strip(), name=str(entry.get("name", username)), role=entry["role"]
    )


def authenticate(users: dict[str, Any], username: str, password: str) -> User | None:
    """The user if ``username``/``password`` match an entry with a valid role, else None.

    An unknown name is checked against a dummy hash of the same cost, so both failures
    take the same time.
    """
    user = configured_user(users, username)
    stored = str(users["users"][username.strip()].get("password_hash", "")) if user else ""
    real = stored.count("$") == 5
    ok = verify_password(password, stored if real else _dummy_hash())
    return user if ok and real else None


def still_valid(users: dict[str, Any], user: User) -> User | None:
    """``user`` as the users file has it now: None once deleted or given another role
    (a signed-in session of that user must end at once)."""
    now = configured_user(users, user.username)
    return now if now is not None and now.role == user.role else None


def _true(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


def oidc_user(users: dict[str, Any], claims: dict[str, Any]) -> User | None:
    """Map OIDC claims (``st.user``) to a user, or None: the e-mail must be verified
    (``email_verified``) and mapped to a role in ``oidc_roles`` (no default role)."""
    email = str(claims.get("email") or "").strip()
    if not email or not _true(claims.get("email_verified")):
        return None
    role = users.get("oidc_roles", {}).get(email)
    if role not in ROLES:
        return None
    return User(username=email, name=str(claims.get("name") or email), role=str(role))


DEMO_USERS: dict[str, tuple[str, str]] = {
    # username -> (role, display name)
    "leader": ("leader", "市领导"),
    "reviewer": ("reviewer", "评估专家"),
    "reviewer2": ("reviewer", "评估专家乙"),
    "scientist": ("data_scientist", "数据科学家"),
    "admin": ("admin", "管理员"),
}


def demo_users_document(password: str) -> dict[str, Any]:
    """A users-file document with the demo accounts, all with ``password`` (hashed)."""
    return {
        "users": {
            name: {"role": role, "name": display, "password_hash": hash_password(password)}
            for name, (role, display) in DEMO_USERS.items()
        },
        "oidc_roles": {},
    }


def write_demo_users(path: Path, password: str) -> Path:
    """Write the demo users file at ``path`` (parents created); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(demo_users_document(password), allow_unicode=True, sort_keys=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def _main(argv: list[str]) -> int:
    """``python -m dashboard.auth hash``: read a password (prompted, or one line of
    standard input) and print its users-file ``password_hash`` (docs/security.md)."""
    import getpass
    import sys

    if argv != ["hash"]:
        print(
            "usage: python -m dashboard.auth hash   (password prompted or on stdin)",
            file=sys.stderr,
        )
        return 2
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        print("error: empty password", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


if __name__ == "__main__":  # python -m dashboard.auth hash
    import sys

    sys.exit(_main(sys.argv[1:]))
