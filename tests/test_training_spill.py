"""Site-domain training's spill folder under crashes and concurrent trainings, with real
processes (tests/train_child.py), a real lake and real ``kill -9``.

* a training killed mid-spill leaves its folder; the next training removes it, completes
  and gives what an uninterrupted training gives;
* two trainings started together on a new home (the DAG's two site domains) both
  complete, right; neither removes the other's spill; a second training of a domain that
  is training is refused with a clear message;
* a folder whose lock is free is swept whatever pid it names, one whose lock is held is
  kept whatever host it names (riskwarn.spill).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from riskwarn.settings import Settings
from tests.conftest import TEST_PSEUDONYM_KEY, create_stores

ROOT = Path(__file__).resolve().parents[1]
END = "2023-08-31T00:00Z"
WAIT_S = 300  # only a fail-safe: every wait below is for a file or a process


@pytest.fixture(scope="module")
def lake_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lake of a small simulated city with 6 monitored sites (as in
    test_geohazard_site_batches), built once per ``make test`` run; each test copies it
    into a new home and never writes to it.

    Once per run, not per module: this module and test_training_abandoned_runs both use
    it, and under pytest-xdist they may run on either worker, so the lake lives in the
    run's temporary folder (the workers' common parent) under a file lock; the first
    module to ask builds it (26-31 s in make test), the other copies it."""
    import fcntl

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / "spill_lake_shared"
    lake = root / "home" / "lake"
    with open(shared / "spill_lake_shared.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (root / "built").exists():
            shutil.rmtree(root, ignore_errors=True)  # a build that did not finish
            root.mkdir()
            _build_lake_base(root)
            (root / "built").touch()
    return lake


def _build_lake_base(root: Path) -> None:
    """Simulate the city into ``root/sim``, ingest its site tables into ``root/home``'s
    lake and create that home's stores."""
    from riskwarn.ingest import ingest_files, load_mapping
    from riskwarn.simulate import simulate

    sim = root / "sim"
    simulate(
        sim, "small", seed=7, start=dt.date(2023, 5, 1), days=120, n_incidents=500,
        n_disputes=100, n_sites=6, n_rain_gauges=3, sensor_offset_days=40, sensor_days=60,
        township_scale=0.2,
    )  # fmt: skip
    settings = Settings(home=root / "home", pseudonym_key=TEST_PSEUDONYM_KEY)
    for table in ("hazard_sites", "sensors", "sensor_readings", "hazard_events"):
        mapping = load_mapping(ROOT / "configs" / "sources" / f"sim_{table}.yaml")
        files = sorted(p for p in (sim / "extracts").rglob(f"{table}.*") if p.is_file())
        ingest_files(mapping, files, settings, as_of=datetime(2030, 1, 1, tzinfo=UTC))
    create_stores(settings.home)  # once: each test copies them


def _new_home(lake_base: Path, root: Path, stores: bool = True) -> tuple[Path, Path]:
    """A home holding a copy of the lake (and of the new stores, unless not ``stores``)
    and a spill folder."""
    home = root / "home"
    home.mkdir(parents=True, mode=0o700)
    shutil.copytree(lake_base, home / "lake")
    if stores:
        for path in lake_base.parent.glob("*.db*"):  # mlflow.db, serving.db (and its WAL)
            shutil.copy2(path, home / path.name)
    spill = root / "spill"
    spill.mkdir()
    return home, spill


class Child:
    """``python -m tests.train_child HOME DOMAIN END`` with its pause points."""

    def __init__(
        self, home: Path, domain: str, spill: Path, name: str, pause: tuple[str, ...] = ()
    ) -> None:
        self.marker = home.parent / f"{name}.marker"
        self.go = home.parent / f"{name}.go"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "RISKWARN_SPILL_DIR": str(spill),
            "TMPDIR": str(spill),  # where the spill went before it had a folder of its own
            "TRAIN_CHILD_PAUSE": ",".join(pause),
            "TRAIN_CHILD_MARKER": str(self.marker),
            "TRAIN_CHILD_GO": str(self.go),
        }
        env.pop("RISKWARN_HOME", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.train_child", str(home), domain, END],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out = self.err = ""

    def at(self, point: str) -> bool:
        return Path(f"{self.marker}.{point}").exists()

    def wait_at(self, *points: str) -> str:
        """Wait until the child pauses at one of ``points``; returns which."""
        _until(lambda: any(map(self.at, points)) or self.proc.poll() is not None, f"pause {points}")
        for point in points:
            if self.at(point):
                return point
        self.finish()
        pytest.fail(f"the child ended before {points}: {self.err[-3000:]}")

    def release(self, point: str) -> None:
        Path(f"{self.go}.{point}").touch()

    def finish(self) -> int:
        self.out, self.err = self.proc.communicate(timeout=WAIT_S)
        return self.proc.returncode

    def result(self) -> dict[str, Any]:
        assert self.finish() == 0, self.err[-3000:]
        return dict(json.loads(self.out.strip().splitlines()[-1]))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=WAIT_S)


def _until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for c in started:  # a failed test leaves no child behind
        c.kill()


@pytest.fixture(scope="module")
def reference(
    lake_base: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Path]]:
    """Per site domain, a home where it was trained once, alone and uninterrupted: one
    process started at once trains geohazard in its home, then geohazard_hourly in another
    (it runs while the first test runs; one process, not one per domain: a training
    process pays 4-8 s of CPU for its imports before it reads anything)."""
    script = (
        "import json, sys\n"
        "from riskwarn.pipeline import train_domain\n"
        "from riskwarn.settings import Settings\n"
        "from tests.conftest import TEST_PSEUDONYM_KEY as K\n"
        "for home, spill, domain in zip(*[iter(sys.argv[2:])] * 3):\n"
        "    s = Settings(home=home, pseudonym_key=K, spill_dir=spill)\n"
        "    print(json.dumps(train_domain(s, domain, sys.argv[1]), default=str), flush=True)\n"
    )
    homes: dict[str, Path] = {}
    args = [END]
    for domain in ("geohazard", "geohazard_hourly"):
        home, spill = _new_home(lake_base, tmp_path_factory.mktemp(f"reference_{domain}"))
        homes[domain] = home
        args += [str(home), str(spill), domain]
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def wait(domain: str) -> Path:
        if proc.returncode is None:
            _out, err = proc.communicate(timeout=WAIT_S)
            assert proc.returncode == 0, err[-3000:]
        return homes[domain]

    yield wait
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def _trained(home: Path, domain: str) -> dict[str, Any]:
    """What the home's registry holds of ``domain``: each version's run status, gate tag,
    gate.json, metrics, params (but the run's own ids) and predictions of its input
    example."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import Model

    uri = f"sqlite:///{(home / 'mlflow.db').resolve()}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = client.search_model_versions(f"name = 'riskwarn-{domain}'")
    out: dict[str, Any] = {"versions": len(versions)}
    for mv in versions:
        run = client.get_run(mv.run_id)
        folder = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/riskwarn-{domain}/{mv.version}",
                dst_path=str(home.parent / f"dl-{domain}-{mv.version}"),
            )
        )
        model = mlflow.pyfunc.load_model(str(folder))
        example = Model.load(str(folder)).load_input_example(str(folder))
        artifacts = {a.path for a in client.list_artifacts(mv.run_id)}
        out[str(mv.version)] = {
            "status": run.info.status,
            "model_status": mv.status,
            "gate": (mv.tags or {}).get("gate"),
            "gate_json": "gate.json" in artifacts,
            "metrics": run.data.metrics,
            "params": run.data.params,
            "data_version": run.data.tags.get("riskwarn.data_version"),
            "predictions": model.predict(example).to_json(double_precision=15),
        }
    return out


def _content(trained: dict[str, Any], version: str) -> dict[str, Any]:
    v = trained[version]
    return {k: v[k] for k in ("metrics", "params", "data_version", "predictions", "gate")}


def _arrow_files(spill: Path) -> list[Path]:
    return sorted(spill.rglob("*.arrow"))


def test_a_training_killed_mid_spill_is_swept_by_the_next_which_gives_the_same_result(
    lake_base: Path, reference: Any, tmp_path: Path, children: list[Child]
) -> None:
    """kill -9 mid-spill leaves the spilled files (nothing can remove them then); the next
    training removes them (old code: left for ever, in $TMPDIR), completes, and its model
    equals that of a training never interrupted (metrics, params, data version,
    predictions); only the version number may differ."""
    home, spill = _new_home(lake_base, tmp_path)
    killed = Child(home, "geohazard", spill, "killed", pause=("spill",))
    children.append(killed)
    killed.wait_at("spill")
    left = _arrow_files(spill)
    assert left, "the child paused mid-spill with nothing spilled"
    os.kill(killed.proc.pid, signal.SIGKILL)
    killed.kill()
    assert killed.proc.returncode == -signal.SIGKILL
    assert _arrow_files(spill) == left  # what a crash leaves

    again = Child(home, "geohazard", spill, "again")
    children.append(again)
    result = again.result()
    assert _arrow_files(spill) == [], "the killed training's spill was not removed"
    assert list(spill.iterdir()) == []
    assert "removed abandoned spill folder" in again.err
    assert f"pid {killed.proc.pid} " in again.err  # who left it (no personal data)

    ref = _trained(reference("geohazard"), "geohazard")
    got = _trained(home, "geohazard")
    assert got["versions"] == 1 and got[result["version"]]["status"] == "FINISHED"
    assert _content(got, result["version"]) == _content(ref, "1")


def _waits_on_a_lock(pid: int) -> bool:
    """Whether process ``pid`` is blocked waiting for a file lock (/proc/locks)."""
    for line in Path("/proc/locks").read_text().splitlines():
        parts = line.split()
        if len(parts) > 5 and parts[1] == "->" and parts[5] == str(pid):
            return True
    return False


def test_two_site_trainings_at_once_on_one_home(
    lake_base: Path, reference: Any, tmp_path: Path, children: list[Child]
) -> None:
    """geohazard and geohazard_hourly started together on a new home (the train_models
    DAG maps its domains to parallel tasks; a retrain or `riskwarn train` may start
    meanwhile):

    * only one creates mlflow.db's tables at a time (old code: both at once, and one fails
      with `duplicate column name: step`, seen here with two real processes);
    * neither's sweep removes the other's live spill; both runs and versions complete, with
      the metrics, params and predictions of each domain trained alone;
    * a second geohazard training while one runs is refused at once, naming the running one.
    """
    home, spill = _new_home(lake_base, tmp_path, stores=False)
    daily = Child(home, "geohazard", spill, "daily", pause=("mlflow_init", "batch"))
    children.append(daily)
    if daily.wait_at("mlflow_init", "batch") == "batch":  # old code: stores opened later
        daily.release("batch")
        daily.wait_at("mlflow_init")  # creating mlflow.db's tables
    hourly = Child(home, "geohazard_hourly", spill, "hourly", pause=("mlflow_init",))
    children.append(hourly)
    _until(
        lambda: hourly.at("mlflow_init") or _waits_on_a_lock(hourly.proc.pid),
        "the second training to reach the database",
    )
    assert not hourly.at("mlflow_init"), "two trainings created mlflow.db's tables at once"
    hourly.release("mlflow_init")
    daily.release("mlflow_init")
    daily.wait_at("batch")  # spilled, building features: its spill is live
    live = [  # its files (the hourly training spills beside them)
        p
        for p in _arrow_files(spill)
        if json.loads((p.parent / "owner.lock").read_text())["pid"] == daily.proc.pid
    ]
    assert live
    hourly_result = hourly.result()  # swept the spill folder meanwhile
    assert all(p.exists() for p in live), "a live training's spill was removed"

    second = Child(home, "geohazard", spill, "second")
    children.append(second)
    assert second.finish() == 3
    assert "TrainingBusy: geohazard is already being trained on this home" in second.err
    assert f"pid {daily.proc.pid}," in second.err

    daily.release("batch")
    daily_result = daily.result()
    assert list(spill.iterdir()) == []
    for domain, result in (("geohazard", daily_result), ("geohazard_hourly", hourly_result)):
        got = _trained(home, domain)
        assert got["versions"] == 1, domain
        v = got[result["version"]]
        assert (v["status"], v["model_status"], v["gate_json"]) == ("FINISHED", "READY", True)
        assert _content(got, result["version"]) == _content(
            _trained(reference(domain), domain), "1"
        ), domain


def _hold(path: Path) -> subprocess.Popen[str]:
    """Another process holding an exclusive flock on ``path`` until its stdin closes."""
    code = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_sweep_trusts_the_lock_not_the_pid(tmp_path: Path) -> None:
    """A folder naming a live pid of this host whose lock is free is removed (that pid was
    reused, or the folder is from a dead process); one naming a pid of another host is
    kept while its lock is held (the folder may be shared by hosts), removed once it is
    not; a folder being created or removed is handled too."""
    from riskwarn import spill

    def folder(name: str, owner: dict[str, Any]) -> Path:
        path = tmp_path / name
        path.mkdir()
        (path / spill.LOCK).write_text(json.dumps(owner))
        (path / "0.0.arrow").write_bytes(b"x" * 1000)
        return path

    reused = folder("spill-reused", {"host": os.uname().nodename, "pid": os.getpid()})
    remote = folder("spill-remote", {"host": "another-host", "pid": 1})
    holder = _hold(remote / spill.LOCK)
    half_removed = tmp_path / f"{spill.GONE}x"
    half_removed.mkdir()
    (half_removed / "1.0.arrow").write_bytes(b"y")
    creating = tmp_path / f"{spill.NEW}y"  # mkdtemp done, lock file not yet
    creating.mkdir()
    other = tmp_path / "not-ours"
    other.mkdir()
    try:
        removed = spill.sweep(tmp_path)
        assert sorted(r["name"] for r in removed) == [half_removed.name, "spill-reused"]
        assert not reused.exists() and not half_removed.exists() and not creating.exists()
        assert (remote / "0.0.arrow").exists() and other.exists()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait()
    assert [r["name"] for r in spill.sweep(tmp_path)] == ["spill-remote"]
    assert [p.name for p in tmp_path.iterdir()] == ["not-ours"]

    mine = spill.claim(tmp_path, "test")
    assert spill.sweep(tmp_path) == [] and mine.path.exists()  # held by this process
    mine.close()
    assert [p.name for p in tmp_path.iterdir()] == ["not-ours"]
