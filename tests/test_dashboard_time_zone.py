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
