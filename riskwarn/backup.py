"""Back up and restore a riskwarn installation: serving store, MLflow, lake (issue 13.14).

``riskwarn backup`` writes one folder ``riskwarn-backup-<UTC time>`` (mode 0700) under
``Settings.backup_dir`` with:

* ``serving/``: the serving store: SQLite through the online backup API (a consistent
  copy while the pipeline and the dashboard keep working), PostgreSQL through
  ``pg_dump --format=custom``;
* ``mlflow/``: MLflow's backend store the same way (skipped when it is the serving
  store's database, or an MLflow server, which backs up its own store), then
  ``mlartifacts/``: the model files (copied after the database, so every file the
  database names is there);
  The two databases are dumped holding every champion alias lock (the locks ``riskwarn
  promote`` / ``rollback`` take): a promotion's audit entry and its alias move are both
  in the backup or both not, so the restored champion is the one the restored audit log
  records, and scoring serves it;
* ``lake/``: a consistent snapshot of the Delta lake (``riskwarn.lake`` holds every
  writer while it links or copies the files);
* ``home/``: the dashboard's users file (scrypt hashes), if any;
* ``manifest.json``: what is where, the SHA-256 and size of every file, the schema
  revision, the home it came from and row counts of the review trail and audit log.

The folder is written as ``<name>.partial`` and renamed when complete; then all but the
newest ``Settings.backup_keep`` complete backups are deleted. Keys and passwords
(``<home>/secrets``, the pseudonym key file) are **not** in a backup: a backup holding
the pseudonyms and their key would let anyone who reads it reverse them; keep the keys
in their own, separately protected backup (docs/security.md).

``riskwarn restore BACKUP`` checks every file against the manifest, refuses a target
that already holds data, then restores each part into the home and stores of the
current settings (a SQLite or PostgreSQL serving store; PostgreSQL with
``pg_restore --no-owner --no-privileges``, then ``riskwarn db upgrade``'s grants). MLflow
records absolute artefact locations: when the home moved, they are rewritten to the new
home's ``mlartifacts`` so the champion loads (and verifies) from the restored files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from riskwarn.filemodes import FILE_MODE, private_dir, write_private_file
from riskwarn.redact import redact

if TYPE_CHECKING:
    from riskwarn.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "riskwarn-backup-"
PARTIAL = ".partial"
MANIFEST = "manifest.json"
FORMAT = 1
HOME_FILES = ("users.yaml",)
ARTIFACTS = "mlartifacts"
# MLflow columns that hold artefact locations (absolute file: URIs or paths)
MLFLOW_LOCATIONS = {
    "experiments": ("artifact_location",),
    "runs": ("artifact_uri",),
    "logged_models": ("artifact_location",),
    "model_versions": ("source", "storage_location"),
}


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message is one line for the user."""


# --------------------------------------------------------------------------- databases


def _database_kind(url: str) -> str | None:
    """'sqlite' or 'postgresql' for a database URL, None for anything else (http:, file:)."""
    try:
        name = sa.make_url(url).get_backend_name()
    except sa.exc.ArgumentError:
        return None
    return name if name in ("sqlite", "postgresql") else None


def _kind(url: str) -> str:
    name = sa.make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"cannot back up a {name} database ({redact(url)})")
    return name


def _libpq(url: str) -> tuple[list[str], dict[str, str]]:
    """``--dbname`` argument and environment for pg_dump/pg_restore (password via PGPASSWORD,
    never on the command line)."""
    u = sa.make_url(url)
    env = {**os.environ}
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    conninfo = u.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return ["--dbname", conninfo], env


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise BackupError(redact(f"{what} failed: {detail[-1] if detail else proc.returncode}"))


def dump_database(url: str, out_dir: Path) -> dict[str, Any]:
    """A consistent copy of the database at ``url`` in ``out_dir``."""
    kind = _kind(url)
    private_dir(out_dir)
    if kind == "sqlite":
        source = Path(str(sa.make_url(url).database))
        if not source.exists():
            return {"kind": kind, "file": None, "url": redact(url)}
        target = out_dir / "database.sqlite"
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.close(fd)
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)  # SQLite's online backup: one consistent snapshot
        dst.close()
        src.close()
        return {"kind": kind, "file": f"{out_dir.name}/{target.name}", "url": redact(url)}
    target = out_dir / "database.pgdump"
    dbname, env = _libpq(url)
    _run(["pg_dump", "--format=custom", "--file", str(target), *dbname], env, "pg_dump")
    target.chmod(FILE_MODE)
    return {"kind": kind, "file": f"{out_dir.name}/{target.name}", "url": redact(url)}


def _is_empty(url: str) -> bool:
    if _kind(url) == "sqlite":
        path = Path(str(sa.make_url(url).database))
        if not path.exists() or path.stat().st_size == 0:
            return True
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return not sa.inspect(conn).get_table_names()
    finally:
        engine.dispose()


def restore_database(part: dict[str, Any], backup_dir: Path, url: str) -> None:
    """Restore one dumped database into the empty database at ``url``."""
    if part.get("file") is None:
        return
    if part["kind"] != _kind(url):
        raise BackupError(
            f"the backup holds a {part['kind']} database; the target {redact(url)} is "
            f"{_kind(url)}: restore into the same kind (or migrate the data yourself)"
        )
    source = backup_dir / part["file"]
    if part["kind"] == "sqlite":
        target = Path(str(sa.make_url(url).database))
        private_dir(target.parent)
        tmp = target.with_name(f".{target.name}.restore")
        shutil.copyfile(source, tmp)
        tmp.chmod(FILE_MODE)
        os.replace(tmp, target)
        return
    dbname, env = _libpq(url)
    _run(
        ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", *dbname, str(source)],
        env,
        "pg_restore",
    )


def relocate_artifacts(url: str, old_root: str, new_root: str) -> int:
    """Rewrite MLflow's artefact locations under ``old_root`` to ``new_root``; rows changed."""
    if old_root == new_root:
        return 0
    engine = sa.create_engine(url)
    changed = 0
    try:
        with engine.begin() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            for table, columns in MLFLOW_LOCATIONS.items():
                if table not in tables:
                    continue
                for column in columns:
                    for old, new in (
                        (f"file://{old_root}", f"file://{new_root}"),
                        (old_root, new_root),
                    ):
                        changed += conn.execute(
                            sa.text(
                                f"UPDATE {table} SET {column} = :new || substr({column}, :n) "
                                f"WHERE substr({column}, 1, :k) = :old"
                            ),
                            {"new": new, "old": old, "n": len(old) + 1, "k": len(old)},
                        ).rowcount
    finally:
        engine.dispose()
    return changed


# --------------------------------------------------------------------------- files


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _file_list(root: Path) -> dict[str, dict[str, Any]]:
    return {
        p.relative_to(root).as_posix(): {"sha256": _sha256(p), "bytes": p.stat().st_size}
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def _copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, copy_function=shutil.copy2)
    for p in [target, *target.rglob("*")]:
        p.chmod(0o700 if p.is_dir() else FILE_MODE)


def _counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            return {
                t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in ("warnings", "warning_reviews", "audit_log", "forecasts")
                if t in tables
            }
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- backup


def backups(root: Path) -> list[Path]:
    """Complete backups under ``root``, oldest first."""
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.iterdir() if p.name.startswith(PREFIX) and (p / MANIFEST).is_file()
    )


def backup(
    settings: Settings,
    dest: Path | None = None,
    keep: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Back up the serving store, MLflow and the lake of ``settings``; return the manifest.

    The serving store and MLflow are dumped holding every champion alias lock
    (:func:`models.registry.all_alias_locks`): a promote or rollback waits for the dumps
    (up to a minute), and the backup waits for a move under way."""
    from models import registry
    from riskwarn.store import Store
    from riskwarn.store.base import os_actor

    root = Path(dest or settings.resolved_backup_dir)
    keep = settings.backup_keep if keep is None else keep
    if keep < 1:
        raise BackupError("keep at least one backup")
    when = (now or datetime.now(UTC)).astimezone(UTC)
    name = f"{PREFIX}{when:%Y%m%dT%H%M%SZ}"
    final = root / name
    work = root / (name + PARTIAL)
    if final.exists() or work.exists():
        raise BackupError(f"{final} exists already")
    private_dir(root)
    private_dir(work)
    store_url = settings.resolved_store_url
    mlflow_url = settings.resolved_mlflow_uri
    parts: dict[str, Any] = {}
    # no champion alias moves between the two dumps (every alias lock held, the locks
    # promote and rollback take): a promote's audit entry (serving store) and its alias
    # move (MLflow) are both in the backup or both not, so the restored champion is the
    # one the restored audit log records (scoring serves it)
    try:
        # where promote finds them: beside a SQLite registry, else in the home
        lock_dir = None if mlflow_url.startswith("sqlite:///") else settings.home / "run"
        with registry.all_alias_locks(mlflow_url, f"riskwarn backup {name}", lock_dir=lock_dir):
            parts["serving"] = dump_database(store_url, work / "serving")
            if mlflow_url == store_url:
                parts["mlflow"] = {"same_as": "serving"}
            elif _database_kind(mlflow_url) is not None:
                parts["mlflow"] = dump_database(mlflow_url, work / "mlflow")
            else:
                parts["mlflow"] = {
                    "skipped": f"MLflow at {redact(mlflow_url)}: back up its own store"
                }
    except registry.ChampionBusy as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise BackupError(f"not backed up: {exc}") from None
    with Store(store_url) as store:
        revision = store.current_revision()
    artifacts = settings.home / ARTIFACTS
    if artifacts.is_dir():
        _copy_tree(artifacts, work / ARTIFACTS)
        parts[ARTIFACTS] = ARTIFACTS
    if settings.lake_dir.is_dir() and any(settings.lake_dir.iterdir()):
        from riskwarn.lake.maintenance import snapshot

        snap = snapshot(settings.lake_dir, work / "lake")
        parts["lake"] = {"folder": "lake", "linked": snap["linked"], "copied": snap["copied"]}
    for fname in HOME_FILES:
        if (settings.home / fname).is_file():
            private_dir(work / "home")
            shutil.copy2(settings.home / fname, work / "home" / fname)
            (work / "home" / fname).chmod(FILE_MODE)
            parts.setdefault("home", []).append(fname)
    files = _file_list(work)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "name": name,
        "created_at": when.isoformat(),
        "home": str(settings.home.resolve()),
        "store_revision": revision,
        "counts": _counts(store_url) if parts["serving"].get("file") else {},
        "parts": parts,
        "not_included": "keys and passwords (<home>/secrets, the pseudonym key file)",
        "files": files,
    }
    write_private_file(work / MANIFEST, json.dumps(manifest, indent=1).encode())
    os.rename(work, final)
    removed = [str(p) for p in backups(root)[:-keep]]
    for old in removed:
        shutil.rmtree(old)
    log.info("backup %s written (%d files); removed %d old", final, len(files), len(removed))
    with Store(store_url) as store:  # after the copy: the entry is in the live store only
        store.audit(
            os_actor(),
            "backup",
            "backup",
            name,
            {"path": str(final), "files": len(files), "removed": removed, "parts": sorted(parts)},
        )
    return {**manifest, "path": str(final), "removed": removed}


# --------------------------------------------------------------------------- restore


def verify(backup_dir: Path) -> dict[str, Any]:
    """The backup's manifest, after checking every file it lists (and no file more)."""
    path = Path(backup_dir) / MANIFEST
    if not path.is_file():
        raise BackupError(f"{backup_dir} is not a riskwarn backup (no {MANIFEST})")
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')} is not {FORMAT}")
    found = _file_list(Path(backup_dir))
    listed = manifest["files"]
    bad = sorted(
        set(found) ^ set(listed)
        | {f for f in set(found) & set(listed) if found[f]["sha256"] != listed[f]["sha256"]}
    )
    if bad:
        raise BackupError(
            f"backup {backup_dir} is damaged: {len(bad)} file(s) missing, extra or changed "
            f"(first: {bad[0]}); nothing was restored"
        )
    return manifest


def restore(settings: Settings, backup_dir: Path) -> dict[str, Any]:
    """Restore ``backup_dir`` into the (empty) home and stores of ``settings``."""
    from riskwarn.store import Store
    from riskwarn.store.base import os_actor

    backup_dir = Path(backup_dir)
    manifest = verify(backup_dir)
    parts = manifest["parts"]
    store_url, mlflow_url = settings.resolved_store_url, settings.resolved_mlflow_uri
    mlflow_part = parts.get("mlflow", {})
    targets = [("serving store", store_url)]
    if mlflow_part.get("file"):
        targets.append(("MLflow store", mlflow_url))
    occupied = [f"{what} {redact(url)}" for what, url in targets if not _is_empty(url)]
    for folder in ("lake", ARTIFACTS):
        if folder in parts and (settings.home / folder).exists():
            occupied.append(str(settings.home / folder))
    if occupied:
        raise BackupError(
            f"refusing to restore over existing data: {', '.join(occupied)} (restore into "
            "an empty home and empty databases)"
        )
    private_dir(settings.home)
    restore_database(parts["serving"], backup_dir, store_url)
    with Store(store_url) as store:  # migrate an older backup; PostgreSQL: grants
        store.upgrade(force=True)
    relocated = 0
    if mlflow_part.get("file"):
        restore_database(mlflow_part, backup_dir, mlflow_url)
        old = str(Path(manifest["home"]) / ARTIFACTS)
        relocated = relocate_artifacts(mlflow_url, old, str(settings.home.resolve() / ARTIFACTS))
    if ARTIFACTS in parts:
        _copy_tree(backup_dir / ARTIFACTS, settings.home / ARTIFACTS)
    if "lake" in parts:
        _copy_tree(backup_dir / "lake", settings.lake_dir)
    for fname in parts.get("home", []):
        shutil.copy2(backup_dir / "home" / fname, settings.home / fname)
        (settings.home / fname).chmod(FILE_MODE)
    log.info("restored %s into %s", backup_dir, settings.home)
    with Store(store_url) as store:  # into the restored store: its trail says where it came from
        store.audit(
            os_actor(),
            "restore",
            "backup",
            manifest["name"],
            {
                "path": str(backup_dir),
                "created_at": manifest["created_at"],
                "from_home": manifest["home"],
                "home": str(settings.home),
                "parts": sorted(parts),
            },
        )
    return {
        "restored": manifest["name"],
        "home": str(settings.home),
        "parts": sorted(parts),
        "counts": manifest["counts"],
        "artifact_locations_rewritten": relocated,
    }
