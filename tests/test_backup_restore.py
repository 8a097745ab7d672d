"""Backup and restore (issue 13.14): a backup restored into an empty home serves the
same warnings, review trail, audit log, lake and champion, and the dashboard shows them.

The old code had no backup at all; these tests need ``riskwarn backup`` / ``restore``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
import sqlalchemy as sa

from models import registry as reg
from riskwarn import lake
from riskwarn.backup import BackupError, backup, backups, restore, verify
from riskwarn.cli import main
from riskwarn.contracts import TABLES
from riskwarn.settings import Settings
from riskwarn.store import Store
from testkit.dashboard_demo import demo_home
from tests.test_scoring import CountModel

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
REASON = "patrol confirmed the hot spot"


def settings_for(home: Path, store_url: str | None = None) -> Settings:
    return Settings(
        home=home,
        store_url=store_url or "",
        mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
        pseudonym_key="k" * 40,
    )


def populate(settings: Settings) -> str:
    """Demo city in the store and lake, a champion recorded by riskwarn, one decision."""
    demo_home(settings.home, store_url=settings.store_url or None, n_cells=120, weeks=2, n_cases=30)
    client = reg.configure(settings.resolved_mlflow_uri)
    reg.ensure_experiment("riskwarn-incidents", (settings.home / "mlartifacts").as_uri())
    mlflow.set_experiment("riskwarn-incidents")
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=CountModel("count_28d"),
            registered_model_name="riskwarn-incidents",
            pip_requirements=["mlflow"],
        )
    with Store(settings.resolved_store_url) as store:
        reg.promote(
            client,
            "incidents",
            str(info.registered_model_version),
            store=store,
            reason="first champion",
            force=True,
        )
        top = store.warnings(domain="incidents", state="new").iloc[0]
        store.review_warning(
            top["warning_id"], "accept", REASON, "reviewer", expected_version=int(top["version"])
        )
    return str(top["warning_id"])  # reviewed: the trail has a decision


def contents(settings: Settings) -> dict[str, pd.DataFrame]:
    with Store(settings.resolved_store_url) as store:
        out = {
            "warnings": store.warnings(published_only=False),
            "reviews": store.warning_reviews(),
            "audit": store.audit_log(limit=100_000).drop(columns=["id"]),
            "runs": store.runs(),
            "forecasts": pd.concat(
                [store.published_forecasts(d) for d in ("incidents", "disputes")]
            ),
        }
    for name in TABLES:
        frame = lake.read_table(settings.lake_dir, name)
        if not frame.empty:
            out[f"lake.{name}"] = frame.sort_values(list(frame.columns[:2])).reset_index(drop=True)
    return out


def assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        pd.testing.assert_frame_equal(
            a[name].reset_index(drop=True), b[name].reset_index(drop=True), obj=name
        )


def warnings_page(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, warning: str | None = None
) -> dict[str, Any]:
    """The warnings page as a reviewer sees it: its text and every table shown."""
    from dashboard import auth

    monkeypatch.setenv("RISKWARN_HOME", str(settings.home))
    monkeypatch.setenv("RISKWARN_STORE_URL", settings.resolved_store_url)
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", settings.resolved_mlflow_uri)
    monkeypatch.setenv("RISKWARN_AIRFLOW_API_URL", "http://127.0.0.1:9")
    import streamlit as st

    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=90)
    role, name = auth.DEMO_USERS["reviewer"]
    at.session_state["user"] = auth.User(username="reviewer", name=name, role=role)
    at.session_state["lang"] = "en"
    if warning is not None:  # opened at its link (?warning=ID), as a reviewer reopens it
        at.query_params["warning"] = warning
    at.run()
    at.switch_page("pages/warnings.py").run()
    assert not at.exception, [e.value for e in at.exception]
    tables = [d.value.to_json(orient="split", date_format="iso") for d in at.dataframe]
    text = [m.value for m in at.markdown] + [m.value for m in at.caption]
    with Store(settings.resolved_store_url) as store:
        ids = set(store.warnings(published_only=False)["warning_id"])
    selected = [sb.value for sb in at.selectbox if sb.value in ids]
    return {"tables": tables, "text": text, "selected": selected}


@pytest.fixture
def source(tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    settings = settings_for(tmp_path / "source")
    yield settings, populate(settings)


def test_restore_into_an_empty_home_serves_the_same(
    source: tuple[Settings, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings, _ = source
    (reviewed,) = warnings_page(settings, monkeypatch)["selected"]
    with Store(settings.resolved_store_url) as store:  # a decision on the warning shown
        current = store.get_warning(reviewed)
        store.review_warning(reviewed, "dismiss", REASON, "reviewer", int(current["version"]))
    before = contents(settings)
    # a dismissed warning leaves the top of the queue: reopen it at its link
    page_before = warnings_page(settings, monkeypatch, warning=reviewed)
    assert page_before["selected"] == [reviewed]
    assert any(REASON in t for t in page_before["tables"]), "the trail is on the page"

    monkeypatch.setenv("RISKWARN_HOME", str(settings.home))
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", settings.resolved_mlflow_uri)
    monkeypatch.delenv("RISKWARN_STORE_URL", raising=False)
    assert main(["backup", "--dest", str(tmp_path / "backups"), "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    folder = Path(made["path"])
    assert made["counts"]["warning_reviews"] == 2 and made["files"] > 10
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert not (folder / "secrets").exists()
    with Store(settings.resolved_store_url) as store:  # the backup is in the audit log
        log = store.audit_log(limit=100_000)
    done = log[log["action"] == "backup"]
    assert done["object_id"].tolist() == [folder.name], log["action"].tolist()[:5]

    target = settings_for(tmp_path / "restored")
    shutil.rmtree(settings.home)  # the original is gone: the backup must be enough
    monkeypatch.setenv("RISKWARN_HOME", str(target.home))
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", target.resolved_mlflow_uri)
    assert main(["restore", str(folder), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["artifact_locations_rewritten"] > 0

    after = contents(target)
    audit = after["audit"]
    # the restored store's trail: the backup's entries, then the restore (and no more)
    restored = audit[audit["action"] == "restore"]
    assert restored["object_id"].tolist() == [folder.name], audit["action"].tolist()[:5]
    assert restored["details"].iloc[0]["path"] == str(folder)
    after["audit"] = audit[audit["action"] != "restore"]
    assert_same(before, after)
    assert warnings_page(target, monkeypatch, warning=reviewed) == page_before
    with Store(target.resolved_store_url) as store:  # the champion verifies and loads
        client = reg.configure(target.resolved_mlflow_uri)
        _, files = reg.verified_champion(client, store, "incidents", tmp_path / "dl")
        assert (
            mlflow.pyfunc.load_model(str(files))
            .predict(pd.DataFrame({"count_28d": [1.0]}))["probability"]
            .iloc[0]
            > 0
        )
        assert store.get_warning(reviewed)["state"] == "dismissed"

    # restoring again over the restored home is refused, and changes nothing
    assert main(["restore", str(folder)]) == 2
    assert "refusing to restore over existing data" in capsys.readouterr().err


def test_a_damaged_backup_is_refused_and_old_backups_are_pruned(
    source: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, _ = source
    dest = tmp_path / "backups"
    start = datetime(2026, 12, 1, tzinfo=UTC)
    for day in range(3):
        backup(settings, dest=dest, keep=2, now=start + timedelta(days=day))
    kept = backups(dest)
    assert [p.name for p in kept] == [
        "riskwarn-backup-20261202T000000Z",
        "riskwarn-backup-20261203T000000Z",
    ]
    verify(kept[-1])
    dump = kept[-1] / "serving" / "database.sqlite"
    dump.write_bytes(dump.read_bytes()[:-1] + b"\x01")
    target = settings_for(tmp_path / "restored")
    with pytest.raises(BackupError, match="damaged: 1 file"):
        restore(target, kept[-1])
    assert not (target.home / "serving.db").exists()


def _copy_backup(folder: Path, to: Path) -> Path:
    shutil.copytree(folder, to)
    return to


def test_a_damaged_or_crafted_manifest_is_one_line_and_writes_nothing(
    source: tuple[Settings, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A truncated manifest, one without its file list, one whose home files name a path
    outside the home, and a backup holding a symbolic link: each refused in one line
    (exit 2), nothing restored, nothing written outside the home. On the code before:
    tracebacks (JSONDecodeError, KeyError) and ``parts.home: ["../outside"]`` wrote
    ``outside`` beside the home (review stop 37)."""
    settings, _ = source
    made = backup(settings, dest=tmp_path / "backups", now=datetime(2026, 12, 1, tzinfo=UTC))
    good = Path(made["path"])
    manifest = json.loads((good / "manifest.json").read_text())

    truncated = _copy_backup(good, tmp_path / "truncated")
    (truncated / "manifest.json").write_text(json.dumps(manifest)[:200])
    no_files = _copy_backup(good, tmp_path / "no_files")
    (no_files / "manifest.json").write_text(
        json.dumps({k: v for k, v in manifest.items() if k != "files"})
    )
    crafted = _copy_backup(good, tmp_path / "crafted")
    outside = tmp_path / "restored-target" / ".." / "outside_target"
    (crafted / "home").mkdir(exist_ok=True)
    (crafted / "home" / "x").write_text("not the home's")
    evil = {**manifest, "parts": {**manifest["parts"], "home": ["../outside_target"]}}
    (crafted / "manifest.json").write_text(json.dumps(evil))
    climbing = _copy_backup(good, tmp_path / "climbing")
    up = {**manifest, "files": {**manifest["files"], "../outside_target": {"sha256": "0"}}}
    (climbing / "manifest.json").write_text(json.dumps(up))
    linked = _copy_backup(good, tmp_path / "linked")
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the backup")
    (linked / "home").mkdir(exist_ok=True)
    (linked / "home" / "users.yaml").unlink(missing_ok=True)
    (linked / "home" / "users.yaml").symlink_to(secret)
    cases = {
        truncated: "cannot be read",
        no_files: "has no files",
        crafted: "home files are not among users.yaml",
        climbing: "not a list of files inside the backup",
        linked: "symbolic link",
    }
    target = settings_for(tmp_path / "restored-target")
    monkeypatch.setenv("RISKWARN_HOME", str(target.home))
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", target.resolved_mlflow_uri)
    monkeypatch.delenv("RISKWARN_STORE_URL", raising=False)
    for folder, why in cases.items():
        with pytest.raises(BackupError, match=why):
            restore(target, folder)
        assert main(["restore", str(folder)]) == 2
        err = capsys.readouterr().err
        assert why in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not outside.resolve().exists()
    assert not (target.home / "serving.db").exists()
    assert restore(target, good)["restored"] == good.name  # the intact backup still restores


def test_a_restore_failing_midway_leaves_the_home_empty_and_runs_again(
    source: tuple[Settings, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lake's copy fails after the stores and the model files were restored: the
    restore says so in one line, removes what it wrote, and the same restore then
    succeeds and serves the same. On the code before: the exception escaped, the home was
    left half-restored, and the next restore was refused as occupied (review stop 37)."""
    import riskwarn.backup as bk

    settings, _ = source
    before = contents(settings)
    made = backup(settings, dest=tmp_path / "backups", now=datetime(2026, 12, 1, tzinfo=UTC))
    folder = Path(made["path"])
    target = settings_for(tmp_path / "restored")
    real_copy = bk._copy_tree

    def failing_copy(src: Path, dst: Path) -> None:
        if src.name == "lake":
            (dst / "partial").mkdir(parents=True)  # the copy had begun
            raise OSError(28, "No space left on device")
        real_copy(src, dst)

    monkeypatch.setattr(bk, "_copy_tree", failing_copy)
    with pytest.raises(BackupError, match=r"No space left on device.*home is empty again"):
        restore(target, folder)
    assert not (target.home / "serving.db").exists()
    assert not (target.home / "mlflow.db").exists()
    for name in ("mlartifacts", "lake"):
        assert not (target.home / name).exists() or not any((target.home / name).iterdir())
    monkeypatch.setattr(bk, "_copy_tree", real_copy)
    restore(target, folder)
    after = contents(target)
    after["audit"] = after["audit"][after["audit"]["action"] != "restore"]
    before["audit"] = before["audit"][before["audit"]["action"] != "backup"]
    after["audit"] = after["audit"][after["audit"]["action"] != "backup"]
    assert_same(before, after)


@pytest.mark.postgres
def test_postgresql_store_round_trip(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a password in the URL (trust authentication ignores it): never in the manifest
    with_password = sa.make_url(pg_url).set(password="S3cret-pw").render_as_string(False)
    settings = settings_for(tmp_path / "source", store_url=with_password)
    populate(settings)
    before = contents(settings)
    made = backup(settings, dest=tmp_path / "backups")
    assert made["parts"]["serving"]["kind"] == "postgresql"
    manifest = (Path(made["path"]) / "manifest.json").read_text()
    assert "S3cret-pw" not in manifest and ":***@" in manifest

    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    other = sa.make_url(pg_url).database + "_restored"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{other}"')
    try:
        url = sa.make_url(pg_url).set(database=other).render_as_string(hide_password=False)
        target = settings_for(tmp_path / "restored", store_url=url)
        # a restore failing midway (the lake's copy) drops the tables it restored: the
        # same restore then runs into an empty database (review stop 37)
        import riskwarn.backup as bk

        real_copy = bk._copy_tree

        def failing_copy(src: Path, dst: Path) -> None:
            if src.name == "lake":
                raise OSError(28, "No space left on device")
            real_copy(src, dst)

        monkeypatch.setattr(bk, "_copy_tree", failing_copy)
        with pytest.raises(BackupError, match="home is empty again"):
            restore(target, Path(made["path"]))
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            assert sa.inspect(conn).get_table_names() == []
        engine.dispose()
        monkeypatch.setattr(bk, "_copy_tree", real_copy)
        restore(target, Path(made["path"]))
        after = contents(target)
        audit = after["audit"]
        assert audit["action"].tolist().count("restore") == 1
        after["audit"] = audit[audit["action"] != "restore"]
        assert_same(before, after)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')
        admin.dispose()


def test_a_users_file_already_in_the_home_is_occupied_and_kept(
    source: tuple[Settings, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backup carries a users file; the target home holds the operator's own: the
    restore refuses the home as occupied (before, it was overwritten, and a restore that
    failed later deleted it: review stop 37), and the file is kept as it was."""
    import riskwarn.backup as bk

    settings, _ = source
    (settings.home / "users.yaml").write_text("users: {}\n")
    made = backup(settings, dest=tmp_path / "b", now=datetime(2026, 12, 1, tzinfo=UTC))
    assert "users.yaml" in made["parts"].get("home", [])
    target = settings_for(tmp_path / "t")
    target.home.mkdir(parents=True)
    (target.home / "users.yaml").write_text("operator's own admin\n")
    real_copy = bk._copy_tree

    def failing_copy(src: Path, dst: Path) -> None:
        if src.name == "lake":
            raise OSError(28, "No space left on device")
        real_copy(src, dst)

    monkeypatch.setattr(bk, "_copy_tree", failing_copy)
    with pytest.raises(BackupError, match=r"refusing to restore over existing data.*users\.yaml"):
        restore(target, Path(made["path"]))
    assert (target.home / "users.yaml").read_text() == "operator's own admin\n"
    assert not (target.home / "serving.db").exists()


@pytest.mark.postgres
def test_a_failed_postgresql_restore_drops_what_it_created_and_keeps_the_rest(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dump holds more than riskwarn's tables (a schema with a composite type, a
    procedure); the target database holds objects of its own (a schema with a table and a
    function, a function in public). A restore failing at the store's migration drops
    every object it created and none of the others, then runs again. Before: the
    procedure ("is not a function") rolled the whole undo back, and a schema and a
    composite type were left for the next pg_restore to stop on (review stop 37)."""
    from riskwarn.store import Store as StoreClass

    settings = settings_for(tmp_path / "source", store_url=pg_url)
    populate(settings)
    src = sa.create_engine(pg_url)
    with src.begin() as c:
        c.exec_driver_sql("CREATE SCHEMA extra")
        c.exec_driver_sql("CREATE TYPE extra.pair AS (a int, b int)")
        c.exec_driver_sql("CREATE PROCEDURE public.noop() LANGUAGE sql AS 'select 1'")
    src.dispose()
    made = backup(settings, dest=tmp_path / "b")
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    other = sa.make_url(pg_url).database + "_t"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{other}"')
    url = sa.make_url(pg_url).set(database=other).render_as_string(hide_password=False)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as c:
            c.exec_driver_sql("CREATE SCHEMA ops")
            c.exec_driver_sql("CREATE TABLE ops.keep_me (id serial)")
            c.exec_driver_sql(
                "CREATE FUNCTION ops.keep_fn() RETURNS int LANGUAGE sql AS 'select 1'"
            )
            c.exec_driver_sql("CREATE FUNCTION keep_pub() RETURNS int LANGUAGE sql AS 'select 2'")
        target = settings_for(tmp_path / "t", store_url=url)
        real = StoreClass.upgrade

        def failing_upgrade(self: Any, *a: Any, **k: Any) -> None:
            raise RuntimeError("migration failed")

        monkeypatch.setattr(StoreClass, "upgrade", failing_upgrade)
        with pytest.raises(BackupError, match="home is empty again"):
            restore(target, Path(made["path"]))
        with engine.connect() as c:
            assert sa.inspect(c).get_table_names() == []
            assert sa.inspect(c).get_table_names(schema="ops") == ["keep_me"]
            names = {
                r[0]
                for r in c.exec_driver_sql(
                    "SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                    " WHERE n.nspname IN ('public', 'ops', 'extra')"
                )
            }
            assert names == {"keep_fn", "keep_pub"}, names
            schemas = {r[0] for r in c.exec_driver_sql("SELECT nspname FROM pg_namespace")}
            assert "extra" not in schemas and "ops" in schemas
        monkeypatch.setattr(StoreClass, "upgrade", real)
        restore(target, Path(made["path"]))
        with engine.connect() as c:
            assert "warnings" in sa.inspect(c).get_table_names()
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')
        admin.dispose()
