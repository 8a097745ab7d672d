"""Private files and folders: what riskwarn creates is readable by its own user only.

The lake, the SQLite stores, MLflow's store, backups and keys hold data about people
and places; on a shared host another account must not read them. Entry points set
the process umask to 077 (:func:`restrict_umask`), so every file and folder created
afterwards, by riskwarn or by the libraries it drives (DuckDB, SQLite, MLflow,
Airflow's task processes), is 0600 / 0700; the few files riskwarn writes itself that
must never be readable by others (keys, backups) are opened with mode 0600 whatever
the umask (:func:`write_private_file`).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def restrict_umask() -> int:
    """Set the process umask to 077 (new files 0600, folders 0700); return the old one."""
    return os.umask(PRIVATE_UMASK)


def others_can_access(path: Path) -> bool:
    """True if group or other users have any permission on ``path``."""
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as 0700; warn if it exists open to others.

    An existing folder is not changed (the operator may share it on purpose), but a
    warning says how to close it.
    """
    path = Path(path)
    if not path.exists():
        missing = [p for p in [path, *path.parents] if not p.exists()]
        path.mkdir(parents=True, mode=DIR_MODE, exist_ok=True)
        for created in missing:  # mkdir's mode is masked by the umask; be explicit
            created.chmod(DIR_MODE)
    elif others_can_access(path):
        log.warning(
            "%s is accessible by other users (mode %s): run `chmod 700 %s`",
            path,
            oct(path.stat().st_mode & 0o777),
            path,
        )
    return path


def write_private_file(path: Path, data: bytes, *, exclusive: bool = False) -> Path:
    """Write ``data`` to ``path`` with mode 0600 (folder 0700), atomically.

    ``exclusive``: fail with FileExistsError instead of replacing an existing file.
    """
    path = Path(path)
    private_dir(path.parent)
    if exclusive and path.exists():
        raise FileExistsError(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), FILE_MODE)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if exclusive:
            os.link(tmp, path)  # raises FileExistsError if another process won
            tmp.unlink()
        else:
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def create_private_file(path: Path) -> Path:
    """Create an empty file with mode 0600 if it does not exist (e.g. before SQLite opens it)."""
    path = Path(path)
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return path
    os.close(fd)
    return path
