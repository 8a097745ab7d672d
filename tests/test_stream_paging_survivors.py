"""What no test held (mutation survivors of the review of 2026-12-06).

* M18: ``deliver_due`` counts a claimed row whose outcome was never recorded and whose
  warning then ended as ``maybe_sent`` (it may have been sent), not ``expired``.
* M36: a refused acknowledgement's audit entry (``acknowledge_rejected``) names who ran
  the command (``run_by``).
* M05: ``riskwarn stream --contacts`` pages in ``RISKWARN_PAGING_LANG``.
* M07: a Chinese catch-up page says in Chinese which levels were not sent before.

SQLite and PostgreSQL where a store is used; the store's clock is moved by the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskwarn.store import Store
from riskwarn.stream.publish import DOMAIN, LevelChange

REASON = {"en": "Displacement rising.", "zh": "位移持续增大。"}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'serving.db'}"
    return str(request.getfixturevalue("pg_url"))


class Clock:
    """The store's clock, moved by the test (the wall clock in service)."""

    def __init__(self) -> None:
        self.now = pd.Timestamp.now(tz="UTC").floor("s")

    def __call__(self) -> datetime:
        return self.now.to_pydatetime()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(url: str, clock: Clock) -> Iterator[Store]:
    s = Store(url, clock=clock)
    s.upgrade()
    yield s
    s.close()


def _cfg(**kw: Any) -> Any:
    from riskwarn.stream.delivery import Contact, DeliveryConfig

    return DeliveryConfig(
        contacts={"duty-1": Contact("duty-1", webhook=True)},
        default=["duty-1"],
        webhook_url="http://127.0.0.1:9/none",
        webhook_secret="s" * 32,
        **kw,
    )


def test_a_claim_never_recorded_whose_warning_ended_counts_as_maybe_sent(
    store: Store, clock: Clock
) -> None:
    """M18: the sender died inside the send of a red; it was not back before the
    warning ended: the row is recorded expired, counted ``maybe_sent`` (not among the
    rows never sent)."""
    from riskwarn.stream.delivery import deliver_due, enqueue

    at = clock.now - pd.Timedelta(hours=1)
    red = LevelChange("H1", f"{DOMAIN}:H1:{at:%Y%m%dT%H%MZ}", 0, 4, at)
    assert enqueue(store, _cfg(), red, [REASON]) == 1
    (row,) = store.due_deliveries()
    assert store.claim_delivery(row["delivery_id"])[0] == "claimed"  # then SIGKILL
    clock.now += pd.Timedelta(days=2)  # past the lease and the warning's validity
    counts = deliver_due(store, _cfg())
    assert counts["maybe_sent"] == 1 and counts["expired"] == 0, counts
    assert store.deliveries()["status"].tolist() == ["expired"]


def test_a_refused_acknowledgement_audits_who_ran_the_command(store: Store, clock: Clock) -> None:
    """M36: ``run_by`` in the ``acknowledge_rejected`` entry, as in the accepted one."""
    from riskwarn.store.deliveries import NotSentYetError
    from riskwarn.stream.delivery import enqueue

    at = clock.now - pd.Timedelta(hours=1)
    red = LevelChange("H1", f"{DOMAIN}:H1:{at:%Y%m%dT%H%MZ}", 0, 4, at)
    assert enqueue(store, _cfg(), red, [REASON]) == 1  # queued: nothing to acknowledge yet
    with pytest.raises(NotSentYetError):
        store.acknowledge_delivered(red.warning_id, "duty-1", run_by="os:operator")
    (entry,) = store.audit_entries("warning", red.warning_id, ("acknowledge_rejected",))
    assert entry["details"]["run_by"] == "os:operator"
    assert entry["details"]["not_sent_yet"] == [red.key]


def test_the_chinese_catch_up_page_names_the_levels_not_sent_in_chinese(
    store: Store, clock: Clock
) -> None:
    """M07: an orange and then a red queued through an outage; the red is sent as the
    net change and its page says the orange was not sent before, in the paging
    language."""
    from riskwarn.stream.delivery import enqueue, page_text

    at = clock.now - pd.Timedelta(hours=2)
    wid = f"{DOMAIN}:H1:{at:%Y%m%dT%H%MZ}"
    orange = LevelChange("H1", wid, 0, 3, at)
    red = LevelChange("H1", wid, 3, 4, at + pd.Timedelta(hours=1))
    for change in (orange, red):
        assert enqueue(store, _cfg(), change, [REASON]) == 1
    rows = {r["delivery_key"]: r for r in store.due_deliveries()}
    outcome, claimed = store.claim_delivery(rows[red.key]["delivery_id"])
    assert outcome == "claimed" and claimed is not None
    (missed,) = claimed["message"]["not_sent"]
    zh = page_text(claimed["message"], "zh")
    assert (
        f"此前未推送（实时监测正在追赶积压数据）：橙色（II级），自 {missed['from']} 至 "
        f"{missed['to']}。"
    ) in zh, zh
    assert "Not sent before" not in zh
    en = page_text(claimed["message"], "en")
    assert f"Not sent before (the stream was catching up): Orange (II) from {missed['from']}" in en


def test_the_stream_command_pages_in_the_paging_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """M05: `riskwarn stream --contacts` hands the consumer a delivery configuration in
    RISKWARN_PAGING_LANG (the broker and the consumer replaced by stand-ins)."""
    from click.testing import CliRunner

    import riskwarn.commands.stream as command
    import riskwarn.stream.consumer as consumer
    from riskwarn.cli import cli

    seen: list[Any] = []

    class Consumer:
        refused = None

        def __init__(self, cfg: Any) -> None:
            seen.append(cfg)

        def run(self) -> None:
            pass

        def stop(self) -> None:
            pass

    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(
        "contacts:\n  duty-1: {webhook: true}\nroutes:\n  default: [duty-1]\n"
        "webhook: {url: 'http://127.0.0.1:9/none'}\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(command, "_wait_for_broker", lambda *a, **k: None)
    monkeypatch.setattr(consumer, "StreamConsumer", Consumer)
    monkeypatch.setattr(command.signal, "signal", lambda *a: None)  # pytest's handlers kept
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RISKWARN_STORE_URL", f"sqlite:///{tmp_path / 'serving.db'}")
    monkeypatch.setenv("RISKWARN_MQTT_PASSWORD", "not-used-0123456789")
    monkeypatch.setenv("RISKWARN_WEBHOOK_SECRET", "s" * 32)
    for lang in ("en", "zh"):
        monkeypatch.setenv("RISKWARN_PAGING_LANG", lang)
        result = CliRunner().invoke(
            cli, ["stream", "--contacts", str(contacts), "--no-model"], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        assert seen[-1].delivery.lang == lang
