"""Settings refused in one line, exit 2, rather than served wrong (review of 2026-12-06).

On the old code: a store password with an unescaped '@' had its rest printed as the host
("failed to resolve host 'ssW0rd-Secret@127.0.0.1'"), and redaction kept it; an
in-memory SQLite store (each process its own, gone at its end) passed, `db upgrade`
saying "at revision None"; a store in a folder that does not exist silently created the
folders and a fresh empty store; RISKWARN_TASK_MEMORY_MB=-1 (no budget) and
RISKWARN_DASHBOARD_IDLE_MINUTES=0.001 (a session gone between two clicks) passed;
`score` said "the last published run stays served" when none was published.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from riskwarn.cli import main
from riskwarn.redact import redact
from riskwarn.settings import SettingsError, load_settings

SECRET = "ssW0rd-Secret"
AT_URL = f"postgresql+psycopg://riskwarn:p@{SECRET}@127.0.0.1:5432/test"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    for var in (
        "RISKWARN_STORE_URL",
        "RISKWARN_MLFLOW_TRACKING_URI",
        "RISKWARN_TASK_MEMORY_MB",
        "RISKWARN_DASHBOARD_IDLE_MINUTES",
    ):
        monkeypatch.setenv(var, "x")  # recorded, so that the test's end restores it
        monkeypatch.delenv(var)
    return home


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_a_password_with_an_unescaped_at_is_refused_without_showing_it(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade", "--url", AT_URL]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("error: store_url=") and "%40" in line, line
    assert "ssW0rd" not in line and "Secret" not in line, line


@pytest.mark.parametrize(
    "uri",
    [
        f"http://alice:p@{SECRET}@127.0.0.1:9",
        f"postgresql://alice:p@{SECRET}@127.0.0.1/mlflow",
    ],
)
def test_an_mlflow_uri_with_an_unescaped_at_is_refused_without_showing_it(
    home: Path, monkeypatch: pytest.MonkeyPatch, uri: str
) -> None:
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", uri)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    text = str(refused.value)
    assert "RISKWARN_MLFLOW_TRACKING_URI=" in text and "%40" in text, text
    assert "ssW0rd" not in text and "Secret" not in text, text
    escaped = uri.replace(f"p@{SECRET}", f"p%40{SECRET}")
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", escaped)
    assert load_settings().mlflow_tracking_uri == escaped  # percent-encoded: accepted


@pytest.mark.parametrize(
    "text",
    [
        AT_URL,
        f"could not connect to {AT_URL}: refused",
        f"'http://alice:p@{SECRET}@127.0.0.1:9/api', then 'a@b'",
    ],
)
def test_redaction_masks_a_password_to_its_last_at(text: str) -> None:
    masked = redact(text)
    assert "ssW0rd" not in masked and "Secret" not in masked, masked
    assert "***@127.0.0.1" in masked, masked


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///", "sqlite+pysqlite:///:memory:", "sqlite:///:memory:"],
)
def test_an_in_memory_store_is_refused(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    assert main(["db", "upgrade", "--url", url]) == 2  # old: "at revision None", exit 0
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: store_url={url!r}: ") and "in memory" in line, line
    monkeypatch.setenv("RISKWARN_STORE_URL", url)
    with pytest.raises(SettingsError, match=r"RISKWARN_STORE_URL=.*in memory"):
        load_settings()


def test_a_store_in_a_folder_that_does_not_exist_is_refused_and_nothing_created(
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """RISKWARN_STORE_URL is read by every command and DAG: a typo in its folder is
    refused, not a fresh empty store. `db upgrade --url` names the new store's place
    on its command line: it creates the folder, and says so."""
    missing = tmp_path / "nonexistent" / "dir"
    url = f"sqlite:///{missing / 'x.db'}"
    monkeypatch.setenv("RISKWARN_STORE_URL", url)
    for argv in (["db", "upgrade"], ["models", "incidents"]):
        assert main(argv) == 2
        line = _one_error_line(capsys.readouterr().err)
        assert line.startswith("error: RISKWARN_STORE_URL='sqlite:///"), line
        assert "does not exist" in line and str(missing) in line, line
        assert not (tmp_path / "nonexistent").exists()  # old: folders and an empty store
    monkeypatch.delenv("RISKWARN_STORE_URL")
    assert main(["db", "upgrade", "--url", url]) == 0
    assert f"created the folder {missing} for the new store" in capsys.readouterr().out
    assert (missing / "x.db").is_file()
    # the home's own folders riskwarn creates: a store inside the home is accepted
    inside = f"sqlite:///{home / 'stores' / 'serving.db'}"
    assert load_settings(store_url=inside).store_url == inside
    # an existing folder: accepted
    existing = f"sqlite:///{tmp_path / 'serving.db'}"
    assert load_settings(store_url=existing).store_url == existing


def test_a_negative_task_memory_budget_is_refused_zero_means_none(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKWARN_TASK_MEMORY_MB", "-1")
    with pytest.raises(SettingsError, match="RISKWARN_TASK_MEMORY_MB='-1'"):
        load_settings()
    monkeypatch.setenv("RISKWARN_TASK_MEMORY_MB", "0")  # documented: no budget
    assert load_settings().task_memory_mb == 0


@pytest.mark.parametrize("value", ["0.001", "0.5"])
def test_an_idle_timeout_under_a_minute_is_refused(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.setenv("RISKWARN_DASHBOARD_IDLE_MINUTES", value)
    assert main(["models", "incidents"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"RISKWARN_DASHBOARD_IDLE_MINUTES={value!r}" in line, line
    assert "greater than or equal to 1" in line, line
    monkeypatch.setenv("RISKWARN_DASHBOARD_IDLE_MINUTES", "1")
    assert load_settings().dashboard_idle_minutes == 1


def test_a_refused_score_says_nothing_is_served_when_nothing_is_published(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No champion and no published run: the refusal says so, not "the last published
    run stays served" (the case with a published run: test_score_champion_refused_cli)."""
    home.mkdir(mode=0o700)
    assert main(["score", "incidents", "--origin", "2024-03-11"]) == 2
    err = capsys.readouterr().err  # MLflow's own INFO lines as it creates its tables
    errors = [x for x in err.splitlines() if x.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    line = errors[0]
    assert "stays served" not in line, line
    assert line.endswith("(no run of incidents is published yet: nothing is served for it)")


def test_an_mlflow_store_in_a_folder_that_does_not_exist_is_refused_and_nothing_created(
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """RISKWARN_MLFLOW_TRACKING_URI is read by every command and DAG as the store's URL
    is: a SQLite file in a folder that does not exist (a typo) is refused in the same
    one line, not a fresh, empty MLflow database made elsewhere (old: accepted)."""
    missing = tmp_path / "nonexistent" / "dir"
    uri = f"sqlite:///{missing / 'mlflow.db'}"
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", uri)
    assert main(["db", "upgrade"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("error: RISKWARN_MLFLOW_TRACKING_URI='sqlite:///"), line
    assert "MLflow's store's folder" in line and "does not exist" in line, line
    assert str(missing) in line, line
    assert not (tmp_path / "nonexistent").exists()
    # a relative path: its folder is read from the working folder, as SQLite does
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", "sqlite:///typo/mlflow.db")
    with pytest.raises(SettingsError, match=r"RISKWARN_MLFLOW_TRACKING_URI=.*does not exist"):
        load_settings()
    # inside the home (riskwarn creates its folders), or in a folder that exists: accepted
    for ok in (
        f"sqlite:///{home / 'registry' / 'mlflow.db'}",
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        "sqlite:///mlflow.db",
    ):
        monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", ok)
        assert load_settings().mlflow_tracking_uri == ok


# ------------------------------------------- attack review 2026-12-07: crashes, not lines


def test_a_home_that_is_a_file_or_cannot_be_made_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """RISKWARN_HOME at a regular file gave NotADirectoryError, at /proc/x (a folder that
    cannot be made) FileNotFoundError: tracebacks."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    for var in ("RISKWARN_STORE_URL", "RISKWARN_MLFLOW_TRACKING_URI", "RISKWARN_CITY_AREA"):
        monkeypatch.setenv(var, "x")
        monkeypatch.delenv(var)
    for home, says in (
        (afile, "the home is a file, not a folder"),
        (afile / "var", f"its parent {str(afile)!r} is a file, not a folder"),
    ):
        monkeypatch.setenv("RISKWARN_HOME", str(home))
        assert main(["db", "upgrade"]) == 2
        line = _one_error_line(capsys.readouterr().err)
        shown = str(home)[:80]  # a refused value is shown cut at 80 characters
        assert line.startswith(f"error: RISKWARN_HOME={shown!r}: ") and says in line, line
    if Path("/proc/self").is_dir():  # Linux: /proc takes no new folder, even from root
        monkeypatch.setenv("RISKWARN_HOME", "/proc/x")
        assert main(["db", "upgrade"]) == 2
        line = _one_error_line(capsys.readouterr().err)
        assert line.startswith("error: cannot use /proc/x in RISKWARN_HOME: "), line


@pytest.mark.parametrize("area", ["200,0,201,1", "100,-95,101,1", "-181,30,120,31", "1,2,3,91"])
def test_a_city_area_off_the_globe_is_refused(home: Path, area: str) -> None:
    with pytest.raises(SettingsError, match=r"longitudes are within -180\.\.180"):
        load_settings(city_area=area)
    load_settings(city_area="116.0,39.6,116.8,40.2")  # Beijing
    load_settings(city_area="-180,-90,180,90")


def test_a_pseudonym_key_file_that_is_binary_or_a_directory_is_said_so(
    home: Path, tmp_path: Path
) -> None:
    from riskwarn.keys import PseudonymKeyError, pseudonym_key

    binary = tmp_path / "binary.key"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 16)
    binary.chmod(0o600)
    with pytest.raises(PseudonymKeyError, match="is not UTF-8 text") as info:
        pseudonym_key(load_settings(pseudonym_key_file=str(binary)))
    assert info.value.__context__ is None  # no traceback quoting the bytes
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o700)
    with pytest.raises(PseudonymKeyError, match="is a directory") as info:
        pseudonym_key(load_settings(pseudonym_key_file=str(folder)))
    assert "does not exist" not in str(info.value)
