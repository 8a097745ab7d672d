"""The consumer's one-line status (light: ``riskwarn stream --status`` imports only this)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def status_line(path: Path) -> str:
    """One line about the consumer from its status file."""
    if not path.exists():
        return "stream: not started (no status file)"
    s = json.loads(path.read_text())
    alive = False
    try:
        os.kill(int(s["pid"]), 0)
        alive = s.get("running", False)
    except (OSError, ValueError):
        alive = False
    state = "running" if alive else "stopped"
    conn = "connected" if s.get("connected") and alive else "disconnected"
    failing = "".join(f"; FAILING {k} {v}" for k, v in (s.get("failing") or {}).items())
    failing += "".join(f"; {k} recovered {v}" for k, v in (s.get("recovered") or {}).items())
    model = s.get("model")
    if model:
        ms = s.get("model_eval_ms")
        cost = f", {s.get('model_evaluations', 0)} evaluations" + (
            f" at {ms} ms each" if ms is not None else ""
        )
        model = f"; site model: {model}" + ("" if model.startswith(("off", "rules only")) else cost)
    else:
        model = ""
    forgot = f" ({s['sensors_forgotten']} silent forgotten)" if s.get("sensors_forgotten") else ""
    # in force; expired ones apart (a consumer before 2026-12-05 wrote none: counted in)
    carried = s.get("warned_sites_expired") or 0
    warned = f"{s['warned_sites']} warned sites" + (f" (+{carried} expired)" if carried else "")
    unsent = (s.get("deliveries_logged_expired") or 0) + (s.get("deliveries_expired_queued") or 0)
    apart = [f"+{unsent} expired unsent"] if unsent else []
    if s.get("deliveries_superseded"):  # merged into a later change of their warning
        apart.append(f"{s['deliveries_superseded']} merged into a later change / 并入其后的变化")
    if s.get("deliveries_unpaged"):  # nothing new for the officer (docs/streaming.md)
        apart.append(
            f"{s['deliveries_unpaged']} not paged: ended or below orange before the officer "
            "heard of the warning, or back at the level last sent / "
            "未推送：值班人员获知前已解除或降至橙色以下，或已回到上次推送的等级"
        )
    if s.get("deliveries_cancelled"):  # the review panel dismissed / lowered the warning
        apart.append(f"{s['deliveries_cancelled']} cancelled by review, not sent / 复核后取消发送")
    if s.get("deliveries_maybe_sent"):  # claimed, outcome never recorded, then not resent
        apart.append(
            f"{s['deliveries_maybe_sent']} may have been sent (the send's outcome was not "
            "recorded), not sent again / 可能已送达（发送结果未记录），未再发送"
        )
    # stored readings: new records and corrections; exact repeats apart (a status file
    # before 2026-12-07 has no corrections: none said)
    fixed = f" ({s['corrections']} corrections)" if s.get("corrections") else ""
    repeats = f", {s['duplicates']} duplicates" if s.get("duplicates") else ""
    # a quarantined reading accepted later (future_timestamp, its time come): kept in the
    # count (stored once), no longer an open problem
    resolved = (
        f" ({s['resolved']} resolved by a later accept / 其中 {s['resolved']} 条已被随后接收的读数解除)"
        if s.get("resolved")
        else ""
    )
    # the totals are the home's since counts_since, across restarts (a status file before
    # 2026-12-07 has none: the running consumer's, said so)
    since = s.get("counts_since")
    counted = (
        f"since {since}, each stored once / 自 {since} 起累计，每条只计一次: "
        if since
        else "since this consumer started / 本次启动以来: "
    )
    # the lake's log lost commits the counts may miss (riskwarn.stream.ledger): said first
    gap = s.get("counts_incomplete")
    if isinstance(gap, dict):
        whys = "; ".join(str(w) for w in (gap.get("tables") or {}).values())
        counted = (
            f"COUNTS INCOMPLETE since {gap.get('since')} ({whys}): rows a consumer stopped "
            "(killed) before counting them stored then may be missing / "
            f"自 {gap.get('since')} 起计数不完整（湖日志已清理或被替换）：其间未及计数即被终止的"
            f"消费进程写入的行可能未计入; {counted}"
        )
    sent = f"{s['deliveries_logged']} deliveries" + (f" ({'; '.join(apart)})" if apart else "")
    if s.get("deliveries_failed"):  # a page that reached nobody: said first, in capitals
        n, red = int(s["deliveries_failed"]), int(s.get("deliveries_failed_red") or 0)
        en, zh = _escalated_words(n, s.get("deliveries_failed_last"))
        failing = (
            f"; DELIVERY FAILED: {n} deliveries ({red} red) did not reach their contact after "
            f"every retry ({en}, tried again while in force) / "
            f"推送失败：{n} 条（红色 {red} 条）多次重试仍未送达（{zh}，预警有效期内继续重试）"
        ) + failing
    return (
        f"stream {state} (pid {s['pid']}), {conn} to {s['broker']}, source {s['source']}, "
        f"{counted}{s['received']} received, {s['accepted']} accepted{fixed}{repeats}, "
        f"{s['quarantined']} quarantined{resolved}, "
        f"{s['queued']} queued, {s['sensors']} sensors{forgot}, {warned}, "
        f"{s['level_changes']} level changes, {sent}; "
        f"last write {s['last_write_at'] or '-'}, status at {s['updated_at']}{model}{failing}"
    )


def _escalated_words(n: int, last: int | None) -> tuple[str, str]:
    """Where ``n`` failed deliveries went on, ``last`` of them to the last contact of
    their route (nobody further; None: a status file from before 2026-12-06, not
    known), in English and Chinese."""
    if last is None:
        return "escalated to the next contact if the route has one", "如路由中有下一联系人则已转交"
    last = int(last)
    if last == 0:
        return "escalated to the next contact", "已转下一联系人"
    if last >= n:
        return (
            "the last contact of the route: no further contact to escalate to",
            "已是路由中最后一位联系人，无可再转交的联系人",
        )
    return (
        f"escalated to the next contact; {last} at the last contact of the route: no "
        "further contact to escalate to",
        f"已转下一联系人；其中 {last} 条已是路由中最后一位联系人，无可再转交的联系人",
    )
