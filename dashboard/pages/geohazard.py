"""Geohazard sites: every site's level and why on a map and a list, then one site in detail
(rain, displacement, velocity and tangent angle with thresholds; sensor health)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import auth, map_panel, maps, queries, review, sensors, shell, views
from dashboard.i18n import (
    AXIS_DAY,
    LEVEL_RANK,
    fmt_age,
    fmt_datetime,
    fmt_day,
    fmt_int,
    fmt_pct,
    level_label,
    localise_frame,
    place_name,
    t,
)
from dashboard.shell import model_caption, page_context, wrapped_table
from dashboard.text import md_line
from riskwarn.store import AlreadyAcknowledgedError, NeverSentError

PAGE = {  # this page in the navigation (dashboard/page_index.py)
    "title": {"zh": "地质灾害隐患点", "en": "Geohazard sites"},
    "icon": ":material/landslide:",
    "section": "section_panels",
    "roles": ["leader", "reviewer", "data_scientist", "admin"],
    "order": 40,
}

ctx = page_context("geohazard")
lg, tz, url, snap = ctx.lang, ctx.tz, ctx.store_url, ctx.snapshot
names = queries.unit_names(ctx.lake_dir)
sites = queries.hazard_sites(ctx.lake_dir)
site_domain, scores = next(
    ((d, f) for d in queries.SITE_DOMAINS if not (f := queries.published_forecasts(snap, d)).empty),
    (queries.SITE_DOMAINS[-1], pd.DataFrame()),
)
if sites.empty and scores.empty:
    st.info(t("no_data", lg))
    st.stop()
level_of = queries.warnings(snap, domain=site_domain).set_index("unit_id")["effective_level"]
streamed = queries.warnings(snap, domain=queries.STREAM_DOMAIN)  # the real-time stream's levels
if not streamed.empty:
    live = views.effective_level(streamed).drop_duplicates("unit_id")
    live = live.set_index("unit_id")["effective_level"]
    above = [
        u for u, lv in live.items() if LEVEL_RANK.get(lv, 0) > LEVEL_RANK.get(level_of.get(u), 0)
    ]
    level_of = pd.concat([level_of.drop(above, errors="ignore"), live[above]])
prob_of = scores.set_index("unit_id")["probability"] if not scores.empty else pd.Series(dtype=float)
if sites.empty:
    sites = scores[["unit_id"]].rename(columns={"unit_id": "record_id"}).assign(name=None)
sites = sites.assign(
    rank=lambda f: (
        f["record_id"].map(level_of).map({"red": 0, "orange": 1, "yellow": 2, "blue": 3}).fillna(9)
    )
).sort_values(["rank", "record_id"])


def all_sites(domain: str) -> tuple[str | None, pd.DataFrame]:
    """Every site on a map and in a list, by level, with why; returns the site clicked and
    the list (:func:`queries.site_table`)."""
    run = queries.published_run(snap, domain)
    key = queries.warnings_version(queries.warnings(snap, domain=domain))
    key += "|" + queries.warnings_version(streamed)  # the stream's levels show too
    runs = queries.run_key(snap, domain, queries.STREAM_DOMAIN)
    age = queries.staleness(snap, domain)  # a live run past its horizon: say how old
    stale = age is not None
    table = queries.site_table(url, snap, ctx.lake_dir, domain, lg, runs, key, tz, stale)
    if table.empty:
        return None, table
    st.subheader(t("sites_title", lg))
    if age is not None and run is not None:
        st.warning(
            t("sites_stale", lg, at=fmt_datetime(run["origin"], lg, tz), age=fmt_age(age, lg))
        )
    counts = table["level"].value_counts()
    st.caption(
        t(
            "sites_summary",
            lg,
            n=fmt_int(len(table), lg),
            at=fmt_datetime(run["origin"], lg, tz) if run else "—",
            counts=("、" if lg == "zh" else ", ").join(
                f"{level_label(lv, lg)} {fmt_int(counts.get(lv, 0), lg)}"
                for lv in ("red", "orange", "yellow", "blue", "none")
            ),
        )
        + " "
        + t("sites_pick_hint", lg)
    )
    model_caption(ctx, domain)  # the site model's gate verdict beside its probabilities
    deck = queries.site_map(
        url, snap, ctx.lake_dir, domain, lg, maps.tile_url(), runs, key, tz=tz, stale=stale
    )
    with st.container(key="rwrow_sites"):
        left, right = st.columns([1, 1], gap="medium")
    with left:
        quiet = bool((table["level"] == "none").all())  # every site grey: say so on the map
        legend = maps.legend_html(
            lg,
            note_key="map_legend_note_sites",
            empty=(
                t("map_legend_stale_sites" if stale else "map_legend_empty_sites", lg)
                if quiet
                else None
            ),
        )
        picked = map_panel.show_map(deck, legend, key="site_map", height=560)
    shown = localise_frame(
        table,
        lg,
        tz,
        columns={
            "level": "level",
            "name": "site",
            "place": "place",
            "detail": "why",
            "probability": "probability",
            "people_threatened": "people_threatened",
        },
        levels=("level",),
        pcts=("probability",),
    )
    with right:
        # the list wraps its "why" in full (the grid cut it at 1280 px and showed only the
        # level and a cut name at 390 px): review.QUEUE_CSS's table, cards under 760 px;
        # the grid (sort, search, pick a site) in the expander below
        cols = list(shown.columns)
        wide = shown.assign(**{cols[4]: [fmt_pct(p, lg, 2) for p in table["probability"]]})
        badges = [review.badge(lv if lv != "none" else None, "new", lg) for lv in table["level"]]
        wrapped_table(
            "sites",
            review.frame_table(
                wide,
                keep=(cols[0],),
                numbers=(cols[4], cols[5]),
                text=(cols[3],),
                cells={cols[0]: badges},
                label=t("sites_title", lg),
            ),
            review.frame_cards(wide, title=(cols[0], cols[1], cols[4]), cells={cols[0]: badges}),
        )
    with st.expander(t("table_grid_pick", lg)):
        event = shell.grid(
            shown,
            hide_index=True,
            width="stretch",
            height=420,
            on_select="rerun",
            selection_mode="single-row",
            key="site_list",
        )
    rows = event["selection"]["rows"] if event else []
    choice = (
        str(picked["unit_id"])
        if picked and picked.get("unit_id")
        else (str(table["unit_id"].iloc[rows[0]]) if rows else None)
    )
    # apply a click once: later reruns keep whatever was chosen in the selectbox since
    if choice is not None and choice != st.session_state.get("gh_pick_applied"):
        st.session_state["gh_pick_applied"] = choice
        return choice, table
    return None, table


def acknowledge_form(alarms: pd.DataFrame) -> None:
    """Duty officers acknowledge a delivered change (keyed by its delivery key, never by
    a label: the choice survives a language switch); escalation then stops."""
    done = st.session_state.pop("alarm_ack_done", None)
    if done:
        st.success(done)
    refused = st.session_state.pop("alarm_ack_refused", None)
    if refused:
        st.error(refused)
    # a change nobody was sent (its warning had ended: a replay) is not acknowledged
    open_ = alarms.loc[alarms["acknowledged_by"].isna() & ~alarms["expired"]]
    if open_.empty:
        st.caption(t("alarm_ack_none", lg))
        return
    labels = {
        r.delivery_key: f"{r.unit_id} · {t(f'alarm_change_{r.change}', lg)} → "
        f"{level_label(r.to_level, lg) if r.to_level else '—'} · {fmt_datetime(r.changed_at, lg, tz)}"
        for r in open_.itertuples(index=False)
    }
    with st.form("alarm_ack_form", clear_on_submit=True):
        st.markdown(f"**{t('alarm_ack', lg)}**")
        key = st.selectbox(
            t("alarm_ack_pick", lg),
            list(labels),
            format_func=lambda k: labels.get(k, k),
            key="alarm_ack_key",
        )
        if st.form_submit_button(t("alarm_ack_button", lg)) and key in labels:
            row = open_.loc[open_["delivery_key"] == key].iloc[0]
            try:
                queries.acknowledge_alarm(url, str(row["warning_id"]), key, ctx.user.username)
            except AlreadyAcknowledgedError as exc:  # someone else was first
                first = exc.first[0]
                st.session_state["alarm_ack_refused"] = t(
                    "alarm_ack_refused",
                    lg,
                    what=labels[key],
                    who=md_line(str(first["acknowledged_by"])),
                    when=fmt_datetime(first["acknowledged_at"], lg, tz),
                )
                st.rerun()
            except KeyError:  # the change is no longer in the delivery log
                st.session_state["alarm_ack_refused"] = t("alarm_ack_unknown", lg)
                st.rerun()
            except NeverSentError as exc:  # never sent since the page showed it: say why
                st.session_state["alarm_ack_refused"] = views.never_sent_refusal(
                    labels[key], exc.statuses, lg
                )
                st.rerun()
            when = fmt_datetime(pd.Timestamp.now(tz="UTC"), lg, tz)
            st.session_state["alarm_ack_done"] = t(
                "alarm_ack_done", lg, what=labels[key], who=ctx.user.username, when=when
            )
            st.rerun()


map_panel.styles()
chosen, site_list = all_sites(site_domain)

# real-time alarms (issue 16): what was sent to whom, and who acknowledged it
alarms = queries.alarm_log(url)
if not alarms.empty:
    # staff names only for the roles that acknowledge alarms (views.alarm_people)
    alarms = views.alarm_people(alarms, ctx.user.role, lg)
    st.subheader(t("alarm_log", lg))
    st.caption(views.alarm_log_caption(alarms, lg))
    failed_note = views.alarm_log_failed(alarms, lg)
    if failed_note:  # a page that reached nobody: said in red, above the log
        st.error(failed_note)
    shell.grid(
        alarms.assign(
            changed_at=[fmt_datetime(v, lg, tz) for v in alarms["changed_at"]],
            first_sent_at=[views.fmt_time(v, lg, tz) for v in alarms["first_sent_at"]],
            acknowledged_at=[views.fmt_time(v, lg, tz) for v in alarms["acknowledged_at"]],
            acknowledged_by=alarms["acknowledged_by"].fillna(t("alarm_not_acked", lg)),
            change=[t(f"alarm_change_{v}", lg) for v in alarms["change"]],
            from_level=[level_label(v, lg) if v else "—" for v in alarms["from_level"]],
            to_level=[level_label(v, lg) if v else "—" for v in alarms["to_level"]],
            sent=[views.alarm_outcome(v, lg) for v in alarms["sent"]],
        )
        .drop(columns=["delivery_key", "expired", "cancelled", "failed"])
        .rename(columns={c: t(f"alarm_col_{c}", lg) for c in alarms.columns}),
        hide_index=True,
        width="stretch",
        key="alarm_log",
    )
    if auth.can_review(ctx.user.role):
        acknowledge_form(alarms)

st.subheader(t("site_detail", lg))
site_labels = {
    s: f"{place_name(n, lg) if isinstance(n, str) and n else s} ({s})"
    for s, n in zip(sites["record_id"], sites["name"], strict=True)
}  # one dict, not a frame lookup per option (360 sites at city scale)
if chosen is not None and chosen in site_labels:
    st.session_state["gh_site"] = chosen
site_id = st.selectbox(
    t("site", lg),
    sites["record_id"].tolist(),
    format_func=lambda s: site_labels.get(s, str(s)),
    key="gh_site",
)
site = sites.set_index("record_id").loc[site_id]
sensor_list = queries.site_sensors(ctx.lake_dir, site_id)
READING_DAYS = 90  # the window the charts and the health figures read
readings = queries.site_readings(ctx.lake_dir, tuple(sensor_list["record_id"]), READING_DAYS)
# days are the city's local days, as the charts label them (review S13)
series = sensors.daily_site_series(readings, tz=tz)
per_sensor = sensors.sensor_displacement(readings, tz=tz)  # GNSS and crack meters
angles = sensors.rule_angles(readings)  # the angle the warning rules compute
# health as of the nowcast shown / the lake's data, as the nowcast's dead-sensor rule
shown_run = queries.published_run(snap, site_domain)
health_at = sensors.health_time(
    shown_run["origin"] if shown_run else None, queries.data_times(ctx.lake_dir)["reading"]
)
health = sensors.sensor_health(readings, sensor_list, now=health_at)

c1, c2, c3, c4 = st.columns(4)
with c1:
    st.markdown(
        f"{t('current_level', lg)}<br/>" + views.badge(level_of.get(site_id), lg),
        unsafe_allow_html=True,
    )
# the probability to two decimals with what set the level beside it (the model's own
# threshold of that level, or the source that set it): "0.9%" next to "Orange (II)" read
# as a contradiction when the explanation was only in the list's Why column
listed = site_list.set_index("unit_id") if not site_list.empty else pd.DataFrame()
row = listed.loc[site_id] if site_id in listed.index else None
prob = row["probability"] if row is not None else prob_of.get(site_id)
prob_note = (
    views.probability_note(str(row["why"]), row["threshold"], row["threshold_level"], lg)
    if row is not None
    else None
)
c2.metric(
    t("probability", lg),
    fmt_pct(prob, lg, 2),
    prob_note,
    delta_color="off",
    delta_arrow="off",
    border=True,
)
c3.metric(
    t("sensors_online", lg),
    f"{int(health['online'].sum())}/{len(health)}" if len(health) else "—",
    border=True,
)
c4.metric(
    t("gaps", lg) + " / " + t("spikes", lg),
    f"{fmt_int(health['gaps'].sum(), lg)} / {fmt_int(health['spikes'].sum(), lg)}",
    help=t("gaps_spikes_help", lg, days=READING_DAYS),
    border=True,
)
if "admin_code" in site and isinstance(site.get("admin_code"), str):
    st.caption(views.place_words(None, site["admin_code"], names, lg))

if series.empty:
    st.info(t("no_sensor_data", lg))
    st.stop()
series["day_local"] = series["day"].dt.tz_convert(tz).dt.tz_localize(None)
x = alt.X("day_local:T", title=None, axis=alt.Axis(format=AXIS_DAY[lg]))
# A series with no value, or only zeros, draws a blank chart (a zero series' axis reads
# "0.000000"); the reader gets a sentence saying what was measured, or why nothing was.
span = {"start": fmt_day(series["day"].min(), lg, tz), "end": fmt_day(series["day"].max(), lg, tz)}
state: dict[str, str] = {
    c: sensors.series_state(series[c])
    for c in ("rain_mm", "displacement_mm", "velocity_mm_per_day")
}
state["rain_mm"] = sensors.rain_state(sensor_list, series)
state["displacement_mm"] = sensors.series_state(per_sensor["displacement_mm"])
no_velocity = "no_displacement" if state["displacement_mm"] == "missing" else "too_few_readings"
tangent_gap = None if len(angles) else (sensors.tangent_gap(series) or "too_few_readings")
notes: dict[str, str | None] = {
    "rain_mm": {
        "no_gauge": t("rain_no_gauge", lg),
        "missing": t("rain_missing", lg),
        "zero": t("rain_zero", lg, **span),
    }.get(state["rain_mm"]),
    "displacement_mm": {
        "missing": t("displacement_missing", lg),
        "zero": t("displacement_zero", lg, **span),
    }.get(state["displacement_mm"]),
    "velocity_mm_per_day": {
        "missing": t(f"velocity_{no_velocity}", lg),
        "zero": t("velocity_zero", lg, **span),
    }.get(state["velocity_mm_per_day"]),
    "tangent_angle_deg": (
        t(f"tangent_{tangent_gap}", lg, days=sensors.STEADY_DAYS) if tangent_gap else None
    ),
}


def panel(title: str, column: str, chart: alt.LayerChart | alt.Chart) -> bool:
    """The chart of ``column`` under ``title``, or the sentence saying why there is none."""
    st.markdown(f"**{title}**")
    note = notes[column]
    if note is not None:
        st.info(note)
        return False
    st.altair_chart(chart.properties(height=200), width="stretch")
    return True


def line(column: str, colour: str) -> alt.Chart:
    """A line of ``column``; with one value a line is invisible, so points are drawn too."""
    return alt.Chart(series).mark_line(color=colour, point=bool(series[column].count() < 2))


thresholds = sensors.angle_thresholds()
# one value per sensor and local day (the other charts' step): hour by hour, an angle
# swinging between 0 and 80 degrees filled the chart as a solid block (review revA)
angle_days = sensors.daily_angles(angles, tz)
per_sensor["day_local"] = (
    pd.to_datetime(per_sensor["day"], utc=True).dt.tz_convert(tz).dt.tz_localize(None)
)
angle_days["stat_label"] = [t(f"angle_stat_{k}", lg) for k in angle_days["stat"]]
few = bool(angle_days.groupby(["sensor_id", "stat"]).size().max() < 2) if len(angle_days) else False
angle = (
    alt.Chart(angle_days)
    .mark_line(point=few)
    .encode(
        x=alt.X("day_local:T", title=None, axis=alt.Axis(format=AXIS_DAY[lg])),
        y=alt.Y("tangent_angle_deg:Q", title="°", scale=alt.Scale(domain=[0, 90], clamp=True)),
        color=alt.Color("sensor_id:N", title=t("col_sensor_id", lg)),
        strokeDash=alt.StrokeDash(
            "stat_label:N",
            title=None,
            scale=alt.Scale(
                domain=[t("angle_stat_median", lg), t("angle_stat_max", lg)],
                range=[[1, 0], [2, 2]],
            ),
        ),
        detail="stat:N",
    )
)
lines = (
    alt.Chart(thresholds)
    .mark_rule(strokeDash=[5, 3])
    .encode(y="deg:Q", color=alt.Color("colour:N", scale=None))
)
# row by row, so a short sentence in one cell does not shift the other column's rows
rain_cell, disp_cell = st.columns(2)
with rain_cell:
    panel(
        t("rain", lg),
        "rain_mm",
        alt.Chart(series)
        .mark_bar(color="#4c78a8")
        .encode(x=x, y=alt.Y("rain_mm:Q", title=t("unit_mm", lg))),
    )
with disp_cell:
    panel(
        t("displacement", lg),
        "displacement_mm",
        alt.Chart(per_sensor)
        .mark_line(point=bool(per_sensor.groupby("sensor_id").size().max() < 2))
        .encode(
            x=alt.X("day_local:T", title=None, axis=alt.Axis(format=AXIS_DAY[lg])),
            y=alt.Y("displacement_mm:Q", title=t("unit_mm", lg)),
            color=alt.Color("sensor_id:N", title=t("col_sensor_id", lg)),
        ),
    )
vel_cell, angle_cell = st.columns(2)
with vel_cell:
    if panel(
        t("velocity", lg),
        "velocity_mm_per_day",
        line("velocity_mm_per_day", "#e45756").encode(
            x=x,
            y=alt.Y(
                "velocity_mm_per_day:Q",
                title=t("unit_mm_per_day", lg),
                scale=alt.Scale(domain=sensors.axis_domain(series["velocity_mm_per_day"])),
            ),
        ),
    ):
        # the line is a daily mean, the rules' velocity (the Why column's) an hourly one
        st.caption(sensors.velocity_note(sensors.last_rule_velocities(angles), lg))
with angle_cell:
    if panel(t("tangent", lg), "tangent_angle_deg", angle + lines):
        degs = dict(zip(thresholds["level"], thresholds["deg"], strict=True))
        st.caption(t("thresholds", lg, **{k: f"{v:g}" for k, v in degs.items()}))

st.subheader(t("health", lg))
dead_h = f"{sensors.HealthRules().dead_after_hours:g}"
st.caption(t("health_at", lg, at=fmt_datetime(health_at, lg, tz), hours=dead_h))
shell.grid(
    health.assign(
        online=[t("online" if o else "offline", lg) for o in health["online"]],
        last_seen=[views.fmt_time(v, lg, tz) for v in health["last_seen"]],
        sensor_type=[t(f"sensor_{v}", lg) for v in health["sensor_type"]],
    ).rename(columns={c: t(f"col_{c}", lg) for c in health.columns}),
    hide_index=True,
    width="stretch",
)
