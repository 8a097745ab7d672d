"""What the officer-paging code says (review 2026-12-06, /tmp/rev1).

1. "Escalates to the next contact" was said (the sender's log line on a failed page,
   ``riskwarn stream --status``, the dashboard's note above the alarm log) when the
   contact not reached was the last of the site's route: nobody further is paged. Now
   the last contact's case says there is no further contact to escalate to.
2. An escalation page said "Could not be delivered to contact duty-1" when an earlier
   send to duty-1 may have got through (a claim whose outcome was never recorded, then
   failed: ``maybe_heard``). Now it says "May not have reached contact duty-1"; a page
   that surely failed still says "Could not be delivered".
3. The contacts file was not validated: ``retry_failed_after_minutes: -5``,
   ``escalate_after_minutes: 0``, ``max_attempts: 0`` were taken. Now refused, one line
   naming the file and each key (``riskwarn stream``: exit 2, no traceback).
5. A contact with no usable channel was taken: ``{}`` or ``email: ''`` made a route's
   page to it no row at all (nothing logged, nothing escalated, the next contact never
   paged); ``webhook: true`` with no ``webhook.url`` failed every send. A contacts file
   not in UTF-8 (GBK) was a traceback. Refused now like the other checks (section 5).
4. Chinese pages and ``stream ack`` answers said times as UTC ISO text
   (``变化时间：2026-12-06T07:20:00+00:00``) and the way of an acknowledgement in English
   (``途径：cli``). Now times are in the display zone (RISKWARN_DISPLAY_TZ, the
   dashboard's) with the zone named, the way in words; the webhook's JSON fields stay ISO
   8601 UTC.

SQLite (the wording does not depend on the store); a real local webhook receiver, SMTP
on a closed port; the store's clock is moved by the test.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from testkit.stream_helpers import Webhook, free_port

DOMAIN = "geohazard_stream"
ROOT = Path(__file__).resolve().parents[1]
REASON = {"en": "Displacement rising.", "zh": "位移持续增大。"}


class Clock:
    """The store's clock, moved by the test (the wall clock in service)."""

    def __init__(self) -> None:
        self.now = pd.Timestamp.now(tz="UTC").floor("s")

    def __call__(self) -> Any:
        return self.now.to_pydatetime()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Any:
    from riskwarn.store import Store

    s = Store(f"sqlite:///{tmp_path / 'serving.db'}", clock=clock)
    s.upgrade()
    yield s
    s.close()


def _cfg(hook: Webhook | None, route: list[str], **kw: Any) -> Any:
    """duty-1 by e-mail on a closed SMTP port (every attempt fails), boss by the webhook;
    the route ``route``; 3 attempts; escalation after 30 min."""
    from riskwarn.stream.delivery import Contact, DeliveryConfig

    return DeliveryConfig(
        contacts={
            "duty-1": Contact("duty-1", email="duty1@example.test"),
            "boss": Contact("boss", webhook=True),
        },
        default=route,
        smtp_port=free_port(),
        webhook_url=None if hook is None else hook.url,
        webhook_secret="s" * 32,
        escalate_after_minutes=30,
        retry_base_s=0.0,
        max_attempts=3,
        timeout_s=5.0,
        **kw,
    )


def _red(clock: Clock) -> Any:
    from riskwarn import warnings as rw
    from riskwarn.stream.publish import LevelChange

    at = clock.now - pd.Timedelta(hours=1)
    return LevelChange("H1", rw.warning_id(DOMAIN, "H1", at), 0, 4, at)


def _fail_out(store: Any, cfg: Any, clock: Clock) -> None:
    from riskwarn.stream.delivery import deliver_due

    for _ in range(cfg.max_attempts):
        deliver_due(store, cfg)
        clock.now += pd.Timedelta(minutes=1)
    assert list(store.deliveries()["status"]) == ["failed"]


# 1. the last contact of a route: no "escalates to the next contact"


@pytest.mark.parametrize("route", [["duty-1"], ["duty-1", "boss"]])
def test_a_failed_page_says_whether_there_is_a_next_contact(
    store: Any, clock: Clock, route: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The reviewer's case: duty-1 is the whole route; its page fails past the budget.
    The log said "the change escalates to the next contact after 30 min"; nobody is."""
    from riskwarn.stream.delivery import enqueue, escalate

    cfg = _cfg(None, route)
    assert enqueue(store, cfg, _red(clock), [REASON]) == 1
    with caplog.at_level(logging.ERROR, logger="riskwarn.stream.delivery"):
        _fail_out(store, cfg, clock)
    (line,) = [r.getMessage() for r in caplog.records if "FAILED" in r.getMessage()]
    failed = store.failed_deliveries()
    clock.now += pd.Timedelta(minutes=31)
    added = escalate(store, cfg, now=clock())
    assert "tried again every 10 min while in force" in line
    if len(route) == 1:
        assert "no further contact to escalate to" in line, line
        assert "next contact" not in line, line
        assert added == 0
    else:
        assert "the change escalates to the next contact after 30 min" in line, line
        assert added == 1
    # what the consumer writes for `stream --status` (deliveries_failed_last)
    from riskwarn.stream.delivery import failed_at_last_contact

    assert failed_at_last_contact(cfg, failed) == (1 if len(route) == 1 else 0)


def _status(tmp_path: Path, **counts: Any) -> str:
    from riskwarn.stream.status import status_line

    path = tmp_path / "status.json"
    fields = {
        "pid": 0,
        "running": False,
        "source": "demo",
        "broker": "127.0.0.1:1883",
        "received": 1,
        "accepted": 1,
        "quarantined": 0,
        "queued": 0,
        "sensors": 1,
        "warned_sites": 1,
        "level_changes": 1,
        "deliveries_logged": 2,
        "last_write_at": None,
        "updated_at": "2026-12-06T02:00:00+00:00",
    }
    path.write_text(json.dumps({**fields, **counts}))
    return status_line(path)


def test_the_status_line_says_when_a_failed_page_has_nobody_to_escalate_to(
    tmp_path: Path,
) -> None:
    last = _status(tmp_path, deliveries_failed=1, deliveries_failed_red=1, deliveries_failed_last=1)
    assert "DELIVERY FAILED: 1 deliveries (1 red) did not reach their contact" in last
    assert "no further contact to escalate to" in last and "escalated to" not in last, last
    assert "已是路由中最后一位联系人，无可再转交的联系人" in last and "已转下一联系人" not in last
    some = _status(tmp_path, deliveries_failed=2, deliveries_failed_red=1, deliveries_failed_last=1)
    assert "escalated to the next contact; 1 at the last contact of the route" in some, some
    none = _status(tmp_path, deliveries_failed=2, deliveries_failed_red=1, deliveries_failed_last=0)
    assert "(escalated to the next contact, tried again while in force)" in none, none
    assert "（已转下一联系人，预警有效期内继续重试）" in none
    # a status file of an older consumer (no count): not claimed either way
    old = _status(tmp_path, deliveries_failed=1, deliveries_failed_red=1)
    assert "escalated to the next contact if the route has one" in old, old


def test_the_dashboards_failed_note_does_not_claim_a_next_contact() -> None:
    pytest.importorskip("streamlit")
    from dashboard.views import alarm_log_failed

    log = pd.DataFrame(
        {
            "unit_id": ["H1"],
            "to_level": ["red"],
            "sent": ["email:duty-1 failed (3 attempts)"],
            "failed": [True],
        }
    )
    en, zh = alarm_log_failed(log, "en"), alarm_log_failed(log, "zh")
    assert en is not None and zh is not None
    assert "paged in their place, if the route has one" in en, en
    assert "after its last contact there is nobody further to escalate to" in en
    assert "若路由中还有下一位" in zh and "路由中最后一位联系人之后无人可再转交" in zh, zh


# 2. a contact that may have had the page: "may not have reached"


def test_an_escalation_says_may_not_have_reached_when_the_page_may_have_been_heard(
    store: Any, clock: Clock
) -> None:
    """The reviewer's reproduction (/tmp/rev1/repro_maybe_heard_unreached.py): duty-1's
    page was claimed and sent, the sender killed before recording it; the lease ran
    out, the next claims' sends failed past the budget. The boss's page said "Could not
    be delivered to contact duty-1" though duty-1 may have had it."""
    from riskwarn.store.deliveries import possibly_sent
    from riskwarn.stream.delivery import deliver_due, enqueue, escalate, page_text

    with Webhook() as hook:
        cfg = _cfg(hook, ["duty-1", "boss"])
        assert enqueue(store, cfg, _red(clock), [REASON]) == 1
        (due,) = store.due_deliveries()
        assert store.claim_delivery(due["delivery_id"])[0] == "claimed"  # sent, then killed
        clock.now += pd.Timedelta(minutes=3)  # the claim's lease ran out
        _fail_out(store, cfg, clock)
        assert possibly_sent(store.deliveries().iloc[0].to_dict())
        clock.now += pd.Timedelta(minutes=30)
        assert escalate(store, cfg, now=clock()) == 1
        assert deliver_due(store, cfg)["sent"] == 1
        (page,) = hook.bodies()
    (unreached,) = page["unreached"]
    assert unreached["contact_id"] == "duty-1" and unreached["maybe_heard"] is True
    en, zh = page_text(page, "en"), page_text(page, "zh")
    assert "May not have reached contact duty-1 (escalation step 0: ConnectionRefusedError" in en
    assert "Could not be delivered" not in en, en
    assert "可能未送达联系人 duty-1（升级第 0 级：ConnectionRefusedError" in zh
    assert "未能送达联系人" not in zh.replace("可能未送达联系人", ""), zh
    assert page["text"] == page_text(page, "zh")  # the webhook's text (default zh)


def test_an_escalation_after_a_surely_failed_page_still_says_could_not_be_delivered(
    store: Any, clock: Clock
) -> None:
    from riskwarn.stream.delivery import deliver_due, enqueue, escalate, page_text

    with Webhook() as hook:
        cfg = _cfg(hook, ["duty-1", "boss"])
        assert enqueue(store, cfg, _red(clock), [REASON]) == 1
        _fail_out(store, cfg, clock)
        clock.now += pd.Timedelta(minutes=30)
        assert escalate(store, cfg, now=clock()) == 1
        assert deliver_due(store, cfg)["sent"] == 1
        (page,) = hook.bodies()
    assert "maybe_heard" not in page["unreached"][0]
    assert "Could not be delivered to contact duty-1 (escalation step 0: " in page_text(page, "en")
    assert "May not have reached" not in page_text(page, "en")


# 3. the contacts file validated


GOOD = "contacts:\n  duty-1: {email: d@x.test}\nroutes:\n  default: [duty-1]\n"


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (
            "retry_failed_after_minutes: -5\n",
            "retry_failed_after_minutes must be a number greater than 0, not -5",
        ),
        ("escalate_after_minutes: 0\n", "escalate_after_minutes must be a number greater than 0"),
        ("max_attempts: 0\n", "max_attempts must be a whole number greater than 0, not 0"),
        ("max_attempts: 2.5\n", "max_attempts must be a whole number greater than 0, not 2.5"),
        ("max_attempts: 'eight'\n", "max_attempts must be a whole number greater than 0"),
        ("escalate_after_minutes: .nan\n", "escalate_after_minutes must be a number"),
        (
            "retry_failed_after_minutes: .inf\n",
            "retry_failed_after_minutes must be a number greater than 0, not inf",
        ),
        ("escalate_after_minutes: true\n", "escalate_after_minutes must be a number"),
        ("retry_base_s: -1\n", "retry_base_s must be a number of seconds >= 0, not -1"),
        ("smtp: {port: 'x'}\n", "smtp.port must be a port number"),
        ("smtp: {port: true}\n", "smtp.port must be a port number (1-65535), not True"),
        ("routes: {default: duty-1}\n", "routes.default must be a list of contact ids"),
        ("contacts: [duty-1]\n", "contacts must be a mapping"),
        ("contacts:\n  boss: {webhook: 'yes'}\n", "contacts.boss.webhook must be true or false"),
        ("foo: [\n", "not valid YAML"),
    ],
)
def test_a_contacts_value_out_of_range_is_refused_naming_the_key_and_file(
    tmp_path: Path, extra: str, said: str
) -> None:
    from riskwarn.stream.delivery import ContactsError, load_config

    path = tmp_path / "contacts.yaml"
    path.write_text(GOOD + extra, encoding="utf-8")
    with pytest.raises(ContactsError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: "), info.value
    assert said in str(info.value) and "\n" not in str(info.value)


def test_the_reviewers_contacts_file_names_every_wrong_key(tmp_path: Path) -> None:
    from riskwarn.stream.delivery import ContactsError, load_config

    path = tmp_path / "contacts_bad.yaml"
    path.write_text(
        GOOD + "retry_failed_after_minutes: -5\nescalate_after_minutes: 0\nmax_attempts: 0\n"
    )
    with pytest.raises(ContactsError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}: escalate_after_minutes must be a number greater than 0, not 0; "
        "max_attempts must be a whole number greater than 0, not 0; "
        "retry_failed_after_minutes must be a number greater than 0, not -5"
    )


# 5. every contact reachable, the file UTF-8 text, an unreadable file one line


NOBODY = "contacts:\n  duty-1: {}\n  boss: {email: b@x.test}\nroutes: {default: [duty-1, boss]}\n"


@pytest.mark.parametrize(
    ("body", "said"),
    [
        # the reviewer's file: duty-1's page was no row at all, boss never paged
        (NOBODY, "contacts.duty-1 has no channel (an email, or webhook: true)"),
        ("contacts:\n  duty-1: {email: ''}\nroutes: {default: [duty-1]}\n", "email must be"),
        ("contacts:\n  duty-1: {email: duty-1}\nroutes: {default: [duty-1]}\n", "email must be"),
        (
            "contacts:\n  duty-1: {webhook: true}\nroutes: {default: [duty-1]}\n",
            "contacts.duty-1.webhook is true but the file sets no webhook.url",
        ),
        # a contact in no route is refused too (a route added later would page nobody)
        ("contacts:\n  spare: {webhook: false}\n" + GOOD[len("contacts:\n") :], "spare has no"),
        (GOOD + "routes: {sites: {H1: [duty-1, nobody]}}\n", "unknown contacts ['nobody']"),
    ],
)
def test_a_contact_nobody_can_be_paged_at_is_refused(tmp_path: Path, body: str, said: str) -> None:
    from riskwarn.stream.delivery import ContactsError, load_config

    path = tmp_path / "contacts.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ContactsError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: "), info.value
    assert said in str(info.value) and "\n" not in str(info.value)


def test_every_unreachable_contact_is_named_in_one_line(tmp_path: Path) -> None:
    from riskwarn.stream.delivery import ContactsError, load_config

    path = tmp_path / "contacts.yaml"
    path.write_text(
        "contacts:\n  a: {}\n  b: {email: '', webhook: true}\n  c: {email: c@x.test}\n"
        "routes: {default: [a, b, c]}\n"
    )
    with pytest.raises(ContactsError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}: contacts.a has no channel (an email, or webhook: true); "
        "contacts.b.email must be an address, not ''; "
        "contacts.b.webhook is true but the file sets no webhook.url"
    )


def test_a_contacts_file_not_in_utf8_is_refused_in_one_line(tmp_path: Path) -> None:
    """Saved as GBK (a Chinese Windows editor's default): a UnicodeDecodeError traceback
    before."""
    from riskwarn.stream.delivery import ContactsError, load_config

    path = tmp_path / "contacts.yaml"
    path.write_bytes(("# 值班人员\n" + GOOD).encode("gbk"))
    with pytest.raises(ContactsError) as info:
        load_config(path)
    # 值 is d6 b5 in GBK, which UTF-8 reads as one letter; 班 (b0 e0) is where it stops
    assert str(info.value) == f"{path}: not UTF-8 text (byte 4); save the contacts file as UTF-8"


@pytest.mark.parametrize("kind", ["directory", "dangling symlink"])
def test_an_unreadable_contacts_file_is_refused_in_one_line(tmp_path: Path, kind: str) -> None:
    """(The tests run as root: a chmod 000 file would still be read.)"""
    from riskwarn.stream.delivery import ContactsError, load_config

    path = tmp_path / "contacts.yaml"
    if kind == "directory":
        path.mkdir()
    else:
        path.symlink_to(tmp_path / "gone.yaml")
    with pytest.raises(ContactsError) as info:
        load_config(path)
    error = "IsADirectoryError" if kind == "directory" else "FileNotFoundError"
    assert str(info.value) == f"{path}: cannot read the contacts file ({error})"


def test_the_example_and_good_contacts_files_still_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from riskwarn.stream.delivery import load_config

    monkeypatch.setenv("RISKWARN_WEBHOOK_SECRET", "s" * 32)
    example = load_config(ROOT / "configs" / "contacts.example.yaml")
    assert (example.escalate_after_minutes, example.max_attempts) == (15.0, 8)
    assert example.retry_failed_after_minutes == 10.0 and example.retry_base_s == 2.0
    path = tmp_path / "contacts.yaml"
    path.write_text(GOOD + "escalate_after_minutes: 0.5\nmax_attempts: 3\n")
    cfg = load_config(path)
    assert (cfg.escalate_after_minutes, cfg.max_attempts) == (0.5, 3)
    assert cfg.route("H1") == ["duty-1"]


def _stream_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the default --source is relative to the repository
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RISKWARN_STORE_URL", f"sqlite:///{tmp_path / 'serving.db'}")
    monkeypatch.setenv("RISKWARN_MQTT_PASSWORD", "not-used-0123456789")
    monkeypatch.delenv("RISKWARN_MQTT_USER", raising=False)


def test_the_stream_command_refuses_a_bad_contacts_file_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Exit 2 and one ``error:`` line naming the file and the keys (no traceback, the
    broker never waited for)."""
    import riskwarn.commands.stream as command
    from riskwarn.cli import main

    def no_broker(*_: Any, **__: Any) -> None:
        raise AssertionError("the contacts file is checked before the broker is waited for")

    _stream_env(tmp_path, monkeypatch)
    monkeypatch.setattr(command, "_wait_for_broker", no_broker)
    path = tmp_path / "contacts_bad.yaml"
    path.write_text(GOOD + "retry_failed_after_minutes: -5\nmax_attempts: 0\n")
    assert main(["stream", "--contacts", str(path), "--no-model"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: max_attempts must be a whole number greater than 0")
    assert "retry_failed_after_minutes" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_the_stream_command_refuses_a_contacts_file_not_in_utf8_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Exit 2 and one ``error:`` line (before: a UnicodeDecodeError traceback, exit 1)."""
    import riskwarn.commands.stream as command
    from riskwarn.cli import main

    def no_broker(*_: Any, **__: Any) -> None:
        raise AssertionError("the contacts file is checked before the broker is waited for")

    _stream_env(tmp_path, monkeypatch)
    monkeypatch.setattr(command, "_wait_for_broker", no_broker)
    path = tmp_path / "contacts.yaml"
    path.write_bytes(b'contacts:\n  d: {email: "\xe9@x"}\nroutes: {default: [d]}\n')
    assert main(["stream", "--contacts", str(path), "--no-model"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {path}: not UTF-8 text (byte 24); save the contacts file as UTF-8\n"


# 4. times in the display zone, the way of an acknowledgement in words


def _message(**kw: Any) -> dict[str, Any]:
    return {
        "warning_id": f"{DOMAIN}:H1:20261206T0720Z",
        "site_id": "H1",
        "change": "raised",
        "from_level": "orange",
        "to_level": "red",
        "at": "2026-12-06T07:20:00+00:00",
        "reasons": [REASON],
        "delivery_key": "k1",
        "not_sent": [
            {
                "level": "orange",
                "from": "2026-12-06T06:00:00+00:00",
                "to": "2026-12-06T07:00:00+00:00",
            }
        ],
        **kw,
    }


def test_a_page_says_its_times_in_the_display_zone_naming_it() -> None:
    """``变化时间：2026-12-06T07:20:00+00:00`` was the Chinese page's time (UTC, ISO)."""
    from riskwarn.stream.delivery import page_text

    zh = page_text(_message(), "zh", "Asia/Shanghai")
    assert "变化时间：2026年12月6日 15:20（北京时间）" in zh, zh
    assert "自 2026年12月6日 14:00（北京时间） 至 2026年12月6日 15:00（北京时间）" in zh, zh
    assert "+00:00" not in zh and "T07:20" not in zh
    en = page_text(_message(), "en", "Europe/London")
    assert "at 6 Dec 2026 07:20 (Europe/London)" in en, en
    assert "from 6 Dec 2026 06:00 (Europe/London) to 6 Dec 2026 07:00 (Europe/London)" in en
    assert "+00:00" not in en
    # the default zone: the dashboard's (Settings.display_tz's default)
    assert "变化时间：2026年12月6日 15:20（北京时间）" in page_text(_message(), "zh")


def test_the_webhook_text_is_in_the_configured_zone_its_fields_iso_utc(
    store: Any, clock: Clock, tmp_path: Path
) -> None:
    from riskwarn.i18n import fmt_datetime
    from riskwarn.stream.delivery import _message as message_of
    from riskwarn.stream.delivery import deliver_due, enqueue, load_config

    change = _red(clock)
    path = tmp_path / "contacts.yaml"
    path.write_text(
        "contacts:\n  boss: {webhook: true}\nroutes:\n  default: [boss]\n"
        "webhook: {url: 'http://127.0.0.1:9/none', secret_env: PW_TEST_SECRET}\n"
    )
    with Webhook() as hook, pytest.MonkeyPatch.context() as mp:
        mp.setenv("PW_TEST_SECRET", "s" * 32)
        cfg = load_config(path, "zh", "Asia/Tokyo")
        cfg.webhook_url = hook.url
        assert cfg.tz == "Asia/Tokyo"
        assert enqueue(store, cfg, change, [REASON]) == 1
        assert deliver_due(store, cfg)["sent"] == 1
        (body,) = hook.bodies()
    for field, value in message_of(change, [REASON], 0).items():
        assert body[field] == value, field  # the machine fields as logged
    assert body["at"] == change.at.isoformat() and body["at"].endswith("+00:00")
    assert f"变化时间：{fmt_datetime(change.at, 'zh', 'Asia/Tokyo')}（Asia/Tokyo）" in body["text"]
    assert change.at.isoformat() not in body["text"]


def test_the_stream_command_pages_in_the_display_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`riskwarn stream --contacts` hands the consumer RISKWARN_DISPLAY_TZ for the pages
    (the broker and the consumer replaced by stand-ins)."""
    import riskwarn.commands.stream as command
    import riskwarn.stream.consumer as consumer
    from riskwarn.cli import main

    seen: list[Any] = []

    class Consumer:
        refused = None

        def __init__(self, cfg: Any) -> None:
            seen.append(cfg)

        def run(self) -> None:
            pass

        def stop(self) -> None:
            pass

    _stream_env(tmp_path, monkeypatch)
    monkeypatch.setattr(command, "_wait_for_broker", lambda *a, **k: None)
    monkeypatch.setattr(consumer, "StreamConsumer", Consumer)
    monkeypatch.setattr(command.signal, "signal", lambda *a: None)
    monkeypatch.setenv("RISKWARN_DISPLAY_TZ", "Europe/Berlin")
    path = tmp_path / "contacts.yaml"
    path.write_text(GOOD)
    assert main(["stream", "--contacts", str(path), "--no-model"]) == 0
    assert seen[-1].delivery.tz == "Europe/Berlin"


def test_ack_answers_say_the_time_in_the_display_zone_and_the_way_in_chinese(
    store: Any,
    clock: Clock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    """``已由 officer-a 于 2026-12-06T07:20:00+00:00 签收（途径：cli）`` was the answer."""
    from riskwarn.cli import main
    from riskwarn.i18n import fmt_datetime
    from riskwarn.stream.delivery import enqueue

    cfg = _cfg(None, ["boss"])
    change = _red(clock)
    assert enqueue(store, cfg, change, [REASON]) == 1
    (row,) = store.due_deliveries()
    store.record_attempt(row["delivery_id"], ok=True)
    store.acknowledge_delivered(change.warning_id, "officer-a", delivery_key=change.key, via="cli")
    acked = clock.now
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RISKWARN_STORE_URL", str(store.url))
    answers = {}
    for lang, tz in (("zh", "Asia/Shanghai"), ("en", "America/Chicago")):
        monkeypatch.setenv("RISKWARN_PAGING_LANG", lang)
        monkeypatch.setenv("RISKWARN_DISPLAY_TZ", tz)
        assert main(["stream", "ack", change.warning_id, "--by", "officer-b"]) == 2
        answers[lang] = capsys.readouterr().err
    zh_at = f"{fmt_datetime(acked, 'zh', 'Asia/Shanghai')}（北京时间）"
    assert f"已由 officer-a 于 {zh_at} 签收（途径：命令行）" in answers["zh"], answers["zh"]
    en_at = f"{fmt_datetime(acked, 'en', 'America/Chicago')} (America/Chicago)"
    assert f"by officer-a at {en_at} (via cli)" in answers["en"], answers["en"]
    for said in answers.values():
        assert "+00:00" not in said and acked.isoformat() not in said
    assert len(store.acknowledgements(change.warning_id)) == 1
