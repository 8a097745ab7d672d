"""One `error:` line, not a traceback, for user mistakes the attack review of
2026-12-07 found: `riskwarn stream` / `stream replay` run outside the repo folder (the
default mapping path was relative to the working folder: MappingError traceback),
`riskwarn simulate --out /dev/null/x` (NotADirectoryError traceback) and `riskwarn lake
history` in a home with no lake (said "no record 'x'", as if it had looked)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from riskwarn.cli import main


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home, and the working folder outside the repo."""
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RISKWARN_STORE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_stream_replay_finds_its_default_mappings_from_any_folder(
    elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (elsewhere / "sim").mkdir()
    port = str(_closed_port())
    code = main(["stream", "--port", port, "replay", "--sim", str(elsewhere / "sim")])
    line = _one_line(capsys.readouterr().err)
    assert code != 0 and "mapping file not found" not in line, line
    assert "MQTT broker" in line, line  # it got as far as the broker


def test_stream_with_a_missing_source_says_so_in_one_line(
    elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stream", "--source", "nosuch.yaml"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "nosuch.yaml" in line and "not found" in line, line
    from riskwarn.commands.stream import DEFAULT_SENSORS_SOURCE, DEFAULT_SOURCE

    assert Path(DEFAULT_SOURCE).is_file() and Path(DEFAULT_SENSORS_SOURCE).is_file()


def test_simulate_into_a_folder_it_cannot_make(
    elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (elsewhere / "file").write_text("x")
    assert main(["simulate", "--size", "small", "--out", str(elsewhere / "file" / "x")]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "cannot create the folder" in line, line


def test_lake_history_without_a_lake_says_there_is_none(
    elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lake", "history", "incidents", "--record", "x"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "no lake at" in line and "no record" not in line, line
    (elsewhere / "home" / "lake").mkdir(parents=True)
    assert main(["lake", "history", "incidents", "--record", "x"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "has no table incidents" in line, line
