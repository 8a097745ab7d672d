"""The CLI's shape: help for every command, one-line errors for user mistakes."""

from __future__ import annotations

import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riskwarn.cli", *args], capture_output=True, text=True
    )


def test_help_lists_commands_and_each_has_help() -> None:
    res = run("--help")
    assert res.returncode == 0
    commands = [line.split()[0] for line in res.stdout.split("Commands:")[1].strip().splitlines()]
    assert "ingest" in commands and "contracts" in commands
    for name in commands:
        sub = run(name, "--help")
        assert sub.returncode == 0, (name, sub.stderr)
        assert "Usage:" in sub.stdout


def test_unknown_command_is_one_line_error() -> None:
    res = run("no-such-command")
    assert res.returncode == 2
    assert res.stderr.strip().startswith("error:")
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_contracts_markdown_matches_docs() -> None:
    from pathlib import Path

    from riskwarn.contracts import contracts_markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "data-contracts.md"
    assert doc.read_text(encoding="utf-8").strip() == contracts_markdown().strip(), (
        "docs/data-contracts.md is stale: run `riskwarn contracts --markdown > docs/data-contracts.md`"
    )
