"""bench/bench_full_day.py --parallel: trainings in N worker processes, largest first."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import bench_full_day as bench


def stand_in_training(folder: Path, domain: str, end, memory_mb: int) -> bench.Measured:
    """A training in its own process (module level: spawn pickles it by name). The first
    two wait until each other has started (so they did run at once; one worker would
    fail them after a minute); ``broken`` fails, ``empty`` has nothing to learn."""

    def train() -> dict:
        (folder / f"{domain}.started").touch()
        partner = {"incidents": "geohazard_hourly", "geohazard_hourly": "incidents"}.get(domain)
        waited = 0.0
        while partner and not (folder / f"{partner}.started").exists():
            if waited > 60:
                raise RuntimeError(f"{partner} never ran beside {domain}")
            time.sleep(0.1)
            waited += 0.1
        time.sleep(0.5)
        if domain == "broken":
            raise RuntimeError("boom")
        return {"pid": os.getpid(), "not_trained": "no rows" if domain == "empty" else ""}

    return bench.measure(train, memory_mb)[0]


def test_largest_first_puts_the_known_longest_trainings_first() -> None:
    given = ["incidents", "disputes", "dispute_cases", "geohazard", "geohazard_hourly", "new"]
    assert bench.largest_first(given) == [
        "incidents", "geohazard_hourly", "geohazard", "disputes", "dispute_cases", "new",
    ]  # fmt: skip
    assert bench.largest_first(["dispute_cases", "disputes"]) == ["disputes", "dispute_cases"]


@pytest.mark.timeout(300)
def test_parallel_trainings_run_at_most_n_at_once_each_in_its_own_process(tmp_path, capsys) -> None:
    stages = bench.Stages(memory_mb=0)
    domains = ["dispute_cases", "incidents", "empty", "broken", "geohazard_hourly"]
    not_trained, elapsed = bench.train_parallel(
        stages, tmp_path, domains, None, 2, worker=stand_in_training
    )
    out = capsys.readouterr().out
    assert "largest first: incidents, geohazard_hourly, dispute_cases, empty, broken" in out
    assert "never ran beside" not in out  # the two largest ran at once
    assert not_trained == ["empty"]
    assert stages.failed == [("rebuild", "train broken")]
    assert "FAILED (RuntimeError: boom)" in out
    rows = [r for r in stages.rows if r[1].startswith("train ")]
    assert len(rows) == 5 and all(0.4 < wall < 90 for _, _, wall, _ in rows)
    assert elapsed >= max(wall for _, _, wall, _ in rows)
    spans = [line for line in out.splitlines() if "[+" in line]
    assert len(spans) == 5
    starts_ends = [
        tuple(float(x.strip(" +s")) for x in line.split("[")[1].split("]")[0].split(".."))
        for line in spans
    ]
    for t, _ in starts_ends:  # never more than 2 running at any training's start
        assert sum(1 for s, e in starts_ends if s <= t < e) <= 2


def test_wait_for_blocks_until_the_file_exists(tmp_path) -> None:
    import threading

    flag = tmp_path / "go"
    timer = threading.Timer(0.3, flag.touch)
    timer.start()
    try:
        waited = bench.wait_for(flag, poll_s=0.05)
    finally:
        timer.cancel()
    assert flag.exists() and waited >= 0.25
    assert "load average" in bench.load_words()


def test_a_stage_counts_the_cpu_of_the_child_processes_it_ran() -> None:
    import subprocess

    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass"
    m, _ = bench.measure(lambda: subprocess.run([sys.executable, "-c", burn], check=True), 0)
    assert m.cpu >= 0.5, m  # the child's ~0.6 s, not only this process's wait


def test_the_rebuild_trains_the_site_domains_as_one_task_like_train_models() -> None:
    trained = ["incidents", "disputes", "dispute_cases", "geohazard", "geohazard_hourly"]
    units = bench.training_units(trained)
    assert units == ["incidents", "disputes", "dispute_cases", "geohazard+geohazard_hourly"]
    assert bench.largest_first(units) == [
        "incidents", "geohazard+geohazard_hourly", "disputes", "dispute_cases",
    ]  # fmt: skip
    group = {"domains": {"geohazard": {"not_trained": "no failure"}, "geohazard_hourly": {}}}
    assert bench._not_trained(group) and not bench._not_trained({"domains": {"a": {}}})
    assert "geohazard: NOT TRAINED (no failure)" in bench._short(group)


def test_daily_only_wants_a_home_that_exists(tmp_path, capsys) -> None:
    """--daily-only runs the daily part on a home --rebuild-only left (copied first):
    without one it stops before cutting anything."""
    with pytest.raises(SystemExit):
        bench.main(["--sim", str(tmp_path), "--daily-only"])
    with pytest.raises(SystemExit):
        bench.main(["--sim", str(tmp_path), "--daily-only", "--home", str(tmp_path / "none")])
    assert "--daily-only" in capsys.readouterr().err


def test_compare_daily_outputs_sees_a_changed_export_and_a_changed_row(tmp_path) -> None:
    import sqlite3

    import compare_daily_outputs as compare

    for name, score in (("a", 0.5), ("b", 0.5)):
        home = tmp_path / name
        (home / "exports" / "incidents").mkdir(parents=True)
        (home / "exports" / "incidents" / "forecasts.csv").write_text("x\n1\n")
        con = sqlite3.connect(home / "serving.db")
        con.execute("create table forecasts (unit_id text, score real, created_at text)")
        con.execute("insert into forecasts values ('c1', ?, ?)", (score, name))
        con.commit()
        con.close()
    assert compare.compare(tmp_path / "a", tmp_path / "b") == []  # created_at: a clock column
    (tmp_path / "b" / "exports" / "incidents" / "forecasts.csv").write_text("x\n2\n")
    con = sqlite3.connect(tmp_path / "b" / "serving.db")
    con.execute("update forecasts set score = 0.6")
    con.commit()
    con.close()
    diffs = compare.compare(tmp_path / "a", tmp_path / "b")
    assert len(diffs) == 2 and diffs[0].startswith("forecasts:")
    assert diffs[1].startswith("exports/incidents/forecasts.csv")
