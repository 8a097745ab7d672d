"""The secret key behind dispute parties' pseudonyms, and where it comes from.

Party ID numbers, names and phones are replaced at ingest by
``HMAC-SHA256(key, value)``. Anyone holding the key can reverse a pseudonym by
trying every possible ID number (18 digits with a birth date and a check digit: a
few seconds), so the key is a secret as sensitive as the personal data itself:

* it is never a constant in the code: ingesting a source that pseudonymises
  personal fields is refused until a key is configured (:class:`PseudonymKeyError`);
* it comes from ``RISKWARN_PSEUDONYM_KEY_FILE`` (a file, mode 0600, outside the
  data backups), ``RISKWARN_PSEUDONYM_KEY`` (the key itself, for secret managers
  that inject environment variables), or ``<home>/secrets/pseudonym.key``, which only
  the demo creates (random, 0600);
* it is at least :data:`MIN_KEY_CHARS` characters long, and a key file readable by
  other users is refused.

Changing the key changes every pseudonym: a party's earlier disputes no longer link
to new ones. Keep it as long as the data it pseudonymised (docs/security.md).
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from riskwarn.filemodes import others_can_access, write_private_file

if TYPE_CHECKING:
    from riskwarn.settings import Settings
    from riskwarn.sources import SourceMapping

MIN_KEY_CHARS = 32
DEMO_KEY_FILE = Path("secrets") / "pseudonym.key"
# The constant the settings defaulted to before issue 13.9: never accepted again.
RETIRED_KEYS = frozenset({"riskwarn-demo-key-change-me"})
HOW_TO = (
    "create one with `riskwarn keys init --pseudonym-key-file PATH` (random, mode 0600; keep "
    "it out of the data backups) and set RISKWARN_PSEUDONYM_KEY_FILE=PATH, or set "
    f"RISKWARN_PSEUDONYM_KEY to a secret of at least {MIN_KEY_CHARS} characters"
)


class PseudonymKeyError(ValueError):
    """No usable pseudonym key is configured: personal fields must not be ingested."""


def demo_key_path(settings: Settings) -> Path:
    """``<home>/secrets/pseudonym.key``: the key file the demo creates."""
    return settings.home / DEMO_KEY_FILE


def _checked(key: str, origin: str) -> str:
    key = key.strip()
    if key in RETIRED_KEYS:
        raise PseudonymKeyError(
            f"the pseudonym key from {origin} is the old public demo constant: anyone can "
            f"reverse its pseudonyms; {HOW_TO}"
        )
    if len(key) < MIN_KEY_CHARS:
        raise PseudonymKeyError(
            f"the pseudonym key from {origin} has {len(key)} characters, fewer than "
            f"{MIN_KEY_CHARS}: a short key can be guessed and every pseudonym reversed; {HOW_TO}"
        )
    return key


def _read_key_file(path: Path) -> str:
    if path.is_dir():
        raise PseudonymKeyError(
            f"pseudonym key file {path} is a directory, not a file holding the key; {HOW_TO}"
        )
    if not path.is_file():
        raise PseudonymKeyError(f"pseudonym key file {path} does not exist; {HOW_TO}")
    if others_can_access(path):
        raise PseudonymKeyError(
            f"pseudonym key file {path} is readable by other users: run `chmod 600 {path}`"
        )
    problem = None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:  # raised below, not chained: no byte of the key shown
        problem = "is not UTF-8 text (the key is one line of text)"
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror or type(exc).__name__})"
    if problem is not None:
        raise PseudonymKeyError(f"pseudonym key file {path} {problem}; {HOW_TO}")
    return _checked(text, str(path))


def pseudonym_key(settings: Settings) -> str:
    """The configured pseudonym key; :class:`PseudonymKeyError` if none is usable."""
    if settings.pseudonym_key_file:
        return _read_key_file(Path(settings.pseudonym_key_file).expanduser())
    if settings.pseudonym_key:
        return _checked(settings.pseudonym_key, "RISKWARN_PSEUDONYM_KEY")
    demo = demo_key_path(settings)
    if demo.exists():
        return _read_key_file(demo)
    raise PseudonymKeyError(f"no pseudonym key is configured; {HOW_TO}")


def pseudonym_key_for(settings: Settings, mapping: SourceMapping) -> str:
    """The key to ingest ``mapping`` with: '' if it pseudonymises nothing.

    Refuses (:class:`PseudonymKeyError`, before any file is read) a mapping with
    personal fields to pseudonymise when no usable key is configured.
    """
    if not mapping.pseudonymise:
        return ""
    try:
        return pseudonym_key(settings)
    except PseudonymKeyError as exc:
        fields = sorted(c for cols in mapping.pseudonymise.values() for c in cols)
        raise PseudonymKeyError(
            f"refusing to ingest source {mapping.name}: it pseudonymises personal fields "
            f"({', '.join(fields)}) and {exc}"
        ) from None


def new_key() -> str:
    """A fresh random key (256 bits, hex)."""
    return secrets.token_hex(32)


def create_key_file(path: Path) -> Path:
    """Write a fresh random key to ``path`` (mode 0600); never overwrite an existing key."""
    return write_private_file(Path(path), (new_key() + "\n").encode(), exclusive=True)


def ensure_demo_key(settings: Settings) -> Path:
    """The demo's key: ``<home>/secrets/pseudonym.key``, created random (0600) if absent."""
    path = demo_key_path(settings)
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another demo process created it first
            create_key_file(path)
    return path
