"""Pages and `riskwarn stream ack` for the duty officers of a Chinese city (2026-12-06).

1. The pages (e-mail subject and body, the webhook's text) and `stream ack`'s answers
   were English only. Now they are worded from the catalogue (riskwarn.paging_texts,
   merged into the dashboard's) in RISKWARN_PAGING_LANG (zh by default, or en); the
   webhook's machine-readable fields are unchanged.
2. `stream ack` without --key acknowledged changes still queued (never sent): an
   officer acknowledged a page nobody had received, and its escalation never started.
   Now only changes someone may have received are acknowledged; the queued ones are
   named and left open, and with nothing else left the command refuses (exit 2).
3. A superseded row that may have been heard (claimed, its outcome never recorded) was
   shown as "not sent (merged into a later change)" on the dashboard and counted among
   the rows not sent by `stream --status`: it now says it may have been sent.

Real SQLite and PostgreSQL stores, a real webhook receiver and SMTP server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskwarn.store import Store
from riskwarn.stream.publish import DOMAIN, LevelChange, Publisher
from riskwarn.stream.state import SiteLevel
from testkit.stream_helpers import Webhook, smtp_server

REASON = {"en": "Displacement: improved tangent angle 86.0°.", "zh": "位移监测：改进切线角86.0°。"}
H = pd.Timedelta(hours=1)
CJK = re.compile(r"[\u3400-\u9fff]")
NOW = pd.Timestamp.now(tz="UTC").floor("h")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'serving.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = Store(url)
    s.upgrade()
    yield s
    s.close()


def _cfg(hook: Webhook | None = None, lang: str | None = None, **kw: Any) -> Any:
    from riskwarn.stream.delivery import Contact, DeliveryConfig

    contacts = kw.pop("contacts", {"duty-1": Contact("duty-1", webhook=True)})
    extra = {} if lang is None else {"lang": lang}
    return DeliveryConfig(
        contacts=contacts,
        default=list(contacts),
        webhook_url=None if hook is None else hook.url,
        webhook_secret="s" * 32,
        **extra,
        **kw,
    )


def _red(site: str = "H1", at: pd.Timestamp = NOW - 2 * H) -> LevelChange:
    return LevelChange(site, f"{DOMAIN}:{site}:{at:%Y%m%dT%H%MZ}", 0, 4, at)


# 1. the pages in the paging language


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_webhook_page_is_worded_in_the_paging_language_its_fields_unchanged(
    store: Store, lang: str
) -> None:
    from riskwarn.stream.delivery import _message, deliver_due, enqueue

    change = _red()
    with Webhook() as hook:
        cfg = _cfg(hook, lang)
        assert enqueue(store, cfg, change, [REASON]) == 1
        assert deliver_due(store, cfg)["sent"] == 1
        (body,) = hook.bodies()
    # the machine-readable fields as before (English identifiers in every language)
    for field, value in _message(change, [REASON], 0).items():
        assert body[field] == value, field
    assert body["contact_id"] == "duty-1" and body["lang"] == lang
    assert (body["change"], body["from_level"], body["to_level"]) == ("new", None, "red")
    text, subject = body["text"], body["subject"]
    assert change.key in text and f"riskwarn stream ack {change.warning_id}" in text
    if lang == "zh":
        assert subject == "[riskwarn] 隐患点 H1：新发布 → 红色（I级）"
        assert text.startswith("隐患点 H1：新发布（无预警 → 红色（I级））")
        assert REASON["zh"] in text and REASON["en"] not in text
        assert "签收：riskwarn stream ack" in text
        # no English words but the ids and the command
        words = re.sub(
            r"riskwarn stream ack|--key|--by|\S*geohazard_stream\S*|\[riskwarn\]", "", text
        )
        assert not re.search(r"\b[A-Za-z]{3,}\b", words), words
    else:
        assert subject == "[riskwarn] site H1: new -> Red (I)"
        assert REASON["en"] in text and not CJK.search(text + subject), text


def test_the_e_mail_page_is_in_chinese_by_default(store: Store) -> None:
    """No language configured: the page is Chinese (the dashboard's default language)."""
    from riskwarn.stream.delivery import Contact, deliver_due, enqueue

    with smtp_server() as (port, got):
        cfg = _cfg(
            contacts={"duty-1": Contact("duty-1", email="duty1@example.test")}, smtp_port=port
        )
        change = _red()
        assert enqueue(store, cfg, change, [REASON]) == 1
        assert deliver_due(store, cfg)["sent"] == 1
        (envelope,) = got
    mail = message_from_bytes(envelope.content)
    assert str(make_header(decode_header(mail["Subject"]))) == (
        "[riskwarn] 隐患点 H1：新发布 → 红色（I级）"
    )
    assert mail["X-Riskwarn-Delivery-Key"] == change.key
    body = mail.get_payload(decode=True).decode("utf-8")
    assert "隐患点 H1：新发布（无预警 → 红色（I级））" in body and REASON["zh"] in body
    assert "Acknowledge" not in body and "Site" not in body


def test_the_paging_language_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from riskwarn.settings import SettingsError, load_settings
    from riskwarn.stream.delivery import load_config

    monkeypatch.delenv("RISKWARN_PAGING_LANG", raising=False)
    assert load_settings().paging_lang == "zh"
    monkeypatch.setenv("RISKWARN_PAGING_LANG", "en")
    assert load_settings().paging_lang == "en"
    monkeypatch.setenv("RISKWARN_PAGING_LANG", "fr")
    with pytest.raises(SettingsError, match="RISKWARN_PAGING_LANG='fr'"):
        load_settings()
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(
        "contacts:\n  duty-1: {email: d@example.test}\nroutes: {default: [duty-1]}\n"
    )
    assert load_config(contacts).lang == "zh" and load_config(contacts, "en").lang == "en"


def test_the_paging_catalogue_has_both_languages_and_is_the_dashboards() -> None:
    """Every text in both languages with the same fields; the dashboard reads the same
    entries (one catalogue, one lookup)."""
    import string

    from dashboard.i18n import TEXT, t
    from riskwarn import paging_texts

    def fields(s: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(s) if f}

    for key, entry in paging_texts.TEXT.items():
        assert set(entry) == {"zh", "en"}, key
        assert fields(entry["zh"]) == fields(entry["en"]), key
        assert TEXT[key] is entry, key
        assert t(key, "zh") == paging_texts.t(key, "zh")


def _sent(store: Store, cfg: Any, *changes: LevelChange) -> None:
    from riskwarn.stream.delivery import enqueue

    for change in changes:
        assert enqueue(store, cfg, change, [REASON]) == 1
    for row in store.due_deliveries():
        store.record_attempt(row["delivery_id"], ok=True)


@pytest.fixture
def cli_home(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RISKWARN_STORE_URL", url)
    return url


def test_stream_ack_answers_in_chinese(
    store: Store, cli_home: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Every answer of `riskwarn stream ack` in the paging language, zh: done, no such
    warning or change, --by blank or too long, acknowledged first, never sent."""
    from riskwarn.cli import main
    from riskwarn.stream.delivery import enqueue

    monkeypatch.setenv("RISKWARN_PAGING_LANG", "zh")
    cfg = _cfg()
    red = _red()
    _sent(store, cfg, red)
    old = _red("H2", NOW - 30 * 24 * H)  # a replay's: logged expired, never sent
    assert enqueue(store, cfg, old, [REASON]) == 0

    def refused(argv: list[str]) -> str:
        assert main(["stream", "ack", *argv]) == 2
        out, err = capsys.readouterr()
        assert out == "" and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err and CJK.search(err), err
        return err

    assert "推送记录中没有预警 'nope' 的推送；未签收任何变化" in refused(["nope", "--by", "duty-1"])
    err = refused([red.warning_id, "--key", "nope", "--by", "duty-1"])
    assert f"预警 '{red.warning_id}' 没有变化 'nope' 的推送（其变化：{red.key}）" in err
    assert "--by：签收须写明签收人" in refused([red.warning_id, "--by", " "])
    assert "签收人最多 128 个字符" in refused([red.warning_id, "--by", "x" * 129])
    err = refused([old.warning_id, "--by", "duty-1"])
    assert f"预警 {old.warning_id} 从未推送给任何人，无需签收：变化 {old.key}（已过期未发送" in err
    assert main(["stream", "ack", red.warning_id, "--by", "duty-1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"已签收预警 {red.warning_id} 的变化 {red.key}（签收编号 "), out
    err = refused([red.warning_id, "--by", "duty-2"])
    assert f"预警 {red.warning_id} 已被签收：变化 {red.key} 已由 duty-1 于 " in err
    assert err.rstrip().endswith("本次未记录")
    assert len(store.acknowledgements(red.warning_id)) == 1
    # English when set so: the same refusal as before
    monkeypatch.setenv("RISKWARN_PAGING_LANG", "en")
    assert main(["stream", "ack", red.warning_id, "--by", "duty-2"]) == 2
    err = capsys.readouterr().err
    assert f"warning {red.warning_id} was already acknowledged: change {red.key} by duty-1" in err
    assert not CJK.search(err)


# 2. `ack` without --key: only what someone may have received


def test_ack_without_a_key_leaves_a_queued_change_open(
    store: Store, cli_home: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A red change sent, then a raise of the same warning queued (the gateway down).
    Before, `ack` without --key acknowledged both: the second, which nobody had
    received, was acknowledged and would never escalate. Now the sent one is
    acknowledged and the queued one named and left open; asked again, the command
    refuses (exit 2, nothing recorded, audited); named by --key it is taken."""
    from riskwarn.cli import main
    from riskwarn.stream.delivery import enqueue

    monkeypatch.setenv("RISKWARN_PAGING_LANG", "en")
    cfg = _cfg()
    first = LevelChange("H1", f"{DOMAIN}:H1:x", 3, 4, NOW - 3 * H)
    _sent(store, cfg, first)
    queued = LevelChange("H1", first.warning_id, 4, 3, NOW - 2 * H)
    assert enqueue(store, cfg, queued, [REASON]) == 1  # pending: not sent yet
    assert main(["stream", "ack", first.warning_id, "--by", "duty-1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"acknowledged {first.warning_id} change {first.key} (ack ")
    assert out[1] == (
        f"not acknowledged: change {queued.key} (queued, not sent yet): nobody has received "
        "it yet; acknowledge it once it is sent"
    )
    assert store.acknowledgements(first.warning_id)["delivery_key"].tolist() == [first.key]
    # only the queued change is open: refused, nothing recorded, audited
    assert main(["stream", "ack", first.warning_id, "--by", "duty-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: warning {first.warning_id} has nothing left to acknowledge: "
        f"change {queued.key} (queued, not sent yet) not received by anyone yet; already "
        f"acknowledged: change {first.key} by duty-1 at "
    ), err
    rejected = store.audit_entries("warning", first.warning_id, ("acknowledge_rejected",))
    assert [e["details"]["not_sent_yet"] for e in rejected] == [[queued.key]]
    assert len(store.acknowledgements(first.warning_id)) == 1
    # in Chinese
    monkeypatch.setenv("RISKWARN_PAGING_LANG", "zh")
    assert main(["stream", "ack", first.warning_id, "--by", "duty-1"]) == 2
    assert f"变化 {queued.key}（排队待发送，尚未送达）" in capsys.readouterr().err
    # once sent, it is acknowledged
    for row in store.due_deliveries():
        store.record_attempt(row["delivery_id"], ok=True)
    assert main(["stream", "ack", first.warning_id, "--by", "duty-1"]) == 0
    assert sorted(store.acknowledgements(first.warning_id)["delivery_key"]) == sorted(
        [first.key, queued.key]
    )


def test_ack_without_a_key_takes_a_change_that_may_have_been_sent(store: Store) -> None:
    """A change claimed for sending whose outcome was never recorded (the sender died
    after its POST) and whose lease ran out may have reached the officer: acknowledged without a key; a change
    whose sending failed for good reached nobody: left out. An explicit key still takes
    a queued change (the officer names it, e.g. from the dashboard's alarm log)."""
    from riskwarn.stream.delivery import enqueue

    cfg = _cfg()
    claimed, failed, queued = (_red(f"H{i}") for i in range(3))
    for change in (claimed, failed, queued):
        assert enqueue(store, cfg, change, [REASON]) == 1
    rows = {r["warning_id"]: r for r in store.due_deliveries()}
    # claimed by a sender that died: its lease (none here) ran out, no outcome recorded
    claim = store.claim_delivery(rows[claimed.warning_id]["delivery_id"], lease_s=0.0)
    assert claim[0] == "claimed"
    store.record_attempt(rows[failed.warning_id]["delivery_id"], ok=False, error="HTTP 503")
    done = store.acknowledge_delivered(claimed.warning_id, "duty-1")
    assert [k for _, k in done] == [claimed.key] and done.left == {}
    from riskwarn.store.deliveries import NotSentYetError

    with pytest.raises(NotSentYetError, match="sending failed"):
        store.acknowledge_delivered(failed.warning_id, "duty-1")
    with pytest.raises(NotSentYetError, match="queued, not sent yet"):
        store.acknowledge_delivered(queued.warning_id, "duty-1")
    done = store.acknowledge_delivered(queued.warning_id, "duty-1", delivery_key=queued.key)
    assert [k for _, k in done] == [queued.key]


# 3. a superseded row that may have been heard


class Clock:
    off = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.off


def test_a_superseded_change_that_may_have_been_heard_says_so(url: str, tmp_path: Path) -> None:
    """ "new red" claimed by a sender killed before recording the send; the red ends; the
    lease runs out and "ended" is paged, the "new" row recorded superseded with its claim
    unrecorded. The alarm log said "not sent (merged into a later change)" and counted
    the change among those never sent (refused if acknowledged); `stream --status`
    counted it as merged. Now it says it may have been sent, in both languages, and the
    change counts as sent (it may have been heard)."""
    from dashboard.views import alarm_log_caption, alarm_outcome
    from riskwarn.store.deliveries import CLAIM_LEASE_S
    from riskwarn.stream.alarm_log import alarm_log
    from riskwarn.stream.delivery import deliver_due, delivery_rows
    from riskwarn.stream.status import status_line

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    pub = Publisher(store)

    def round_(rank: int, at: pd.Timestamp) -> None:
        levels = {"L": SiteLevel("L", rank, [REASON], "ok", float("nan"), {}, at)}
        changes = pub.changes(levels)
        rows = [r for c in changes for r in delivery_rows(cfg, c, [REASON])]
        pub.publish(levels, changes, deliveries=rows)

    counts: dict[str, int] = {}
    with Webhook() as hook:
        cfg = _cfg(hook)
        round_(4, NOW - 2 * H)
        (due,) = store.due_deliveries()
        assert store.claim_delivery(due["delivery_id"])[0] == "claimed"  # then SIGKILL
        round_(0, NOW - H)
        clock.off = timedelta(seconds=CLAIM_LEASE_S + 10)
        for _ in range(2):
            for k, v in deliver_due(store, cfg).items():
                counts[k] = counts.get(k, 0) + v
        assert [b["change"] for b in hook.bodies()] == ["ended"]
    d = store.deliveries()
    assert d[["change", "status"]].values.tolist() == [["new", "superseded"], ["ended", "sent"]]
    log = alarm_log(d, store.acknowledgements()).set_index("change")
    assert log.loc["new", "sent"] == "webhook:duty-1 superseded-maybe-sent"
    assert alarm_outcome(log.loc["new", "sent"], "en") == (
        "webhook:duty-1 may have been sent (its outcome was not recorded), then merged into "
        "a later change"
    )
    assert alarm_outcome(log.loc["new", "sent"], "zh") == (
        "webhook:duty-1 可能已送达（发送结果未记录），之后并入其后的变化"
    )
    assert not log.loc["new", "expired"]  # it may have been heard: not "never sent"
    caption = alarm_log_caption(alarm_log(d, store.acknowledgements()), "en")
    assert caption.startswith("The latest 2 orange/red warning changes sent"), caption
    wid = d["warning_id"].iloc[0]
    done = store.acknowledge_delivered(wid, "duty-1", delivery_key=d["delivery_key"].iloc[0])
    assert len(done) == 1  # before: NeverSentError ("merged into a later change")
    store.close()
    # the sender's counts: apart from the rows merged unsent
    assert counts["maybe_sent"] == 1 and counts["superseded"] == 0 and counts["sent"] == 1
    status = {
        "pid": 0,
        "running": False,
        "broker": "127.0.0.1:1883",
        "source": "demo",
        "received": 1,
        "accepted": 1,
        "quarantined": 0,
        "queued": 0,
        "sensors": 1,
        "warned_sites": 0,
        "level_changes": 2,
        "deliveries_logged": 2,
        "deliveries_superseded": counts["superseded"],
        "deliveries_maybe_sent": counts["maybe_sent"],
        "last_write_at": None,
        "updated_at": "2026-12-06T02:00:00+00:00",
    }
    path = tmp_path / "status.json"
    path.write_text(json.dumps(status))
    line = status_line(path)
    assert (
        "2 deliveries (1 may have been sent (the send's outcome was not recorded), not sent "
        "again / 可能已送达（发送结果未记录），未再发送)"
    ) in line, line
    assert "merged into a later change" not in line
