"""The alarm log's caption, the refusal of an acknowledgement and a refused champion's
card read correctly (reviewer): the caption said "Besides, 1 changes were never sent",
"The latest 0 orange/red warning changes sent" and "1 changes were cancelled"; a change
never sent was refused as "every delivery expired unsent" whatever its status (merged,
not paged, cancelled by review); the models page said "the last published run stays
served" with no run published."""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("streamlit")

from dashboard.views import alarm_log_caption
from riskwarn.stream.alarm_log import COLUMNS

LATIN = r"[A-Za-z]{2,}"


def _alarms(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame([{c: r.get(c) for c in COLUMNS} for r in rows])


SENT = {"to_level": "orange", "acknowledged_by": None, "expired": False, "cancelled": False}
EXPIRED = {"to_level": "red", "acknowledged_by": None, "expired": True, "cancelled": False}
CANCELLED = {"to_level": "red", "acknowledged_by": None, "expired": True, "cancelled": True}


def test_one_change_is_said_in_the_singular() -> None:
    en = alarm_log_caption(_alarms(SENT, EXPIRED, CANCELLED), "en")
    assert en.startswith("The one orange/red warning change sent"), en
    assert "who acknowledged it when; red changes not acknowledged: 0." in en
    assert " 1 change was never sent (expired:" in en and "and is not counted above." in en
    assert " 1 change was cancelled by review (the panel dismissed its warning" in en
    assert "1 changes" not in en and "Besides" not in en, en
    zh = alarm_log_caption(_alarms(SENT, EXPIRED, CANCELLED), "zh")
    assert zh.startswith("最近 1 次橙色/红色预警变化的推送"), zh
    assert "另有 1 次变化未发送" in zh and "另有 1 次变化的推送因复核取消" in zh


def test_no_change_sent_is_said_in_words() -> None:
    en = alarm_log_caption(_alarms(EXPIRED, EXPIRED), "en")
    assert en.startswith("No orange/red warning change was sent"), en
    assert "latest 0" not in en and " 2 changes were never sent (expired:" in en, en
    zh = alarm_log_caption(_alarms(EXPIRED, EXPIRED), "zh")
    assert zh.startswith("尚无橙色/红色预警变化经邮件、短信网关推送"), zh
    assert "最近 0 次" not in zh and "另有 2 次变化未发送" in zh, zh


def test_many_changes_keep_the_plural() -> None:
    en = alarm_log_caption(_alarms(SENT, SENT, EXPIRED, EXPIRED, CANCELLED, CANCELLED), "en")
    assert en.startswith("The latest 2 orange/red warning changes sent"), en
    assert " 2 changes were never sent (" in en and "and are not counted above." in en
    assert " 2 changes were cancelled by review (the panel dismissed their warning" in en
    assert "were neither sent nor escalated." in en, en


@pytest.mark.parametrize(
    ("status", "en_why", "zh_why"),
    [
        ("expired", "expired unsent: the warning was no longer in force", "已过期未发送"),
        ("superseded", "merged into a later change", "已并入其后的变化"),
        ("unpaged", "not paged: nothing new for the officer", "未推送：对值班人员无新变化"),
        ("cancelled", "cancelled by review: the panel dismissed the warning", "复核后取消发送"),
    ],
)
def test_a_change_never_sent_is_refused_with_its_reason_in_each_language(
    status: str, en_why: str, zh_why: str
) -> None:
    import re

    from dashboard.views import never_sent_refusal

    statuses = {"K1": [status, status]}
    en = never_sent_refusal("HS1 · new → Red (I)", statuses, "en")
    assert en.startswith("Not recorded: HS1 · new → Red (I) was never sent to anyone ("), en
    assert en_why in en, en
    if status != "expired":
        assert "no longer in force" not in en, en
    zh = never_sent_refusal("HS1 · 新发布 → 红色（I级）", statuses, "zh")
    assert zh_why in zh and zh.count(zh_why) == 1, zh
    assert re.findall(LATIN, zh.replace("HS1", "")) == [], zh  # no English on the zh page
    if status != "expired":
        assert "过期" not in zh, zh


def test_a_refused_champion_says_what_stays_served() -> None:
    from dashboard.views import refused_meaning

    assert refused_meaning(True, "en").endswith("the last published run stays served.")
    none = refused_meaning(False, "en")
    assert "stays served" not in none and none.endswith("nothing is served for it."), none
    assert "最近一次发布的结果继续有效" in refused_meaning(True, "zh")
    zh = refused_meaning(False, "zh")
    assert "继续有效" not in zh and "尚无已发布的结果" in zh, zh
