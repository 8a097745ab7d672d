"""Memory bounded by the work (issue 13.7): a task budget, and serving features that do
not grow with a second source's long history or its distance from the city."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from riskwarn import lake
from riskwarn.settings import Settings
from tests.test_scoring import ORIGIN, _incidents

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_memory_budget_turns_an_oversized_allocation_into_memory_error() -> None:
    res = _python(
        """
        import numpy as np
        from riskwarn.orchestration import memory_budget
        try:
            with memory_budget(300):
                np.ones(2**30 // 8)  # 1 GiB
        except MemoryError as exc:
            print("refused:", exc)
        np.ones(2**30 // 8)[::4096].sum()  # the limit is lifted after the block
        with memory_budget(300):
            np.ones(2**20).sum()  # work inside the budget runs
        print("after: ok")
        """
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "refused: the task needed more than its memory budget of 300 MB" in res.stdout
    assert "after: ok" in res.stdout


@pytest.mark.realdata
@pytest.mark.slow
def test_serving_frame_with_a_second_long_history_source_stays_in_budget(
    shared_data: Path, tmp_path: Path
) -> None:
    """The city's incidents plus the Chicago extract (117,875 incidents, 2010-2017, a
    city 11,000 km away) in one lake: the hotspot serving frame at a 2024 origin is built
    within a 4 GB task budget (address space) (the dense cells x days history and the one raster around
    both cities needed tens of GB) and holds the city's cells with the same values as
    a lake without the second source (counts, kernels, long-memory and calendar inputs;
    the long-run rate divides by the record's length, which the second source extends)."""
    from riskwarn.ingest import ingest_files, load_mapping

    extract = shared_data / "chicago" / "aggravated_assaults_2010_2017.csv.gz"
    if not extract.exists():
        pytest.skip("the Chicago extract is not in ../shared/data")
    alone = Settings(home=tmp_path / "alone")
    both = Settings(home=tmp_path / "both")
    for s in (alone, both):
        lake.upsert(s.lake_dir, "incidents", "test", _incidents(), batch_id="city")
    mapping = load_mapping(ROOT / "configs" / "sources" / "chicago.yaml")
    ingest_files(mapping, [extract], both, as_of=datetime(2030, 1, 1, tzinfo=UTC))
    assert len(lake.read_table(both.lake_dir, "incidents")) > 100_000
    code = f"""
        import sys
        import pandas as pd
        from riskwarn import serving_frames
        from riskwarn.orchestration import memory_budget
        from riskwarn.settings import Settings
        frames = []
        for home in sys.argv[1:]:
            with memory_budget(4096):
                f = serving_frames.cell_scoring_frame(Settings(home=home), "incidents", pd.Timestamp("{ORIGIN.isoformat()}"))
            frames.append(f)
        a, b = frames
        city = b.loc[b["unit_id"].isin(a["unit_id"])]
        cols = [c for c in a.columns if c.startswith(("count_", "hist_", "lr_", "cal_"))]
        same = (
            a.sort_values("unit_id")[cols].reset_index(drop=True)
            .compare(city.sort_values("unit_id")[cols].reset_index(drop=True))
        )
        print("rows", len(a), len(b), "city", len(city), "differing", same.shape[0])
    """
    res = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(alone.home), str(both.home)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    rows = res.stdout.split()
    assert rows[0] == "rows" and int(rows[1]) == 12 and int(rows[2]) > 12, res.stdout
    assert rows[4] == "12" and rows[6] == "0", res.stdout
