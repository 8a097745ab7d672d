"""The allocator settings that keep a task's address space near its resident memory
(riskwarn/allocators.py; the task budget counts address space)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from riskwarn.allocators import ARENA_MAX, MIMALLOC_ARENA_RESERVE, allocator_env


def test_airflow_processes_get_the_allocator_settings(tmp_path) -> None:
    from riskwarn.orchestration import airflow_env
    from riskwarn.settings import Settings

    env = airflow_env(Settings(home=tmp_path), base={})
    assert env["MALLOC_ARENA_MAX"] == str(ARENA_MAX)
    assert env["MIMALLOC_ARENA_RESERVE"] == MIMALLOC_ARENA_RESERVE
    mine = airflow_env(Settings(home=tmp_path), base={"MALLOC_ARENA_MAX": "8"})
    assert mine["MALLOC_ARENA_MAX"] == "8"  # the caller's value wins
    assert set(allocator_env()) == {"MALLOC_ARENA_MAX", "MIMALLOC_ARENA_RESERVE"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc: Linux")
def test_importing_riskwarn_first_keeps_pyarrow_from_reserving_a_gigabyte() -> None:
    code = (
        "import riskwarn, os, pyarrow as pa\n"
        "pa.array(range(1000))\n"
        "vm = [l for l in open('/proc/self/status') if l.startswith('VmSize')][0]\n"
        "print(os.environ['MIMALLOC_ARENA_RESERVE'], int(vm.split()[1]) // 1024)\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    assert out[0] == MIMALLOC_ARENA_RESERVE
    # mimalloc's default reservation alone is 1 GiB of address space
    assert int(out[1]) < 1000, out
