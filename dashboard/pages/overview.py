"""Overview for leaders: this week's hotspots, warning counts, trend and places to watch."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from riskwarn.dashboard import maps, queries, trends, views
from riskwarn.dashboard.i18n import fmt_date, fmt_day, fmt_int, fmt_pct, t
from riskwarn.dashboard.shell import page_context

ctx = page_context("overview")
lg, tz, url = ctx.lang, ctx.tz, ctx.store_url
names = queries.unit_names(ctx.lake_dir)
all_warnings = views.effective_level(queries.warnings(url))
runs = {d: queries.published_run(url, d) for d in queries.DOMAINS_HOTSPOT}
origins = [pd.Timestamp(r["origin"]) for r in runs.values() if r]

if not origins and all_warnings.empty:
    st.info(t("no_data", lg))
    st.stop()
if origins:
    st.caption(t("week_of", lg, date=fmt_date(max(origins), lg, tz)))

# ---- headline numbers
histories = {d: queries.forecast_history(url, d) for d in queries.DOMAINS_HOTSPOT}
red = int((all_warnings["effective_level"] == "red").sum()) if not all_warnings.empty else 0
pending = int((all_warnings["state"] == "new").sum()) if not all_warnings.empty else 0
c1, c2, c3, c4 = st.columns(4)
c1.metric(t("kpi_warnings", lg), fmt_int(len(all_warnings), lg), border=True)
c2.metric(t("kpi_red", lg), fmt_int(red, lg), border=True)
c3.metric(t("kpi_pending", lg), fmt_int(pending, lg), border=True)
summaries = []
for d, h in histories.items():
    s = trends.weekly_summary(h, top_n=20)
    if not s.empty:
        summaries.append(s.assign(domain_label=t(f"domain_{d}", lg)))
if summaries:
    latest = summaries[0]
    delta = latest["top_mean"].iloc[-1] - latest["top_mean"].iloc[-2] if len(latest) > 1 else 0.0
    c4.metric(
        t("kpi_hot_mean", lg, domain=latest["domain_label"].iloc[0]),
        fmt_pct(latest["top_mean"].iloc[-1], lg),
        delta=f"{delta * 100:+.1f} pp" if len(latest) > 1 else None,
        delta_color="inverse",
        border=True,
        help=t("trend_y", lg, n=20),
    )

# ---- maps per domain, with the places to watch beside them
tabs = st.tabs([t(f"domain_{d}", lg) for d in queries.DOMAINS_HOTSPOT])
for tab, domain in zip(tabs, queries.DOMAINS_HOTSPOT, strict=True):
    with tab:
        run = runs[domain]
        run_id = str(run["run_id"]) if run else None
        dw = all_warnings[all_warnings["domain"] == domain]
        deck = queries.overview_map(
            url,
            ctx.lake_dir,
            domain,
            lg,
            ctx.settings.city_crs,
            ctx.settings.cell_size_m,
            maps.tile_url(),
            run_id,
            queries.warnings_version(dw),
        )
        if deck is None:
            st.info(t("no_data", lg))
            continue
        labels = queries.hotspot_labels(url, domain, run_id)
        left, right = st.columns([3, 2], gap="medium")
        with left:
            st.markdown(f"**{t('map_title', lg, domain=t(f'domain_{domain}', lg))}**")
            st.pydeck_chart(deck, height=460, key=f"map_{domain}")
            legend = " ".join(views.badge(v, lg) for v in ("red", "orange", "yellow", "blue"))
            st.markdown(
                legend + f"<br/><small>{t('map_caption', lg)}</small>", unsafe_allow_html=True
            )
        with right:
            st.markdown(f"**{t('top_places', lg)}**")
            places = views.top_places(dw, labels, n=6)
            lines = [
                "<div class='rw-place'>"
                + views.badge(p.level, lg)
                + " "
                + t(
                    "top_place_line",
                    lg,
                    place=views.place_words(p.county_code, p.township_code, names, lg),
                    n=fmt_int(p.n_warnings, lg),
                    prob=fmt_pct(p.max_probability, lg),
                    trend=t(f"trend_{p.trend}", lg)
                    if isinstance(p.trend, str) and p.trend
                    else "—",
                )
                + "</div>"
                for p in places.itertuples()
            ]
            st.markdown("".join(lines) or t("empty_queue", lg), unsafe_allow_html=True)
            st.markdown(f"**{t('hotspot_labels', lg)}**")
            if labels.empty:
                st.caption(t("no_data", lg))
            else:
                cols = st.columns(4)
                for col, lab in zip(cols, trends.TREND_LABELS, strict=True):
                    n = int((labels["label"] == lab).sum())
                    col.metric(t(f"trend_{lab}", lg), fmt_int(n, lg))

# ---- counts by county and the weekly trend
left, right = st.columns(2, gap="large")
with left:
    st.subheader(t("counts_title", lg))
    counts = views.warning_counts(all_warnings, names, lg)
    if counts.empty:
        st.caption(t("no_data", lg))
    else:
        st.altair_chart(views.counts_chart(counts, lg), width="stretch")
with right:
    st.subheader(t("trend_title", lg))
    if summaries:
        summary = pd.concat(summaries, ignore_index=True)
        summary["week"] = [fmt_day(o, lg, tz) for o in summary["origin"]]
        st.altair_chart(views.trend_chart(summary, lg, t("trend_y", lg, n=20)), width="stretch")
    else:
        st.caption(t("no_data", lg))
