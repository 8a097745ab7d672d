"""Civil disputes by community (村/社区): the communities ranked by the disputes-where
rule served by community (:data:`features.communities.SERVED`), beside the disputes
cell map, whose own backtest ranks below random: disputes are registered where people
live, rarely twice in one 250 m cell, so a cell's past says little, while a community's
share of the city's disputes is stable (docs/benchmarks-models.md, "Civil disputes by
community"). Read from the lake (:func:`dashboard.lake_reads.community_disputes`)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import queries, shell
from dashboard.i18n import fmt_date, fmt_int, place_name, t

TOP_SHARE = 0.05  # the top 5 % of the communities, the share the backtest judges


def community_table(ranked: pd.DataFrame, names: dict[str, str], lang: str) -> pd.DataFrame:
    """The top :data:`TOP_SHARE` of ``ranked`` (:func:`dashboard.lake_reads.
    community_disputes`) as a display frame in ``lang``: rank, community, township, county,
    expected disputes of the week, disputes in the last 4 and 52 weeks. The places' names
    as every page writes them (``i18n.place_name``): Chinese on Chinese pages, the official
    English form or pinyin on English ones ("大桥社区" -> "Daqiao Community")."""
    from models.metrics import n_flagged  # the backtest's count of the top k %

    top = ranked.head(n_flagged(len(ranked), TOP_SHARE))

    def name(code: Any) -> str:
        if not (isinstance(code, str) and code):
            return "—"
        return place_name(names.get(code, code), lang)

    return pd.DataFrame(
        {
            t("comm_rank", lang): top["rank"].astype(int).to_numpy(),
            t("comm_community", lang): [
                place_name(n, lang) if isinstance(n, str) and n else str(c)
                for n, c in zip(top["name"], top["admin_code"], strict=True)
            ],
            t("comm_township", lang): [name(c) for c in top["township_code"]],
            t("comm_county", lang): [name(c) for c in top["county_code"]],
            t("comm_expected", lang): [f"{v:.2f}" for v in top["expected"]],
            t("comm_last_4w", lang): [fmt_int(int(v), lang) for v in top["n_28d"]],
            t("comm_last_52w", lang): [fmt_int(int(v), lang) for v in top["n_364d"]],
        }
    )


def show(ctx: Any, origin: Any) -> None:
    """The ranking of the week from ``origin`` (the disputes forecast's published origin)
    with what it is; nothing without communities in the lake."""
    lg = ctx.lang
    ranked = queries.community_disputes(
        ctx.lake_dir, pd.Timestamp(origin), ctx.tz, ctx.settings.city_crs
    )
    if ranked.empty:
        return
    names = queries.unit_names(ctx.lake_dir)
    table = community_table(ranked, names, lg)
    st.markdown(f"**{t('comm_title', lg)}**")
    st.caption(
        t(
            "comm_caption",
            lg,
            n=fmt_int(len(table), lg),
            total=fmt_int(len(ranked), lg),
            start=fmt_date(pd.Timestamp(origin), lg, ctx.tz),
        )
    )
    shell.grid(table, hide_index=True, width="stretch", height=min(38 + 35 * len(table), 420))
