"""Overview for leaders: this week's warnings on the map, the places to watch, the trend.

Wall-screen mode (``?wall=1``, button on the page): no sidebar, both hotspot maps side by
side and larger, the body refreshed every minute (``&refresh=<seconds>``).
Clicking a warned square or a township lists its warnings under the map, with a link
that opens the warning on the review page (``pages/warnings.py?warning=<id>``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import (
    auth,
    community_panel,
    map_layout,
    map_marks,
    map_panel,
    maps,
    model_plots,
    queries,
    shell,
    trends,
    views,
)
from dashboard.i18n import (
    TEXT,
    fmt_date,
    fmt_datetime,
    fmt_day,
    fmt_int,
    fmt_pct,
    fmt_points,
    localise_frame,
    t,
)
from dashboard.shell import model_caption, page_context
from riskwarn import domains

PAGE = {  # this page in the navigation (dashboard/page_index.py)
    "title": {"zh": "本周风险总览", "en": "This week's risk"},
    "icon": ":material/map:",
    "section": "section_leaders",
    "roles": ["leader", "reviewer", "data_scientist", "admin"],
    "order": 10,
}

ctx = page_context("overview")
lg, tz, url = ctx.lang, ctx.tz, ctx.store_url
wall = map_panel.wall_mode(shell.page_visit())  # ?wall=1, once per visit
MAP_HEIGHT = 560 if wall.on else 620  # wall: title, KPIs and whole maps on 1920 x 1080
# the width the city is fitted into (map_layout.map_fit_px): a phone's column, or a
# desktop's; the browser's own width never reaches the server, its User-Agent does
MAP_FIT_PX = map_layout.map_fit_px(wall.on, st.context.headers.get("User-Agent"))


def kpis(
    all_warnings: pd.DataFrame,
    summaries: list[pd.DataFrame],
    runs: dict[str, Any],
    week_start: Any = None,
    earlier: pd.DataFrame | None = None,
    compared: dict[str, Compared] | None = None,
) -> None:
    """Headline numbers: warnings in force, red, awaiting review, hotspot probability (with
    the calibration check's caveat when the model behind it failed it); ``compared``:
    what each domain's forecast is compared with (:func:`compared_with`)."""
    # a warning that ended before the week shown is not active in it (views.split_stale):
    # none of the three counts takes it (its note says how many and until when)
    active, stale = views.split_stale(all_warnings, week_start)
    red = int((active["effective_level"] == "red").sum()) if not active.empty else 0
    pending = int((active["state"] == "new").sum()) if not active.empty else 0
    with st.container(key="rwkpi"):
        c1, c2, c3, c4 = st.columns(4)
    c1.metric(t("kpi_warnings", lg), fmt_int(len(active), lg), border=True)
    stale_note = views.stale_words(stale, lg, tz)
    if stale_note:
        c1.caption(stale_note)
    c2.metric(
        t("kpi_red", lg),
        fmt_int(red, lg),
        border=True,
        help=t("kpi_red_help", lg, parts=views.red_by_domain(active, lg)) if red else None,
    )
    c3.metric(t("kpi_pending", lg), fmt_int(pending, lg), border=True)
    if pending:  # of those, how many the panel decided on an earlier run (not rose since)
        decided = views.decided_before(active, earlier)
        c3.caption(
            t(
                "kpi_pending_split",
                lg,
                earlier=fmt_int(decided, lg),
                fresh=fmt_int(pending - decided, lg),
            )
        )
    if summaries:
        latest = summaries[0]
        # "vs last week": the forecast of the origin a week before (trends.week_before),
        # not the previous origin (yesterday's, once scoring runs daily); none: no arrow
        before = trends.week_before(latest)
        delta = latest["top_mean"].iloc[-1] - before["top_mean"] if before is not None else 0.0
        domain = str(latest["domain"].iloc[0])
        how = (compared or {}).get(domain) or Compared()
        c4.metric(
            # the mean covers one domain (incidents): the label says which, not the help only
            kpi_label(str(latest["domain"].iloc[0])),
            fmt_pct(latest["top_mean"].iloc[-1], lg),
            # no arrow for "no change": a red "+0.0" read as rising risk on the wall screen;
            # the caption under the card names the forecast it compares with
            delta=fmt_points(delta, lg) if before is not None and abs(delta) >= 0.0005 else None,
            delta_color="inverse",
            border=True,
            help=kpi_help(
                domain,
                latest["origin"].iloc[-1],
                before["origin"] if before is not None else None,
                how,
            ),
        )
        if before is not None and abs(delta) >= 0.0005:  # the arrow names what it compares
            c4.caption(t("kpi_delta_vs", lg, date=fmt_day(before["origin"], lg, tz)))
        caveat = kpi_caveat(str(latest["domain"].iloc[0]), runs)
        if caveat:
            c4.caption(caveat)


KPI_TOP_N = 20  # the hotspot KPI averages this many riskiest cells (trends.weekly_summary)


def kpi_help(domain: str, origin: Any, before: Any = None, how: Compared | None = None) -> str:
    """The hotspot KPI's help: what the percentage is (the chance of at least one event of
    ``domain`` in a cell over the forecast's window, from ``origin`` for the domain's
    horizon), how it is counted (the mean of the :data:`KPI_TOP_N` highest) and what the
    arrow is (the change from the forecast of ``before``, a week earlier; None: none, and
    why when a week before has no forecast but older ones exist: ``how.gap``; the model
    versions when that forecast's is another than this one's)."""
    how = how or Compared()
    if before is not None:
        arrow = t("kpi_arrow_vs", lg, date=fmt_date(before, lg, tz), n=fmt_int(KPI_TOP_N, lg))
        then, now = how.versions.get(trends.utc(before)), how.versions.get(trends.utc(origin))
        if then and now and then != now:
            arrow += " " + t("kpi_arrow_version", lg, then=then, now=now)
    elif how.gap is not None:
        day, older = how.gap
        arrow = t("kpi_arrow_gap", lg, day=fmt_date(day, lg, tz), older=fmt_date(older, lg, tz))
    else:
        arrow = t("kpi_arrow_none", lg)
    days = domains.get(domain).horizon_days
    start = pd.Timestamp(origin)
    end = start + pd.Timedelta(days=days) - pd.Timedelta(seconds=1)  # the window's last day
    key = f"kpi_hot_event_{domain}"
    return t(
        "kpi_hot_mean_help",
        lg,
        event=t(key, lg) if key in TEXT else t(f"domain_{domain}", lg),
        start=fmt_date(start, lg, tz),
        end=fmt_date(end, lg, tz),
        days=fmt_int(days, lg),
        size=fmt_int(int(ctx.settings.cell_size_m), lg),
        n=fmt_int(KPI_TOP_N, lg),
        arrow=arrow,
    )


def kpi_caveat(domain: str, runs: dict[str, Any]) -> str | None:
    """The calibration caveat of the model behind the KPI (its published run's version),
    None when its calibration check passed or cannot be read."""
    run = runs.get(domain) or {}
    version = run.get("model_version")
    if not version:
        return None
    gate = queries.version_gate(ctx.settings.resolved_mlflow_uri, domain, str(version))
    return views.calibration_caveat(gate, lg)


def kpi_label(domain: str) -> str:
    """The hotspot KPI's label naming its domain, short enough for its card."""
    key = f"kpi_hot_mean_{domain}"
    return t(key, lg) if key in TEXT else t("kpi_hot_mean", lg, domain=t(f"domain_{domain}", lg))


def places(
    dw: pd.DataFrame, labels: pd.DataFrame, names: dict[str, str], n: int, title: str | None = None
) -> None:
    """The townships to watch, most pressing first (``title``: instead of the usual one)."""
    st.markdown(f"**{title or t('top_places', lg)}**")
    lines = [
        "<div class='rw-place'>"
        + views.badge(p.level, lg)
        + " "
        + views.place_line(p, views.place_words(p.county_code, p.township_code, names, lg), lg)
        + "</div>"
        for p in views.top_places(dw, labels, n=n).itertuples()
    ]
    # its own words: the review queue's "No warnings match." spoke of a filter there is not
    st.markdown("".join(lines) or t("no_places_to_watch", lg), unsafe_allow_html=True)


# the overview lists this many red warnings off its maps at most, then "and n more"
# (a week with many red dispute cases pushed the maps off the screen)
RED_OFF_MAPS_LINES = 5


# a red line's link wraps (shell.CSS: Streamlit cut a link's label at its frame's edge: at
# 390 px the only red line read "Dispute escalation · Susong County, Yuanfeng Townshi…",
# its 87.8 % hidden); its probability comes first as well (texts: red_off_maps_line)


def red_off_the_maps(all_warnings: pd.DataFrame, names: dict[str, str]) -> None:
    """The red warnings counted above whose domain has no map here (a dispute case's):
    the :data:`RED_OFF_MAPS_LINES` most probable, each with its domain and place and a
    link to it on the review page, then "and n more" (a link to the review page for the
    roles that may open it)."""
    red = views.red_off_the_maps(all_warnings, queries.DOMAINS_HOTSPOT)
    if red.empty:
        return
    if wall.on:
        wall_red_off_the_maps(red, names)
        return
    with st.container(key="rwred_off_maps"):
        st.markdown(f"**{t('red_off_maps', lg, n=fmt_int(len(red), lg))}**")
        for w in red.head(RED_OFF_MAPS_LINES).itertuples():
            line = t(
                "red_off_maps_line",
                lg,
                domain=t(f"domain_{w.domain}", lg),
                place=views.place_words(w.county_code, w.township_code, names, lg),
                prob=fmt_pct(w.probability, lg),
            )
            if auth.can_view(ctx.user.role, "warnings"):
                st.page_link(
                    "pages/warnings.py",
                    label=line,
                    icon=":material/open_in_new:",
                    query_params={"warning": str(w.warning_id)},
                )
            else:
                # the line holds data (a unit's name from the admin table): escaped as HTML
                # and as Markdown, or a name with a tag would run in the reader's browser
                st.markdown(
                    views.badge("red", lg) + " " + views.md_text(html.escape(line)),
                    unsafe_allow_html=True,
                )
        if len(red) > RED_OFF_MAPS_LINES:
            more = fmt_int(len(red) - RED_OFF_MAPS_LINES, lg)
            if auth.can_view(ctx.user.role, "warnings"):
                st.page_link(
                    "pages/warnings.py",
                    label=t("red_off_maps_more_link", lg, n=more),
                    icon=":material/list:",
                    # the queue filtered to these red warnings, not the whole of it
                    query_params=views.filters_link("red", red["domain"].unique()),
                )
            else:
                st.markdown(t("red_off_maps_more_plain", lg, n=more))


# the wall's side column holds this many red lines at most (more: "and n more"), so the
# places to watch stay on a 1080 px screen (3 red lines and 3 places each ran past it in
# English: bench/dashboard_screenshots.py --widths 1920, 2026-12-06)
WALL_RED_LINES = 3


def wall_red_off_the_maps(red: pd.DataFrame, names: dict[str, str]) -> None:
    """The wall screen's list of the red warnings off its maps: read-only (the wall is
    unattended: no link to a page that needs a sign-in), each line with its domain, the
    unit's id (a case's number as its source registers it, a site's id), place and probability; never a
    dispute party's personal data."""
    lines = [
        "<div class='rw-place'>"
        + views.badge("red", lg)
        + " "
        + html.escape(
            t(
                "red_off_maps_wall_line",
                lg,
                domain=t(f"domain_{w.domain}", lg),
                unit=str(w.unit_id),
                place=views.place_words(w.county_code, w.township_code, names, lg),
                prob=fmt_pct(w.probability, lg),
            )
        )
        + "</div>"
        for w in red.head(WALL_RED_LINES).itertuples()
    ]
    if len(red) > WALL_RED_LINES:
        more = fmt_int(len(red) - WALL_RED_LINES, lg)
        lines.append(f"<div class='rw-place'>{t('red_off_maps_more', lg, n=more)}</div>")
    title = t("red_off_maps", lg, n=fmt_int(len(red), lg))
    with st.container(key="rwwall_red"):
        st.markdown(f"**{title}**" + "".join(lines), unsafe_allow_html=True)


def weeks_words(n: int) -> dict[str, str]:
    """``n`` for the zh texts and ``weeks`` ('1 week', '3 weeks') for the en ones."""
    return {"n": fmt_int(n, lg), "weeks": f"{fmt_int(n, lg)} week{'' if n == 1 else 's'}"}


@dataclass(frozen=True)
class Compared:
    """What a domain's newest forecast is compared with on this page, the KPI's arrow and
    the hotspot changes alike (one rule: ``trends.week_picks``): ``gap`` (the day a week
    before, which no forecast is near, and the older forecast not compared with; None:
    no gap) and ``versions`` (origin -> model version of the runs in the history)."""

    gap: tuple[pd.Timestamp, pd.Timestamp] | None = None
    versions: dict[pd.Timestamp, str] = field(default_factory=dict)


def compared_with(snap: queries.Snapshot, domain: str, history: pd.DataFrame) -> Compared:
    """:class:`Compared` of ``domain`` from its forecast history."""
    if history.empty:
        return Compared()
    return Compared(
        gap=trends.missing_week(history["origin"].unique()),
        versions=queries.run_versions(snap, domain),
    )


def hotspot_changes(
    labels: pd.DataFrame, origins: list[pd.Timestamp], how: Compared | None = None
) -> None:
    """How many places emerged, intensified, persisted, diminished, and against which
    forecasts (``origins``: weekly-spaced, oldest first), naming the model versions when
    they differ; with no forecast, no week before (``how.gap``) or fewer than two weeks
    published, says which (no labels)."""
    how = how or Compared()
    st.markdown(f"**{t('hotspot_labels', lg)}**")
    if not origins:
        st.caption(t("hotspot_no_forecast", lg))
        return
    if len(origins) < 2 and how.gap is not None:
        day, older = how.gap
        st.caption(
            t("hotspot_week_missing", lg, day=fmt_day(day, lg, tz), older=fmt_day(older, lg, tz))
        )
        return
    if len(origins) < 2:
        st.caption(t("hotspot_history_short", lg, **weeks_words(len(origins))))
        return
    earlier = "、" if lg == "zh" else ", "
    dates = earlier.join(fmt_day(o, lg, tz) for o in reversed(origins[:-1]))
    st.caption(t("hotspot_compared", lg, dates=dates))
    now = how.versions.get(trends.utc(origins[-1]))
    other = [
        (o, v) for o in reversed(origins[:-1]) if (v := how.versions.get(trends.utc(o))) != now
    ]
    if now and other:
        st.caption(
            t(
                "hotspot_versions",
                lg,
                now=now,
                dates=earlier.join(fmt_day(o, lg, tz) for o, _ in other),
                versions=earlier.join(f"{fmt_day(o, lg, tz)}: {v or '—'}" for o, v in other),
            )
        )
    if labels.empty:
        st.caption(t("hotspot_none", lg))
        return
    cols = st.columns(4)
    for col, lab in zip(cols, trends.TREND_LABELS, strict=True):
        col.metric(t(f"trend_{lab}", lg), fmt_int(int((labels["label"] == lab).sum()), lg))


def picked_panel(dw: pd.DataFrame, picked: dict | None, names: dict[str, str], domain: str) -> None:
    """The warnings of the clicked square or township, and a link to review them."""
    if picked is None:
        st.caption(t("map_click_hint", lg))
        return
    hit = views.picked_warnings(dw, picked)
    where = picked.get("place") or "—"
    if hit.empty:
        st.info(t("map_pick_none", lg, place=where))
        return
    st.markdown(f"**{t('map_pick_title', lg, place=where, n=fmt_int(len(hit), lg))}**")
    shown = hit.assign(
        place=[
            views.place_words(c, tw, names, lg)
            for c, tw in zip(hit["county_code"], hit["township_code"], strict=True)
        ],
        reason=[views.first_reason(r, lg) for r in hit["reasons"]],
    )
    table = localise_frame(
        shown,
        lg,
        tz,
        columns={
            "effective_level": "level",
            "place": "place",
            "unit_id": "unit",
            "probability": "probability",
            "state": "state",
            "valid_to": "valid_until",
            "reason": "reason_col",
        },
        times=("valid_to",),
        levels=("effective_level",),
        states=("state",),
        pcts=("probability",),
    )
    event = shell.grid(
        table,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key=f"picked_{domain}",
        height=min(38 + 35 * len(table), 260),
    )
    rows = event["selection"]["rows"] if event else []
    chosen = hit.iloc[rows[0]] if rows else hit.iloc[0]
    if auth.can_view(ctx.user.role, "warnings"):
        st.page_link(
            "pages/warnings.py",
            label=t(
                "map_open_review",
                lg,
                place=views.place_words(chosen["county_code"], chosen["township_code"], names, lg),
            ),
            icon=":material/open_in_new:",
            query_params={"warning": str(chosen["warning_id"])},
        )


def domain_map(
    snap: queries.Snapshot, domain: str, dw: pd.DataFrame, names: dict[str, str]
) -> None:
    """Title, map with legend, and what was clicked, for one hotspot domain."""
    run = queries.published_run(snap, domain)
    deck = queries.overview_map(
        url,
        snap,
        ctx.lake_dir,
        domain,
        lg,
        ctx.settings.city_crs,
        ctx.settings.cell_size_m,
        maps.tile_url(),
        queries.run_key(snap, domain),
        queries.warnings_version(dw),
        width_px=MAP_FIT_PX,
        height_px=MAP_HEIGHT,
        places_key=queries.places_key(snap),
        tz=tz,
    )
    if deck is None:
        st.info(t("no_data", lg))
        return
    st.markdown(f"**{t('map_title', lg, domain=t(f'domain_{domain}', lg))}**")
    model_caption(ctx, domain)  # the model's version and gate verdict
    quiet = bool(run) and dw.empty  # a served week with no warning in force
    words = t(f"domain_{domain}", lg)
    kinds = getattr(deck, "place_kinds", ())  # the warned sites and cases drawn over it
    picked = map_panel.show_map(
        deck,
        maps.legend_html(
            lg,
            # a quiet week says so at the legend's head: "no warned cell" where warned sites
            # or cases are drawn (a plain "no warning" beside them read as a contradiction)
            empty=t("map_legend_empty_cells" if kinds else "map_legend_empty", lg)
            if quiet
            else None,
            places=map_marks.legend_items(kinds, lg),
        ),
        key=f"map_{domain}",
        height=MAP_HEIGHT,
        banner=t("map_banner_empty", lg, domain=words) if quiet else None,
    )
    if quiet:
        empty_map_note(snap, domain)
    if picked is not None and picked.get("layer") == "warned-places":
        # a site's or an area's cases: their warnings (of the site, stream and case runs)
        picked_panel(place_warnings(snap), picked, names, domain)
    else:
        picked_panel(dw, picked, names, domain)
    if domain == "disputes" and run and not wall.on:
        # the disputes cell map ranks below random: where disputes will be, by community
        community_panel.show(ctx, run["origin"])


def place_warnings(snap: queries.Snapshot) -> pd.DataFrame:
    """The warnings in force that the maps' markers stand for: the sites' (model and
    stream) and the dispute cases', less those stale in the week shown (as the markers)."""
    week = queries.week_shown(snap)
    frames = [
        views.split_stale(views.effective_level(queries.warnings(snap, domain=d)), week)[0]
        for d in (queries.site_domain(snap), queries.STREAM_DOMAIN, queries.CASE_DOMAIN)
    ]
    full = [f for f in frames if not f.empty]
    return pd.concat(full, ignore_index=True) if full else frames[-1]


def empty_map_note(snap: queries.Snapshot, domain: str) -> None:
    """Why a published run's map has no squares: no cell's chance reaches the lowest
    level (an honest forecast, e.g. sparse disputes), or the warnings ended."""
    top = queries.top_forecasts(snap, domain, 1)
    p = top["probability"].max() if "probability" in top and len(top) else None
    thr = domains.get(domain).levels.raise_at[0]
    below = p is None or pd.isna(p) or float(p) < thr
    key = "map_empty_below" if below else "map_empty_other"
    words = t(f"domain_{domain}", lg)
    st.info(t(key, lg, domain=words, p=fmt_pct(p, lg), thr=fmt_pct(thr, lg, 0)))


# the page's snapshot for the first run of body(); the wall screen's refreshes (fragment
# runs) each read a new one
FIRST_SNAPSHOT = [ctx.snapshot]


def body() -> None:
    if wall.on and not shell.still_signed_in(ctx.settings):
        st.rerun(scope="app")  # a removed or demoted user's wall screen ends at once
    snap = FIRST_SNAPSHOT.pop() if FIRST_SNAPSHOT else queries.snapshot(url)
    names = queries.unit_names(ctx.lake_dir)
    all_warnings = views.effective_level(queries.warnings(snap))
    runs = {d: queries.published_run(snap, d) for d in queries.DOMAINS_HOTSPOT}
    # the week shown: the newest hotspot origin; the maps' markers judge staleness by it too
    week_start = queries.week_shown(snap)
    if week_start is None and all_warnings.empty:  # say which home it reads: maybe wrong
        home = " ".join(str(ctx.settings.home.resolve()).replace("`", "'").split())
        st.info(t("no_data_home", lg, home=f"`{home}`"))
        return
    if week_start is not None:
        # the 7 days the forecast covers: with daily scoring the origin is any weekday,
        # "Week of 2 Jan" (a Tuesday) read as a calendar week
        days = max(domains.get(d).horizon_days for d in queries.DOMAINS_HOTSPOT)
        last_day = pd.Timestamp(week_start) + pd.Timedelta(days=days) - pd.Timedelta(seconds=1)
        st.caption(
            t("week_of", lg, date=fmt_date(week_start, lg, tz), end=fmt_date(last_day, lg, tz))
        )
    histories = {d: queries.forecast_history(snap, d) for d in queries.DOMAINS_HOTSPOT}
    compared = {d: compared_with(snap, d, h) for d, h in histories.items()}
    summaries = []
    for d, h in histories.items():
        s = trends.weekly_summary(h, top_n=KPI_TOP_N)
        if not s.empty:
            summaries.append(s.assign(domain=d, domain_label=t(f"domain_{d}", lg)))
    kpis(all_warnings, summaries, runs, week_start, queries.earlier_decisions(snap), compared)
    # below the KPIs too, a warning that ended before the week shown is not this week's:
    # the red list, the maps' places and the county chart count what the KPIs count
    all_warnings = views.split_stale(all_warnings, week_start)[0]

    def in_domain(domain: str) -> pd.DataFrame:
        return (
            all_warnings[all_warnings["domain"] == domain]
            if not all_warnings.empty
            else all_warnings
        )

    if wall.on:  # both maps side by side, the places to watch in a column beside them
        *map_cols, side = st.columns([5] * len(queries.DOMAINS_HOTSPOT) + [3], gap="medium")
        for col, domain in zip(map_cols, queries.DOMAINS_HOTSPOT, strict=True):
            with col:
                domain_map(snap, domain, in_domain(domain), names)
        # red warnings of domains with no map here first: counted in the KPI, found here
        off = views.red_off_the_maps(all_warnings, queries.DOMAINS_HOTSPOT)
        with side, st.container(key="rwwall_places"):
            red_off_the_maps(all_warnings, names)
            for i, domain in enumerate(queries.DOMAINS_HOTSPOT):
                if i or not off.empty:  # a gap between the lists
                    st.html("<div style='height:0.6rem'></div>")
                labels = queries.hotspot_labels(snap, domain)
                title = t("top_places_of", lg, domain=t(f"domain_{domain}", lg))
                # 4 each: English lines wrap to two; 5 each ran past 1080 px (screenshot);
                # 2 each under a red list (3 ran past it)
                n = 4 if off.empty else 2
                places(in_domain(domain), labels, names, n=n, title=title)
        st.caption(
            t(
                "wall_refreshed",
                lg,
                at=fmt_datetime(pd.Timestamp.now(tz="UTC"), lg, tz),
                s=wall.refresh_s,
            )
        )
        return

    red_off_the_maps(all_warnings, names)
    tabs = st.tabs([t(f"domain_{d}", lg) for d in queries.DOMAINS_HOTSPOT])
    for tab, domain in zip(tabs, queries.DOMAINS_HOTSPOT, strict=True):
        with tab:
            dw = in_domain(domain)
            labels = queries.hotspot_labels(snap, domain)
            with st.container(key=f"rwrow_{domain}"):
                left, right = st.columns([3, 2], gap="medium")
            with left:
                domain_map(snap, domain, dw, names)
            with right:
                places(dw, labels, names, n=6)
                hotspot_changes(labels, queries.hotspot_origins(snap, domain), compared[domain])

    with st.container(key="rwrow_charts"):
        left, right = st.columns(2, gap="large")
    with left:
        st.subheader(t("counts_title", lg))
        counts = views.warning_counts(all_warnings, names, lg)
        if counts.empty:
            st.caption(t("no_data", lg))
        else:
            st.altair_chart(views.counts_chart(counts, lg), width="stretch")
    with right:
        observed_history(snap)


def observed_history(snap: queries.Snapshot) -> None:
    """Is it rising: per domain, the weeks observed before its run's origin (the publish
    step's ``observed_weeks``; the champion cannot score older origins out of sample),
    then this week's forecast as the next point; one small chart per domain, each with
    its own axis (a few disputes a week beside hundreds of incidents)."""
    site = next((d for d in queries.SITE_DOMAINS if queries.published_run(snap, d)), None)
    runs = {
        d: r
        for d in [*queries.DOMAINS_HOTSPOT, *([site] if site else [])]
        if (r := queries.published_run(snap, d))
    }
    history = {d: queries.observed_weeks(snap, d) for d in runs}
    n = max((len(h) for h in history.values()), default=0)
    st.subheader(t("observed_title", lg, n=fmt_int(n, lg)) if n else t("trend_title", lg))
    for domain, run in runs.items():
        is_site = domains.get(domain).family == "site"
        observed = history[domain]
        words = t(f"domain_{domain}", lg)
        st.markdown(
            t("observed_domain_sites" if is_site else "observed_domain_cells", lg, domain=words)
        )
        if observed.empty:
            # scored and served, not yet counted (`riskwarn score` alone: the publish
            # DAG counts the weeks after scoring): no chart, said plainly
            origin = fmt_datetime(run["origin"], lg, tz)
            st.caption(t("observed_pending", lg, origin=origin))
            continue
        expected = None if is_site else queries.expected_units(snap, domain)
        # the forecast point like for like with the weeks observed: scaled by the served
        # model's backtest observed / expected (a model that over-predicts drew a rise)
        backtest = None if expected is None else backtest_ratio(domain, run)
        ratio = backtest[0] / backtest[1] if backtest else None
        series = views.observed_series(observed, expected, lg, tz, ratio=ratio)
        y = t("observed_y_sites" if is_site else "observed_y_cells", lg)
        st.altair_chart(
            views.observed_chart(series, lg, y, views.domain_colour(domain)), width="stretch"
        )
        note = views.observed_axis_note(series, lg)
        if note:
            st.caption(note)
        origin = fmt_datetime(run["origin"], lg, tz)
        st.caption(
            t("observed_caption_sites" if is_site else "observed_caption", lg, origin=origin)
        )
        if backtest and expected is not None and ratio is not None:
            st.caption(
                t(
                    "observed_adjusted",
                    lg,
                    raw=f"{expected:,.1f}",
                    obs=fmt_int(round(backtest[0]), lg),
                    exp=fmt_int(round(backtest[1]), lg),
                    ratio=f"{ratio:.2f}",
                    adj=f"{expected * ratio:,.1f}",
                )
            )
        if views.forecast_off_observed(series):
            obs = series.loc[series["kind"] == "observed", "value"]
            point = float(series.loc[series["kind"] == "forecast", "value"].iloc[-1])
            st.warning(
                t(
                    "observed_off",
                    lg,
                    fc=f"{point:,.1f}",
                    lo=fmt_int(int(obs.min()), lg),
                    hi=fmt_int(int(obs.max()), lg),
                    n=fmt_int(len(observed), lg),
                )
            )
    if not runs:  # a run whose weeks are not counted yet said so above: not "no data"
        st.caption(t("no_data", lg))


def backtest_ratio(domain: str, run: dict[str, Any]) -> tuple[float, float] | None:
    """``(observed, expected)`` of the backtest of the model behind ``run`` (its
    ``plots/reliability.json``), None when it cannot be read (an older model, MLflow
    down): the forecast point is then drawn as the model's sum, as before."""
    version = run.get("model_version")
    if not version:
        return None
    try:
        data = queries.version_reliability(ctx.settings.resolved_mlflow_uri, domain, str(version))
    except Exception:  # MLflow unreachable: the chart without the adjustment
        return None
    return model_plots.observed_over_expected(data)


map_panel.styles()
map_panel.wall_switch(wall, lg)
if wall.on:
    st.fragment(run_every=wall.refresh_s)(body)()
else:
    body()
