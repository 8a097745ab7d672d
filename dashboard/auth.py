"""Who may see and do what on the dashboard.

Two ways to sign in:

* **OIDC** through Streamlit's ``st.login`` when ``[auth]`` is configured in
  ``.streamlit/secrets.toml``. The role of an OIDC user comes from the users file's
  ``oidc_roles`` (e-mail -> role); unknown users get ``leader`` (read only).
* **Configured users**: a YAML users file (``RISKWARN_USERS_FILE`` or
  ``<home>/users.yaml``) with scrypt-hashed passwords, for the demo and the tests.

Roles: ``leader`` reads, ``reviewer`` reviews warnings, ``data_scientist`` sees the
models and data pages, ``admin`` everything. Every page calls :func:`require`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROLES = ("leader", "reviewer", "data_scientist", "admin")

# page key -> roles allowed to open it
PAGE_ROLES: dict[str, frozenset[str]] = {
    "overview": frozenset(ROLES),
    "warnings": frozenset({"leader", "reviewer", "admin"}),
    "disputes": frozenset({"leader", "reviewer", "admin"}),
    "geohazard": frozenset(ROLES),
    "models": frozenset({"data_scientist", "admin"}),
}
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
    """Whether ``role`` may open ``page``."""
    return role in PAGE_ROLES.get(page, frozenset())


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


def load_users(path: Path) -> dict[str, Any]:
    """The parsed users file (``{'users': {...}, 'oidc_roles': {...}}``); empty if absent."""
    if not path.is_file():
        return {"users": {}, "oidc_roles": {}}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {"users": data.get("users") or {}, "oidc_roles": data.get("oidc_roles") or {}}


def authenticate(users: dict[str, Any], username: str, password: str) -> User | None:
    """The user if ``username``/``password`` match an entry with a valid role, else None."""
    entry = users.get("users", {}).get(username.strip())
    if not entry or entry.get("role") not in ROLES:
        return None
    if not verify_password(password, str(entry.get("password_hash", ""))):
        return None
    return User(
        username=username.strip(), name=str(entry.get("name", username)), role=entry["role"]
    )


def oidc_user(users: dict[str, Any], claims: dict[str, Any]) -> User:
    """Map OIDC claims (``st.user``) to a user; role from ``oidc_roles`` or ``leader``."""
    email = str(claims.get("email") or claims.get("sub") or "oidc-user")
    role = users.get("oidc_roles", {}).get(email, "leader")
    if role not in ROLES:
        role = "leader"
    return User(username=email, name=str(claims.get("name") or email), role=role)


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
