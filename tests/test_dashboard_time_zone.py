"""The dashboard's times name their zone (review of 7 Dec 2026): the command line writes
UTC with a Z ("created 2026-12-07T03:39Z"), the dashboard the display zone without one
("Trained 7 Dec 2026 11:39"), and a data scientist comparing them saw 8 hours apart. Each
page's "Data as of" caption now names the zone once (tests/test_dashboard_record.py
renders it on every page in both languages)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("tz", "en", "zh"),
    [
        ("Asia/Shanghai", "Asia/Shanghai (UTC+8)", "北京时间（比协调世界时早8小时）"),
        ("UTC", "UTC", "协调世界时"),
        ("Asia/Kolkata", "Asia/Kolkata (UTC+5:30)", "Asia/Kolkata（比协调世界时早5小时30分）"),
        ("America/New_York", "America/New_York (UTC-5)", "America/New_York（比协调世界时晚5小时）"),
    ],
)
def test_the_dashboard_names_the_zone_of_its_times(tz: str, en: str, zh: str) -> None:
    """The dashboard writes times in the display zone without a zone ("Trained 7 Dec 2026
    11:39"), the command line in UTC with a Z: the page says its zone once (the "Data as
    of" caption, tests/test_dashboard_record.py), with the offset at a given time."""
    from dashboard.i18n import fmt_zone

    winter = "2026-12-07T03:39Z"
    assert (fmt_zone(tz, "en", winter), fmt_zone(tz, "zh", winter)) == (en, zh)
    if tz == "America/New_York":  # summer time: the offset at the time given
        assert fmt_zone(tz, "en", "2026-07-01T00:00Z") == "America/New_York (UTC-4)"


@pytest.mark.parametrize(
    ("lang", "replay", "expected"),
    [
        (
            "en",
            False,
            "Data as of: latest event 7 Dec 2026 10:00 · latest reading — · forecast origin "
            "7 Dec 2026 08:00 · Times on this page are in Asia/Shanghai (UTC+8); the command "
            "line writes UTC (a time ending in Z).",
        ),
        (
            "zh",
            False,
            "数据截至：最新事件 2026年12月7日 10:00 · 最新传感器读数 — · 最新预报起报 "
            "2026年12月7日 08:00 · 页面时间均为北京时间（比协调世界时早8小时）；"
            "命令行显示协调世界时（时间后带 `Z`）。",
        ),
        (
            "en",
            True,
            "forecast origin 7 Dec 2026 08:00 (replay of past data: each domain's warnings in "
            "force are judged at its own latest origin) · Times on this page are in",
        ),
        (
            "zh",
            True,
            "最新预报起报 2026年12月7日 08:00 （历史数据回放：各类预警按其自身最新起报时间判断是否"
            "仍有效） · 页面时间均为",
        ),
    ],
)
def test_the_as_of_line_sets_the_zone_off_as_its_other_parts(
    lang: str, replay: bool, expected: str
) -> None:
    """The zone's sentence followed the origin after a bare space ("... 08:00 Times on
    this page ..."): it is one more part of the line, after " · " as the others (both
    languages; a replay's remark stays in brackets after the origin)."""
    import pandas as pd

    from dashboard.shell import as_of_line

    times = {"event": pd.Timestamp("2026-12-07 02:00", tz="UTC"), "reading": None}
    clock = {"origin": pd.Timestamp("2026-12-07 00:00", tz="UTC"), "replay": replay}
    line = as_of_line(times, clock, lang, "Asia/Shanghai")
    assert (expected in line) if replay else (line == expected), line
