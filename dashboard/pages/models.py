"""Models and data quality for data scientists: champions, backtests, plots, ingest, retrain."""

from __future__ import annotations

import io
import json
import os

import altair as alt
import pandas as pd
import requests
import streamlit as st

from riskwarn.dashboard import airflow_api, auth, queries, shell, views
from riskwarn.dashboard.i18n import fmt_datetime, fmt_int, t
from riskwarn.dashboard.shell import page_context

ctx = page_context("models")
lg, tz, url = ctx.lang, ctx.tz, ctx.store_url
tracking_uri = ctx.settings.resolved_mlflow_uri
mlflow_ui = os.environ.get("RISKWARN_MLFLOW_UI_URL", "http://127.0.0.1:5000").rstrip("/")

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
    champ = queries.champion(tracking_uri, domain)
    if champ is None:
        st.info(t("no_champion", lg))
    else:
        st.markdown(
            f"**{champ['name']}** · {t('version_label', lg, v=champ['version'])} · "
            f"{t('registered', lg, at=fmt_datetime(champ['registered_at'], lg, tz))} · "
            f"[{t('mlflow_run', lg)}]({mlflow_ui}/#/experiments/{champ['experiment_id']}"
            f"/runs/{champ['run_id']})"
        )
        wide = views.metrics_table(champ["metrics"])
        if not wide.empty:
            st.markdown(f"**{t('metrics_vs_baselines', lg)}**")
            st.dataframe(wide.style.format("{:.3f}", na_rep=""), width="stretch")
        images = [a for a in champ["artifacts"] if a.lower().endswith(".png")]
        tables = [
            a
            for a in champ["artifacts"]
            if a.lower().endswith((".csv", ".json")) and "calibration" in a.lower()
        ]
        if images:
            st.markdown(f"**{t('plots', lg)}**")
            cols = st.columns(2)
            for i, path in enumerate(images):
                cols[i % 2].image(
                    queries.artifact_bytes(tracking_uri, champ["run_id"], path), caption=path
                )
        cards = [a for a in champ["artifacts"] if a.lower().endswith("model_card.md")]
        for path in cards:
            with st.expander(path):
                st.markdown(queries.artifact_bytes(tracking_uri, champ["run_id"], path).decode())
        for path in tables:
            raw = queries.artifact_bytes(tracking_uri, champ["run_id"], path)
            frame = (
                pd.read_csv(io.BytesIO(raw))
                if path.endswith(".csv")
                else pd.json_normalize(json.loads(raw))
            )
            st.caption(path)
            st.dataframe(frame, hide_index=True, width="stretch")

with tab_data:
    day_axis = alt.Axis(format="%m-%d" if lg == "zh" else "%d %b", labelAngle=0)
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
            {"day": d, "reason": k, "count": int(v)}
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

with tab_retrain:
    cfg = airflow_api.config(ctx.settings.airflow_api_url)
    if not airflow_api.reachable(cfg):
        st.warning(t("airflow_down", lg, url=cfg.base_url), icon=":material/cloud_off:")
    elif ctx.user.role in auth.RETRAIN_ROLES:
        rt_domain = shell.select(
            st,
            t("domain", lg),
            list(queries.DOMAINS_ALL),
            lambda d: t(f"domain_{d}", lg),
            "rt_domain",
            lg,
        )
        if st.button(t("retrain_go", lg), type="primary"):
            try:
                run = airflow_api.trigger(cfg, rt_domain, ctx.user.username)
                st.session_state["retrain_run"] = run["dag_run_id"]
            except requests.RequestException as exc:
                st.error(str(exc))
        run_id = st.session_state.get("retrain_run")
        if run_id:
            st.button(t("refresh", lg))
            try:
                prog = airflow_api.progress(cfg, run_id)
            except requests.RequestException as exc:
                st.error(str(exc))
            else:
                st.markdown(t("airflow_run", lg, run=run_id, state=prog["state"]))
                st.dataframe(
                    pd.DataFrame(prog["tasks"].items(), columns=["task", "state"]), hide_index=True
                )
