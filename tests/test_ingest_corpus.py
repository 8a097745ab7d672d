"""The malformed-input corpus (tests/corpus/): each file gives its clear message, no
traceback, every row accounted for, quarantined rows carry their original content."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from riskwarn.cli import main
from riskwarn.ingest import read_and_validate
from riskwarn.lake import read_quarantine
from riskwarn.sources import load_mapping

CORPUS = Path(__file__).parent / "corpus"
EXPECTED = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))
AS_OF = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("file_name", sorted(EXPECTED))
def test_corpus_file(file_name: str) -> None:
    exp = EXPECTED[file_name]
    mapping = load_mapping(CORPUS / exp["mapping"])
    batch = read_and_validate(mapping, CORPUS / file_name, pseudonym_key="k", as_of=AS_OF)
    assert batch.read == exp["read"]
    assert len(batch.accepted) == exp["accepted"]
    assert batch.duplicates == exp["duplicates"]
    assert batch.reasons == exp["reasons"]
    assert batch.read == len(batch.accepted) + len(batch.quarantine) + batch.duplicates
    if exp["message"]:
        assert any(exp["message"] in m for m in batch.messages), batch.messages
    assert all("\n" not in m for m in batch.messages)
    for _, row in batch.quarantine.iterrows():
        assert row["file_name"] == file_name
        assert row["message"]
        assert row["original"]
        if row["reason"] != "not_a_table":
            original = json.loads(row["original"])
            assert original, "quarantined row must carry its original content"
            assert "reporter_name" not in original and "reporter_phone" not in original


def test_corpus_quarantine_originals_hold_the_bad_values() -> None:
    mapping = load_mapping(CORPUS / "incidents.yaml")
    batch = read_and_validate(
        mapping, CORPUS / "impossible_date.csv", pseudonym_key="k", as_of=AS_OF
    )
    original = json.loads(batch.quarantine.iloc[0]["original"])
    assert original["occurred"] == "2021-02-30 10:00"
    assert batch.quarantine.iloc[0]["row_number"] == 4


def test_corpus_via_cli_never_tracebacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    files = [
        str(CORPUS / f) for f, e in sorted(EXPECTED.items()) if e["mapping"] == "incidents.yaml"
    ]
    code = main(
        [
            "ingest",
            "--no-store",
            "--json",
            "--as-of",
            "2024-01-01",
            "--source",
            str(CORPUS / "incidents.yaml"),
            *files,
        ]
    )
    out, err = capsys.readouterr()
    assert code == 3, err  # some corpus files store nothing: every row quarantined
    assert "Traceback" not in out + err
    reports = json.loads(out)
    assert len(reports) == len(files)
    # one warning line on stderr per file that stored nothing, and only for those
    nothing = sorted(r["file_name"] for r in reports if r["accepted"] == 0 and r["quarantined"])
    assert nothing and "not_a_table.csv" in nothing
    assert sorted(r["file_name"] for r in reports if r["stored_nothing"]) == nothing
    warned = [line.split(":")[1].strip() for line in err.splitlines() if line.startswith("warn")]
    assert sorted(warned) == nothing
    for r in reports:
        assert r["read"] == r["accepted"] + r["quarantined"] + r["duplicates"]
        assert r["reconciled"] is True
    q = read_quarantine(tmp_path / "home" / "lake")
    assert set(q["file_name"]) >= {"not_a_table.csv", "missing_column.csv", "swapped_lonlat.csv"}
    assert not q["original"].str.contains("张三|13800000001").any()
