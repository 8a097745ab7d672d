"""The restart replay (riskwarn/stream/cursor.py), pure: from the lake's readings and a
site's cursor, every step after the cursor is evaluated again through the live path and
gives the levels the live consumer gave; the replay is bounded; the cursor round-trips."""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from riskwarn.stream.cursor import load_cursor, replay_plan, replay_rounds, save_cursor
from riskwarn.stream.state import SensorStates
from testkit.stream_helpers import slope_readings

FAIL = pd.Timestamp("2026-11-19", tz="UTC")
# the slope's (seed 2) first red step, before hysteresis: 2026-11-17 18:00, 30 h before the
# failure, then yellow at 19:00 (and on to 11-18 10:00), measured from the data by
# test_replay_after_the_cursor_gives_the_live_levels. With every step read as
# [end - 1 h, end) (riskwarn.sensor_rules.rule_times_ns, the site models' and the
# nowcast's convention too); when the stream's steps ended on their on-the-hour reading
# it was 2026-11-18 07:00
RED_AT = FAIL - pd.Timedelta(hours=30)
SITES: dict[str, str | None] = {"G1": "H1"}


def _readings() -> pd.DataFrame:
    r = slope_readings("G1", start=pd.Timestamp("2026-11-01", tz="UTC"), step="10min", seed=2)
    # up to 20:50: T+2 (20:00) is the newest complete step
    return r.loc[r["observed_at"] <= RED_AT + pd.Timedelta("2h50min")].reset_index(drop=True)


def _live(readings: pd.DataFrame) -> dict[pd.Timestamp, tuple[int, int]]:
    """step -> (served level, rules' level), fed hour by hour as the consumer is."""
    st = SensorStates()
    out = {}
    for _, part in readings.groupby(readings["observed_at"].dt.floor("1h")):
        for levels in st.evaluate_within(st.due(st.add(part, SITES)), float("inf")):
            for lv in levels.values():
                out[lv.observed_to] = (lv.level_rank, lv.raw_rank)
    return out


def test_replay_after_the_cursor_gives_the_live_levels() -> None:
    readings = _readings()
    live = _live(readings)
    red_at = RED_AT  # 2026-11-17 18:00: the first red
    assert live[red_at] == (4, 4) and live[red_at + pd.Timedelta(hours=1)] == (4, 2)
    assert live[red_at - pd.Timedelta(hours=1)][0] == 2
    cursor = {"H1": (red_at - pd.Timedelta(hours=1)).value}  # 17:00 handled, 18:00 not
    hist_days = SensorStates().history_steps / 24 + 1
    plan = replay_plan(readings, {"G1": "H1"}, cursor, hist_days, max_hours=168)
    assert plan.start == cursor and plan.capped == 0 and plan.replaying == 1
    assert len(plan.hours) == 3  # 18, 19, 20
    assert plan.history["observed_at"].max() < red_at
    st = SensorStates()
    st.seed_levels({"H1": 2})  # the served yellow
    st.add(plan.history, SITES)
    st.evaluated_origin.update(plan.start)
    got = {
        lv.observed_to: (lv.level_rank, lv.raw_rank)
        for _, rounds in replay_rounds(st, plan, SITES, {"H1"})
        for levels in rounds
        for lv in levels.values()
    }
    # 18:00 red (published with its own step time), 19:00 and 20:00 held red (raw yellow)
    assert got == {t: v for t, v in live.items() if t >= red_at}
    assert sorted(got) == [red_at + pd.Timedelta(hours=h) for h in range(3)]
    assert got[red_at + pd.Timedelta(hours=2)] == (4, 2)
    # a newest-step-only restart (the old behaviour) would have seen 20:00 alone (yellow)


def test_replay_is_bounded_and_sites_without_cursor_evaluate_their_newest_step() -> None:
    readings = _readings()
    newest = readings["observed_at"].max().floor("1h")
    old = {"H1": (newest - pd.Timedelta(days=10)).value}
    plan = replay_plan(readings, {"G1": "H1"}, old, 30.0, max_hours=5)
    assert plan.capped == 1 and plan.start["H1"] == (newest - pd.Timedelta(hours=5)).value
    assert len(plan.hours) == 5
    none = replay_plan(readings, {"G1": "H1"}, {}, 30.0, max_hours=168)
    assert not none.start and not none.hours and len(none.history) == len(readings)
    done = replay_plan(readings, {"G1": "H1"}, {"H1": newest.value}, 30.0, max_hours=168)
    assert done.start == {"H1": newest.value} and not done.hours and done.replaying == 0
    assert len(done.history) == len(readings)


def test_a_cursor_in_the_future_counts_as_at_the_newest_step() -> None:
    """A cursor time past the site's newest step (year 2200: a corrupt file, a clock that
    jumped) must not hold the site back until then: it counts as at its newest step, so
    the next hour's readings are evaluated. On the code before: start stayed in 2200 and
    due() skipped H1 (checked: fails)."""
    full = slope_readings("G1", start=pd.Timestamp("2026-11-01", tz="UTC"), step="10min", seed=2)
    readings = _readings()
    newest = readings["observed_at"].max().floor("1h")
    future = {"H1": pd.Timestamp("2200-01-01", tz="UTC").value}
    plan = replay_plan(readings, {"G1": "H1"}, future, 30.0, max_hours=168)
    assert plan.start == {"H1": newest.value} and not plan.hours and plan.replaying == 0
    assert len(plan.history) == len(readings)
    st = SensorStates()
    st.add(plan.history, SITES)
    st.evaluated_origin.update(plan.start)
    later = full.loc[full["observed_at"] > readings["observed_at"].max()]
    later = later.loc[later["observed_at"] < newest + pd.Timedelta(hours=2)]
    assert st.due(st.add(later, SITES)) == ["H1"]  # the next step is evaluated


def test_cursor_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "run" / "stream.cursor.json"
    assert load_cursor(path) == {}
    at = pd.Timestamp("2026-11-18 07:00", tz="UTC").value
    save_cursor(path, {"H1": at})
    assert load_cursor(path) == {"H1": at}
    assert "2026-11-18T07:00:00+00:00" in path.read_text()


def test_save_cursor_fsyncs_the_folder_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename is made durable: after it, the folder holding the cursor is fsynced
    (the file's own fsync alone leaves the new name in the page cache)."""
    path = tmp_path / "run" / "stream.cursor.json"
    at = pd.Timestamp("2026-11-18 07:00", tz="UTC").value
    real = os.fsync
    calls: list[tuple[bool, int, bool]] = []  # (a folder?, its inode, cursor in place?)

    def recording(fd: int) -> None:
        st = os.fstat(fd)
        calls.append((stat.S_ISDIR(st.st_mode), st.st_ino, load_cursor(path) == {"H1": at}))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    save_cursor(path, {"H1": at})
    folder = path.parent.stat().st_ino
    assert (True, folder, True) in calls  # the folder, after the rename
    assert calls[0][0] is False  # the temporary file first
    assert not path.with_suffix(".tmp").exists()


@pytest.mark.parametrize("code", [errno.EINVAL, errno.ENOTSUP, errno.EBADF])
def test_a_folder_that_cannot_be_fsynced_does_not_fail_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, code: int
) -> None:
    """fsync of the run/ folder raising EINVAL (some network and FUSE filesystems) must
    not fail save_cursor: the consumer would keep cursor_dirty set and hold publishing
    back forever. The file's own fsync still runs; EIO still raises. Warned once per
    process. On the code before: OSError raised (checked: fails)."""
    from riskwarn.stream import cursor as cursor_mod

    path = tmp_path / "run" / "stream.cursor.json"
    real = os.fsync
    files: list[int] = []

    def no_folder(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(code, os.strerror(code))
        files.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", no_folder)
    monkeypatch.setattr(cursor_mod, "_folder_fsync_warned", [], raising=False)
    at = pd.Timestamp("2026-11-18 07:00", tz="UTC").value
    with caplog.at_level(logging.WARNING, logger="riskwarn.stream.cursor"):
        save_cursor(path, {"H1": at})
        save_cursor(path, {"H1": at + 1})
    assert load_cursor(path) == {"H1": at + 1} and len(files) == 2
    assert caplog.text.count("cannot fsync the folder") == 1
    assert errno.errorcode[code] in caplog.text


def test_an_io_error_on_the_folder_fsync_still_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run" / "stream.cursor.json"
    real = os.fsync

    def eio(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(fd)

    monkeypatch.setattr(os, "fsync", eio)
    with pytest.raises(OSError):
        save_cursor(path, {"H1": 0})


CORRUPT = {
    "not JSON": b'{"version": 1, "steps": {"H-PRIVATE": "2026-11-18T07',
    "not UTF-8": b'{"steps": {"H-PRIVATE": "\xff\xfe"}}',
    "empty": b"",
    "a list": b'["H-PRIVATE"]',
    "steps a list": b'{"steps": ["H-PRIVATE"]}',
    "steps a string": b'{"steps": "H-PRIVATE"}',
    "a number": b'{"steps": {"H-PRIVATE": 17}}',
    "a null": b'{"steps": {"H-PRIVATE": null}}',
    "an object": b'{"steps": {"H-PRIVATE": {"at": "2026-11-18"}}}',
    "not a time": b'{"steps": {"H-PRIVATE": "yesterday"}}',
    "an impossible time": b'{"steps": {"H-PRIVATE": "2026-13-45T07:00:00+00:00"}}',
    "out of range": b'{"steps": {"H-PRIVATE": "99999-01-01T00:00:00+00:00"}}',
    "past 2262": b'{"steps": {"H-PRIVATE": "2826-01-01T00:00:00+00:00"}}',
    "NaT": b'{"steps": {"H-PRIVATE": "NaT"}}',
}


@pytest.mark.parametrize("body", list(CORRUPT.values()), ids=list(CORRUPT))
def test_a_corrupt_cursor_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    """A corrupt cursor file does not stop the consumer from starting: {} (it starts as
    without a cursor), and one warning that names the file and not its contents."""
    path = tmp_path / "stream.cursor.json"
    path.write_bytes(body)
    with caplog.at_level(logging.WARNING, logger="riskwarn.stream.cursor"):
        assert load_cursor(path) == {}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in caplog.text and "corrupt" in caplog.text
    assert "PRIVATE" not in caplog.text and "yesterday" not in caplog.text
    save_cursor(path, {"H1": 0})  # the next handled round writes a good one over it
    assert load_cursor(path) == {"H1": 0}
