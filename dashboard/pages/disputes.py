"""Open dispute cases not yet escalated, ranked by escalation risk: level in force, review
state and the explanation of each (parties by pseudonymous ids only); the open cases that
already escalated (not scored: the run's ``unscored``) counted and listed apart.

A case's explanation is its forecast's own, else the reasons of its warning (the
scoring pipeline writes the model's explanation into the warning). A dismissed case
shows "dismissed", not its old level; levels are coloured with the level palette.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import queries, review, shell, views
from dashboard.i18n import LEVEL_HEX, fmt_date, fmt_int, fmt_pct, level_label, t
from dashboard.shell import model_caption, page_context, wrapped_table

PAGE = {  # this page in the navigation (dashboard/page_index.py)
    "title": {"zh": "矛盾纠纷案件", "en": "Dispute cases"},
    "icon": ":material/groups:",
    "section": "section_panels",
    "roles": ["leader", "reviewer", "admin"],
    "order": 30,
}

ctx = page_context("disputes")
lg, tz, snap = ctx.lang, ctx.tz, ctx.snapshot
names = queries.unit_names(ctx.lake_dir)
cases = queries.published_forecasts(snap, queries.CASE_DOMAIN)
if cases.empty:
    st.info(t("no_data", lg))
    st.stop()
warned = queries.warnings(snap, domain=queries.CASE_DOMAIN).drop_duplicates("unit_id")
warned = warned.set_index("unit_id")
cases = views.case_rows(cases, warned, names, lg)
run = queries.published_run(snap, queries.CASE_DOMAIN)
# the open cases the model does not score (escalated already: in the petition, police or
# court workflow), published with the run: "Open cases 50" read as every open case, where
# 103 were open (review of 6 Dec 2026)
escalated = views.unscored_cases(run)
origin = fmt_date(run["origin"], lg, tz) if run else "—"  # said here: a 4th metric cut it
if escalated is None:
    st.caption(t("disputes_intro_unknown", lg, origin=origin))
else:
    n_esc = len(escalated)
    st.caption(
        t(
            "disputes_intro",
            lg,
            total=fmt_int(len(cases) + n_esc, lg),
            scored=fmt_int(len(cases), lg),
            escalated=fmt_int(n_esc, lg),
            origin=origin,
        )
    )
model_caption(ctx, queries.CASE_DOMAIN)  # the model's gate verdict beside its probabilities
c1, c2, c3 = st.columns(3)
c1.metric(t("cases_scored", lg), fmt_int(len(cases), lg), border=True)
c2.metric(
    t("cases_escalated", lg),
    fmt_int(len(escalated), lg) if escalated is not None else "—",
    help=t("cases_escalated_help", lg),
    border=True,
)
c3.metric(t("level_red", lg), fmt_int((cases["level"] == "red").sum(), lg), border=True)


def _level_style(value: str) -> str:
    code = LEVEL_OF_LABEL.get(value)
    if code is None:
        return ""
    ink = "#222" if code in ("yellow", "none") else "#fff"
    return f"background-color: {LEVEL_HEX[code]}; color: {ink}"


LEVEL_OF_LABEL = {level_label(v, lg): v for v in ("red", "orange", "yellow", "blue")}
display = pd.DataFrame(
    {
        t("case", lg): cases["unit_id"],
        t("escalation_risk", lg): cases["probability"],
        t("level", lg): [level_label(v, lg) if isinstance(v, str) else "—" for v in cases["level"]],
        t("review_state", lg): cases["state_label"],
        t("place", lg): cases["place"],
        t("explanation", lg): cases["explanation_text"],
    }
)
# a table that fits its frame, the explanations wrapped in full (the grid cut them at
# 1280 px), cards under 760 px (review.QUEUE_CSS); the grid (sort, search, CSV) below
cols = list(display.columns)
shown = display.assign(**{cols[1]: [fmt_pct(p, lg, 2) for p in cases["probability"]]})
badges = [review.badge(v, "new", lg) if isinstance(v, str) else "—" for v in cases["level"]]
wrapped_table(
    "cases",
    review.frame_table(
        shown,
        keep=(cols[0], cols[2]),
        numbers=(cols[1],),
        text=(cols[5],),
        cells={cols[2]: badges},
        label=t("cases_scored", lg),
    ),
    review.frame_cards(shown, title=(cols[2], cols[0], cols[1]), cells={cols[2]: badges}),
)
with st.expander(t("table_grid", lg)):
    shell.grid(
        display,
        style=lambda s: s.map(_level_style, subset=[t("level", lg)]),
        column_config={
            t("escalation_risk", lg): st.column_config.ProgressColumn(
                t("escalation_risk", lg), min_value=0.0, max_value=1.0, format="percent"
            )
        },
        hide_index=True,
        height=420,
        width="stretch",
    )
if escalated:
    with st.expander(t("cases_escalated_list", lg, n=fmt_int(len(escalated), lg))):
        st.caption(t("cases_escalated_note", lg))
        # a case id is the source's register number: data, never Markdown (an id made of
        # an image and a link rendered as both)
        st.markdown(("、" if lg == "zh" else ", ").join(views.md_line(i) for i in escalated))
st.subheader(t("explanation", lg))
for r in cases.head(5).itertuples():
    with st.expander(
        f"{views.md_line(r.unit_id)} · {fmt_pct(r.probability, lg)} · {views.md_line(r.place)}"
        f" · {r.state_label}"
    ):
        st.markdown(
            views.badge(r.level if isinstance(r.level, str) else None, lg), unsafe_allow_html=True
        )
        st.markdown("\n".join(f"- {views.md_text(line)}" for line in r.explanation_lines) or "—")
