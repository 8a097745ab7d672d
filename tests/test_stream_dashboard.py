"""The dashboard's real-time alarm section (issue 16): delivered warning changes, their
channels and outcome, and who acknowledged them when, from the store's delivery log."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("streamlit")

from tests.test_dashboard import _open, _text
from tests.test_dashboard import home as home  # the module-scoped demo home (re-exported)

# a few hours ago: warnings still in force (a change whose warning ended is not delivered)
AT = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(hours=3)


def _log_two_changes(store: Any) -> None:
    from riskwarn.stream.delivery import Contact, DeliveryConfig, enqueue
    from riskwarn.stream.publish import LevelChange

    cfg = DeliveryConfig(
        contacts={"duty-1": Contact("duty-1", email="d1@example.test", webhook=True)},
        default=["duty-1"],
        webhook_url="http://127.0.0.1:9/hook",
        webhook_secret="s" * 32,
    )
    red = LevelChange("HS777", "geohazard_stream:HS777:x", 2, 4, AT)
    orange = LevelChange("HS778", "geohazard_stream:HS778:y", 0, 3, AT + pd.Timedelta(hours=1))
    reasons = [{"en": "Displacement: improved tangent angle 86.0°.", "zh": "位移监测"}]
    assert enqueue(store, cfg, red, reasons) == 2
    assert enqueue(store, cfg, orange, reasons) == 2
    d = store.deliveries()
    for row in d.itertuples():
        ok = row.channel == "email"  # the webhook gateway answers 503: retried later
        retry = None if ok else AT.to_pydatetime() + pd.Timedelta(days=30)
        store.record_attempt(row.delivery_id, ok=ok, error="HTTP 503", retry_at=retry)
    store.acknowledge(red.warning_id, "duty-1", delivery_key=red.key, via="test")


def test_alarm_log_one_row_per_change(settings: Any) -> None:
    from riskwarn.store import Store
    from riskwarn.stream.alarm_log import alarm_log

    store = Store(settings.resolved_store_url)
    store.upgrade()
    assert alarm_log(store.deliveries(), store.acknowledgements()).empty
    _log_two_changes(store)
    log = alarm_log(store.deliveries(), store.acknowledgements())
    store.close()
    assert log["unit_id"].tolist() == ["HS778", "HS777"]  # newest first
    red = log.iloc[1]
    assert red["to_level"] == "red" and red["change"] == "raised"
    assert red["sent"] == "email:duty-1 sent, webhook:duty-1 retrying (1 attempt)"
    assert red["acknowledged_by"] == "duty-1" and pd.notna(red["acknowledged_at"])
    assert pd.isna(log.iloc[0]["acknowledged_by"]) and pd.isna(log.iloc[0]["acknowledged_at"])
    assert "@" not in log.to_string()  # contact ids, never addresses


def test_geohazard_page_shows_deliveries_and_acknowledgements(home: Path) -> None:
    import streamlit as st

    from riskwarn.store import Store

    store = Store(os.environ["RISKWARN_STORE_URL"])
    store.upgrade()
    _log_two_changes(store)
    store.close()
    st.cache_data.clear()
    at = _open("reviewer", "geohazard", "en")
    assert "Real-time alarms: deliveries and acknowledgements" in _text(at)
    assert "red changes not acknowledged: 0" in _text(at)
    frames = [d.value for d in at.dataframe if "Acknowledged by" in d.value.columns]
    assert len(frames) == 1
    shown = frames[0]
    assert shown["Site"].tolist() == ["HS778", "HS777"]
    assert shown["Acknowledged by"].tolist() == ["not acknowledged", "duty-1"]
    assert shown["To"].iloc[1].startswith("Red")
    assert shown["Change"].tolist() == ["new", "raised"]
    at_zh = _open("reviewer", "geohazard", "zh")
    assert "实时预警推送与签收" in _text(at_zh)
    zh = next(d.value for d in at_zh.dataframe if "签收人" in d.value.columns)
    assert zh["变化"].tolist() == ["新发布", "升级"]
    assert zh["签收人"].tolist() == ["未签收", "duty-1"]
    # the outcome's status words in Chinese too (channel:contact ids stay as they are)
    outcome = "email:duty-1 已送达，webhook:duty-1 重试中（已尝试 1 次）"
    assert zh["推送（渠道:联系人 状态）"].tolist() == [outcome, outcome]


STREAM_REASON = {
    "en": "Displacement: improved tangent angle 86.0°.",
    "zh": "位移监测：改进切线角86.0°。",
}


def _stream_raises_to_red(site_id: str) -> None:
    """The real-time stream publishes ``site_id`` at red (its own domain, real store)."""
    from riskwarn.store import Store
    from riskwarn.stream.publish import Publisher
    from riskwarn.stream.state import SiteLevel

    now = pd.Timestamp.now(tz="UTC").floor("s")
    level = SiteLevel(site_id, 4, [STREAM_REASON], "ok", float("nan"), {}, now)
    store = Store(os.environ["RISKWARN_STORE_URL"])
    pub = Publisher(store)
    assert pub.publish({site_id: level}, pub.changes({site_id: level}))
    store.close()


def test_stream_warnings_labelled_and_shown_on_the_site_map_and_list(home: Path) -> None:
    """Issue 16: a site the stream raised to red is red on the geohazard page's site list
    and map, with the stream's reason, and the warnings page names the stream's domain in
    words (before: the raw key ``geohazard_stream``; the site page showed the model's
    level only)."""
    import streamlit as st

    from dashboard.i18n import LEVEL_COLOURS, place_name
    from dashboard.lake_reads import hazard_sites
    from riskwarn.settings import load_settings

    st.cache_data.clear()
    at = _open("reviewer", "geohazard", "en")
    before = next(d.value for d in at.dataframe if "Why" in d.value.columns)
    sites = hazard_sites(str(load_settings().lake_dir))
    by_name = {
        place_name(n, "en"): str(r) for r, n in zip(sites["record_id"], sites["name"], strict=True)
    }
    row = before[~before["Level"].str.startswith("Red")].iloc[0]
    site_id = by_name[row["Site"]]
    _stream_raises_to_red(site_id)
    st.cache_data.clear()
    for lang, why, red, label in (
        (
            "en",
            "real-time sensors: " + STREAM_REASON["en"],
            "Red",
            "Geohazards (real-time sensors)",
        ),
        ("zh", "实时监测：" + STREAM_REASON["zh"], "红色", "地质灾害（实时监测）"),
    ):
        at = _open("reviewer", "geohazard", lang)
        why_col = "Why" if lang == "en" else "判定依据"
        table = next(d.value for d in at.dataframe if why_col in d.value.columns)
        shown = table[table[why_col] == why]
        assert len(shown) == 1, table[why_col].head().tolist()
        assert shown.iloc[0, 0].startswith(red)  # the level column
        deck = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
        dots = [
            d
            for layer in deck["layers"]
            for d in (layer.get("data") if isinstance(layer.get("data"), list) else [])
            if isinstance(d, dict) and d.get("unit_id") == site_id
        ]
        assert [d["detail"] for d in dots] == [why]  # the map's dot of that site, red
        assert dots[0]["colour"][:3] == list(LEVEL_COLOURS["red"])
        wat = _open("reviewer", "warnings", lang)
        domain_box = wat.selectbox[0]
        assert label in domain_box.options, domain_box.options
        queue = wat.dataframe[0].value
        assert label in set(queue.iloc[:, 2]), queue.iloc[:, 2].unique()  # the domain column
        assert "geohazard_stream" not in " ".join(domain_box.options) + queue.to_string()


def test_duty_officer_acknowledges_on_the_dashboard_and_escalation_stops(home: Path) -> None:
    """Issue 16: a reviewer (duty officer) acknowledges a delivered red change from the
    geohazard page; the acknowledgement is stored with the user and the time (via
    'dashboard'), the section shows it, and the red is no longer escalated; a leader sees
    the log but no acknowledge form."""
    import streamlit as st

    from riskwarn.store import Store
    from riskwarn.stream.delivery import Contact, DeliveryConfig, enqueue, escalate
    from riskwarn.stream.publish import LevelChange

    cfg = DeliveryConfig(
        contacts={
            "duty-1": Contact("duty-1", email="d1@example.test"),
            "duty-2": Contact("duty-2", email="d2@example.test"),
        },
        default=["duty-1", "duty-2"],
        escalate_after_minutes=15,
    )
    red = LevelChange("HS779", "geohazard_stream:HS779:z", 0, 4, AT + pd.Timedelta(hours=2))
    store = Store(os.environ["RISKWARN_STORE_URL"])
    store.upgrade()
    assert enqueue(store, cfg, red, []) == 1
    sent = store.deliveries()
    store.record_attempt(
        int(sent.loc[sent["delivery_key"] == red.key, "delivery_id"].iloc[0]), ok=True
    )
    st.cache_data.clear()
    leader = _open("leader", "geohazard", "en")
    assert "Real-time alarms: deliveries and acknowledgements" in _text(leader)
    assert not [b for b in leader.button if b.label == "Acknowledge"]
    at = _open("reviewer", "geohazard", "en")
    box = at.selectbox(key="alarm_ack_key")
    assert any(o.startswith("HS779 · new → Red") for o in box.options), box.options
    box.set_value(red.key)
    next(b for b in at.button if b.label == "Acknowledge").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Acknowledged: HS779" in _text(at) and "no longer escalated" in _text(at)
    acks = store.acknowledgements("geohazard_stream:HS779:z")
    assert acks["acknowledged_by"].tolist() == ["reviewer"] and acks["via"].tolist() == [
        "dashboard"
    ]
    assert acks["delivery_key"].tolist() == [red.key]
    age = pd.Timestamp.now(tz="UTC") - pd.Timestamp(acks["acknowledged_at"].iloc[0])
    assert pd.Timedelta(0) <= age < pd.Timedelta(minutes=5)
    shown = next(d.value for d in at.dataframe if "Acknowledged by" in d.value.columns)
    assert shown.loc[shown["Site"] == "HS779", "Acknowledged by"].tolist() == ["reviewer"]
    left = [o for b in at.selectbox if b.key == "alarm_ack_key" for o in b.options]
    assert not [o for o in left if o.startswith("HS779")]  # no longer offered
    # acknowledged: the red is not escalated to duty-2, even long after the wait
    later = pd.Timestamp.now(tz="UTC").to_pydatetime() + pd.Timedelta(hours=3)
    assert escalate(store, cfg, now=later) == 0
    assert (store.deliveries()["contact_id"] == "duty-2").sum() == 0
    store.close()


def test_a_change_never_sent_is_refused_with_its_reason_on_the_chinese_page(home: Path) -> None:
    """A change offered for acknowledgement whose delivery the review panel cancelled
    before the click: the Chinese page refuses it saying why (复核后取消发送), in Chinese.
    Before: "推送均已过期未发送（预警已不再有效）" whatever the reason."""
    import sqlalchemy as sa
    import streamlit as st

    from riskwarn.store import Store
    from riskwarn.stream.delivery import Contact, DeliveryConfig, enqueue
    from riskwarn.stream.publish import LevelChange

    cfg = DeliveryConfig(
        contacts={"duty-1": Contact("duty-1", email="d1@example.test")}, default=["duty-1"]
    )
    red = LevelChange("HS780", "geohazard_stream:HS780:c", 0, 4, AT + pd.Timedelta(hours=2))
    store = Store(os.environ["RISKWARN_STORE_URL"])
    store.upgrade()
    assert enqueue(store, cfg, red, []) == 1
    st.cache_data.clear()
    at = _open("reviewer", "geohazard", "zh")
    box = at.selectbox(key="alarm_ack_key")
    assert any(o.startswith("HS780 · ") for o in box.options), box.options
    box.set_value(red.key)
    with sa.create_engine(os.environ["RISKWARN_STORE_URL"]).begin() as conn:  # the panel
        conn.execute(
            sa.text("UPDATE deliveries SET status = 'cancelled' WHERE delivery_key = :k"),
            {"k": red.key},
        )
    next(b for b in at.button if b.label == "签收").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (refused,) = [e.value for e in at.error if "未签收" in e.value]
    assert "从未推送给任何人（复核后取消发送" in refused, refused
    assert "过期" not in refused and "cancelled" not in refused, refused
    assert store.acknowledgements("geohazard_stream:HS780:c").empty
    store.close()
