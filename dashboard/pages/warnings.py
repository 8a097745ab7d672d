"""Warnings review for the panels: queue, reasons, history, evidence, decision, trail.

The decision form holds a language-independent draft (:mod:`dashboard.review`):
what is recorded is exactly the action, level and reason the reviewer chose, whatever
the language switches and clicks in between; another warning starts an empty form.
"""

from __future__ import annotations

from html import escape

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import address, auth, queries, review, shell, text, views
from dashboard.i18n import (
    LEVELS,
    fmt_datetime,
    fmt_pct,
    level_label,
    localise_frame,
    t,
)
from dashboard.shell import model_caption, page_context
from riskwarn.review_text import REASON_MAX_CHARS
from riskwarn.store import PersonalDataError, ReplacedWarningError, StaleWarningError

PAGE = {  # this page in the navigation (dashboard/page_index.py)
    "title": {"zh": "预警研判", "en": "Warnings review"},
    "icon": ":material/notification_important:",
    "section": "section_panels",
    "roles": ["leader", "reviewer", "admin"],
    "order": 20,
}


def say_flash() -> None:
    """The outcome of the last submit (saved, or refused), once: on the form shown, or
    where the page stops without one (kept, it would show up on a warning opened later)."""
    flash = st.session_state.pop("rv_flash", None)
    if flash and flash[0] == "error":
        st.error(flash[1], icon=":material/sync_problem:")
        got = st.session_state.get(review.REPLACED_KEY)
        if got:  # a decision refused on a replaced warning: open the one in force
            st.button(
                t("open_replacement", lg, id=review.short_id(got[1])),
                key=f"rv_open_replacement_{got[1]}",
                on_click=review.open_replacement,
                args=(st.session_state,),
            )
    elif flash:
        st.success(flash[1], icon=":material/check_circle:")


ctx = page_context("warnings")
lg, tz, url, snap = ctx.lang, ctx.tz, ctx.store_url, ctx.snapshot
names = queries.unit_names(ctx.lake_dir)
people = auth.display_names(auth.usable_users(auth.users_file_path(ctx.settings.home)) or {})
sites = queries.hazard_sites(ctx.lake_dir)
site_names = dict(zip(sites["record_id"].astype(str), sites["name"].astype(str), strict=True))
everything = queries.warnings(snap)
if everything.empty:
    st.info(t("no_data", lg))
    st.stop()
visit = shell.page_visit()  # the address is read on the visit's first run (dashboard.address)
# a reload of (a link to) a warning withdrawn since, read with the address
asked = st.query_params.get(views.FOCUS_PARAM)
asked = asked if address.unread(st.session_state, views.FOCUS_PARAM, visit) else None
if asked and review.OPEN_KEY not in st.session_state and asked not in set(everything["warning_id"]):
    st.session_state[review.OPEN_KEY] = (asked, review.short_id(asked), "link")  # told below
domains = sorted(everything["domain"].unique())
views.focus_filters(domains, st.query_params, st.session_state, visit)  # the overview's "n more"
views.focus_warning(everything, st.query_params, st.session_state, visit)  # ?warning=<id>

# ---- filters
f1, f2, f3, f4 = st.columns(4)
# a set of domains (a tuple) is a choice only when a link asked for it (views.focus_filters)
domain_set = st.session_state.get("rv_domain__value")
domain_sets = [domain_set] if isinstance(domain_set, tuple) else []
domain = shell.select(
    f1,
    t("domain", lg),
    [None, *domain_sets, *domains],
    lambda d: (
        " + ".join(t(f"domain_{x}", lg) for x in d)
        if isinstance(d, tuple)
        else t(f"domain_{d}", lg)
        if d
        else t("all", lg)
    ),
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
    [None, "new", "accepted", "adjusted", "dismissed", "withdrawn"],
    lambda s: t(f"state_{s}", lg) if s else t("all", lg),
    "rv_state",
    lg,
)
level_filter = shell.select(
    f4,
    t("level", lg),
    [None, *LEVELS],
    lambda v: level_label(v, lg) if v else t("all", lg),
    "rv_flevel",
    lg,
)
# withdrawn warnings (a re-publication of their run no longer raised them) are never in
# force or queued: only this filter shows them, with their trail, for the record
withdrawn = state == "withdrawn"
queue = queries.warnings(
    snap,
    domain=None if isinstance(domain, tuple) else domain,
    county=county,
    state=None if withdrawn else state,
    withdrawn=withdrawn,
)
if isinstance(domain, tuple):
    queue = queue[queue["domain"].isin(list(domain))]
if level_filter is not None:  # the level in force (a review's, else the raised one)
    queue = queue[queue["effective_level"] == level_filter]
QUEUE_ROWS = review.QUEUE_ROWS  # the panel works from the top of the queue
n_total = len(queue)
queue = review.queue_order(queue)  # by the level in force: dismissed ones last
in_view = queue.head(QUEUE_ROWS)
beyond = set(queue["warning_id"].iloc[QUEUE_ROWS:])  # in the queue, below its top
# the reviewer's own decision just saved took the open warning out of that view: the
# page moves on to the next warning, no notice (it told them of their own decision as of
# someone else's); the saved one's confirmation is shown on the next warning's form
review.moved_on(st.session_state, set(in_view["warning_id"]))
# the warning open until now left that view (someone else decided it out of a "new"
# queue, or below its first rows; the filters changed with a decision on it under
# way): it stays open, listed first in the picker, and the page says why below (before,
# the picker moved to the queue's first warning without a word, and a refused decision's
# message went with the form)
kept = review.kept_open(
    st.session_state,
    set(in_view["warning_id"]),
    lambda w: queries.get_warning(url, w),
    (domain, county, state, level_filter),
)


if queue.empty:
    st.info(t("empty_queue", lg))
    if kept is None and review.OPEN_KEY not in st.session_state:
        say_flash()  # the reviewer's decision that emptied it was saved
        st.stop()
labelled = review.queue_labels(in_view, names, site_names, lg)
# the panel's decision on an earlier run's warning of the same place (the daily run raises
# new ids): said beside each warning still to review, never applied (Store.earlier_decisions)
earlier = review.earlier_by_warning(queries.earlier_decisions(snap))
queue = labelled.assign(
    state=[
        review.shown_state(s, w)
        for s, w in zip(labelled["state"], labelled["withdrawn_at"], strict=True)
    ],
    earlier=[
        review.earlier_marker(earlier[w], lg, tz, people) if w in earlier and s == "new" else ""
        for w, s in zip(labelled["warning_id"], labelled["state"], strict=True)
    ],
)

if not queue.empty:
    st.subheader(t("queue", lg))
    shown = localise_frame(
        queue.assign(level_shown=queue["effective_level"].fillna("none")),
        lg,
        tz,
        columns={
            "short_id": "col_id",
            "level_shown": "level",
            "domain_label": "domain",
            "place": "place",
            "unit": "unit_col",
            "probability": "probability",
            "valid_to": "valid_to",
            "state": "state",
            # a ninth column only when a warning in view has one: in the table a line
            # under its warning's row (laid out for eight: review.queue_table), on a
            # card a line of its own; a column in the grid
            **({"earlier": "col_earlier"} if queue["earlier"].astype(bool).any() else {}),
        },
        times=("valid_to",),
        levels=("level_shown",),
        states=("state",),
        pcts=("probability",),
    )
    st.html(review.QUEUE_CSS)
    # a table that fits its frame, wrapping (review.QUEUE_CSS: the data grid scrolled
    # sideways at 800-1280 px); in a frame narrower than 760 px the same rows as cards
    with st.container(key="rwqueue"):  # its width chooses table or cards (QUEUE_CSS)
        with st.container(key="rwqueue_table"):
            st.html(
                review.queue_table(
                    shown, queue["effective_level"], queue["state"], lg, label=t("queue", lg)
                )
            )
        with st.container(key="rwqueue_cards"):  # the same rows in a narrow frame
            st.markdown(  # with the layout's CSS: st.html's above never applied (with_css)
                review.with_css(
                    review.queue_cards(shown, queue["effective_level"], queue["state"], lg)
                ),
                unsafe_allow_html=True,
            )
    with st.expander(t("table_grid", lg)):  # sort, search, download (CSV)
        shell.grid(shown, hide_index=True, height=260, width="stretch")
if n_total > QUEUE_ROWS:
    st.caption(t("queue_top", lg, n=QUEUE_ROWS, total=n_total))

# ---- one warning
labels = {r.warning_id: review.pick_label(r, lg) for r in queue.itertuples()}
left_note = None  # the notice of the open warning kept open out of the queue
if kept is not None:
    one = pd.DataFrame([{c: kept.get(c) for c in in_view.columns}])
    one = review.queue_labels(one, names, site_names, lg)
    one = one.assign(
        state=[review.shown_state(kept["state"], kept.get("withdrawn_at"))], earlier=[""]
    )
    label = review.pick_label(next(one.itertuples()), lg)
    why = review.left_why(kept, (domain, county, state, level_filter), beyond)
    left_note = review.left_notice(kept, label, why, st.session_state, lg, tz)
    labels = {kept["warning_id"]: label + t("pick_left_queue", lg), **labels}
    queue = pd.concat([one, queue], ignore_index=True) if len(queue) else one
# the warning open until now left the queue because a re-publication withdrew it: say
# so, and open nothing in its place (the picker would otherwise move to another warning
# without a word, and a decision could be taken on it unknowingly) until one is chosen
gone = review.withdrawn_open(
    st.session_state, labels, lambda w: queries.get_warning(url, w), lg, tz
)
wid = shell.select(
    st,
    t("pick_warning", lg),
    list(labels),
    lambda w: labels.get(w, str(w)),
    "rv_pick",
    lg,
    index=None if gone or not labels else 0,
    texts_vary=True,
    placeholder=t("pick_placeholder", lg),
)
views.keep_warning_in_url(wid, st.query_params, st.session_state)  # a reload keeps it
if wid is None:
    if gone:
        st.warning(gone, icon=":material/undo:")
    say_flash()  # a submit it refused, or the decision that emptied the queue saved
    st.stop()
assert wid is not None
row = queue.loc[queue["warning_id"] == wid].iloc[0]
current = queries.get_warning(url, wid)
current_state = review.shown_state(current["state"], current.get("withdrawn_at"))
review.opened(
    st.session_state,
    wid,
    labels[wid].removesuffix(t("pick_left_queue", lg)),
    in_force=current_state != "withdrawn",
    version=int(current["version"]),
)
sid = review.short_id(wid)
if (
    left_note and kept is not None and wid == kept["warning_id"]
):  # kept open out of the queue: say why
    st.warning(left_note, icon=":material/filter_alt_off:")

left, right = st.columns([3, 2], gap="large")
with left:
    st.markdown(
        review.badge(current["effective_level"], current_state, lg)
        + " &nbsp; "
        + escape(f"{sid} · {row.place} · {row.unit} · {row.domain_label}")
        + " &nbsp; · "
        + escape(
            f"{fmt_pct(current.get('probability'), lg)} · {t('state_' + current_state, lg)}"
            f" · {views.lead_words(current, lg)}"
        ),
        unsafe_allow_html=True,
    )
    st.caption(
        t(
            "valid_range",
            lg,
            start=fmt_datetime(current["valid_from"], lg, tz),
            end=fmt_datetime(current["valid_to"], lg, tz),
        )
    )
    model_caption(ctx, str(current["domain"]))  # the gate verdict beside the probability
    hist = queries.place_history(snap, current["domain"], current["unit_id"])
    where = hist.dropna(subset=["lon", "lat"]).tail(1)
    if not where.empty:
        lon, lat = float(where["lon"].iloc[0]), float(where["lat"].iloc[0])
        # a dispute case's centre is an address: shown to its 1 km square only (privacy)
        area = review.case_area(lon, lat, ctx.settings) if current["unit_type"] == "case" else None
        if area is not None:
            st.caption(t("case_area", lg, lat=f"{area['lat']:.2f}°N", lon=f"{area['lon']:.2f}°E"))
        else:
            st.caption(t("coordinates", lg, lat=f"{lat:.4f}°N", lon=f"{lon:.4f}°E"))
        with st.expander(t("locator_map", lg)):
            st.pydeck_chart(
                review.locator_deck(
                    where.iloc[0],
                    queries.boundary_paths(ctx.lake_dir),
                    ctx.settings,
                    area,
                    level=current["effective_level"],
                ),
                height=320,
            )
    st.markdown(f"**{t('reasons', lg)}**")
    st.markdown(
        "\n".join(f"- {text.md_escape(line)}" for line in views.warning_reason_lines(current, lg))
    )
    if len(hist) > 1:
        st.markdown(f"**{t('place_history', lg)}**")
        # only the two plotted columns reach the browser: the history also holds the place's
        # lon/lat and cell, which for a dispute case locate a household (privacy)
        chart, kind = views.place_history_series(hist, lg, tz)  # hours kept apart (S2)
        axis = alt.Axis(format="%") if kind == "probability" else alt.Axis(format=".2f")
        st.altair_chart(
            alt.Chart(chart)
            .mark_area(line=True, opacity=0.25)
            .encode(
                x=alt.X("when:N", sort=None, title=t("origin", lg), axis=alt.Axis(labelAngle=0)),
                y=alt.Y("value:Q", title=t(kind, lg), axis=axis),
            )
            .properties(height=180),
            width="stretch",
        )
    facts, tables = views.evidence_frames(current.get("evidence"))
    st.markdown(f"**{t('evidence', lg)}**")
    # tables that fit their frame and wrap (the data grid cut the values and the columns
    # past a phone's width: "Sensor-rule velocity, la…" at 390 px, user review 2026-12-07);
    # a table of several columns as cards in a narrow frame; the grids (sort, search,
    # CSV) in an expander below
    grids: list[tuple[str, pd.DataFrame]] = []
    if facts:
        rows = review.evidence_fact_rows(facts, lg, tz)  # each value once (S1)
        fact_frame = pd.DataFrame(
            {
                t("metric", lg): [label for label, _ in rows],
                t("value", lg): [value for _, value in rows],
            }
        )
        st.html(review.evidence_facts_html(fact_frame, label=t("evidence", lg)))
        grids.append(("", fact_frame))
    for k, (name, frame) in enumerate(tables.items()):
        words = review.evidence_word(name, lg)
        st.caption(words)
        shown_ev = review.evidence_table(frame, lg, tz)
        shell.wrapped_table(
            f"evidence_{k}",
            review.frame_table(shown_ev, label=words),
            review.frame_cards(shown_ev, title=(str(shown_ev.columns[0]),)),
        )
        grids.append((words, shown_ev))
    if grids:
        with st.expander(t("table_grid", lg)):  # sort, search, download (CSV)
            for words, grid in grids:
                if words:
                    st.caption(words)
                shell.grid(grid, hide_index=True, width="stretch")

with right:
    st.markdown(f"#### {t('decide', lg)}")
    if current_state == "withdrawn":
        why = review.event_why({"action": "withdraw_warning", "details": current}, lg)
        at = fmt_datetime(current["withdrawn_at"], lg, tz)
        st.info(t("withdrawn_note", lg, at=at, why=why), icon=":material/undo:")
    elif not auth.can_review(ctx.user.role):
        st.info(t("read_only", lg))
    else:
        # the draft is based on the version shown now; a submit refused as stale keeps
        # it there, in conflict, until the reviewer asks to review again (review.rebase)
        draft = review.draft_for(st.session_state, wid, int(current["version"]))
        review.drawn_in(draft, lg)  # another language's form: widgets of a new generation
        conflict = draft.get("conflict")
        now_level = current["effective_level"]
        # the conflict's notice has a slot of its own, present (empty) without one: the
        # form keeps its place in the page, so a rebase replaces it instead of leaving
        # the refused form's widgets beside the new ones in the browser for a while
        notice = st.container()
        if conflict:
            notice.error(
                review.stale_message(
                    conflict["last_review"],
                    lg,
                    tz,
                    people,
                    state=conflict.get("state", ""),
                    me=ctx.user.username,
                ),
                icon=":material/sync_problem:",
            )
            notice.button(
                t("review_again", lg),
                key=review.widget_key("rebase", draft, lg),
                on_click=review.rebase,
                args=(st.session_state,),
            )
        before = earlier.get(wid)
        if before is not None:  # the panel decided this place on an earlier run
            said = t(
                "earlier_note",
                lg,
                id=review.short_id(str(before["earlier_warning_id"])),
                marker=text.md_line(review.earlier_marker(before, lg, tz, people)),
                reason=text.md_line(review.shown_reason(before.get("reason"), lg)),
            )
            if bool(before.get("level_rose")):  # no shortcut: highlighted
                st.warning(said, icon=":material/trending_up:")
                st.markdown(
                    t(
                        "earlier_rose_note",
                        lg,
                        old=level_label(before.get("since_level"), lg),
                        new=level_label(before.get("level"), lg),
                    )
                )
            else:
                st.info(said, icon=":material/history:")
            same = None if conflict else review.same_decision(before, current, lg, tz)
            if same is not None:
                st.button(
                    t("earlier_same", lg),
                    key=f"rv_same_{sid}_{draft['serial']}_{lg}",
                    help=t("earlier_same_help", lg),
                    on_click=review.use_same_decision,
                    args=(st.session_state, wid, same),
                )
        with st.container(border=True):
            st.caption(t("form_for", lg, id=sid))
            # each widget gets the draft's value through its state, once (review.seed_widget)
            key = review.widget_key("action", draft, lg)
            review.seed_widget(st.session_state, key, draft["action"])
            action = st.radio(
                t("action", lg),
                list(review.REVIEW_ACTIONS),
                index=None,
                format_func=lambda a: t(f"action_{a}", lg),
                horizontal=True,
                key=key,
                on_change=review.set_field,
                args=review.field_args(st.session_state, "action", key, draft),
            )
            draft["action"] = action
            if action == "adjust":
                options = review.level_options(now_level)
                key = review.widget_key("level", draft, lg)
                seeded = draft["level"] if draft["level"] in options else None
                review.seed_widget(st.session_state, key, seeded)
                level = st.selectbox(
                    t("new_level", lg),
                    options,
                    index=None,
                    format_func=lambda v: level_label(v, lg),
                    placeholder=t("choose_level", lg),
                    key=key,
                    on_change=review.set_field,
                    args=review.field_args(st.session_state, "level", key, draft),
                )
                draft["level"] = level
            else:
                level = None
            key = review.widget_key("reason", draft, lg)
            review.seed_widget(st.session_state, key, draft["reason"])
            reason = st.text_area(
                t("reason", lg),
                height=90,
                max_chars=REASON_MAX_CHARS,
                key=key,
                on_change=review.set_field,
                args=review.field_args(st.session_state, "reason", key, draft),
            )
            draft["reason"] = reason
            if action:  # the decision and the level the warning will have after it
                st.caption(review.outcome_words(action, draft["level"], current, lg, people))
            submitted = st.button(
                t("submit", lg),
                type="primary",
                key=review.submit_key(wid, lg),
                disabled=bool(conflict),
            )
        if submitted and conflict:  # a click queued before the conflict was shown
            st.error(t("submit_in_conflict", lg), icon=":material/sync_problem:")
        elif submitted:
            # what the widgets returned in this run, not a copy kept from an earlier one
            form = review.submitted_draft(draft, action, level, reason)
            problem = review.decision_problem(form, now_level)
            if problem:
                st.error(t(problem, lg))
            else:
                chosen = review.decision(form)
                st.session_state.pop(review.REPLACED_KEY, None)
                try:
                    done = queries.review_warning(
                        url,
                        wid,
                        reviewer=ctx.user.username,
                        expected_version=int(form["base"]),
                        **chosen,
                    )
                except PersonalDataError as exc:  # a phone or ID number: nothing saved
                    st.session_state["rv_flash"] = ("error", exc.message.get(lg, exc.message["en"]))
                except ReplacedWarningError as exc:
                    # a newer run replaced it since the form was shown (out of force, out
                    # of the queue): nothing saved; name the warning in force for the place
                    said = review.replaced_message(exc, lg, tz)
                    st.session_state["rv_flash"] = ("error", said)
                    new = exc.replaced_by
                    if new is not None:
                        st.session_state[review.REPLACED_KEY] = (
                            wid,
                            str(new["warning_id"]),
                            str(new["domain"]),
                            new.get("county_code"),
                        )
                except StaleWarningError as exc:
                    # someone decided first (or a re-run withdrew it): keep theirs, tell;
                    # the form stays refused (not moved to the current version) until the
                    # reviewer presses "review again", so a second click cannot pass
                    gone = exc.current.get("withdrawn_at")
                    if gone is not None:
                        why = review.event_why(
                            {"action": "withdraw_warning", "details": exc.current}, lg
                        )
                        said = t("stale_withdrawn", lg, at=fmt_datetime(gone, lg, tz), why=why)
                        st.session_state["rv_flash"] = ("error", said)
                    else:
                        review.refuse(st.session_state, exc.current)
                else:
                    review.clear_draft(st.session_state, int(done["version"]))
                    review.saved(st.session_state, wid, int(done["version"]), list(labels))
                    st.session_state["rv_flash"] = (
                        "success",
                        review.saved_words(sid, chosen["action"], chosen["level"], done, lg),
                    )
                st.rerun()
        say_flash()

with st.container():
    st.markdown(f"**{t('trail', lg)}**")
    trail = review.trail_frame(
        queries.warning_reviews(url, wid), queries.warning_events(url, wid), lg, people
    )
    if trail.empty:
        st.caption("—")
    else:
        shown_trail = review.shown_trail(trail, lg, tz)  # a decision's no level: dismissed
        st.html(review.QUEUE_CSS)  # its reasons wrap in full (the grid cut them)
        # under 760 px of frame the decisions as cards: at 390 px the table's seven
        # columns cut the reason, the accountable text, after its first word
        shell.wrapped_table(
            "trail",
            review.trail_table(shown_trail, label=t("trail", lg)),
            review.trail_cards(shown_trail),
        )
        with st.expander(t("table_grid", lg)):  # sort, search, download (CSV)
            shell.grid(shown_trail, hide_index=True, width="stretch")
