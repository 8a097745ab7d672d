"""The stream's status counts what is in force; expired rows are counted apart.

`riskwarn stream --status` said "N warned sites" counting every served warning, also a
replay's red carried in the live snapshot past its validity, and "M deliveries" counting
every delivery row handed to the store, also those it logged ``expired`` (never sent:
the warning was no longer in force) and those it had logged already. Now both count
what is in force, and the expired ones follow apart: "1 warned sites (+1 expired)",
"1 deliveries (+2 expired unsent)". The dashboard's alarm log caption counts changes
sent apart from changes never sent the same way. SQLite and PostgreSQL; the consumer is
the real one (its publishing step and status file), without a broker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from testkit.stream_helpers import Webhook, stream_consumer


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'serving.db'}"
    pg: str = request.getfixturevalue("pg_url")
    return pg


def _red(site: str, at: pd.Timestamp) -> Any:
    from riskwarn.stream.state import SiteLevel

    return SiteLevel(site, 4, [{"en": "red", "zh": "红色"}], "ok", float("nan"), {}, at)


def test_status_counts_warned_sites_and_deliveries_in_force_expired_apart(
    url: str, tmp_path: Path
) -> None:
    from riskwarn.stream.delivery import Contact, DeliveryConfig
    from riskwarn.stream.status import status_line

    home = tmp_path / "home"
    now = pd.Timestamp.now(tz="UTC").floor("min")
    with Webhook() as hook:
        cfg = DeliveryConfig(
            contacts={"duty-1": Contact("duty-1", email="d1@example.test", webhook=True)},
            default=["duty-1"],
            webhook_url=hook.url,
            webhook_secret="s" * 32,
        )
        c = stream_consumer(home, 1, store_url=url, delivery=cfg)
        try:
            # a replay of readings two days old raises H1 to red: its two deliveries
            # (e-mail, webhook) are logged expired; the warning ended a day ago
            old = {"H1": _red("H1", now - pd.Timedelta(days=2))}
            assert c._publish(old)
            # live readings raise H2 to red: in force, delivered; H1's red is carried
            live = {"H2": _red("H2", now - pd.Timedelta(minutes=5))}
            assert c._publish(live)
            assert c._publish(live)  # nothing changed: nothing more logged
            c._write_status()
        finally:
            c.store_lock.release()
            c.instance_lock.release()
            c.store.close()
    line = status_line(home / "run" / "stream.status.json")
    assert "1 warned sites (+1 expired)" in line, line  # the old line: 2 warned sites
    assert "2 deliveries (+2 expired unsent)" in line, line  # the old line: 4 deliveries
    s = json.loads((home / "run" / "stream.status.json").read_text())
    assert (s["warned_sites"], s["warned_sites_expired"]) == (1, 1)
    assert (s["deliveries_logged"], s["deliveries_logged_expired"]) == (2, 2)
    assert s["deliveries_expired_queued"] == 0


def test_status_line_of_a_status_file_written_before_the_split(tmp_path: Path) -> None:
    # an older consumer's status file has no expired counts: its line is as it was
    from riskwarn.stream.status import status_line

    path = tmp_path / "stream.status.json"
    status = {
        "pid": 0,
        "broker": "127.0.0.1:1884",
        "source": "sim_sensor_readings",
        "received": 1,
        "accepted": 1,
        "quarantined": 0,
        "queued": 0,
        "sensors": 1,
        "warned_sites": 3,
        "level_changes": 4,
        "deliveries_logged": 5,
        "last_write_at": None,
        "updated_at": "2026-12-05T23:00:00+00:00",
    }
    path.write_text(json.dumps(status))
    line = status_line(path)
    assert "3 warned sites, 4 level changes, 5 deliveries;" in line
    assert "expired" not in line


def test_alarm_log_caption_counts_changes_never_sent_apart_in_both_languages() -> None:
    pytest.importorskip("streamlit")
    from dashboard.views import alarm_log_caption
    from riskwarn.stream.alarm_log import COLUMNS

    rows = [  # a red sent, not acknowledged; a red never sent (expired); an orange sent
        {"to_level": "red", "acknowledged_by": None, "expired": False},
        {"to_level": "red", "acknowledged_by": None, "expired": True},
        {"to_level": "orange", "acknowledged_by": None, "expired": False},
    ]
    alarms = pd.DataFrame([{c: r.get(c) for c in COLUMNS} for r in rows])
    en = alarm_log_caption(alarms, "en")
    assert en.startswith("The latest 2 orange/red warning changes sent")
    assert "red changes not acknowledged: 1." in en
    assert "1 change was never sent (expired: the warning was no longer in force;" in en
    zh = alarm_log_caption(alarms, "zh")
    assert zh.startswith("最近 2 次橙色/红色预警变化的推送") and "未签收的红色预警：1" in zh
    assert "另有 1 次变化未发送（预警已不再有效而过期" in zh
    sent = alarm_log_caption(alarms.loc[~alarms["expired"].astype(bool)], "en")
    assert "never sent" not in sent  # nothing expired: the caption as before
