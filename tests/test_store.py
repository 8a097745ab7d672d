"""The serving store on SQLite and PostgreSQL: schema, publishing, warnings, reviews, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from riskwarn.store import StaleWarningError, Store, run_id_for, warning_id_for

ORIGIN = datetime(2026, 3, 2, tzinfo=UTC)
DOMAIN = "incidents"


def run_meta(origin: datetime = ORIGIN, domain: str = DOMAIN, **extra: object) -> dict:
    return {
        "run_id": run_id_for(domain, origin),
        "domain": domain,
        "origin": origin,
        "horizon_hours": 168,
        "model_name": f"riskwarn-{domain}",
        "model_version": "3",
        "data_version": "lake@abc123",
        "airflow_run_id": "scheduled__2026-03-02",
        **extra,
    }


def forecast_frame(origin: datetime = ORIGIN, n: int = 5, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unit_type": "cell",
            "unit_id": [f"c{i:03d}" for i in range(n)],
            "valid_to": pd.Timestamp(origin + timedelta(days=7)),
            "score": [float(n - i) + shift for i in range(n)],
            "probability": [round(0.9 - 0.1 * i, 3) for i in range(n)],
            "rank": list(range(1, n + 1)),
            "county_code": ["340802" if i % 2 else "340803" for i in range(n)],
            "township_code": [None] * n,
            "cell_x": list(range(n)),
            "cell_y": [7] * n,
            "lon": [117.0 + i / 100 for i in range(n)],
            "lat": [30.5] * n,
            "explanation": [
                {"sentences": [f"{i} burglaries nearby"], "near_repeat": i} for i in range(n)
            ],
        }
    )


def warning_frame(
    origin: datetime = ORIGIN, levels: tuple[str, ...] = ("red", "orange")
) -> pd.DataFrame:
    n = len(levels)
    return pd.DataFrame(
        {
            "unit_type": "cell",
            "unit_id": [f"c{i:03d}" for i in range(n)],
            "valid_from": pd.Timestamp(origin),
            "valid_to": pd.Timestamp(origin + timedelta(days=7)),
            "level": list(levels),
            "probability": [0.9 - 0.1 * i for i in range(n)],
            "score": [float(10 - i) for i in range(n)],
            "reasons": [["near-repeat burglaries", "weekend"]] * n,
            "evidence": [{"recent_incidents": i, "rate": float("nan")} for i in range(n)],
            "lead_time_hours": [24.0] * n,
            "county_code": ["340803"] * n,
        }
    )


def publish(store: Store, origin: datetime = ORIGIN, **kw: object) -> str:
    run_id = store.stage_run(run_meta(origin))
    store.write_forecasts(run_id, forecast_frame(origin, **kw))  # type: ignore[arg-type]
    store.write_warnings(run_id, warning_frame(origin))
    store.publish_run(run_id)
    return run_id


# -- schema ---------------------------------------------------------------------------


def test_upgrade_is_idempotent_and_matches_models(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from riskwarn.store.models import Base

    head = store.head_revision()
    assert head is not None and head.startswith("00")
    assert store.current_revision() == head
    assert store.upgrade() == head
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": "riskwarn_alembic_version"}
        )
        diff = compare_metadata(ctx, Base.metadata)
        tables = set(sa.inspect(conn).get_table_names())
    assert diff == []
    assert {"forecasts", "warnings", "warning_reviews", "audit_log", "publications"} <= tables
    assert "alembic_version" not in tables  # own version table: can share a DB with MLflow


def test_sqlite_connection_pragmas(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'sub' / 'serving.db'}")
    store.upgrade()  # creates the folder
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.close()


def test_from_settings_uses_sqlite_in_home(settings) -> None:
    store = Store.from_settings(settings)
    store.upgrade()
    assert (settings.home / "serving.db").is_file()
    store.close()


def test_tables_are_append_only_in_the_database(store: Store) -> None:
    store.audit("alice", "login", "user", "alice", {"ip": "127.0.0.1"})
    for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.engine.begin() as c:
            c.exec_driver_sql(statement)
    log = store.audit_log()
    assert log["actor"].tolist() == ["alice"]
    details = dict(log["details"].iloc[0])
    # PostgreSQL: the database role that wrote it as well (tests/test_audit_db_user.py)
    db_user = details.pop("db_user", None)
    assert details == {"ip": "127.0.0.1"}
    assert (db_user is not None) == (store.engine.dialect.name == "postgresql")
    assert str(log["at"].dtype).endswith("UTC]")


# -- ingest batches --------------------------------------------------------------------


def test_ingest_batches_upsert_by_batch_id(store: Store) -> None:
    report = {
        "batch_id": "chicago:abc",
        "source": "chicago",
        "file_name": "chicago.csv",
        "table_name": "incidents",
        "read": 10,
        "accepted": 7,
        "new": 7,
        "updated": 0,
        "unchanged": 0,
        "quarantined": 2,
        "duplicates": 1,
        "reasons": {"missing_date": 2},
        "ingested_at": datetime(2026, 3, 1, 8, tzinfo=UTC),
    }
    store.record_ingest_batch(report)
    store.record_ingest_batch({**report, "new": 0, "unchanged": 7})
    frame = store.ingest_batches()
    assert len(frame) == 1
    row = frame.iloc[0]
    assert (row["new"], row["unchanged"], row["quarantined"]) == (0, 7, 2)
    assert row["reasons"] == {"missing_date": 2}
    assert row["ingested_at"] == pd.Timestamp("2026-03-01 08:00", tz="UTC")
    with pytest.raises(ValueError, match="naive"):
        store.record_ingest_batch({**report, "ingested_at": datetime(2026, 3, 1)})


def test_every_ingest_run_of_a_batch_is_kept_in_the_audit_log(store: Store) -> None:
    """A re-run replaces the batch's row (its counts describe the lake as it is now), but
    the run that added the rows keeps its record: each run is audited with the counts it
    replaced (before: the first run's 'new 7' was lost to the re-run's 'new 0')."""
    report = {
        "batch_id": "chicago:abc",
        "source": "chicago",
        "file_name": "chicago.csv",
        "table_name": "incidents",
        "read": 10,
        "accepted": 7,
        "new": 7,
        "updated": 0,
        "unchanged": 0,
        "quarantined": 2,
        "duplicates": 1,
        "ingested_at": datetime(2026, 3, 1, 8, tzinfo=UTC),
    }
    store.record_ingest_batch(report, actor="os:alice")
    later = datetime(2026, 3, 2, 8, tzinfo=UTC)
    store.record_ingest_batch({**report, "new": 0, "unchanged": 7, "ingested_at": later})
    entries = store.audit_entries("ingest_batch", "chicago:abc", ("ingest_batch",))
    assert [e["actor"] for e in entries] == ["pipeline", "os:alice"]  # newest first
    rerun, first = (e["details"] for e in entries)
    assert (first["new"], first["unchanged"], first["replaced"]) == (7, 0, None)
    assert first["ingested_at"] == "2026-03-01T08:00:00+00:00"
    assert (rerun["new"], rerun["unchanged"]) == (0, 7)
    assert rerun["replaced"]["new"] == 7
    assert rerun["replaced"]["ingested_at"] == "2026-03-01T08:00:00+00:00"
    assert len(store.ingest_batches()) == 1


# -- runs and publishing ---------------------------------------------------------------


def test_publish_serves_run_with_utc_times_and_json(store: Store) -> None:
    assert store.published_run(DOMAIN) is None
    assert store.published_forecasts(DOMAIN).empty
    # times in another zone are converted to UTC
    local = ORIGIN.astimezone(pd.Timestamp(0, tz="Asia/Shanghai").tzinfo)
    run_id = store.stage_run(run_meta(local))
    assert run_id == "incidents:20260302T0000Z"
    assert store.runs(DOMAIN)["status"].tolist() == ["staging"]
    store.write_forecasts(run_id, forecast_frame())
    assert store.published_forecasts(DOMAIN).empty  # staged rows are invisible
    assert store.publish_run(run_id) == "published"

    run = store.published_run(DOMAIN)
    assert run is not None
    assert (run["status"], run["n_rows"], run["model_version"]) == ("published", 5, "3")
    assert run["origin"] == ORIGIN and run["origin"].tzinfo is not None
    frame = store.published_forecasts(DOMAIN)
    assert frame["unit_id"].tolist() == ["c000", "c001", "c002", "c003", "c004"]
    assert frame["valid_to"].iloc[0] == pd.Timestamp("2026-03-09", tz="UTC")
    assert str(frame["origin"].dtype) == "datetime64[ns, UTC]"  # as the lake contracts
    assert frame["explanation"].iloc[1] == {"sentences": ["1 burglaries nearby"], "near_repeat": 1}
    assert frame["cell_x"].tolist() == [0, 1, 2, 3, 4]
    assert frame["township_code"].isna().all()


def test_publish_refuses_empty_run_and_keeps_serving_the_last(store: Store) -> None:
    first = publish(store)
    later = ORIGIN + timedelta(days=1)
    failed = store.stage_run(run_meta(later))
    with pytest.raises(ValueError, match="no forecasts"):
        store.publish_run(failed)
    assert store.published_run(DOMAIN)["run_id"] == first  # type: ignore[index]
    assert len(store.published_forecasts(DOMAIN)) == 5
    with pytest.raises(ValueError, match="not staged"):
        store.publish_run("incidents:nope")


def test_next_run_supersedes_and_history_keeps_both(store: Store) -> None:
    first = publish(store)
    second = publish(store, ORIGIN + timedelta(days=1), n=3)
    statuses = store.runs(DOMAIN).set_index("run_id")["status"].to_dict()
    assert statuses == {first: "superseded", second: "published"}
    assert len(store.published_forecasts(DOMAIN)) == 3
    history = store.forecast_history(DOMAIN, unit_id="c001")
    assert history["run_id"].tolist() == [first, second]
    since = store.forecast_history(DOMAIN, since=ORIGIN + timedelta(hours=1))
    assert set(since["run_id"]) == {second}
    # a backfill of an older day is stored but does not replace the served run
    older = ORIGIN - timedelta(days=1)
    backfill = store.stage_run(run_meta(older))
    store.write_forecasts(backfill, forecast_frame(older, n=2))
    assert store.publish_run(backfill) == "superseded"
    assert store.published_run(DOMAIN)["run_id"] == second  # type: ignore[index]
    assert len(store.forecast_history(DOMAIN)) == 5 + 3 + 2


def test_restaging_a_published_run_keeps_it_served_until_republished(store: Store) -> None:
    run_id = publish(store)
    store.stage_run(run_meta())
    store.write_forecasts(run_id, forecast_frame(n=2))
    assert len(store.published_forecasts(DOMAIN)) == 5  # old rows still served
    store.publish_run(run_id)
    assert len(store.published_forecasts(DOMAIN)) == 2
    assert store.published_run(DOMAIN)["n_rows"] == 2  # type: ignore[index]
    assert store.publish_run(run_id) == "published"  # nothing staged: idempotent no-op


def _table_rows(store: Store, table: str, without: tuple[str, ...] = ()) -> list[tuple]:
    """Every row of ``table`` by primary key, less the columns ``without``."""
    with store.engine.connect() as conn:
        t = sa.Table(table, sa.MetaData(), autoload_with=conn)
        cols = [c for c in t.c if c.name not in without]
        return [tuple(r) for r in conn.execute(sa.select(*cols).order_by(*t.primary_key.columns))]


def test_rerunning_an_interval_gives_identical_rows(store: Store) -> None:
    # every column of the run but published_at, by name (migration 0013 added one after it)
    rows = {
        "forecasts": lambda: _table_rows(store, "forecasts"),
        "warnings": lambda: _table_rows(store, "warnings"),
        "forecast_runs": lambda: _table_rows(store, "forecast_runs", ("published_at",)),
    }
    publish(store)
    before = {t: read() for t, read in rows.items()}
    publish(store)
    after = {t: read() for t, read in rows.items()}
    assert len(after["forecasts"]) == 5 and len(after["warnings"]) == 2
    assert after == before


def test_write_validates_frames(store: Store) -> None:
    run_id = store.stage_run(run_meta())
    with pytest.raises(ValueError, match="lacks columns"):
        store.write_forecasts(run_id, forecast_frame().drop(columns="score"))
    with pytest.raises(ValueError, match="naive"):
        store.write_forecasts(run_id, forecast_frame().assign(valid_to=pd.Timestamp("2026-03-09")))
    with pytest.raises(ValueError, match="unknown warning level"):
        store.write_warnings(run_id, warning_frame(levels=("purple",)))
    with pytest.raises(ValueError, match="level_rank"):
        store.write_warnings(run_id, warning_frame(levels=("red",)).assign(level_rank=1))
    with pytest.raises(ValueError, match="not staged"):
        store.write_forecasts("incidents:other", forecast_frame())


# -- warnings and reviews ----------------------------------------------------------------


def test_warnings_have_deterministic_ids_and_filters(store: Store) -> None:
    publish(store)
    frame = store.warnings(domain=DOMAIN)
    assert frame["warning_id"].tolist() == [
        warning_id_for(DOMAIN, "c000", ORIGIN),
        warning_id_for(DOMAIN, "c001", ORIGIN),
    ]
    assert frame["warning_id"].iloc[0] == "incidents:c000:20260302T0000Z"
    assert frame["level_rank"].tolist() == [4, 3]
    assert frame["state"].tolist() == ["new", "new"]
    assert frame["version"].tolist() == [1, 1]
    assert frame["evidence"].iloc[0] == {"recent_incidents": 0, "rate": None}  # NaN -> null
    assert store.warnings(county="340802").empty
    assert len(store.warnings(county="340803", state="new")) == 2
    assert store.warnings(domain="disputes").empty


def test_review_accept_adjust_dismiss_and_stale(store: Store) -> None:
    publish(store)
    wid = warning_id_for(DOMAIN, "c000", ORIGIN)
    with pytest.raises(ValueError, match="reason"):
        store.review_warning(wid, "accept", "  ", "alice", 1)
    with pytest.raises(ValueError, match="level"):
        store.review_warning(wid, "adjust", "too high", "alice", 1)
    with pytest.raises(ValueError, match="action"):
        store.review_warning(wid, "approve", "ok", "alice", 1)
    with pytest.raises(KeyError):
        store.review_warning("incidents:none", "accept", "ok", "alice", 1)

    adjusted = store.review_warning(wid, "adjust", "school holiday", "alice", 1, level="orange")
    assert (adjusted["state"], adjusted["reviewed_level"], adjusted["version"]) == (
        "adjusted",
        "orange",
        2,
    )
    with pytest.raises(StaleWarningError) as info:
        store.review_warning(wid, "dismiss", "false alarm", "bob", 1)
    current = info.value.current
    assert current["version"] == 2 and current["state"] == "adjusted"
    assert current["last_review"]["reviewer"] == "alice"
    assert current["last_review"]["reason"] == "school holiday"
    dismissed = store.review_warning(wid, "dismiss", "false alarm", "bob", 2)
    assert (dismissed["state"], dismissed["reviewed_level"]) == ("dismissed", None)

    reviews = store.warning_reviews(wid)
    assert reviews[["action", "from_level", "to_level", "reviewer", "warning_version"]].astype(
        object
    ).where(reviews.notna(), None).values.tolist() == [
        ["adjust", "red", "orange", "alice", 2],
        ["dismiss", "orange", None, "bob", 3],
    ]
    log = store.audit_log()
    actions = log.loc[log["object_type"] == "warning", ["action", "actor"]].values.tolist()
    assert actions == [
        ["review_dismiss", "bob"],
        ["review_rejected", "bob"],
        ["review_adjust", "alice"],
    ]
    rejected = log.loc[log["action"] == "review_rejected", "details"].iloc[0]
    assert rejected["expected_version"] == 1 and rejected["current_version"] == 2
    # a dismissed warning is in force at no level: its old level is not "current"
    assert store.warnings(state="dismissed")["effective_level"].tolist() == [None]
    assert store.get_warning(wid)["effective_level"] is None


def test_review_refuses_a_decision_that_is_not_what_it_says(store: Store) -> None:
    """An 'adjust' to the level the warning has, or a level given with another action,
    is refused by the store itself (not only by the form), and nothing is written."""
    publish(store)
    wid = warning_id_for(DOMAIN, "c000", ORIGIN)  # raised red
    with pytest.raises(ValueError, match="already red"):
        store.review_warning(wid, "adjust", "keep it red", "alice", 1, level="red")
    for action in ("accept", "dismiss"):
        with pytest.raises(ValueError, match="only 'adjust' takes a level"):
            store.review_warning(wid, action, "looked at it", "alice", 1, level="orange")
    assert store.warning_reviews(wid).empty
    assert store.get_warning(wid)["version"] == 1
    assert not (store.audit_log()["object_type"] == "warning").any()
    # adjusted to orange, then adjusting to orange again is refused; back to red is fine
    store.review_warning(wid, "adjust", "school holiday", "alice", 1, level="orange")
    with pytest.raises(ValueError, match="already orange"):
        store.review_warning(wid, "adjust", "still orange", "bob", 2, level="orange")
    back = store.review_warning(wid, "adjust", "holiday cancelled", "bob", 2, level="red")
    assert (back["reviewed_level"], back["effective_level"], back["version"]) == ("red", "red", 3)
    # a stale attempt is reported as stale, not as a same-level adjust
    with pytest.raises(StaleWarningError):
        store.review_warning(wid, "adjust", "late", "carol", 2, level="red")
    # reinstating a dismissed warning at its raised level is a real change
    store.review_warning(wid, "dismiss", "false alarm", "bob", 3)
    again = store.review_warning(wid, "adjust", "new evidence", "alice", 4, level="red")
    assert (again["state"], again["effective_level"]) == ("adjusted", "red")
    assert store.warning_reviews(wid)["action"].tolist() == [
        "adjust",
        "adjust",
        "dismiss",
        "adjust",
    ]


def test_a_decision_after_a_dismissal_is_recorded_from_no_level(store: Store) -> None:
    """A dismissed warning is in force at no level: a later decision on it is recorded
    from none (the trail said "from Orange" for an accept that followed a dismissal)."""
    publish(store)
    wid = warning_id_for(DOMAIN, "c001", ORIGIN)  # raised orange
    store.review_warning(wid, "dismiss", "duplicate reports", "bob", 1)
    again = store.review_warning(wid, "accept", "confirmed by patrol", "alice", 2)
    assert (again["state"], again["effective_level"]) == ("accepted", "orange")
    store.review_warning(wid, "dismiss", "patrol was wrong", "bob", 3)
    store.review_warning(wid, "adjust", "new evidence", "alice", 4, level="orange")
    reviews = store.warning_reviews(wid)
    cols = ["action", "from_level", "to_level", "warning_version"]
    assert reviews[cols].astype(object).where(reviews[cols].notna(), None).values.tolist() == [
        ["dismiss", "orange", None, 2],
        ["accept", None, "orange", 3],
        ["dismiss", "orange", None, 4],
        ["adjust", None, "orange", 5],
    ]


def test_an_accept_of_a_dismissed_warning_returns_it_to_its_raised_level_and_says_so(
    store: Store,
) -> None:
    """Review of 2026-12-07: an accept of a dismissed warning gives it the level the system
    raised it at, not one a reviewer set before the dismissal (red adjusted to orange,
    dismissed, accepted: red; the form says so before submit), and the audit entry of each
    decision records the state it was taken in and the levels from/to, so the trail's
    "from none" reads as what it was: a dismissed warning."""
    from riskwarn.review_text import accepted_level

    publish(store)
    wid = warning_id_for(DOMAIN, "c000", ORIGIN)  # raised red
    store.review_warning(wid, "adjust", "school holiday", "alice", 1, level="orange")
    assert accepted_level(store.get_warning(wid)) == "orange"  # an accept keeps it
    store.review_warning(wid, "dismiss", "false alarm", "bob", 2)
    assert accepted_level(store.get_warning(wid)) == "red"  # what the form announces
    back = store.review_warning(wid, "accept", "patrol confirms it", "carol", 3)
    assert (back["state"], back["effective_level"], back["version"]) == ("accepted", "red", 4)
    reviews = store.warning_reviews(wid)
    cols = ["action", "from_level", "to_level"]
    assert reviews[cols].astype(object).where(reviews[cols].notna(), None).values.tolist() == [
        ["adjust", "red", "orange"],
        ["dismiss", "orange", None],
        ["accept", None, "red"],
    ]
    entries = store.audit_entries(
        "warning", wid, ("review_adjust", "review_dismiss", "review_accept")
    )
    changes = [
        [
            e["action"],
            e["details"]["from_state"],
            e["details"]["from_level"],
            e["details"]["to_level"],
        ]
        for e in reversed(entries)  # newest first
    ]
    assert changes == [
        ["review_adjust", "new", "red", "orange"],
        ["review_dismiss", "adjusted", "orange", None],
        ["review_accept", "dismissed", None, "red"],
    ]


def test_republish_keeps_review_unless_level_changes(store: Store) -> None:
    run_id = publish(store)
    red, orange = (warning_id_for(DOMAIN, u, ORIGIN) for u in ("c000", "c001"))
    store.review_warning(red, "accept", "confirmed by police", "alice", 1)
    store.review_warning(orange, "accept", "confirmed", "alice", 1)
    # re-run: c000 stays red (new score), c001 drops to yellow
    store.stage_run(run_meta())
    store.write_forecasts(run_id, forecast_frame())
    store.write_warnings(run_id, warning_frame(levels=("red", "yellow")).assign(score=[11.0, 1.0]))
    store.publish_run(run_id)
    kept, reset = store.get_warning(red), store.get_warning(orange)
    assert (kept["state"], kept["version"], kept["score"]) == ("accepted", 2, 11.0)
    assert (reset["state"], reset["version"], reset["level"]) == ("new", 3, "yellow")
    assert reset["reviewed_level"] is None
    assert reset["last_review"]["action"] == "accept"  # the decision is never lost
    assert len(store.warning_reviews()) == 2


def test_warnings_of_superseded_runs_leave_the_published_view(store: Store) -> None:
    publish(store)
    later = ORIGIN + timedelta(days=1)
    run_id = store.stage_run(run_meta(later))
    store.write_forecasts(run_id, forecast_frame(later))
    store.write_warnings(run_id, warning_frame(later, levels=("yellow",)))
    store.publish_run(run_id)
    assert store.warnings()["warning_id"].tolist() == [warning_id_for(DOMAIN, "c000", later)]
    assert len(store.warnings(published_only=False)) == 3


# -- CLI ---------------------------------------------------------------------------------


def test_db_command_upgrades_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from riskwarn.cli import main

    url = f"sqlite:///{tmp_path / 'cli' / 'serving.db'}"
    assert main(["db", "current", "--url", url]) == 0
    assert "none (empty database)" in capsys.readouterr().out
    assert not (tmp_path / "cli").exists()  # looking does not create anything
    head = Store(url).head_revision()
    assert main(["db", "upgrade", "--url", url]) == 0
    assert f"at revision {head}" in capsys.readouterr().out
    assert main(["db", "current", "--url", url]) == 0
    assert f"current: {head}\nhead: {head}\nup to date" in capsys.readouterr().out
    assert main(["db", "upgrade", "--url", "nosuchdialect://x"]) != 0
    err = capsys.readouterr().err.strip()
    # refused by the settings before any connection, naming the value given on the
    # command line (not the RISKWARN_STORE_URL variable, which was not set)
    assert err.startswith("error: store_url='nosuchdialect://x': the serving store is SQLite")
    assert len(err.splitlines()) == 1


def test_published_snapshot_is_one_run(store: Store) -> None:
    empty = store.published_snapshot(DOMAIN)
    assert empty["run"] is None and empty["forecasts"].empty and empty["warnings"].empty
    publish(store)
    second = publish(store, ORIGIN + timedelta(days=1), n=4)
    snap = store.published_snapshot(DOMAIN)
    assert snap["run"]["run_id"] == second
    assert set(snap["forecasts"]["run_id"]) == {second} and len(snap["forecasts"]) == 4
    assert set(snap["warnings"]["run_id"]) == {second} and len(snap["warnings"]) == 2
