"""Bad input on the command line gets one clear line, never a hang, a silent change or a
misleading message (review r92: S7, S8, S9, S10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskwarn.cli import main


def test_ingest_refuses_a_device_or_fifo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """S8: `riskwarn ingest MAPPING /dev/zero` read forever."""
    import os

    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)  # opening it to read would block for ever
    mapping = "configs/sources/sim_incidents.yaml"
    for target in ("/dev/zero", str(fifo)):
        assert main(["ingest", "--source", mapping, target]) == 2
        assert f"not a regular file: {target}" in capsys.readouterr().err


def test_keys_init_does_not_create_a_missing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """S7: a typo in the folder silently created a new tree (/nonexistent/dir); one new
    folder under an existing one is still made, and said."""
    target = tmp_path / "nonexistent" / "dir" / "k"
    assert main(["keys", "init", "--pseudonym-key-file", str(target)]) != 0
    assert f"folder {tmp_path / 'nonexistent'} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "nonexistent").exists()
    assert main(["keys", "init", "--pseudonym-key-file", str(tmp_path / "ok" / "k")]) == 0
    assert f"created folder {tmp_path / 'ok'} (mode 0700)" in capsys.readouterr().out


def test_demo_users_say_where_the_password_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """S9: with RISKWARN_DEMO_PASSWORD unset it said '(password from $RISKWARN_DEMO_PASSWORD)'."""
    import os

    monkeypatch.setattr(os, "execv", lambda *a, **k: None)  # do not serve
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RISKWARN_DEMO_PASSWORD", raising=False)
    assert main(["dashboard", "--demo-users"]) == 0
    out = capsys.readouterr().out
    assert "(password from $RISKWARN_DEMO_PASSWORD)" not in out
    assert "the default demo password, $RISKWARN_DEMO_PASSWORD is not set" in out


@pytest.mark.parametrize("raw", ["abc", "5", "61", "10.5"])
def test_nowcast_minutes_out_of_range_is_refused(raw: str) -> None:
    """S10: 'abc' silently became 60 and '5' became 10."""
    from riskwarn.orchestration import nowcast_minutes

    with pytest.raises(ValueError, match=f"RISKWARN_NOWCAST_MINUTES='{raw}'"):
        nowcast_minutes({"RISKWARN_NOWCAST_MINUTES": raw})
    assert nowcast_minutes({}) == 60 and nowcast_minutes({"RISKWARN_NOWCAST_MINUTES": "15"}) == 15
