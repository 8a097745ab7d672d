"""docs/benchmarks-models.md and its generator, bench/report.py: regenerating the document
without any run folder (they live under var/, not in the repository) gives the committed
text, so the section sources in docs/_sections carry the document's current figures and
the merge keeps what a run does not write."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import report

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks-models.md"


def test_regenerating_the_models_report_gives_the_committed_text(tmp_path: Path) -> None:
    """Fails when a docs/_sections file is behind the document (the hand-updated section
    would be replaced by the older source) or the merge drops hand-written text."""
    out = tmp_path / "benchmarks-models.md"
    out.write_text(DOC.read_text())
    assert report.main(["--out", str(out)]) == 0
    got, want = out.read_text(), DOC.read_text()
    pairs = zip(report.split_level2(got), report.split_level2(want), strict=False)
    for (hg, bg), (hw, bw) in pairs:
        assert hg == hw, f"section order: {hg!r} where the document has {hw!r}"
        assert bg == bw, f"section {hw or '(title)'!r} differs from its source"
    assert got == want


def test_a_hand_written_subsection_of_a_regenerated_section_is_kept() -> None:
    old = (
        "# T\n\nintro\n\n## Hong Kong\n\nold run\n\n### Earlier run (kept)\n\nhand\n\n"
        "### Per cell\n\nold cells\n\n### Note at the end\n\nhand 2\n\n## Tuning\n\nt\n"
    )
    new = "# T\n\nintro\n\n## Hong Kong\n\nnew run\n\n### Per cell\n\nnew cells\n"
    got = report.merge_kept(old, new)
    assert "old run" not in got and "old cells" not in got  # the run's own text is new
    assert "new run" in got and "new cells" in got and "t\n" in got
    # the hand-written subsections stay where they were, between the run's parts
    assert (
        got.index("new run")
        < got.index("### Earlier run (kept)")
        < got.index("hand\n")
        < got.index("### Per cell")
        < got.index("### Note at the end")
        < got.index("## Tuning")
    )
    assert report.merge_kept(got, new) == got  # idempotent


def test_a_subsection_heading_inside_a_code_block_is_text() -> None:
    section = "## S\n\n```text\n### not a heading\n```\n\n### Real\n\nx\n"
    assert [h for h, _ in report.split_level3(section)] == ["", "### Real"]


def test_fresh_overwrites_and_the_default_merges(tmp_path: Path) -> None:
    out = tmp_path / "m.md"
    out.write_text("# Benchmarks: models\n\n## Chicago by hand\n\nkept\n")
    report.main(["--out", str(out)])
    assert "## Chicago by hand" in out.read_text()
    report.main(["--fresh", "--out", str(out)])
    text = out.read_text()
    assert "## Chicago by hand" not in text
    assert "## Monitored-site geohazard models (simulated city)" in text
