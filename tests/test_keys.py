"""The pseudonym key (issue 13.9): no constant in the code, refused unless configured.

On the old code the key defaulted to a constant published in the repository, and a
pseudonym was reversed to a full ID number by enumeration in seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import pandas as pd
import pytest

from riskwarn.cli import main
from riskwarn.keys import (
    MIN_KEY_CHARS,
    PseudonymKeyError,
    create_key_file,
    ensure_demo_key,
    pseudonym_key,
)
from riskwarn.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DISPUTES = ROOT / "configs" / "sources" / "sim_disputes.yaml"
OLD_CONSTANT = "riskwarn-demo-key-change-me"
ID_NUMBER = "340802198703154512"
HEADER = (
    "案件编号,登记时间,纠纷类型,经度,纬度,所属社区代码,当事人数,涉及金额（元）,"
    "甲方身份证号,乙方身份证号,网格编码,甲方姓名,甲方联系电话,乙方姓名,乙方联系电话,纠纷简述,登记人"
)


def disputes_csv(path: Path) -> Path:
    rows = [
        f"JF{i:04d},2024-03-0{i + 1} 10:00:00,邻里纠纷,116.5,30.5,340802001,2,1000,"
        f"{ID_NUMBER},34080219900101{i:04d},G1,张三,13800000000,李四,13900000000,吵架,王五"
        for i in range(3)
    ]
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="gb18030")
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    monkeypatch.delenv("RISKWARN_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("RISKWARN_PSEUDONYM_KEY_FILE", raising=False)
    return home


def ingest(csv: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["ingest", "--source", str(DISPUTES), "--no-store", str(csv)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def lake_rows(home: Path) -> int:
    parts = sorted((home / "lake" / "disputes").rglob("*.parquet"))
    return sum(len(pd.read_parquet(p)) for p in parts)


def test_ingesting_personal_fields_without_a_key_is_refused(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = ingest(disputes_csv(tmp_path / "d.csv"), capsys)
    assert code == 2, out
    line = out.strip()
    assert len(line.splitlines()) == 1
    assert line.startswith("error: refusing to ingest source simcity")
    assert "甲方身份证号" in line and "no pseudonym key is configured" in line
    assert "RISKWARN_PSEUDONYM_KEY_FILE" in line
    assert lake_rows(home) == 0


@pytest.mark.parametrize("weak", [OLD_CONSTANT, "short-secret", "x" * (MIN_KEY_CHARS - 1)])
def test_weak_or_published_keys_are_refused(
    home: Path,
    tmp_path: Path,
    weak: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RISKWARN_PSEUDONYM_KEY", weak)
    code, out = ingest(disputes_csv(tmp_path / "d.csv"), capsys)
    assert code == 2 and "refusing to ingest" in out, out
    assert lake_rows(home) == 0


def test_a_key_file_readable_by_others_is_refused(home: Path, tmp_path: Path) -> None:
    key_file = create_key_file(tmp_path / "keys" / "pseudonym.key")
    assert mode(key_file) == 0o600 and mode(key_file.parent) == 0o700
    key_file.chmod(0o644)
    with pytest.raises(PseudonymKeyError, match="readable by other users"):
        pseudonym_key(Settings(home=home, pseudonym_key_file=str(key_file)))


def test_a_configured_key_file_pseudonymises_with_that_key(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    key_file = tmp_path / "keys" / "pseudonym.key"
    assert main(["keys", "init", "--pseudonym-key-file", str(key_file)]) == 0
    assert mode(key_file) == 0o600
    key = key_file.read_text().strip()
    assert len(key) >= MIN_KEY_CHARS
    assert main(["keys", "init", "--pseudonym-key-file", str(key_file)]) == 2  # never replaced
    assert key_file.read_text().strip() == key
    capsys.readouterr()

    monkeypatch.setenv("RISKWARN_PSEUDONYM_KEY_FILE", str(key_file))
    code, out = ingest(disputes_csv(tmp_path / "d.csv"), capsys)
    assert code == 0, out
    parts = sorted((home / "lake" / "disputes").rglob("*.parquet"))
    party_ids = ";".join(pd.concat(pd.read_parquet(p) for p in parts)["party_ids"])
    mine = hmac.new(key.encode(), ID_NUMBER.encode(), hashlib.sha256).hexdigest()[:16]
    old = hmac.new(OLD_CONSTANT.encode(), ID_NUMBER.encode(), hashlib.sha256).hexdigest()[:16]
    assert mine in party_ids and old not in party_ids
    assert ID_NUMBER not in party_ids


def test_the_demo_key_is_random_private_and_kept(tmp_path: Path) -> None:
    a, b = Settings(home=tmp_path / "a"), Settings(home=tmp_path / "b")
    path = ensure_demo_key(a)
    assert path == a.home / "secrets" / "pseudonym.key"
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    key = pseudonym_key(a)
    assert ensure_demo_key(a) == path and pseudonym_key(a) == key  # a re-run keeps it
    ensure_demo_key(b)
    assert pseudonym_key(b) != key


def test_sources_without_personal_fields_need_no_key(home: Path) -> None:
    from riskwarn.keys import pseudonym_key_for
    from riskwarn.sources import load_mapping

    incidents = load_mapping(ROOT / "configs" / "sources" / "sim_incidents.yaml")
    assert pseudonym_key_for(Settings(home=home), incidents) == ""
    with pytest.raises(PseudonymKeyError, match="refusing to ingest source simcity"):
        pseudonym_key_for(Settings(home=home), load_mapping(DISPUTES))
