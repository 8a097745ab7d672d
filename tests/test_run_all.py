"""bench/run_all.py: a partial re-run replaces only its own sections of the report."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import run_all


def test_split_sections_keeps_script_headings_inside_and_dates_old_runs():
    text = "\n".join(
        [
            "# Benchmarks",
            "",
            "Written by `make benchmarks` (`python bench/run_all.py`) on 2026-01-02 03:04 UTC,"
            " on this machine:",
            "",
            "## Features",
            "",
            "Command: `python bench/bench_features.py` — ok, 2.0 s wall.",
            "## a heading printed by the script",
            "figure 1",
            "## Geohazard nowcast lead time",
            "",
            "Command: `python bench/bench_nowcast.py` — ok, 1.0 s wall, started 2026-02-02 00:00 UTC.",
            "figure 2",
        ]
    )
    got = run_all.split_sections(text)
    assert list(got) == ["Features", "Geohazard nowcast lead time"]
    assert "figure 1" in got["Features"] and "## a heading printed" in got["Features"]
    assert "ok, 2.0 s wall, started 2026-01-02 03:04 UTC." in got["Features"]
    assert got["Geohazard nowcast lead time"].count("started") == 1
    assert "figure 2" in got["Geohazard nowcast lead time"]


def test_only_reruns_the_named_script_and_keeps_the_rest(tmp_path, monkeypatch):
    out = tmp_path / "benchmarks.md"
    out.write_text(
        "# Benchmarks\n\n## Features\n\nCommand: `x` — ok, 1.0 s wall, started D.\nold features\n"
        "## Geohazard nowcast lead time\n\nold nowcast\n",
        encoding="utf-8",
    )
    # a stand-in project whose bench/ holds a tiny real script under the nowcast's name
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "bench_nowcast.py").write_text(
        "import sys\nprint('new output of', sys.argv[0].rsplit('/', 1)[-1])\n", encoding="utf-8"
    )
    monkeypatch.setattr(run_all, "ROOT", tmp_path)
    monkeypatch.setattr(sys, "argv", ["run_all.py", "--only", "bench_nowcast", "--out", str(out)])
    assert run_all.main() == 0
    text = out.read_text(encoding="utf-8")
    assert "old features" in text and "old nowcast" not in text
    assert "new output of bench_nowcast.py" in text and text.count(", started ") == 2
    assert text.index("## Features") < text.index("## Geohazard nowcast lead time")
    assert "re-ran bench_nowcast" in text
