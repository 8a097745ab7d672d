"""Open dispute cases ranked by escalation risk, with explanations (pseudonymous ids only)."""

from __future__ import annotations

import streamlit as st

from dashboard import queries, views
from dashboard.i18n import fmt_date, fmt_int, fmt_pct, level_label, t
from dashboard.shell import page_context

ctx = page_context("disputes")
lg, tz, url = ctx.lang, ctx.tz, ctx.store_url
names = queries.unit_names(ctx.lake_dir)
cases = queries.published_forecasts(url, queries.CASE_DOMAIN)
if cases.empty:
    st.info(t("no_data", lg))
    st.stop()
st.caption(t("disputes_intro", lg))
level_of = queries.warnings(url, domain=queries.CASE_DOMAIN).set_index("unit_id")["effective_level"]
cases = cases.sort_values("probability", ascending=False).assign(
    level=lambda f: f["unit_id"].map(level_of),
    place=lambda f: [
        views.place_words(c, tw, names, lg)
        for c, tw in zip(f["county_code"], f["township_code"], strict=True)
    ],
    explanation_text=lambda f: [
        ("；" if lg == "zh" else "; ").join(views.reason_lines(e, lg)) for e in f["explanation"]
    ],
)
run = queries.published_run(url, queries.CASE_DOMAIN)
c1, c2, c3 = st.columns(3)
c1.metric(t("open_cases", lg), fmt_int(len(cases), lg), border=True)
c2.metric(t("level_red", lg), fmt_int((cases["level"] == "red").sum(), lg), border=True)
c3.metric(t("origin", lg), fmt_date(run["origin"], lg, tz) if run else "—", border=True)

display = cases.assign(
    level=[level_label(v, lg) if isinstance(v, str) else "—" for v in cases["level"]]
)
st.dataframe(
    display[["unit_id", "probability", "level", "place", "explanation_text"]].rename(
        columns={
            "unit_id": t("case", lg),
            "probability": t("escalation_risk", lg),
            "level": t("level", lg),
            "place": t("place", lg),
            "explanation_text": t("explanation", lg),
        }
    ),
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
    with st.expander(f"{r.unit_id} · {fmt_pct(r.probability, lg)} · {r.place}"):
        st.markdown(
            views.badge(r.level if isinstance(r.level, str) else None, lg), unsafe_allow_html=True
        )
        st.markdown("\n".join(f"- {line}" for line in views.reason_lines(r.explanation, lg)))
