"""Every quarantine reason the docs list has its own words on the data-quality page, in
both languages (``dashboard.views.quarantine_reason``): before 2026-12-07 a truncated last
line, an undecodable file, an unmapped category and the stream's reasons
(``finer_than_source``, ``site_mismatch``, ``bad_topic``, ...) all read "Other"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboard import views

DOCS = Path(__file__).resolve().parents[1] / "docs"


def documented_reasons() -> set[str]:
    """The reason codes of docs/ingestion.md's "Row reasons (quarantine)" table and of
    docs/operations.md's list of the stream's reasons."""
    ingestion = (DOCS / "ingestion.md").read_text(encoding="utf-8")
    table = ingestion.split("## Row reasons (quarantine)", 1)[1].split("\n\n", 2)[1]
    codes: set[str] = set()
    for line in table.splitlines():
        first = line.split("|")[1] if line.startswith("|") else ""
        codes |= {c.partition(":")[0] for c in re.findall(r"`([a-z_]+(?::[^`]*)?)`", first)}
    ops = (DOCS / "operations.md").read_text(encoding="utf-8")
    stream = ops.split("### The stream's readings: what is quarantined", 1)[1].split("\n### ")[0]
    codes |= {c.partition(":")[0] for c in re.findall(r"^\* `([a-z_:]+)`", stream, re.M)}
    codes |= set(re.findall(r"is `([a-z_]+)`", stream))
    return codes


def stream_reasons() -> set[str]:
    """The codes the stream's payload checks raise (riskwarn/stream/*.py)."""
    src = Path(__file__).resolve().parents[1] / "riskwarn" / "stream"
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(src.glob("*.py")))
    return set(re.findall(r'PayloadProblem\(\s*"([a-z_]+)"', text))


def test_the_docs_list_the_reasons_this_test_reads() -> None:
    codes = documented_reasons()
    assert {"bad_line", "unterminated_last_line", "bad_topic", "finer_than_source"} <= codes
    assert len(codes) > 40, sorted(codes)
    assert {"not_json", "wrong_type", "topic_mismatch", "finer_than_source"} <= stream_reasons()


@pytest.mark.parametrize("code", sorted(documented_reasons() | stream_reasons()))
def test_each_documented_reason_has_its_own_words(code: str) -> None:
    other = {lang: views.quarantine_reason("no_such_reason", lang) for lang in ("en", "zh")}
    for lang in ("en", "zh"):
        words = views.quarantine_reason(f"{code}:some_column", lang)
        assert words != other[lang], (code, lang)
