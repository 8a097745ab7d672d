"""Models and data quality: each serving model's verdict, backtests, plots, ingest, retrain."""

from __future__ import annotations

import io
import json
import os

import altair as alt
import pandas as pd
import requests
import streamlit as st

from dashboard import (
    airflow_api,
    auth,
    district_panel,
    map_panel,
    model_plots,
    queries,
    shell,
    verdicts,
    views,
)
from dashboard.i18n import AXIS_DAY, fmt_datetime, fmt_int, t
from dashboard.metric_words import metric_words
from dashboard.shell import page_context
from dashboard.text import md_line
from riskwarn import domains

PAGE = {  # this page in the navigation (dashboard/page_index.py)
    "title": {"zh": "模型与数据质量", "en": "Models & data quality"},
    "icon": ":material/model_training:",
    "section": "section_science",
    "roles": ["data_scientist", "admin"],
    "order": 50,
}

ctx = page_context("models")
lg, tz, url = ctx.lang, ctx.tz, ctx.store_url
tracking_uri = ctx.settings.resolved_mlflow_uri
mlflow_ui = os.environ.get("RISKWARN_MLFLOW_UI_URL", "http://127.0.0.1:5000").rstrip("/")
STATUS_COLOUR = {
    "pass": "#2e7d32",
    "fail": "#c62828",
    "not_judged": "#5d6d7e",  # not a failure: nothing could be judged
    "unknown": "#8d6e00",
}


def mlflow_links(champ: dict) -> str:
    """Markdown links to the run and the model version in the MLflow UI (hash routes),
    and, when the UI does not answer, how to start it (:func:`views.mlflow_links`)."""
    return views.mlflow_links(mlflow_ui, champ, lg, queries.mlflow_ui_down(mlflow_ui))


def refused_card(domain: str, champ: dict, reason: str) -> None:
    """The champion alias scoring refuses (it disagrees with riskwarn's record): said so,
    with the refusal, never as a serving model with a gate badge."""
    with st.container(border=True, key=f"verdict_{domain}"):
        st.html(
            f'<div style="font-size:1.1rem;font-weight:600">'
            f"{t('vd_refused_title', lg, domain=t(f'domain_{domain}', lg), v=champ['version'])} "
            f'<span class="rw-badge" style="background:{STATUS_COLOUR["fail"]};'
            f'margin-left:0.4rem">{t("vd_status_refused", lg)}</span></div>'
        )
        # scoring's refusal is English (the CLI's and the audit log's words): the Chinese
        # page says where to read it rather than mixing languages
        why = md_line(reason) if lg == "en" else "详见审计日志中的拒绝记录"
        # what stays served, as `riskwarn score` says it: the last published run, if any
        published = queries.published_run(ctx.snapshot, domain) is not None
        lines = [t("vd_refused", lg, reason=why), views.refused_meaning(published, lg)]
        st.markdown("\n".join(f"- {line}" for line in lines))
        st.caption(mlflow_links(champ))


def verdict_card(domain: str, serving: dict) -> None:
    """One domain's verdict: a coloured headline, then the facts in plain words. The
    serving model is the one scoring's check of the alias serves (its gate tag, the alias
    move riskwarn recorded: :func:`dashboard.model_reads.serving_model`); an alias it
    refuses gets :func:`refused_card`."""
    champ = serving["champion"]
    if not serving["served"]:
        refused_card(domain, champ, serving["reason"])
        return
    served = serving
    metrics = queries.run_json(tracking_uri, champ["run_id"], "metrics.json")
    v = verdicts.verdict(
        domain,
        champ,
        queries.run_json(tracking_uri, champ["run_id"], "gate.json"),
        metrics,
        served["promotion"],
        served.get("data_end"),
    )
    lines = verdicts.verdict_lines(v, lg, tz)
    spec = domains.get(domain) if domain in domains.DOMAINS else None
    if spec is not None and spec.family != "site":  # the sources it is scored on, those left out
        learned = verdicts.trained_on_words(verdicts.trained_on_of(champ.get("params")), lg)
        lines += [learned] if learned else []
        left_out = verdicts.not_served_words(
            verdicts.served_sources(champ.get("params"), metrics),
            queries.table_sources(str(ctx.settings.lake_dir), spec.event_table),
            lg,
        )
        lines += [left_out] if left_out else []
    colour = STATUS_COLOUR[v.status]
    with st.container(border=True, key=f"verdict_{domain}"):
        st.html(
            f'<div style="font-size:1.1rem;font-weight:600">'
            f"{t('vd_title', lg, domain=t(f'domain_{domain}', lg), v=v.version)} "
            f'<span class="rw-badge" style="background:{colour};margin-left:0.4rem">'
            f"{verdicts.status_words(v, lg)}</span></div>"
        )
        st.markdown("\n".join(f"- {line}" for line in lines))
        st.caption(mlflow_links(champ))


st.subheader(t("verdicts_title", lg))
st.caption(verdicts.gate_intro(lg))
missing = []
for name in queries.DOMAINS_ALL:
    serving = queries.serving_model(tracking_uri, url, name)
    if serving["champion"] is None:
        missing.append(t(f"domain_{name}", lg))
    else:
        verdict_card(name, serving)
if missing:
    st.caption(t("vd_no_champion", lg, domain=("、" if lg == "zh" else ", ").join(missing)))

tab_models, tab_data, tab_retrain = st.tabs(
    [t("champion", lg), t("data_quality", lg), t("retrain", lg)]
)

with tab_models:
    domain = shell.select(
        st,
        t("domain", lg),
        list(queries.DOMAINS_ALL),
        lambda d: t(f"domain_{d}", lg),
        "md_domain",
        lg,
    )
    serving = queries.serving_model(tracking_uri, url, domain)
    champ = serving["champion"] if serving["served"] else None
    if serving["champion"] is None and serving.get("recorded"):  # deleted in MLflow
        st.warning(t("champion_gone", lg, v=serving["recorded"]), icon=":material/block:")
    elif serving["champion"] is None:
        st.info(t("no_champion", lg))
    elif champ is None:  # the alias scoring refuses: not named the champion
        st.warning(views.refused_words(serving, lg), icon=":material/block:")
        st.caption(mlflow_links(serving["champion"]))
    else:
        refusal = verdicts.serving_refusal(serving, domain, lg, tz)  # not the live model
        if refusal is not None:
            st.warning(refusal, icon=":material/block:")
        st.markdown(
            f"**{champ['name']}** · {t('version_label', lg, v=champ['version'])} · "
            f"{t('registered', lg, at=fmt_datetime(champ['registered_at'], lg, tz))} · "
            + mlflow_links(champ)
        )
        wide = views.metrics_table(champ["metrics"])
        if not wide.empty:
            st.markdown(f"**{t('metrics_vs_baselines', lg)}**")
            shown = views.metrics_display(wide)  # methods and metrics in the page's words
            shown.columns = [verdicts.method_name(str(c), lg) for c in shown.columns]
            headline = (queries.run_json(tracking_uri, champ["run_id"], "metrics.json") or {}).get(
                "headline"
            )
            shown.index = pd.Index(
                [metric_words(str(m), lg, headline) for m in shown.index], name=t("metric", lg)
            )
            shell.grid(shown, width="stretch")
            differs = verdicts.table_ci_words(  # a run's two CIs of one comparison
                queries.run_json(tracking_uri, champ["run_id"], "gate.json"),
                queries.run_json(tracking_uri, champ["run_id"], "metrics.json"),
                lg,
            )
            if differs:
                st.caption(differs)
        run_id = champ["run_id"]
        run_metrics = queries.run_json(tracking_uri, run_id, "metrics.json")
        images = [a for a in champ["artifacts"] if a.lower().endswith(".png")]
        tables = [
            a
            for a in champ["artifacts"]
            if a.lower().endswith((".csv", ".json")) and "calibration" in a.lower()
        ]
        points = views.hit_rate_points(champ["metrics"], lg)
        if lg == "zh" and not points.empty:  # the English plot's data, drawn in Chinese
            images = [a for a in images if not a.endswith("hit_rate_curve.png")]
        drawn = {  # plots whose data training logged: drawn natively, in the page's words
            stem: data
            for stem, path in model_plots.PLOT_JSON.items()
            if path in champ["artifacts"]
            and isinstance(data := queries.run_json(tracking_uri, run_id, path), dict)
        }
        images = [a for a in images if os.path.splitext(os.path.basename(a))[0] not in drawn]
        if images or drawn or (lg == "zh" and not points.empty):
            st.markdown(f"**{t('plots', lg)}**")
            if "importance" in drawn:  # the whole width: its labels are sentences
                bars = model_plots.importance_chart(drawn["importance"], lg)
                st.altair_chart(bars, width="stretch")
                st.caption(t("plot_importance_drawn", lg))
            map_panel.styles()  # rwrow: the two columns stack below 1400 px (as the overview)
            with st.container(key="rwrow_plots"):
                cols = st.columns(2)
            slot = 0
            if "reliability" in drawn:
                with cols[0]:
                    diagram = model_plots.reliability_chart(drawn["reliability"], lg)
                    st.altair_chart(diagram, width="stretch")
                    st.caption(t("plot_reliability_drawn", lg))
                slot += 1
            for path in images:
                stem = os.path.splitext(os.path.basename(path))[0]
                caption = t(f"plot_{stem}", lg)  # what the plot shows, in words
                if stem in model_plots.PLOT_JSON:  # an older run: no data to redraw it
                    caption += " " + t("plot_png_only", lg)
                cols[slot % 2].image(
                    queries.artifact_bytes(tracking_uri, run_id, path),
                    caption=path if caption == f"plot_{stem}" else caption,
                )
                slot += 1
            if lg == "zh" and not points.empty:
                with cols[slot % 2]:
                    st.altair_chart(views.hit_rate_chart(points, lg), width="stretch")
                    st.caption(t("plot_hit_rate_curve", lg))
        cards = [a for a in champ["artifacts"] if a.lower().endswith("model_card.md")]
        for path in cards:
            with st.expander(t("card_title", lg)):
                worded = (
                    model_plots.card_markdown(
                        domain,
                        str(champ["version"]),
                        run_metrics,
                        champ["params"],
                        (queries.run_json(tracking_uri, run_id, "features.json") or {}).get(
                            "features"
                        ),
                        queries.run_json(tracking_uri, run_id, "gate.json"),
                        tz=tz,
                    )
                    if lg == "zh"
                    else None
                )
                if worded is not None:
                    st.markdown(worded)
                else:
                    if lg == "zh":  # an older run: the card exists in English only
                        st.info(t("card_english_only", lg))
                    st.markdown(queries.artifact_bytes(tracking_uri, run_id, path).decode())
        for path in tables:
            raw = queries.artifact_bytes(tracking_uri, champ["run_id"], path)
            frame = (
                pd.read_csv(io.BytesIO(raw))
                if path.endswith(".csv")
                else pd.json_normalize(json.loads(raw))
            )
            st.caption(path)
            shell.grid(frame, hide_index=True, width="stretch")

with tab_data:
    day_axis = alt.Axis(format=AXIS_DAY[lg], labelAngle=0)
    batches = queries.ingest_batches(url)
    if batches.empty:
        st.info(t("no_batches", lg))
    else:
        b = batches.assign(
            day=pd.to_datetime(batches["ingested_at"], utc=True)
            .dt.tz_convert(tz)
            .dt.tz_localize(None)
            .dt.floor("D")
        )
        b["table_name"] = [t(f"table_{v}", lg) for v in b["table_name"]]
        daily = b.groupby(["day", "table_name"], as_index=False)[
            ["read", "accepted", "quarantined", "duplicates"]
        ].sum()
        c1, c2, c3 = st.columns(3)
        c1.metric(t("ingest_counts", lg), fmt_int(b["read"].sum(), lg), border=True)
        c2.metric(t("quarantine", lg), fmt_int(b["quarantined"].sum(), lg), border=True)
        c3.metric(t("duplicates", lg), fmt_int(b["duplicates"].sum(), lg), border=True)
        st.markdown(f"**{t('ingest_counts', lg)}**")
        st.altair_chart(
            alt.Chart(daily)
            .mark_bar()
            .encode(
                x=alt.X("day:T", title=None, axis=day_axis),
                y=alt.Y("accepted:Q", title=t("count", lg)),
                color=alt.Color("table_name:N", title=None),
            )
            .properties(height=220),
            width="stretch",
        )
        reasons = [
            {"day": d, "reason": views.quarantine_reason(k, lg), "count": int(v)}
            for d, rs in zip(b["day"], b["reasons"], strict=True)
            for k, v in (rs or {}).items()
            if v
        ]
        st.markdown(f"**{t('quarantine', lg)}**")
        if reasons:
            st.altair_chart(
                alt.Chart(pd.DataFrame(reasons))
                .mark_bar()
                .encode(
                    x=alt.X("day:T", title=None, axis=day_axis),
                    y=alt.Y("sum(count):Q", title=t("count", lg)),
                    color=alt.Color("reason:N", title=None),
                )
                .properties(height=220),
                width="stretch",
            )
        else:
            st.caption("—")


def follow_retrain(cfg: airflow_api.AirflowConfig, run: dict) -> None:
    """The retrain's Airflow run until it ends: state, duration, tasks, then the result."""
    try:
        prog = airflow_api.progress(cfg, run["dag_run_id"])
    except requests.HTTPError as exc:
        if exc.response is None or exc.response.status_code != 404 or not run.get("starting"):
            st.warning(t("retrain_no_answer", lg, error=type(exc).__name__))
            return
        if run.get("start_error"):  # Airflow never stored it: say why, offer the button again
            st.error(t("retrain_refused", lg, error=run["start_error"]))
            del st.session_state["retrain_run"]
        else:  # asked a moment ago (the request may still be on its way)
            st.info(t("retrain_starting", lg))
        return
    except requests.RequestException as exc:
        st.warning(t("retrain_no_answer", lg, error=type(exc).__name__))
        return
    state = prog["state"] or "queued"
    secs = airflow_api.run_seconds(prog, pd.Timestamp.now(tz="UTC"))
    st.markdown(
        t(
            "retrain_status",
            lg,
            domain=t(f"domain_{run['domain']}", lg),
            state=t(f"af_{state}", lg),
            at=fmt_datetime(run["requested_at"], lg, tz),
            took=views.fmt_duration(secs, lg),
        )
    )
    shell.grid(
        pd.DataFrame(
            {
                t("retrain_task", lg): [t(f"task_{k}", lg) for k in prog["tasks"]],
                t("state", lg): [t(f"af_{v or 'none'}", lg) for v in prog["tasks"].values()],
            }
        ),
        hide_index=True,
    )
    if state not in airflow_api.FINISHED:
        return
    if not run.get("finished"):
        st.session_state["retrain_run"] = {**run, "finished": True}
        st.rerun()  # the whole page: stop the timer, refresh the verdicts
    outcome = None
    if state == "success":
        try:
            outcome = airflow_api.result(cfg, run["dag_run_id"])
        except requests.RequestException:
            outcome = None
    if outcome is None:
        if state == "failed":
            st.error(t("retrain_failed", lg))
        else:
            st.info(t("retrain_no_result", lg))
        return
    run_id = str(outcome.get("mlflow_run_id") or "")
    gate = queries.run_json(tracking_uri, run_id, "gate.json") if run_id else None
    headline = (
        (queries.run_json(tracking_uri, run_id, "metrics.json") or {}).get("headline")
        if run_id
        else None
    )
    kind, words = verdicts.retrain_words(outcome, gate, lg, headline)
    {"success": st.success, "warning": st.warning, "info": st.info}[kind](words)


with tab_retrain:
    cfg = airflow_api.config(ctx.settings.airflow_api_url)
    if not airflow_api.reachable(cfg):
        st.warning(t("airflow_down", lg, url=cfg.base_url), icon=":material/cloud_off:")
    elif ctx.user.role in auth.RETRAIN_ROLES:
        rt_domain = shell.select(
            st,
            t("domain", lg),
            list(airflow_api.RETRAIN_DOMAINS),
            lambda d: t(f"domain_{d}", lg),
            "rt_domain",
            lg,
        )
        pending = st.session_state.get("retrain_confirm")
        if pending is None:
            if st.button(t("retrain_go", lg), type="primary", key="retrain_go"):
                st.session_state["retrain_confirm"] = rt_domain
                st.rerun()
        else:
            box = st.empty()  # the question and its buttons, gone while Airflow is asked
            with box.container():
                st.warning(t("retrain_confirm", lg, domain=t(f"domain_{pending}", lg)))
                yes, no = st.columns(2)
                go = yes.button(t("retrain_yes", lg), type="primary", key="retrain_yes")
                stop = no.button(t("retrain_no", lg), key="retrain_no")
            if go:
                del st.session_state["retrain_confirm"]
                box.empty()
                # the run's id is chosen and kept before Airflow is asked: if the answer is
                # lost, or a click reruns the page mid-request, the page still follows (or
                # finds missing) that run and never starts a second one for this click
                run_id = airflow_api.new_run_id(pending)
                st.session_state["retrain_run"] = {
                    "dag_run_id": run_id,
                    "domain": pending,
                    "requested_at": pd.Timestamp.now(tz="UTC"),
                    "starting": True,
                }
                try:
                    with st.spinner(t("retrain_starting", lg)):
                        airflow_api.trigger(cfg, pending, ctx.user.username, run_id=run_id)
                except requests.RequestException as exc:
                    st.session_state["retrain_run"] = {
                        **st.session_state["retrain_run"],
                        "start_error": str(exc),
                    }
                st.rerun()
            elif stop:
                del st.session_state["retrain_confirm"]
                st.rerun()
        current = st.session_state.get("retrain_run")
        if current:
            every = None if current.get("finished") else 5
            st.fragment(run_every=every)(follow_retrain)(cfg, current)

# per district: warnings vs recorded incidents vs people, calibration (issue 17.4)
district_panel.render_for_page(st, ctx, tracking_uri)
