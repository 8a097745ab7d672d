"""Keep one service of ``scripts/services.sh`` running (standard library only).

    python scripts/supervise.py run NAME --run RUN_DIR --log LOG -- COMMAND...
    python scripts/supervise.py status --run RUN_DIR NAME[:PORT]...

``run`` starts COMMAND in a session of its own (the service's whole process tree: task
workers, server children) and, whenever it ends without being asked to (a crash, exit
code 0 included, an OOM kill, ``kill -9``), stops what is left of that session and starts
it again after a backoff: 1 s, then doubling with each exit within the window (2, 4, 8 s,
at most ``RISKWARN_SUPERVISE_BACKOFF_MAX_S``). The ``RISKWARN_SUPERVISE_MAX_EXITS``-th exit
(default 5) within ``RISKWARN_SUPERVISE_WINDOW_S`` (default 300 s) is a **crash loop**:
nothing is restarted any more, the state says so and the supervisor ends (no process is
left to spin); ``scripts/services.sh up NAME`` tries again. SIGTERM/SIGINT (``services.sh
down``) stop the service: TERM to every process of its session, KILL after
``RISKWARN_SUPERVISE_STOP_S`` (default 20 s), then the supervisor ends.

Files under RUN_DIR: ``NAME.pid`` the service's pid (what ``services.sh`` and
``riskwarn.stream.auth`` read, as before), ``NAME.supervisor.pid`` the supervisor's,
``NAME.supervisor.lock`` (``flock``, held for the supervisor's life: one supervisor per
service and home; the kernel drops it when the supervisor dies, ``kill -9`` included) and
``NAME.supervisor.json`` its state (running / restarting / crash-loop / stopped, the
restart count, the last exit with its code or signal and time, the last ``error:`` line
the service wrote to LOG since its start). A supervisor that is killed leaves its service
running; the next one (``services.sh up``) finds it by the pid file and the start time
recorded beside it and watches it instead of starting a second one (an adopted process is
not its child: its exit status is unknown, its end is seen by polling).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

POLL_S = 0.5  # how often the supervisor looks at its service (a sleep, not a spin)


@dataclass(frozen=True)
class Policy:
    max_exits: int = 5
    window_s: float = 300.0
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    stop_s: float = 20.0

    @classmethod
    def from_env(cls) -> Policy:
        env = os.environ.get
        return cls(
            max_exits=max(1, int(env("RISKWARN_SUPERVISE_MAX_EXITS", "5"))),
            window_s=float(env("RISKWARN_SUPERVISE_WINDOW_S", "300")),
            backoff_s=float(env("RISKWARN_SUPERVISE_BACKOFF_S", "1")),
            backoff_max_s=float(env("RISKWARN_SUPERVISE_BACKOFF_MAX_S", "60")),
            stop_s=float(env("RISKWARN_SUPERVISE_STOP_S", "20")),
        )

    def delay(self, exits_in_window: int) -> float:
        """Wait before the next start, after the ``exits_in_window``-th recent exit."""
        return min(self.backoff_s * 2 ** max(exits_in_window - 1, 0), self.backoff_max_s)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def say(name: str, text: str) -> None:
    print(f"{now_iso()} supervise {name}: {text}", file=sys.stderr, flush=True)


def _stat(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/PID/stat (state first), None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    return raw[raw.rindex(")") + 2 :].split()


def start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot): a reused pid has another one.
    None if it is gone or a zombie."""
    f = _stat(pid)
    if f is None or f[0] in ("Z", "X"):
        return None
    return f[19]


def session_members(sid: int) -> list[int]:
    """Live (not zombie) processes of session ``sid``."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        f = _stat(int(entry))
        if f is not None and f[0] not in ("Z", "X") and int(f[3]) == sid:
            out.append(int(entry))
    return out


def signal_session(sid: int, sig: int) -> None:
    for pid in session_members(sid):
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        got = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return got if isinstance(got, dict) else None


def last_error(log: Path, since: int) -> str | None:
    """The last ``error:`` line (riskwarn's one-line CLI errors) written to ``log`` after
    byte ``since``, at most 400 characters."""
    try:
        with log.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(since, size - 65536))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return None
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip().lower().startswith("error:")]
    return lines[-1][:400] if lines else None


class Supervisor:
    def __init__(self, name: str, run_dir: Path, log: Path, cmd: list[str], policy: Policy):
        self.name, self.run_dir, self.log, self.cmd, self.policy = name, run_dir, log, cmd, policy
        self.pid_file = run_dir / f"{name}.pid"
        self.own_pid_file = run_dir / f"{name}.supervisor.pid"
        self.state_file = run_dir / f"{name}.supervisor.json"
        self.lock_file = run_dir / f"{name}.supervisor.lock"
        self.stopping = False
        self.restarts = 0
        self.exits: list[float] = []  # monotonic times of the recent exits (the window)
        self.last_exit: dict[str, Any] | None = None
        self.state: dict[str, Any] = {}

    # -- state ----------------------------------------------------------------------

    def save(self, state: str, **extra: Any) -> None:
        self.state = {
            "name": self.name,
            "state": state,
            "supervisor_pid": os.getpid(),
            "restarts": self.restarts,
            "exits_in_window": len(self.exits),
            "max_exits": self.policy.max_exits,
            "window_s": self.policy.window_s,
            "last_exit": self.last_exit,
            "log": str(self.log),
            "updated_at": now_iso(),
            **extra,
        }
        try:
            write_json(self.state_file, self.state)
        except OSError as exc:  # a full disk must not end the supervision
            say(self.name, f"cannot write {self.state_file} ({exc.strerror}); supervising on")

    def _on_signal(self, sig: int, _frame: Any) -> None:
        self.stopping = True

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stopping and (left := end - time.monotonic()) > 0:
            time.sleep(min(POLL_S, left))

    # -- the service ----------------------------------------------------------------

    def _spawn(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            self.pid_file.write_text(f"{proc.pid}\n")
        except OSError as exc:
            say(self.name, f"cannot write {self.pid_file} ({exc.strerror})")
        return proc

    def _adoptable(self) -> int | None:
        """The service a killed supervisor left running (its pid file, with the start
        time its state recorded; a service of an older services.sh: a session leader)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        started = start_time(pid)
        if started is None:
            return None
        old = read_json(self.state_file) or {}
        if old.get("pid") == pid:
            return pid if old.get("pid_start") == started else None
        f = _stat(pid)
        return pid if f is not None and int(f[3]) == pid else None

    def _end_session(self, sid: int, proc: subprocess.Popen[bytes] | None) -> None:
        """TERM every process of the session, KILL what is left after ``stop_s``; reap
        our own child."""
        signal_session(sid, signal.SIGTERM)
        end = time.monotonic() + self.policy.stop_s
        while time.monotonic() < end:
            if proc is not None:
                proc.poll()
            if not session_members(sid):
                break
            time.sleep(0.2)
        signal_session(sid, signal.SIGKILL)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)

    def _watch(self, pid: int, proc: subprocess.Popen[bytes] | None) -> int | None:
        """Wait until the service ends (its exit status; None for an adopted one) or a
        stop is asked for (then stop it)."""
        while not self.stopping:
            if proc is not None:
                code = proc.poll()
                if code is not None:
                    return code
            elif start_time(pid) is None:
                return None
            time.sleep(POLL_S)
        self._end_session(pid, proc)
        return proc.returncode if proc is not None else None

    def run(self) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        lock = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            other = self.own_pid_file.read_text().strip() if self.own_pid_file.exists() else "?"
            say(self.name, f"already supervised (supervisor pid {other}); not starting another")
            return 3
        self.own_pid_file.write_text(f"{os.getpid()}\n")
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        adopted = self._adoptable()
        try:
            return self._loop(adopted)
        finally:
            with contextlib.suppress(OSError):
                if self.own_pid_file.read_text().strip() == str(os.getpid()):
                    self.own_pid_file.unlink()

    def _loop(self, adopted: int | None) -> int:
        while not self.stopping:
            failed = ""  # why the command could not be started
            if adopted is not None:
                pid, proc = adopted, None
                say(self.name, f"watching pid {pid}, left running by a supervisor that ended")
                adopted = None
            else:
                since = self.log.stat().st_size if self.log.exists() else 0
                try:
                    proc = self._spawn()
                except OSError as exc:  # no such program, not executable: an exit too
                    proc, pid = None, 0
                    failed = f"error: cannot start {self.cmd[0]}: {exc.strerror}"
                    say(self.name, failed)
                else:
                    pid = proc.pid
                    say(self.name, f"started pid {pid}: {' '.join(self.cmd)}")
            began = time.monotonic()
            if pid:
                self.save("running", pid=pid, pid_start=start_time(pid), started_at=now_iso())
                code = self._watch(pid, proc)
                if self.stopping:
                    break
                self._end_session(pid, None)  # what the service left in its session
            else:
                code, proc = 127, None
            ran = time.monotonic() - began
            with contextlib.suppress(OSError):
                self.pid_file.unlink()
            self.last_exit = {"at": now_iso(), "ran_s": round(ran, 1)}
            if not pid:
                self.last_exit["code"] = 127
                self.last_exit["error"] = failed
                how = "could not be started"
            elif code is None:
                self.last_exit["unknown"] = "not a child of this supervisor"
                how = "ended (exit status unknown: adopted)"
            elif code < 0:
                self.last_exit["signal"] = signame(-code)
                how = f"killed by {signame(-code)}"
            else:
                self.last_exit["code"] = code
                how = f"exited with code {code}"
            if proc is not None and (err := last_error(self.log, since)):
                self.last_exit["error"] = err
            what = f"pid {pid}" if pid else self.cmd[0]
            t = time.monotonic()
            self.exits = [x for x in self.exits if t - x < self.policy.window_s] + [t]
            if len(self.exits) >= self.policy.max_exits:
                say(
                    self.name,
                    f"{what} {how} after {ran:.1f} s: {len(self.exits)} exits within "
                    f"{self.policy.window_s:g} s, a crash loop: not restarting it "
                    f"(scripts/services.sh up {self.name} tries again)",
                )
                self.save("crash-loop")
                return 1
            delay = self.policy.delay(len(self.exits))
            say(self.name, f"{what} {how} after {ran:.1f} s; restarting in {delay:g} s")
            self.save(
                "restarting",
                next_start_at=datetime.fromtimestamp(time.time() + delay, UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
            )
            self._sleep(delay)
            if not self.stopping:
                self.restarts += 1
        with contextlib.suppress(OSError):
            self.pid_file.unlink()
        say(self.name, "stopped (asked to)")
        self.save("stopped")
        return 0


# -- status -----------------------------------------------------------------------------


def _alive(pid: Any) -> bool:
    """A live process (a zombie, killed and not yet reaped, is not)."""
    try:
        return start_time(int(pid)) is not None
    except (ValueError, TypeError):
        return False


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def describe_exit(last: dict[str, Any] | None) -> str:
    if not last:
        return "no exit yet"
    if "signal" in last:
        how = f"killed by {last['signal']}"
    elif "code" in last:
        how = f"exit code {last['code']}"
    else:
        how = "ended, exit status unknown (adopted)"
    text = f"last exit: {how} at {last['at']} after {last.get('ran_s', '?')} s"
    return text + (f" ({last['error']})" if last.get("error") else "")


def status_line(run_dir: Path, name: str, port: str = "") -> str:
    """One line: running / restarting / crash-loop / stopped, restarts, last exit."""
    state = read_json(run_dir / f"{name}.supervisor.json")
    sup = _pid(run_dir / f"{name}.supervisor.pid")
    pid = _pid(run_dir / f"{name}.pid")
    at = f" {port}" if port else ""
    if state is None:
        if pid is not None and _alive(pid):
            return (
                f"{name} running (pid {pid}){at}, not supervised (started by an older services.sh)"
            )
        return f"{name} stopped"
    what = state.get("state")
    restarts = f"restarts {state.get('restarts', 0)}"
    last = describe_exit(state.get("last_exit"))
    if what == "crash-loop":
        return (
            f"{name} CRASH-LOOP: {state.get('exits_in_window')} exits within "
            f"{state.get('window_s', 0):g} s, not restarted; {restarts}, {last}; log "
            f"{state.get('log')}; after fixing the cause: scripts/services.sh up {name}"
        )
    if what == "stopped":
        return f"{name} stopped"
    if sup is None or not _alive(sup):
        if pid is not None and _alive(pid):
            return (
                f"{name} running (pid {pid}){at} UNSUPERVISED: its supervisor "
                f"(pid {state.get('supervisor_pid')}) ended without stopping it; "
                f"scripts/services.sh up {name} supervises it again; {restarts}, {last}"
            )
        return (
            f"{name} STOPPED without a down: its supervisor (pid {state.get('supervisor_pid')}) "
            f"ended; {restarts}, {last}; scripts/services.sh up {name} starts it"
        )
    if what == "restarting":
        return (
            f"{name} restarting (supervisor pid {sup}): next start at "
            f"{state.get('next_start_at')}, exit {state.get('exits_in_window')} of "
            f"{state.get('max_exits')} within {state.get('window_s', 0):g} s; {restarts}, {last}"
        )
    return f"{name} running (pid {state.get('pid')}, supervisor pid {sup}){at}; {restarts}, {last}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = p.add_subparsers(dest="what", required=True)
    r = sub.add_parser("run", help="start COMMAND (after --) and keep it running")
    r.add_argument("name")
    r.add_argument("--run", required=True, type=Path, help="the home's run/ folder")
    r.add_argument("--log", required=True, type=Path, help="the service's log (stdout)")
    s = sub.add_parser("status", help="one line per service")
    s.add_argument("--run", required=True, type=Path)
    s.add_argument("names", nargs="+", help="NAME or NAME:PORT")
    argv = sys.argv[1:] if argv is None else argv
    cmd = argv[argv.index("--") + 1 :] if "--" in argv else []
    a = p.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if a.what == "status":
        for item in a.names:
            name, _, port = item.partition(":")
            print(status_line(a.run, name, port))
        return 0
    if not cmd:
        p.error("run: no command after --")
    with contextlib.suppress(PermissionError):  # already a session leader: keep it
        os.setsid()
    return Supervisor(a.name, a.run, a.log, cmd, Policy.from_env()).run()


if __name__ == "__main__":
    sys.exit(main())
