"""Open dispute cases ranked by escalation risk: level in force, review state and the
explanation of each (pseudonymous ids only).

A case's explanation is its forecast's own, else the reasons of its warning (the
scoring pipeline writes the model's explanation into the warning). A dismissed case
shows "dismissed", not its old level; levels are coloured with the level palette.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import queries, views
from dashboard.i18n import LEVEL_HEX, fmt_date, fmt_int, fmt_pct, level_label, t
from dashboard.shell import page_context

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
st.caption(t("disputes_intro", lg))
warned = queries.warnings(snap, domain=queries.CASE_DOMAIN).drop_duplicates("unit_id")
warned = warned.set_index("unit_id")
cases = views.case_rows(cases, warned, names, lg)
run = queries.published_run(snap, queries.CASE_DOMAIN)
c1, c2, c3 = st.columns(3)
c1.metric(t("open_cases", lg), fmt_int(len(cases), lg), border=True)
c2.metric(t("level_red", lg), fmt_int((cases["level"] == "red").sum(), lg), border=True)
c3.metric(t("origin", lg), fmt_date(run["origin"], lg, tz) if run else "—", border=True)


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
st.dataframe(
    display.style.map(_level_style, subset=[t("level", lg)]),
    column_config={
        t("escalation_risk", lg): st.column_config.ProgressColumn(
            t("escalation_risk", lg), min_value=0.0, max_value=1.0, format="percent"
        )
    },
    hide_index=True,
    height=420,
    width="stretch",
)
st.subheader(t("explanation", lg))
for r in cases.head(5).itertuples():
    with st.expander(f"{r.unit_id} · {fmt_pct(r.probability, lg)} · {r.place} · {r.state_label}"):
        st.markdown(
            views.badge(r.level if isinstance(r.level, str) else None, lg), unsafe_allow_html=True
        )
        st.markdown("\n".join(f"- {views.md_text(line)}" for line in r.explanation_lines) or "—")
