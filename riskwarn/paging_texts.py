"""Texts said to duty officers outside the dashboard, in their language (``key ->
{"zh": ..., "en": ...}``, the format of :mod:`riskwarn.i18n`): the pages the stream
sends (e-mail subject and body, the webhook's ``subject`` / ``text``) and what
``riskwarn stream ack`` answers. The language is the ``RISKWARN_PAGING_LANG`` setting
(``zh`` by default, as the dashboard). The dashboard's catalogue merges these, so the
level words, the change words and why a change was never sent read the same on the
dashboard, in a page and at the command line.

Only human text: the webhook's machine-readable fields (levels, ids, keys) are English
identifiers in every language (:func:`riskwarn.stream.delivery.send_webhook`), its times
ISO 8601 UTC. Times said to a person are in the display time zone (``tz``:
``Settings.display_tz``), the zone named (:func:`riskwarn.i18n.fmt_datetime_zone`):
``2026年12月6日 15:20（北京时间）`` (since 2026-12-06; before, the UTC ISO text).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from riskwarn.i18n import DEFAULT_DISPLAY_TZ, fmt_datetime_zone, joiner, text

TEXT: dict[str, dict[str, str]] = {
    # levels (the dashboard's level labels)
    "level_red": {"zh": "红色（I级）", "en": "Red (I)"},
    "level_orange": {"zh": "橙色（II级）", "en": "Orange (II)"},
    "level_yellow": {"zh": "黄色（III级）", "en": "Yellow (III)"},
    "level_blue": {"zh": "蓝色（IV级）", "en": "Blue (IV)"},
    "level_none": {"zh": "无预警", "en": "No warning"},
    # a warning change (the deliveries' ``change``)
    "alarm_change_new": {"zh": "新发布", "en": "new"},
    "alarm_change_raised": {"zh": "升级", "en": "raised"},
    "alarm_change_lowered": {"zh": "降级", "en": "lowered"},
    "alarm_change_ended": {"zh": "解除", "en": "ended"},
    "alarm_change_escalated": {"zh": "逐级上报", "en": "escalated"},
    # why a change was never sent (riskwarn.store.deliveries.NEVER_SENT), by status
    "alarm_never_sent_expired": {
        "zh": "已过期未发送：预警已不再有效",
        "en": "expired unsent: the warning was no longer in force",
    },
    "alarm_never_sent_superseded": {
        "zh": "已并入其后的变化",
        "en": "merged into a later change",
    },
    "alarm_never_sent_unpaged": {
        "zh": "未推送：对值班人员无新变化（其获知前预警已解除或降至橙色以下，或已回到上次推送的等级）",
        "en": "not paged: nothing new for the officer (the warning ended or fell below "
        "orange before they heard of it, or it was back at the level last sent to them)",
    },
    "alarm_never_sent_cancelled": {
        "zh": "复核后取消发送：复核组已排除该预警，或将其调低到该变化的等级以下",
        "en": "cancelled by review: the panel dismissed the warning or set it below the "
        "change's level",
    },
    "alarm_never_sent_carried": {
        "zh": "：最终状态由变化 {keys} 推送",
        "en": ": change {keys} carried the net state",
    },
    # the page (riskwarn.stream.delivery)
    "page_subject": {
        "zh": "[riskwarn] 隐患点 {site}：{change} → {to}",
        "en": "[riskwarn] site {site}: {change} -> {to}",
    },
    "page_headline": {
        "zh": "隐患点 {site}：{change}（{from_level} → {to}）",
        "en": "Site {site}: {change} ({from_level} -> {to})",
    },
    "page_at": {"zh": "变化时间：{at}", "en": "at {at}"},
    "page_not_sent": {
        "zh": "此前未推送（实时监测正在追赶积压数据）：{level}，自 {start} 至 {end}。",
        "en": "Not sent before (the stream was catching up): {level} from {start} to {end}.",
    },
    "page_unreached": {
        "zh": "未能送达联系人 {contact}（升级第 {step} 级：{error}），现改为推送给您。",
        "en": "Could not be delivered to contact {contact} (escalation step {step}: {error}): "
        "you are paged in their place.",
    },
    # the same, when an earlier send to that contact may have got through (a claim whose
    # outcome was never recorded: riskwarn.store.deliveries.possibly_sent)
    "page_maybe_unreached": {
        "zh": "可能未送达联系人 {contact}（升级第 {step} 级：{error}；此前一次发送的结果未记录，"
        "可能已送达），现同时推送给您。",
        "en": "May not have reached contact {contact} (escalation step {step}: {error}; the "
        "outcome of an earlier send was not recorded, it may have got through): you are "
        "paged as well.",
    },
    "page_unreached_error": {"zh": "发送失败", "en": "failed"},
    "page_ids": {"zh": "预警 {warning}，变化 {key}。", "en": "Warning {warning}, change {key}."},
    "page_ack": {
        "zh": "签收：riskwarn stream ack {warning} --key {key} --by <签收人>",
        "en": "Acknowledge: riskwarn stream ack {warning} --key {key} --by <you>",
    },
    # riskwarn stream ack
    "ack_done": {
        "zh": "已签收预警 {warning} 的变化 {key}（签收编号 {ack}）",
        "en": "acknowledged {warning} change {key} (ack {ack})",
    },
    "ack_left": {
        "zh": "未签收：变化 {key}（{why}）：尚无人收到，送达后再签收",
        "en": "not acknowledged: change {key} ({why}): nobody has received it yet; "
        "acknowledge it once it is sent",
    },
    "ack_queued": {"zh": "排队待发送，尚未送达", "en": "queued, not sent yet"},
    "ack_failed": {"zh": "发送失败，未送达", "en": "sending failed, not delivered"},
    "ack_not_sent_yet": {
        "zh": "预警 {warning} 尚无已推送的变化，无需签收：{changes}；本次未记录",
        "en": "warning {warning} has no change sent yet, nothing to acknowledge: "
        "{changes}; nothing recorded",
    },
    # the same, when another change of the warning was sent and acknowledged already
    "ack_not_sent_yet_acked": {
        "zh": "预警 {warning} 暂无可签收的变化：{changes}尚无人收到；已签收：{firsts}；本次未记录",
        "en": "warning {warning} has nothing left to acknowledge: {changes} not received by "
        "anyone yet; already acknowledged: {firsts}; nothing recorded",
    },
    "ack_change": {"zh": "变化 {key}（{why}）", "en": "{key} ({why})"},
    # how an acknowledgement was made (the acknowledgements' ``via``)
    "ack_via_cli": {"zh": "命令行", "en": "cli"},
    "ack_via_dashboard": {"zh": "看板", "en": "dashboard"},
    "ack_changes_one": {"zh": "{list}", "en": "change {list}"},
    "ack_changes": {"zh": "{list}", "en": "changes {list}"},
    "ack_first": {
        "zh": "变化 {key} 已由 {who} 于 {at} 签收（途径：{via}）",
        "en": "change {key} by {who} at {at} (via {via})",
    },
    "ack_already": {
        "zh": "预警 {warning} 已被签收：{firsts}；本次未记录",
        "en": "warning {warning} was already acknowledged: {firsts}; nothing recorded",
    },
    "ack_never_sent": {
        "zh": "预警 {warning} 从未推送给任何人，无需签收：{changes}{acked}；本次未记录",
        "en": "warning {warning} was never sent, nothing to acknowledge: {changes}{acked}; "
        "nothing recorded",
    },
    "ack_also_acked": {"zh": "；已签收：{firsts}", "en": "; already acknowledged: {firsts}"},
    "ack_no_delivery": {
        "zh": "推送记录中没有预警 '{warning}' 的推送；未签收任何变化",
        "en": "no delivery of warning '{warning}' in the delivery log; nothing acknowledged",
    },
    "ack_no_change": {
        "zh": "预警 '{warning}' 没有变化 '{key}' 的推送（其变化：{keys}）；未签收任何变化",
        "en": "warning '{warning}' has no delivered change '{key}' (its changes: {keys}); "
        "nothing acknowledged",
    },
    "ack_by_blank": {
        "zh": "--by：签收须写明签收人（用户名或联系人编号）；未签收任何变化",
        "en": "--by: an acknowledgement needs who acknowledges (a user name or contact id); "
        "nothing acknowledged",
    },
    "ack_by_long": {
        "zh": "--by：签收人最多 {most} 个字符（用户名或联系人编号），而非 {n} 个；未签收任何变化",
        "en": "--by: who acknowledges is at most {most} characters (a user name or contact "
        "id), not {n}; nothing acknowledged",
    },
}


def t(key: str, lang: str, /, **kwargs: Any) -> str:
    """:func:`riskwarn.i18n.text` of :data:`TEXT`."""
    return text(TEXT, key, lang, **kwargs)


def level_words(level: str | None, lang: str) -> str:
    """A level in words: ``red`` -> ``红色（I级）`` / ``Red (I)``; None -> no warning."""
    return t(f"level_{level or 'none'}", lang)


def never_sent_why(statuses: Sequence[str], lang: str, carried_by: Sequence[str] = ()) -> str:
    """Why a change whose deliveries have ``statuses`` was never sent, each status said
    once; ``carried_by``: the keys that carried the net state of its superseded rows."""
    out = []
    for status in dict.fromkeys(statuses):
        key = f"alarm_never_sent_{status}"
        why = t(key, lang) if key in TEXT else status
        if status == "superseded" and carried_by:
            why += t("alarm_never_sent_carried", lang, keys=", ".join(carried_by))
        out.append(why)
    return joiner(lang).join(out)


def _changes(items: Sequence[str], lang: str) -> str:
    key = "ack_changes_one" if len(items) == 1 else "ack_changes"
    return t(key, lang, list=("，" if lang == "zh" else ", ").join(items))


def via_words(via: Any, lang: str) -> str:
    """How an acknowledgement was made (``cli`` / ``dashboard``) in ``lang``; an other
    value as it is."""
    key = f"ack_via_{via}"
    return t(key, lang) if key in TEXT else str(via)


def firsts_text(first: Sequence[Mapping[str, Any]], lang: str, tz: str = DEFAULT_DISPLAY_TZ) -> str:
    """Who acknowledged each change first and when (``AlreadyAcknowledgedError.first``),
    the time in ``tz`` (the zone named), the way in words."""
    return joiner(lang).join(
        t(
            "ack_first",
            lang,
            key=f["delivery_key"],
            who=f["acknowledged_by"],
            at=fmt_datetime_zone(f["acknowledged_at"], lang, tz),
            via=via_words(f["via"], lang),
        )
        for f in first
    )


def already_acknowledged(
    warning_id: str, first: Sequence[Mapping[str, Any]], lang: str, tz: str = DEFAULT_DISPLAY_TZ
) -> str:
    return t("ack_already", lang, warning=warning_id, firsts=firsts_text(first, lang, tz))


def never_sent(
    warning_id: str,
    keys: Sequence[str],
    statuses: Mapping[str, Sequence[str]],
    carried_by: Mapping[str, Sequence[str]],
    first: Sequence[Mapping[str, Any]],
    lang: str,
    tz: str = DEFAULT_DISPLAY_TZ,
) -> str:
    """``NeverSentError`` in ``lang`` (times in ``tz``)."""
    items = [
        t(
            "ack_change",
            lang,
            key=k,
            why=never_sent_why(statuses.get(k) or ["expired"], lang, carried_by.get(k, ())),
        )
        for k in keys
    ]
    acked = t("ack_also_acked", lang, firsts=firsts_text(first, lang, tz)) if first else ""
    return t("ack_never_sent", lang, warning=warning_id, changes=_changes(items, lang), acked=acked)


def not_sent_yet_why(statuses: Sequence[str], lang: str) -> str:
    """A change none of whose deliveries may have been heard yet: queued (some row still
    pending), or its sending failed."""
    return t("ack_queued" if "pending" in statuses else "ack_failed", lang)


def not_sent_yet(
    warning_id: str,
    statuses: Mapping[str, Sequence[str]],
    lang: str,
    first: Sequence[Mapping[str, Any]] = (),
    tz: str = DEFAULT_DISPLAY_TZ,
) -> str:
    """``NotSentYetError`` in ``lang``; ``first``: the warning's changes acknowledged
    already, who and when (named after the changes not sent yet; times in ``tz``)."""
    items = [
        t("ack_change", lang, key=k, why=not_sent_yet_why(s, lang)) for k, s in statuses.items()
    ]
    if not first:
        return t("ack_not_sent_yet", lang, warning=warning_id, changes=_changes(items, lang))
    return t(
        "ack_not_sent_yet_acked",
        lang,
        warning=warning_id,
        changes=_changes(items, lang),
        firsts=firsts_text(first, lang, tz),
    )
