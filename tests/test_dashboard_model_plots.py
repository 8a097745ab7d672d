"""Issue 12 §4: the models page draws training's importance and reliability plots from the
data training logs beside the PNGs (plots/*.json), in the page's language with features
named in words; the Chinese page writes the model card in Chinese from the run's facts;
older runs fall back to the PNG / the English card with a note saying so."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import model_plots
from dashboard.auth import DEMO_USERS, User

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
FEATURES = ["count_7d", "count_violent_28d", "decayed_count_hl14d", "count_28d"]
METRICS = {  # a hotspot run's metrics.json, as models/hotspot_evaluation.py writes it
    "headline": "pai@0.05",
    "best_baseline": "kde",
    "n_origins": 12,
    "n_active_cells": 4321,
    "events_outside_area": 3,
    "methods": {
        "xgboost": {
            "pai@0.05": 7.14,
            "pai@0.05_ci": [6.5, 7.8],
            "hit_rate@0.05": 0.357,
            "auc": 0.81,
            "brier": 0.0213,
            "ece": 0.0174,
        },
        "kde": {"pai@0.05": 8.0, "pai@0.05_ci": [7.2, 8.7], "hit_rate@0.05": 0.4},
    },
    "model_minus_baseline": {"kde": {"diff": -0.865, "ci": [-1.161, -0.586]}},
}
PARAMS = {
    "trained_until": "2023-12-30 16:00:00+00:00",
    "n_train_rows": "1104831",
    "data_version": "2fd3485d557b6099",
    "eval_start": "2023-10-02",
    "eval_end": "2023-12-24",
}


def log_champion(
    home: Path, with_data: bool = True, with_metrics: bool = True, domain: str = "incidents"
) -> str:
    """A champion of ``domain`` whose run holds what training logs: params, metrics.json,
    features.json, model_card.md and the importance / reliability plots drawn by
    models.train's own figure functions; ``with_data``: also the data beside the PNGs
    (models.registry.log_training_run since issue 12), else an older run's PNGs only;
    ``with_metrics``: log metrics.json (the card's facts; a run without them gets the
    English card)."""
    import mlflow

    from models import registry as reg
    from models.train import importance_figure, reliability_figure

    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = reg.configure(uri)
    name = reg.model_name(domain)
    reg.ensure_experiment(name, (home / "art").as_uri())
    mlflow.set_experiment(name)
    rng = np.random.default_rng(0)
    p = rng.beta(1, 8, 2000)
    figures = {
        "importance": importance_figure(pd.Series([0.9, 0.5, 0.3, 0.1], index=FEATURES)),
        "reliability": reliability_figure((rng.random(2000) < p).astype(int), p),
    }
    with mlflow.start_run() as run:
        mlflow.log_params(PARAMS)
        if with_metrics:
            mlflow.log_dict(METRICS, "metrics.json")
        mlflow.log_dict({"features": FEATURES}, "features.json")
        mlflow.log_text("# Model card: riskwarn-incidents\n\n- Task: rank cells", "model_card.md")
        for stem, fig in figures.items():
            mlflow.log_figure(fig, f"plots/{stem}.png")
            if with_data:
                mlflow.log_dict(getattr(fig, reg.PLOT_DATA), f"plots/{stem}.json")
    if not client.search_registered_models(f"name='{name}'"):
        client.create_registered_model(name)
    mv = client.create_model_version(name, f"runs:/{run.info.run_id}/x", run_id=run.info.run_id)
    decision = reg.gate(METRICS["model_minus_baseline"], 0.0174)
    reg.settle_gate(client, domain, mv.version, decision, auto_promote=False)
    # recorded by riskwarn, as `riskwarn promote` does: the page shows what scoring serves
    # (an alias riskwarn never recorded is refused, tests/test_dashboard_served_champion.py)
    import os

    from riskwarn.store import Store

    with Store(os.environ["RISKWARN_STORE_URL"]) as store:
        reg.promote(
            client, domain, mv.version, store=store, reason="模型图测试", force=True
        )  # a panel types its reason in Chinese
    return run.info.run_id


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    from testkit.dashboard_demo import demo_home
    from testkit.dashboard_server import use_dashboard_env

    home = tmp_path / "home"
    city = demo_home(home, n_cells=60, weeks=1, n_cases=5)
    mp = pytest.MonkeyPatch()
    use_dashboard_env(mp, home, city.store_url)
    mp.setenv("RISKWARN_AIRFLOW_API_URL", "http://127.0.0.1:9")
    yield home
    mp.undo()


def models_page(lang: str) -> AppTest:
    import streamlit as st

    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=120)
    username = next(u for u, (r, _) in DEMO_USERS.items() if r == "data_scientist")
    at.session_state["user"] = User(username, "Ana", "data_scientist")
    at.session_state["lang"] = lang
    at.run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart_strings(at: AppTest) -> tuple[list[str], list[str]]:
    """Every chart's titles, and every string value of the data the charts draw (the
    axis labels of a nominal axis: here the feature names)."""
    import pyarrow as pa

    titles: list[str] = []
    values: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "title" and isinstance(v, str):
                    titles.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for chart in [*at.get("arrow_vega_lite_chart"), *at.get("vega_lite_chart")]:
        walk(json.loads(chart.proto.spec))
        for ds in chart.proto.datasets:
            table = pa.ipc.open_stream(io.BytesIO(ds.data.data)).read_all()
            for col in table.columns:
                values += [v for v in col.to_pylist() if isinstance(v, str)]
    return titles, values


def images(at: AppTest) -> list[str]:
    return [i.caption for e in at.main if e.type == "image" for i in e.proto.imgs]


# --------------------------------------------------------------------------- pure


def test_feature_labels_are_the_catalogs_short_labels() -> None:
    """The importance chart named features by their sentence with a gap ("近 28 天本网格发生
    … 起暴力类事件", "… events in this cell in the last 7 days") where the evidence tables
    use the catalogue's short labels (user review, 2026-12-07): now the same labels."""
    assert model_plots.feature_label("count_violent_28d", "zh") == "近 28 天本网格暴力类事件数"
    assert model_plots.feature_label("count_7d", "en") == "Events in this cell, last 7 days"
    assert model_plots.feature_label("rain_72h_mm", "en") == "Rain, last 3 days (mm)"
    assert model_plots.feature_label("not_a_feature", "zh") == "not_a_feature"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_catalogued_feature_reads_on_the_chart_as_in_the_evidence(lang: str) -> None:
    """Each catalogued feature is labelled on the chart exactly as a warning's evidence
    table labels it from the catalogue (features.catalog.describe_parts, which
    review.evidence_fact_rows uses), with no gap ("…") in it."""
    from features.catalog import PATTERNS, describe_parts

    names = [*FEATURES, *LONG_NAMED, "nearby_disputes_30d", "n_mediations", "rain_72h_mm"]
    names += [k for k in PATTERNS if "{" not in k]
    for name in names:
        label = model_plots.feature_label(name, lang)
        parts = describe_parts(name, 3.0, lang)
        assert "…" not in label and label[:1] == label[:1].upper(), (name, label)
        if parts is not None:  # a feature whose sentence holds its value once
            assert label == parts[0], (name, label, parts)


# a trained incidents model's 15 most important features (bench/screenshot_home.py,
# 2026-12-05): names of up to 93 characters, three of them alike up to character 58
LONG_NAMED = [
    "decayed_count_hl60d", "lr_decayed_hl730d", "longrun_rate_per_day", "lr_decayed_hl365d",
    "lr_smooth_hl1y_s2", "lr_smooth_hl1y_s1", "lr_smooth_all_s2", "count_365d",
    "lr_season_share", "lr_count_night", "lr_smooth_all_s4", "lr_smooth_hl1y_s4",
    "hist_prospective", "trend_28d_vs_365d", "lr_share_night",
]  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_importance_labels_are_written_whole_however_long(lang: str) -> None:
    """The models page cut long feature names at 300 px with "…" (reviewer screenshot:
    two bars read "… age-weighted past events around this cell (half-life one…"). Each
    label as the chart draws it (its lines, when a labelExpr splits it) must fit the
    axis's labelLimit at its font size, and its lines put together must be the name."""
    data = {"features": [{"feature": f, "value": 1.0 / (i + 1)} for i, f in enumerate(LONG_NAMED)]}
    spec = model_plots.importance_chart(data, lang).to_dict()
    field = spec["encoding"]["y"]["field"]
    axis = spec["encoding"]["y"].get("axis", {})
    limit, size = axis.get("labelLimit", 180), axis.get("labelFontSize", 10)
    splits = axis.get("labelExpr") == "split(datum.label, '\\n')"
    rows = next(iter(spec["datasets"].values()))
    assert len({r[field] for r in rows}) == len(LONG_NAMED)  # no two bars merge
    for row, name in zip(rows, LONG_NAMED, strict=True):
        lines = row[field].split("\n") if splits else [row[field]]
        whole = model_plots.feature_label(name, lang)
        assert "".join("".join(lines).split()) == "".join(whole.split()), (lines, whole)
        for line in lines:  # CJK a full em, others 0.6 em (a generous Latin width)
            px = size * sum(1.0 if ord(ch) >= 0x2E80 else 0.6 for ch in line)
            assert px <= limit, (line, px, limit)
    # the chart is tall enough for every line of every label
    most = max(len(r[field].split("\n")) if splits else 1 for r in rows)
    assert spec["height"] >= len(rows) * most * (size + 2)


def test_training_logs_the_data_its_plots_draw() -> None:
    """models.train's figures carry their data (logged as plots/*.json): the importance
    bars largest first, the reliability bins as sklearn's quantile bins with counts."""
    from models.metrics import reliability_curve
    from models.registry import PLOT_DATA
    from models.train import importance_figure, reliability_figure

    imp = getattr(importance_figure(pd.Series([0.9, 0.5], index=FEATURES[:2])), PLOT_DATA)
    assert imp["features"][0] == {"feature": "count_7d", "value": 0.9}
    rng = np.random.default_rng(1)
    p = rng.beta(1, 8, 3000)
    y = (rng.random(3000) < p).astype(int)
    bins = pd.DataFrame(getattr(reliability_figure(y, p), PLOT_DATA)["bins"])
    curve = reliability_curve(y, p, n_bins=10)
    assert np.allclose(bins["mean_predicted"], curve["mean_predicted"])
    assert np.allclose(bins["observed_rate"], curve["observed_rate"])
    assert bins["count"].sum() == 3000


def test_the_chinese_card_is_written_from_the_runs_facts() -> None:
    gate = {"passed": False, "checks": [{"check": "calibration", "ok": True}]}
    card = model_plots.card_markdown("incidents", "3", METRICS, PARAMS, FEATURES, gate)
    assert card is not None
    assert "治安案事件模型 第 3 版" in card and "核密度热点" in card
    assert "近 28 天本网格暴力类事件数" in card and "count_violent_28d" not in card
    assert "2023年10月2日" in card or "10月2日" in card
    words = re.findall(r"[A-Za-z_]{2,}", re.sub(r"`[^`]*`", " ", card))
    assert set(words) <= {"XGBoost", "PAI", "AUC", "CI"}, set(words)
    assert model_plots.card_markdown("incidents", "3", {"headline": "auc"}, {}, [], None) is None


# --------------------------------------------------------------------------- the page


def test_the_chinese_page_draws_both_plots_in_chinese(home: Path) -> None:
    log_champion(home)
    at = models_page("zh")
    assert images(at) == []  # no English matplotlib image left on the Chinese page
    titles, values = chart_strings(at)
    assert "平均绝对贡献" in titles and "预测概率" in titles and "实际发生率" in titles
    assert "近 28 天本网格暴力类事件数" in values  # the catalogue's short label
    assert not set(FEATURES) & set(values), "raw feature ids on the Chinese page"
    captions = "\n".join(c.value for c in at.caption)
    assert "特征重要性" in captions and "可靠性图" in captions
    card = "\n".join(m.value for m in at.markdown)
    assert "模型说明：治安案事件模型" in card and "上线门槛：未通过" in card
    en = models_page("en")
    assert images(en) == []
    titles, values = chart_strings(en)
    assert "Predicted probability" in titles
    assert "Events in this cell, last 7 days" in values  # the catalogue's short label
    assert "# Model card: riskwarn-incidents" in "\n".join(m.value for m in en.markdown)


def test_an_older_run_shows_the_images_and_the_english_card_with_a_note(home: Path) -> None:
    """Runs logged before the plots' data: the PNGs with a caption saying why; a run
    without the card's facts (no metrics.json): the English card with a Chinese note."""
    log_champion(home, with_data=False, with_metrics=False)
    at = models_page("zh")
    caps = images(at)
    assert len(caps) == 2 and all("只能显示训练时生成的图片" in c for c in caps), caps
    assert any("仅有英文版" in i.value for i in at.info)
    assert "# Model card: riskwarn-incidents" in "\n".join(m.value for m in at.markdown)


def test_the_model_cards_say_could_not_be_judged_in_both_languages() -> None:
    """Chinese card (dashboard) and English card (training) of a site run whose
    evaluation window held no failure: could not be judged, not failed, what to do."""
    from models.gate import gate
    from models.geohazard_sites import site_model_card

    nan = float("nan")
    why = "no site failure in the evaluation window 2025-12-01 .. 2025-12-28"
    comps = {"velocity": {"diff": nan, "ci": [nan, nan]}}
    decision = gate(comps, 0.001, not_judged_why=why)
    row = {
        "auc": nan,
        "auc_ci": [nan, nan],
        "average_precision": nan,
        "tss": nan,
        "pod": nan,
        "far": nan,
        "failures_warned": 0,
        "failures": 0,
        "median_lead_time_h": nan,
    }
    metrics = {
        "headline": "auc",
        "methods": {"xgboost": {**row, "ece": 0.001}, "velocity": row},
        "n_origins": 28,
        "n_days": 28,
        "n_sites": 20,
        "base_rate": 0.0,
        "eval_window": {
            "eval_start": "2025-12-01",
            "eval_end": "2025-12-28",
            "eval_failures": 0,
            "eval_default_start": "2025-12-01",
            "eval_window_extended_for": "none",
            "eval_window_limited_by": "training_history",
            "words": "evaluation window 2025-12-01 .. 2025-12-28: 0 site failure(s)",
        },
    }
    card = model_plots.card_markdown("geohazard", "4", metrics, {}, [], decision.record())
    assert card is not None
    assert "上线门槛：**无法评判**" in card and "人工填写理由强制启用" in card
    assert "未通过" not in card
    assert "回测期 2025年12月1日 至 2025年12月28日，监测点失稳 0 起" in card
    assert "再向前会使首次训练缺少失稳样本" in card
    en = site_model_card("geohazard", metrics, decision, ["velocity_mm_per_day"])
    assert "gate NOT JUDGED" in en and f"not judged: {why}" in en
    assert "could not judge this challenger" in en and "--force --reason" in en
    assert "Evaluation window: evaluation window 2025-12-01 .. 2025-12-28" in en
    assert "FAIL" not in en and "+nan" not in en
