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
    # into an empty folder too (restore: a folder that exists empty is not occupied)
    shutil.copytree(source, target, copy_function=shutil.copy2, dirs_exist_ok=True)
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
        # and each alias's lock in the serving store (another home's promote takes it)
        with (
            Store(store_url) as lock_store,
            registry.all_alias_locks(
                mlflow_url, f"riskwarn backup {name}", lock_dir=lock_dir, store=lock_store
            ),
        ):
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


def _safe_name(name: object) -> bool:
    """A path inside the backup or the home: relative, no ``..``, no empty or dot part."""
    if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name:
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def _check_manifest(manifest: object, where: Path) -> dict[str, Any]:
    """The manifest's shape, checked before anything is read from or written by it: a
    damaged or crafted manifest is one line (``BackupError``), never a traceback, and can
    name no path outside the backup or the home (review stop 37: a crafted
    ``parts.home: ["../x"]`` wrote ``x`` beside the home)."""

    def bad(what: str) -> BackupError:
        return BackupError(f"{where} is damaged: {what}; nothing was restored")

    if not isinstance(manifest, dict):
        raise bad("its manifest is not a JSON object")
    missing = [
        k
        for k in ("format", "name", "created_at", "home", "parts", "files", "counts")
        if k not in manifest
    ]
    if missing:
        raise bad(f"its manifest has no {', '.join(missing)}")
    if manifest["format"] != FORMAT:
        raise BackupError(f"backup format {manifest['format']} is not {FORMAT}")
    files, parts = manifest["files"], manifest["parts"]
    if not isinstance(files, dict) or not all(
        _safe_name(f) and isinstance(v, dict) and isinstance(v.get("sha256"), str)
        for f, v in files.items()
    ):
        raise bad("its manifest's file list is not a list of files inside the backup")
    if not isinstance(parts, dict) or not isinstance(parts.get("serving"), dict):
        raise bad("its manifest names no serving store")
    for key in ("serving", "mlflow"):
        part = parts.get(key, {})
        if not isinstance(part, dict):
            raise bad(f"its manifest's {key} part is not an object")
        if part.get("file") is not None and (
            part["file"] not in files or part.get("kind") not in ("sqlite", "postgresql")
        ):
            raise bad(f"its manifest's {key} database is not one of its files")
    home_files = parts.get("home", [])
    if not isinstance(home_files, list) or any(f not in HOME_FILES for f in home_files):
        raise bad(f"its manifest's home files are not among {', '.join(HOME_FILES)}")
    if any(f"home/{f}" not in files for f in home_files):
        raise bad("its manifest's home files are not among its files")
    if parts.get(ARTIFACTS, ARTIFACTS) != ARTIFACTS or (
        "lake" in parts
        and not (isinstance(parts["lake"], dict) and parts["lake"].get("folder") == "lake")
    ):
        raise bad("its manifest names folders this format does not have")
    return manifest


def verify(backup_dir: Path) -> dict[str, Any]:
    """The backup's manifest, after checking every file it lists (and no file more)."""
    path = Path(backup_dir) / MANIFEST
    if not path.is_file():
        raise BackupError(f"{backup_dir} is not a riskwarn backup (no {MANIFEST})")
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError(
            f"{backup_dir} is damaged: its {MANIFEST} cannot be read ({type(exc).__name__} "
            f"at character {getattr(exc, 'pos', '?')}); nothing was restored"
        ) from None
    manifest = _check_manifest(loaded, Path(backup_dir))
    links = [p for p in Path(backup_dir).rglob("*") if p.is_symlink()]
    if links:  # a link would copy a file from outside the backup into the home
        raise BackupError(
            f"backup {backup_dir} holds a symbolic link ({links[0].relative_to(backup_dir)}); "
            "a backup holds files only: nothing was restored"
        )
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


def _restore_parts(
    settings: Settings,
    backup_dir: Path,
    manifest: dict[str, Any],
    targets: list[tuple[str, str]],
) -> int:
    """Each part of a verified backup into the empty home and stores; MLflow locations
    rewritten (the count returned)."""
    from riskwarn.store import Store

    parts = manifest["parts"]
    store_url = targets[0][1]
    restore_database(parts["serving"], backup_dir, store_url)
    with Store(store_url) as store:  # migrate an older backup; PostgreSQL: grants
        store.upgrade(force=True)
    relocated = 0
    if len(targets) > 1:
        mlflow_url = targets[1][1]
        restore_database(parts["mlflow"], backup_dir, mlflow_url)
        old = str(Path(manifest["home"]) / ARTIFACTS)
        relocated = relocate_artifacts(mlflow_url, old, str(settings.home.resolve() / ARTIFACTS))
    if ARTIFACTS in parts:
        _copy_tree(backup_dir / ARTIFACTS, settings.home / ARTIFACTS)
    if "lake" in parts:
        _copy_tree(backup_dir / "lake", settings.lake_dir)
    for fname in parts.get("home", []):
        shutil.copy2(backup_dir / "home" / fname, settings.home / fname)
        (settings.home / fname).chmod(FILE_MODE)
    return relocated


_DROP_ORDER = {
    "VIEW": 0,
    "MATERIALIZED VIEW": 0,
    "TABLE": 1,
    "SEQUENCE": 2,
    "ROUTINE": 3,
    "TYPE": 4,
    "EXTENSION": 5,
    "SCHEMA": 6,
}
_PG_OBJECTS = """
SELECT c.oid::regclass::text AS ident,
       CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                      WHEN 'S' THEN 'SEQUENCE' WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END AS kind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S', 'c') AND {user}
UNION ALL
SELECT p.oid::regprocedure::text, 'ROUTINE'
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {user}
UNION ALL
SELECT t.oid::regtype::text, 'TYPE'
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE t.typtype IN ('e', 'd', 'r', 'm') AND {user}
UNION ALL
SELECT quote_ident(e.extname), 'EXTENSION' FROM pg_extension e
UNION ALL
SELECT quote_ident(n.nspname), 'SCHEMA' FROM pg_namespace n WHERE {user}
""".format(
    user="n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"
)


def _pg_objects(url: str) -> dict[str, str]:
    """The user objects of a PostgreSQL database: identity -> kind (TABLE, FUNCTION...)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {row.ident: row.kind for row in conn.execute(sa.text(_PG_OBJECTS))}
    finally:
        engine.dispose()


def _drop_new_pg_objects(url: str, before: dict[str, str]) -> dict[str, str]:
    """Drop what a failed restore created in the PostgreSQL database at ``url`` (tables,
    their sequences, the store's trigger functions, and any view, routine, type,
    extension or schema the dump held), each under its own savepoint, nothing that was
    there before (``before``); what is left of the new objects (empty: all gone)."""

    def new() -> dict[str, str]:
        return {k: v for k, v in _pg_objects(url).items() if (k, v) not in before.items()}

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for ident, kind in sorted(new().items(), key=lambda kv: (_DROP_ORDER[kv[1]], kv[0])):
                try:
                    with conn.begin_nested():
                        conn.exec_driver_sql(f"DROP {kind} IF EXISTS {ident} CASCADE")
                except sa.exc.DBAPIError as exc:  # e.g. a function an extension owns
                    log.debug("restore undo: DROP %s %s: %s", kind, ident, exc.orig)
    finally:
        engine.dispose()
    return new()


def _folders(settings: Settings, parts: dict[str, Any]) -> list[Path]:
    """The folders a restore of ``parts`` fills."""
    folders = {ARTIFACTS: settings.home / ARTIFACTS, "lake": settings.lake_dir}
    return [path for part, path in folders.items() if part in parts]


def _undo_restore(
    settings: Settings,
    parts: dict[str, Any],
    targets: list[tuple[str, str]],
    before: dict[str, dict[str, str]],
) -> list[str]:
    """Remove what a failed restore wrote (every target was empty before it: checked);
    the places it could not empty, for the message."""
    left: list[str] = []
    for what, url in targets:
        try:
            if _kind(url) == "sqlite":
                path = Path(str(sa.make_url(url).database))
                for p in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
                    p.unlink(missing_ok=True)
                path.with_name(f".{path.name}.restore").unlink(missing_ok=True)
            elif _drop_new_pg_objects(url, before.get(url, {})):
                left.append(f"the {what} {redact(url)}")
        except Exception:  # named in the message instead
            log.exception("could not empty the %s after a failed restore", what)
            left.append(f"the {what} {redact(url)}")
    for folder in _folders(settings, parts):  # empty (or absent) before: checked
        if folder.is_dir():
            for p in list(folder.iterdir()):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
            if any(folder.iterdir()):
                left.append(str(folder))
    for fname in parts.get("home", []):  # absent before: checked
        (settings.home / fname).unlink(missing_ok=True)
    return left


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
    occupied += [str(f) for f in _folders(settings, parts) if f.is_dir() and any(f.iterdir())]
    # a users file already in the home would be overwritten (and, by a restore that
    # fails, removed: review stop 37): occupied too
    occupied += [
        str(settings.home / f) for f in parts.get("home", []) if (settings.home / f).exists()
    ]
    if occupied:
        raise BackupError(
            f"refusing to restore over existing data: {', '.join(occupied)} (restore into "
            "an empty home and empty databases)"
        )
    private_dir(settings.home)
    # what a PostgreSQL target held (no table: checked) before, so that a failed restore
    # drops only what it created
    before = {url: _pg_objects(url) for _, url in targets if _kind(url) == "postgresql"}
    try:
        relocated = _restore_parts(settings, backup_dir, manifest, targets)
    except Exception as exc:
        # nothing half-restored is left behind: what this restore wrote is removed, so the
        # home is empty again and the same restore can be run once the cause is mended
        # (review stop 37: a restore failing midway left a half-restored home that the
        # next restore refused as occupied)
        left = _undo_restore(settings, parts, targets, before)
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BackupError(
            redact(
                f"restore of {backup_dir.name} failed ({type(exc).__name__}: {why}); "
                + (
                    "what it had written is removed: the home is empty again"
                    if not left
                    else f"could not remove what it wrote in {', '.join(left)}: empty them "
                    "before restoring again"
                )
            )
        ) from exc
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
