"""Site and sensor ids from MQTT topics (attack review of 2026-12-07).

A gateway publishing under a 200-character site level: the readings were stored, the
site joined every snapshot of the stream, and every publish raised on PostgreSQL
(``forecasts.unit_id`` is String(128)) and was retried for ever in order: no warning of
any site was published again, nobody was paged. Now the topic is quarantined
``bad_topic``, and the publisher leaves out a site it cannot store (and publishes the
rest) whatever brought it there."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskwarn.sources import load_mapping
from riskwarn.store import Store
from riskwarn.stream.payload import MAX_ID_CHARS, TOPIC_ROOT, topic_for
from riskwarn.stream.publish import DOMAIN, Publisher
from riskwarn.stream.state import SiteLevel
from riskwarn.stream.validate import Message, validate_messages

MAPPING = Path(__file__).resolve().parents[1] / "configs" / "sources" / "sim_sensor_readings.yaml"
AS_OF = datetime(2024, 6, 1, tzinfo=UTC)
T = pd.Timestamp("2024-05-31 10:00", tz="UTC")


def _message(topic: str, sensor: str = "G1") -> Message:
    body = {
        "sensor_id": sensor,
        "observed_at": "2024-05-31T10:00:00+00:00",
        "quantity": "displacement_mm",
        "value": 1.0,
        "interval_s": 600,
        "quality": "good",
    }
    return Message(topic, json.dumps(body).encode())


def _raw_topic(site: str, sensor: str = "G1") -> str:
    return f"{TOPIC_ROOT}/simcity/{site}/{sensor}"


@pytest.mark.parametrize(
    ("site", "sensor"),
    [
        ("L" * 200, "G1"),  # the attack: longer than the store's unit_id
        ("L" * (MAX_ID_CHARS + 1), "G1"),
        ("H1", "G" * (MAX_ID_CHARS + 1)),
        ("坡 1", "G1"),  # not an id as the lake's ids are
        ("-H1", "G1"),
    ],
)
def test_a_topic_whose_site_or_sensor_is_no_id_is_quarantined(site: str, sensor: str) -> None:
    good = _message(topic_for("simcity", "H1", "G2"), "G2")
    bad = _message(_raw_topic(site, sensor), sensor)
    mb = validate_messages(load_mapping(MAPPING), [good, bad], as_of=AS_OF, batch_id="t")
    assert list(mb.batch.accepted["sensor_id"]) == ["G2"]
    assert mb.sites == {"G2": "H1"}  # the bad topic's site never reaches the consumer
    [row] = mb.batch.quarantine.to_dict("records")
    assert row["reason"] == "bad_topic" and row["batch_id"] == bad.key
    assert site not in row["message"] or len(site) < 8  # the reason names no long text
    with pytest.raises(ValueError):
        topic_for("simcity", site, sensor)


def test_the_longest_id_fits_the_store_and_every_id_format_site_passes() -> None:
    from riskwarn.store.models import Forecast, RiskWarning

    for model in (Forecast, RiskWarning):
        assert getattr(model.__table__.c.unit_id.type, "length", None) == MAX_ID_CHARS
    site = "S" * MAX_ID_CHARS
    mb = validate_messages(
        load_mapping(MAPPING),
        [
            _message(topic_for("simcity", site, "G1")),
            _message(topic_for("simcity", None, "G3"), "G3"),
        ],
        as_of=AS_OF,
        batch_id="t",
    )
    assert len(mb.batch.quarantine) == 0 and mb.sites == {"G1": site, "G3": None}


def _level(site: str, rank: int) -> SiteLevel:
    reason = [{"en": "Displacement: test.", "zh": "位移监测：测试。"}]
    return SiteLevel(site, rank, reason, "ok", float("nan"), {}, T)


@pytest.mark.postgres
def test_one_site_the_store_cannot_hold_never_blocks_the_others(pg_url: str) -> None:
    store = Store(pg_url)
    store.upgrade()
    try:
        pub = Publisher(store)
        # a site an older consumer's saved map carries (or any bug): in the snapshot
        long_site = "S" * 200
        pub.sites.add(long_site)
        levels: dict[str, Any] = {"H1": _level("H1", 4), long_site: _level(long_site, 4)}
        changes = pub.changes(levels)
        assert [c.site_id for c in changes] == ["H1"]
        assert pub.publish(levels, changes) is not None  # raised StringDataRightTruncation
        assert pub.last_status == "published"
        w = store.warnings(domain=DOMAIN)
        assert list(w["unit_id"]) == ["H1"] and int(w["level_rank"].iloc[0]) == 4
        f = store.published_forecasts(DOMAIN)
        assert set(f["unit_id"]) == {"H1"}
        assert long_site in pub.refused
        # the next round publishes too (no retry loop behind the bad site)
        later = {"H1": SiteLevel("H1", 0, [], "ok", float("nan"), {}, T + pd.Timedelta(hours=1))}
        assert pub.publish(later, pub.changes(later)) is not None
        assert store.warnings(domain=DOMAIN).empty
    finally:
        store.close()
