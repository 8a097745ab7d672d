"""``riskwarn promote DOMAIN v1`` names the version as given, once (it said ``vv1``),
on a real (empty, file-based) registry in a temporary home."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskwarn.cli import main
from riskwarn.commands.registry import version_label


def test_version_label() -> None:
    assert [version_label(v) for v in ("1", "v1", "V2")] == ["v1", "v1", "V2"]


def test_promote_refusal_names_the_version_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("mlflow")
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    code = main(["promote", "dispute_cases", "v1", "--reason", "x"])
    err = capsys.readouterr().err
    assert code != 0
    assert "cannot promote riskwarn-dispute_cases v1:" in err, err
    assert "vv1" not in err
