"""``riskwarn`` CLI runs in a process of their own each, forked from one that imported the
command's modules once (tests that run the CLI dozens of times).

A ``python -m riskwarn.cli ingest ...`` spends most of its 1-2 CPU s importing pandas,
pyarrow, deltalake, SQLAlchemy, alembic and riskwarn (2026-12-07). A :class:`ForkedCli`
starts one Python process (the *parent*) that imports ``preload`` once, then forks it
for each :meth:`ForkedCli.run`: the child is a process of its own (own memory, own file
descriptors, its exit code and stdout/stderr captured as ``subprocess.run`` would), with
the caller's environment and working folder, and runs ``riskwarn.cli.main(argv)`` as
``python -m riskwarn.cli`` would. The parent only imports: it opens no file, store or
thread, so each child starts from the same state a fresh process has after those imports.

What it does not replace: a run that must start fresh (a script patching a library
before riskwarn imports it, e.g. to SIGKILL it mid-write) and runs at once (the parent
forks one child at a time): use ``subprocess`` for those.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[1]

_PARENT = r"""
import importlib, json, os, sys
reply = os.fdopen(os.dup(1), "w")
null = os.open(os.devnull, os.O_RDWR)
os.dup2(null, 1)
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
from riskwarn.cli import main
reply.write("ready\n"); reply.flush()
child = False
for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        child = True
        break
    reply.write(json.dumps({"pid": pid}) + "\n"); reply.flush()
    _, status = os.waitpid(pid, 0)
    reply.write(json.dumps({"rc": os.waitstatus_to_exitcode(status)}) + "\n"); reply.flush()
if child:
    # the child: the caller's streams, folder and environment, then the CLI; it ends as
    # a multiprocessing child does: its threads joined, atexit run, streams flushed, then
    # os._exit (the interpreter's teardown of pandas, SQLAlchemy, ... modules cost each
    # child 0.7 CPU s more, 2026-12-07, and has nothing to do: every file is closed)
    reply.close()
    os.dup2(null, 0)
    for fd, path in ((1, req["stdout"]), (2, req["stderr"])):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(f, fd)
        os.close(f)
    os.close(null)
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    sys.argv = ["riskwarn", *req["argv"]]
    import atexit, threading, traceback
    try:
        code = main(req["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        threading._shutdown()
        atexit._run_exitfuncs()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
# the caller closed its end: the parent ends at once (it holds no file but its reply pipe;
# the interpreter's teardown of the preloaded modules took about 1 s, each module's
# fixture teardown, 2026-12-08)
reply.close()
os._exit(0)
"""

INGEST_MODULES = (
    "riskwarn.commands.ingest",
    "riskwarn.ingest.flow",
    "riskwarn.ingest.journal",
    "riskwarn.ingest.fastparse",
    "riskwarn.store",
    "riskwarn.lake.history",
    "alembic.runtime.migration",
    "alembic.command",
)
"""What ``riskwarn ingest`` imports (its own modules pull pandas, pyarrow, deltalake,
pandera, SQLAlchemy)."""


class ForkedCli:
    """A parent process that imported ``preload``; :meth:`run` forks it per CLI run.
    Use as a context manager (``close`` ends the parent)."""

    def __init__(self, folder: Path, preload: Iterable[str] = INGEST_MODULES) -> None:
        self._tmp = folder  # the children's stdout and stderr, one file each
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._n = 0
        self._buf = b""
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _PARENT, json.dumps(list(preload))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        ready = self._line(120)
        if ready != "ready":
            self.close()
            raise RuntimeError(f"the forking parent did not start: {ready!r}")

    def _line(self, timeout: float) -> str | None:
        """The parent's next reply line, or None after ``timeout`` s without one."""
        import select
        import time

        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        end = time.monotonic() + timeout
        while b"\n" not in self._buf:
            ready, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
            if not ready:
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError("the forking parent ended")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def run(
        self,
        argv: list[str],
        *,
        env: Mapping[str, str],
        cwd: Path | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """``riskwarn argv`` in a forked child with environment ``env``: its exit code
        (negative: killed by that signal) and output, as ``subprocess.run(...,
        capture_output=True, text=True)`` returns them. Raises
        ``subprocess.TimeoutExpired`` (the child killed) after ``timeout`` s."""
        import signal

        assert self._proc.stdin is not None
        self._n += 1
        out, err = self._tmp / f"{self._n}.out", self._tmp / f"{self._n}.err"
        req = {
            "argv": argv,
            "env": dict(env),
            "cwd": str(cwd or Path.cwd()),
            "stdout": str(out),
            "stderr": str(err),
        }
        self._proc.stdin.write((json.dumps(req) + "\n").encode())
        self._proc.stdin.flush()
        started = self._line(60)
        if started is None:
            raise RuntimeError("the forking parent did not fork")
        pid = json.loads(started)["pid"]
        line = self._line(timeout)
        if line is None:
            os.kill(pid, signal.SIGKILL)
            self._line(60)
            raise subprocess.TimeoutExpired(["riskwarn", *argv], timeout)
        rc = json.loads(line)["rc"]
        done = subprocess.CompletedProcess(
            ["riskwarn", *argv], rc, out.read_text("utf-8"), err.read_text("utf-8")
        )
        out.unlink()
        err.unlink()
        return done

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> ForkedCli:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
