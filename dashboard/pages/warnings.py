"""Warnings review for the panels: queue, reasons, history, evidence, decision, trail."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from riskwarn.dashboard import auth, queries, shell, views
from riskwarn.dashboard.i18n import (
    LEVELS,
    fmt_datetime,
    fmt_hours,
    fmt_pct,
    level_label,
    localise_frame,
    t,
)
from riskwarn.dashboard.shell import page_context
from riskwarn.store import StaleWarningError

ctx = page_context("warnings")
lg, tz, url = ctx.lang, ctx.tz, ctx.store_url
names = queries.unit_names(ctx.lake_dir)
everything = queries.warnings(url)
if everything.empty:
    st.info(t("no_data", lg))
    st.stop()
views.focus_warning(everything, st.query_params, st.session_state)  # ?warning=<id> from a map

# ---- filters
f1, f2, f3 = st.columns(3)
domains = sorted(everything["domain"].unique())
domain = shell.select(
    f1,
    t("domain", lg),
    [None, *domains],
    lambda d: t(f"domain_{d}", lg) if d else t("all", lg),
    "rv_domain",
    lg,
)
counties = sorted(everything["county_code"].dropna().unique())
county = shell.select(
    f2,
    t("county", lg),
    [None, *counties],
    lambda c: views.place_words(c, None, names, lg) if c else t("all", lg),
    "rv_county",
    lg,
)
state = shell.select(
    f3,
    t("state", lg),
    [None, "new", "accepted", "adjusted", "dismissed"],
    lambda s: t(f"state_{s}", lg) if s else t("all", lg),
    "rv_state",
    lg,
)
queue = queries.warnings(url, domain=domain, county=county, state=state)
if queue.empty:
    st.info(t("empty_queue", lg))
    st.stop()
QUEUE_ROWS = 300  # the panel works from the top of the queue; the rest waits for filters
n_total = len(queue)
queue = queue.head(QUEUE_ROWS)
queue = queue.assign(
    place=[
        views.place_words(c, tw, names, lg)
        for c, tw in zip(queue["county_code"], queue["township_code"], strict=True)
    ],
    domain_label=[t(f"domain_{d}", lg) for d in queue["domain"]],
)

st.subheader(t("queue", lg))
shown = localise_frame(
    queue,
    lg,
    tz,
    columns={
        "effective_level": "level",
        "place": "place",
        "domain_label": "domain",
        "probability": "probability",
        "state": "state",
        "valid_from": "valid",
    },
    times=("valid_from",),
    levels=("effective_level",),
    states=("state",),
    pcts=("probability",),
)
st.dataframe(shown, hide_index=True, height=260, width="stretch")
if n_total > QUEUE_ROWS:
    st.caption(t("queue_top", lg, n=QUEUE_ROWS, total=n_total))

# ---- one warning
options = queue["warning_id"].tolist()
labels = {
    r.warning_id: f"{level_label(r.effective_level, lg)} · {r.place} · {r.domain_label} · "
    f"{fmt_pct(r.probability, lg)}"
    for r in queue.itertuples()
}
wid = shell.select(
    st, t("pick_warning", lg), options, lambda w: labels.get(w, str(w)), "rv_pick", lg
)
if wid is None:
    st.stop()
assert wid is not None
current = queries.get_warning(url, wid)
seen_key = f"seen_version:{wid}"
st.session_state.setdefault(seen_key, int(current["version"]))

left, right = st.columns([3, 2], gap="large")
with left:
    lvl = current.get("reviewed_level") or current["level"]
    state_text = t("state_" + current["state"], lg)
    st.markdown(
        views.badge(lvl, lg)
        + f" &nbsp; **{labels[wid].split(' · ', 1)[1]}** &nbsp; · {state_text}"
        + f" &nbsp; · {t('lead_time', lg, h=fmt_hours(current.get('lead_time_hours'), lg))}",
        unsafe_allow_html=True,
    )
    st.caption(
        f"{t('valid', lg)}: {fmt_datetime(current['valid_from'], lg, tz)} – "
        f"{fmt_datetime(current['valid_to'], lg, tz)}"
    )
    st.markdown(f"**{t('reasons', lg)}**")
    st.markdown("\n".join(f"- {line}" for line in views.reason_lines(current.get("reasons"), lg)))
    hist = queries.place_history(url, current["domain"], current["unit_id"])
    if len(hist) > 1:
        st.markdown(f"**{t('place_history', lg)}**")
        hist = hist.assign(week=[fmt_datetime(o, lg, tz) for o in hist["origin"]])
        st.altair_chart(
            alt.Chart(hist)
            .mark_area(line=True, opacity=0.25)
            .encode(
                x=alt.X("week:N", sort=None, title=None),
                y=alt.Y("probability:Q", title=t("probability", lg), axis=alt.Axis(format="%")),
            )
            .properties(height=180),
            width="stretch",
        )
    facts, tables = views.evidence_frames(current.get("evidence"))
    st.markdown(f"**{t('evidence', lg)}**")
    if facts:
        st.dataframe(
            pd.DataFrame(
                {
                    t("metric", lg): [
                        views.evidence_fact_label(k, v, lg) for k, v in facts.items()
                    ],
                    t("value", lg): [str(v) for v in facts.values()],
                }
            ),
            hide_index=True,
            width="stretch",
        )
    for name, frame in tables.items():
        st.caption(name)
        st.dataframe(frame, hide_index=True, width="stretch")

with right:
    st.markdown(f"#### {t('decide', lg)}")
    if not auth.can_review(ctx.user.role):
        st.info(t("read_only", lg))
    else:
        with st.form(f"review:{wid}", clear_on_submit=False):
            action = st.radio(
                t("action", lg),
                ["accept", "adjust", "dismiss"],
                format_func=lambda a: t(f"action_{a}", lg),
                horizontal=True,
                key="rv_action",
            )
            new_level = shell.select(
                st, t("new_level", lg), list(LEVELS), lambda v: level_label(v, lg), "rv_level", lg
            )
            reason = st.text_area(t("reason", lg), key="rv_reason", height=90)
            submitted = st.form_submit_button(t("submit", lg), type="primary")
        if submitted:
            if not reason.strip():
                st.error(t("reason_required", lg))
            else:
                try:
                    done = queries.review_warning(
                        url,
                        wid,
                        action=action,
                        reason=reason,
                        reviewer=ctx.user.username,
                        expected_version=st.session_state[seen_key],
                        level=new_level if action == "adjust" else None,
                    )
                except StaleWarningError as exc:
                    # someone decided first: keep their decision, tell and show it
                    first = exc.current.get("last_review") or {}
                    st.session_state[seen_key] = int(exc.current["version"])
                    st.session_state["rv_flash"] = (
                        "error",
                        t(
                            "stale",
                            lg,
                            reviewer=first.get("reviewer", "?"),
                            at=fmt_datetime(first.get("reviewed_at"), lg, tz),
                            action=t(f"action_{first.get('action', 'accept')}", lg),
                            reason=first.get("reason", ""),
                        ),
                    )
                else:
                    st.session_state[seen_key] = int(done["version"])
                    st.session_state["rv_flash"] = (
                        "success",
                        t("saved", lg, action=t(f"action_{action}", lg), version=done["version"]),
                    )
                st.rerun()
        flash = st.session_state.pop("rv_flash", None)
        if flash and flash[0] == "error":
            st.error(flash[1], icon=":material/sync_problem:")
        elif flash:
            st.success(flash[1], icon=":material/check_circle:")

with st.container():
    st.markdown(f"**{t('trail', lg)}**")
    trail = queries.warning_reviews(url, wid)
    if trail.empty:
        st.caption("—")
    else:
        trail = trail.assign(action=[t(f"action_{a}", lg) for a in trail["action"]])
        st.dataframe(
            localise_frame(
                trail,
                lg,
                tz,
                columns={
                    "reviewed_at": "reviewed_at",
                    "reviewer": "reviewer",
                    "action": "action",
                    "from_level": "from_level",
                    "to_level": "to_level",
                    "reason": "reason_col",
                    "warning_version": "version",
                },
                times=("reviewed_at",),
                levels=("from_level", "to_level"),
            ),
            hide_index=True,
            width="stretch",
        )
