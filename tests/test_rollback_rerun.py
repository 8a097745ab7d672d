"""A promote or rollback re-run after a crash is exact and idempotent, and two homes
sharing one MLflow registry and one serving store take turns (attack review C, F1 and F2).

F1: a rollback killed -9 the instant MLflow's alias moved (before it was recorded),
re-run, recorded the interrupted rollback and then rolled back a second step (3 -> 2,
then 2 -> 1: v1 served; operations.md tells operators to re-run). Now the re-run records
it and stops; ``rollback --from VERSION`` makes a retry a no-op once the rollback from
VERSION is made (also when the kill came after it was recorded) and refuses while another
version serves. F2: the alias lock was a file under each home, so a second home's promote
took the first's move in flight for an interrupted one and recorded it as failed: the
alias and riskwarn's record disagreed and scoring refused. Now the lock is the serving
store's too (PostgreSQL advisory lock; SQLite: a lock file beside the database).

Kills are real ``SIGKILL`` of a subprocess paused at an injected point; real MLflow
(SQLite) registry; serving store SQLite in ``tmp_path`` or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mlflow
import pytest

from models import registry as reg

NAME = reg.model_name("dispute_cases")
ROOT = Path(__file__).resolve().parents[1]

# op: "promote:V" or "rollback" or "rollback:FROM"; point: where it pauses (touching
# <marks>/paused): "intent" (its intent recorded, the alias not moved), "alias" (the alias
# moved, not recorded), "recorded" (its move recorded), "none"; it then sleeps until
# <marks>/go exists (the parent kills it -9 meanwhile, or creates go)
CHILD = """
import sys, time
from pathlib import Path
from mlflow import MlflowClient
from models import registry as reg
from riskwarn.store import Store

uri, url, lock_dir, op, point, marks = sys.argv[1:7]
marks = Path(marks)


def pause():
    (marks / "paused").touch()
    while not (marks / "go").exists():
        time.sleep(0.02)


real_alias = MlflowClient.set_registered_model_alias


def alias(self, *a, **k):
    out = real_alias(self, *a, **k)
    if point == "alias":
        pause()
    return out


MlflowClient.set_registered_model_alias = alias
store = Store(url)
real_audit = store.audit


def audit(actor, action, *a, **k):
    real_audit(actor, action, *a, **k)
    if (point, action) in (("intent", reg.MOVE_STARTED), ("recorded", "promote"),
                           ("recorded", "rollback")):
        pause()


store.audit = audit
client = reg.configure(uri)
kind, _, arg = op.partition(":")
if kind == "promote":
    out = reg.promote(client, "dispute_cases", arg, store=store, actor="t", reason="r",
                      force=True, lock_dir=Path(lock_dir))
else:
    extra = {"from_version": arg} if arg else {}
    out = reg.rollback(client, "dispute_cases", store=store, actor="t", reason="back",
                       lock_dir=Path(lock_dir), **extra)
print("done", out["version"], out.get("changed"))
"""


def _versions(uri: str, tmp_path: Path) -> Any:
    """Versions 1-4 of dispute_cases (gate pass) in the SQLite registry ``uri``."""
    client = reg.configure(uri)
    reg.ensure_experiment(NAME, (tmp_path / "art").as_uri())
    mlflow.set_experiment(NAME)
    client.create_registered_model(NAME)
    for _ in range(4):
        with mlflow.start_run(tags={"riskwarn.domain": "dispute_cases"}) as run:
            mlflow.log_params({"domain": "dispute_cases"})
        mv = client.create_model_version(NAME, f"runs:/{run.info.run_id}/x", run.info.run_id)
        client.set_model_version_tag(NAME, mv.version, "gate", "pass")
    return client


def _promote(client: Any, store: Any, version: str, lock_dir: Path) -> dict:
    return reg.promote(
        client,
        "dispute_cases",
        version,
        store=store,
        actor="t",
        reason="r",
        force=True,
        lock_dir=lock_dir,
    )


def _rollback(client: Any, store: Any, lock_dir: Path, **kw: Any) -> dict:
    return reg.rollback(
        client, "dispute_cases", store=store, actor="t", reason="back", lock_dir=lock_dir, **kw
    )


@pytest.fixture
def setup(tmp_path: Path):
    """v1, v2, v3 promoted in turn: v3 serves, a rollback returns to v2."""
    from riskwarn.store import Store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = _versions(uri, tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'serving.db'}")
    store.upgrade()
    for v in ("1", "2", "3"):
        _promote(client, store, v, tmp_path / "run")
    yield client, store, uri, tmp_path
    store.close()


def _start(uri: str, url: str, lock_dir: Path, op: str, point: str, marks: Path) -> Any:
    marks.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, uri, url, str(lock_dir), op, point, str(marks)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_paused(proc: Any, marks: Path, timeout_s: float = 240.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not (marks / "paused").exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the child ended before its pause point: {out}{err[-3000:]}")
        assert time.monotonic() < deadline, "the child never reached its pause point"
        time.sleep(0.02)


def _killed(uri: str, store: Any, lock_dir: Path, op: str, point: str, marks: Path) -> None:
    """Run ``op`` in a subprocess and kill it -9 at ``point``."""
    proc = _start(uri, store.url, lock_dir, op, point, marks)
    _wait_paused(proc, marks)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def _agree(client: Any, store: Any, tmp_path: Path, version: str) -> None:
    """The alias and riskwarn's record both at ``version``, nothing pending, and scoring
    would serve it."""
    assert reg.champion_version(client, "dispute_cases") == version
    recorded = reg.recorded_champion(store, NAME)
    assert recorded is not None and recorded["version"] == version
    assert reg.pending_moves(store, NAME) == []
    got, _, _ = reg.checked_champion(client, store, "dispute_cases", tmp_path / "dl")
    assert got == version


def _rollbacks_to(store: Any, version: str) -> list[dict]:
    return [
        e
        for e in reg._committed_moves(store, NAME)
        if e["action"] == "rollback" and str(e["details"]["version"]) == version
    ]


# killed after its move was recorded and re-run without --from: a rollback asked for with
# nothing interrupted, it goes one more step (the next test)
@pytest.mark.parametrize(
    ("point", "given"),
    [("intent", True), ("intent", False), ("alias", True), ("alias", False), ("recorded", True)],
)
def test_a_rollback_killed_at_each_point_and_re_run_ends_one_step_back(
    setup, point: str, given: bool
) -> None:
    """v3 serves; a rollback (``--from 3`` or not) killed -9 at ``point``, re-run the same
    way, then re-run again: v2 serves, recorded once, and scoring serves it. Old code: a
    kill after the alias moved re-ran to 2 -> 1 (v1 served); ``--from`` did not exist."""
    client, store, uri, tmp_path = setup
    op = "rollback:3" if given else "rollback"
    kw = {"from_version": "3"} if given else {}
    _killed(uri, store, tmp_path / "run", op, point, tmp_path / "marks")
    assert reg.champion_version(client, "dispute_cases") == ("3" if point == "intent" else "2")
    out = _rollback(client, store, tmp_path / "run", **kw)
    assert out["version"] == "2", out
    assert out["changed"] is (point == "intent"), out
    if point == "alias":
        assert out["settled"] is True and out["previous"] == "3"
    _agree(client, store, tmp_path, "2")
    [back] = _rollbacks_to(store, "2")
    assert back["details"]["previous"] == "3"
    if given:  # a retried task: nothing more
        again = _rollback(client, store, tmp_path / "run", **kw)
        assert (again["version"], again["changed"], again.get("already")) == ("2", False, True)
        _agree(client, store, tmp_path, "2")
        assert len(_rollbacks_to(store, "2")) == 1
    assert reg.champion_chain(store, NAME) == ["1"]


def test_rollback_from_another_version_is_refused_and_a_plain_rerun_goes_one_step(
    setup,
) -> None:
    """With nothing interrupted a rollback does what it is asked: one step back each time;
    ``--from`` a version that does not serve (and was not just rolled back from) moves
    nothing and is audited as refused."""
    client, store, _, tmp_path = setup
    lock_dir = tmp_path / "run"
    with pytest.raises(reg.RollbackNotFrom, match="v3 serves, not v2"):
        _rollback(client, store, lock_dir, from_version="v2")
    [refused] = store.audit_entries("model", NAME, ("rollback_refused",))
    assert refused["details"]["refusal"] == "not_from"
    assert refused["details"]["from"] == "2" and refused["details"]["serving"] == "3"
    _agree(client, store, tmp_path, "3")
    assert _rollback(client, store, lock_dir)["version"] == "2"
    assert _rollback(client, store, lock_dir)["version"] == "1"
    _promote(client, store, "4", lock_dir)  # v4 serves: --from 3 is refused, not "already"
    with pytest.raises(reg.RollbackNotFrom):
        _rollback(client, store, lock_dir, from_version="3")
    out = _rollback(client, store, lock_dir, from_version="4")
    assert (out["previous"], out["version"], out["changed"]) == ("4", "1", True)


def test_a_promote_killed_after_the_alias_moved_still_lets_a_rollback_undo_it(setup) -> None:
    """The stop is for an interrupted rollback only: a promote of v4 killed after its
    alias moved is recorded by the rollback, which then rolls it back (4 -> 3)."""
    client, store, uri, tmp_path = setup
    _killed(uri, store, tmp_path / "run", "promote:4", "alias", tmp_path / "marks")
    out = _rollback(client, store, tmp_path / "run", from_version="4")
    assert (out["previous"], out["version"], out["changed"]) == ("4", "3", True)
    _agree(client, store, tmp_path, "3")


def test_the_cli_says_an_interrupted_rollback_was_recorded_and_stops(
    setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from riskwarn.commands import registry as commands

    client, store, uri, tmp_path = setup
    _killed(uri, store, tmp_path / "run", "rollback", "alias", tmp_path / "marks")
    monkeypatch.setattr(commands, "_client_and_store", lambda: (client, store, uri))
    monkeypatch.setattr(commands, "move_actor", lambda _: "t")
    got = CliRunner().invoke(commands.rollback, ["dispute_cases", "--reason", "again"])
    assert got.exit_code == 0, got.output
    assert "an interrupted rollback v3 -> v2 (by t, started" in got.output
    assert got.output.rstrip().endswith("recorded; nothing more rolled back")
    assert reg.champion_version(client, "dispute_cases") == "2"


def test_two_homes_sharing_one_store_and_registry_take_turns_on_postgresql(
    tmp_path: Path, pg_url: str
) -> None:
    """Home A's promote of v2 pauses with its intent recorded; home B (another lock
    folder, the same MLflow and PostgreSQL serving store) promotes v4 meanwhile. Old code:
    B settled A's move in flight as failed, A then moved the alias to v2: alias v2,
    recorded v4, scoring refused. Now B waits for A's move, then makes its own."""
    from riskwarn.store import Store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = _versions(uri, tmp_path)
    store = Store(pg_url)
    store.upgrade()
    try:
        _promote(client, store, "1", tmp_path / "homeA")
        a = _start(uri, pg_url, tmp_path / "homeA", "promote:2", "intent", tmp_path / "a")
        _wait_paused(a, tmp_path / "a")
        b = _start(uri, pg_url, tmp_path / "homeB", "promote:4", "none", tmp_path / "b")
        # B holds its home's file lock (its owner written), then 10 s for its intent
        held = tmp_path / "homeB" / f"alias-{NAME}.lock"
        deadline = time.monotonic() + 240
        while not (held.exists() and held.stat().st_size) and b.poll() is None:
            assert time.monotonic() < deadline, "B never took its home's lock"
            time.sleep(0.05)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            started = [  # newest first
                e["details"]["version"]
                for e in store.audit_entries("model", NAME, (reg.MOVE_STARTED,))
            ]
            if started != ["2", "1"]:
                break
            time.sleep(0.1)
        (tmp_path / "a" / "go").touch()
        _, err_a = a.communicate(timeout=120)
        _, err_b = b.communicate(timeout=120)
        assert a.returncode == 0, err_a[-3000:]
        assert b.returncode == 0, err_b[-3000:]
        assert started == ["2", "1"], started  # B recorded no intent while A's was live
        assert store.audit_entries("model", NAME, (reg.FAILED_MOVE,)) == []
        moves = [e["details"] for e in reversed(reg._committed_moves(store, NAME))]
        assert [(m["version"], m["previous"]) for m in moves] == [
            ("1", None),
            ("2", "1"),
            ("4", "2"),
        ]
        assert len({m["move_id"] for m in moves}) == 3
        _agree(client, store, tmp_path, "4")
    finally:
        store.close()


def test_the_store_lock_is_shared_by_two_stores_of_one_sqlite_file(tmp_path: Path) -> None:
    from riskwarn.spill import AliasBusy
    from riskwarn.store import Store

    url = f"sqlite:///{tmp_path / 'serving.db'}"
    one, two = Store(url), Store(url)
    with one.alias_move_lock(NAME, 1.0), pytest.raises(AliasBusy):
        two.alias_move_lock(NAME, 0.3).__enter__()
    one.close()
    two.close()
    with Store(url) as two, two.alias_move_lock(NAME, 0.3):
        pass


def test_the_cli_rollback_from_is_a_no_op_once_made_and_refused_otherwise(
    setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``riskwarn rollback --from v3`` twice (a retried task): 3 -> 2, then "already
    rolled back", exit 0 both times; ``--from 4`` while v2 serves: refused, exit 1."""
    from click.testing import CliRunner

    from riskwarn.commands import registry as commands

    client, store, uri, _ = setup
    monkeypatch.setattr(commands, "_client_and_store", lambda: (client, store, uri))
    monkeypatch.setattr(commands, "move_actor", lambda _: "t")
    args = ["dispute_cases", "--from", "v3", "--reason", "bad v3"]
    first = CliRunner().invoke(commands.rollback, args)
    assert first.exit_code == 0, first.output
    assert "riskwarn-dispute_cases@champion: v3 -> v2" in first.output
    again = CliRunner().invoke(commands.rollback, args)
    assert again.exit_code == 0, again.output
    assert "already rolled back v3 -> v2 (by t at " in again.output
    assert again.output.rstrip().endswith("nothing more rolled back")
    other = CliRunner().invoke(commands.rollback, ["dispute_cases", "--from", "4", "--reason", "x"])
    assert other.exit_code == 1
    assert "v2 serves, not v4 (--from 4)" in other.output
    assert reg.champion_version(client, "dispute_cases") == "2"
    assert len(_rollbacks_to(store, "2")) == 1
