"""Reasons in English and Chinese: catalogue templates, explanations, warning rows."""

from __future__ import annotations

import re
import string
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.catalog import FEATURES, PATTERNS, catalog_markdown, describe
from riskwarn.warnings import WarningContext, build_warnings

HAN = re.compile(r"[\u4e00-\u9fff]")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "features.md"


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_every_feature_has_a_chinese_template_with_the_same_placeholders(name: str) -> None:
    info = FEATURES[name]
    assert HAN.search(info.zh), f"{name} has no Chinese template"
    assert _fields(info.zh) == _fields(info.template)


def test_describe_in_chinese_names_groups_and_writes_large_numbers_in_wan() -> None:
    assert describe("count_violent_7d", 4, "zh") == "近 7 天本网格发生 4 起暴力类事件"
    assert describe("category_labour_wage", 1, "zh") == "劳资类纠纷：是"
    assert describe("rate_ratio_7d_vs_longrun", 3, "zh") == "近 7 天的发生率是本网格常态的 3.0 倍"
    assert describe("population_persons", 123_456, "zh") == "本网格常住人口 12.3万 人"
    assert describe("population_persons", 1_234, "zh") == "本网格常住人口 1,234 人"
    # English unchanged, and the default
    assert describe("population_persons", 123_456) == "123,456 residents in this cell"
    assert (
        describe("count_labour_wage_7d", 2)
        == "2 labour wage events in this cell in the last 7 days"
    )
    assert describe("not_a_feature", 2.5, "zh") == "not_a_feature = 2.5"


def test_docs_catalogue_is_the_generated_one_with_both_languages() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert catalog_markdown() in text
    for key, info in PATTERNS.items():
        assert f"| `{key}` | {info.template} | {info.zh} |" in text


def test_explain_rows_write_english_and_chinese() -> None:
    xgb = pytest.importorskip("xgboost")
    from models.explain import contributions, explain_rows

    rng = np.random.default_rng(3)
    x = pd.DataFrame(
        {"count_7d": rng.poisson(2, 1500).astype(float), "noise_feature": rng.random(1500)}
    )
    y = rng.poisson(0.2 + 0.3 * x["count_7d"].to_numpy())
    feats = list(x.columns)
    booster = xgb.train(
        {"objective": "count:poisson", "max_depth": 3, "nthread": 1},
        xgb.DMatrix(x.to_numpy(np.float32), label=y, feature_names=feats),
        20,
    )
    top = x.assign(k=x["count_7d"]).sort_values("k").tail(1).drop(columns="k")
    row = explain_rows(contributions(booster, top, feats, 19), top)[0]
    n = int(top["count_7d"].iloc[0])
    assert row["factors"][0]["feature"] == "count_7d"
    assert row["factors"][0]["text"] == f"{n} events in this cell in the last 7 days"
    assert row["factors"][0]["text_zh"] == f"近 7 天本网格发生 {n} 起事件"
    assert row["sentence"].startswith("Higher risk mainly because: ")
    assert row["sentence_zh"].startswith("风险偏高的主要原因：")
    assert f"近 7 天本网格发生 {n} 起事件" in row["sentence_zh"]
    assert row["sentence_zh"].endswith("。") and not HAN.search(row["sentence"])
    assert row["reason"] == {"en": row["sentence"], "zh": row["sentence_zh"]}


def test_explain_rows_without_risk_raising_factor_say_so_in_both_languages() -> None:
    from models.explain import explain_rows

    contribs = pd.DataFrame({"count_7d": [-0.5], "bias": [0.1]})
    row = explain_rows(contribs, pd.DataFrame({"count_7d": [0.0]}))[0]
    assert row["factors"] == []
    assert row["sentence"] == "No factor raises the risk above the usual level."
    assert row["sentence_zh"] == "没有因素使风险高于常态。"


def test_warning_rows_carry_bilingual_reasons_and_keep_legacy_strings() -> None:
    from riskwarn.reasons import evidence_sentences

    levels = pd.DataFrame(
        {
            "unit_id": ["c1", "c2"],
            "probability": [0.9, 0.45],
            "score": [0.9, 0.45],
            "level_rank": [4, 2],
            "held": [False, True],
            "capped": [False, True],
        }
    )
    frame = pd.DataFrame({"unit_id": ["c1"], "count_7d": [12], "count_28d": [1_030]})
    explanations: dict[str, list[object]] = {
        u: list(r) for u, r in evidence_sentences(frame).items()
    }
    explanations["c2"] = ["A legacy plain sentence."]
    ctx = WarningContext("incidents", "cell", pd.Timestamp("2024-07-01"), 168.0)
    w = build_warnings(levels, ctx, explanations).set_index("unit_id")
    r1, r2 = w.loc["c1", "reasons"], w.loc["c2", "reasons"]
    assert r1[0] == {
        "en": "Model probability 90.0% over the next 7 days (level I red).",
        "zh": "模型预测未来 7 天内的概率为 90.0%（红色，I级）。",
    }
    assert r1[1] == {
        "en": "12 events in this cell in the last 7 days, 1,030 in the last 28 days.",
        "zh": "近 7 天本网格发生 12 起事件，近 28 天 1,030 起。",
    }
    assert "A legacy plain sentence." in r2
    zh = [r["zh"] for r in r2 if isinstance(r, dict)]
    assert any("滞回" in t for t in zh) and any("名额" in t for t in zh)
    assert all(set(r) == {"en", "zh"} for r in r2 if isinstance(r, dict))


def test_every_hotspot_model_input_has_plain_words_in_both_languages() -> None:
    """Panels read reasons, not column names: every input of the hotspot model (feature
    table, stacked baselines, long-memory inputs) has a template in English and Chinese."""
    import sys
    from pathlib import Path

    from features.cells import active_cells, assign_cells
    from features.incidents import feature_columns
    from models.explain import feature_descriptions
    from models.hotspot_backtest import HotspotBacktestSpec, build_model_frame

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_backtest import CRS, TZ, synthetic_events

    ev = synthetic_events(seed=1, n_cells=4, days=120)
    ev = assign_cells(ev, CRS, 250).dropna(subset=["cell_x", "cell_y"])
    ev = ev.astype({"cell_x": "int64", "cell_y": "int64"})
    origin = pd.DatetimeIndex([pd.Timestamp("2015-04-20", tz=TZ).tz_convert("UTC")])
    spec = HotspotBacktestSpec(
        holiday_country="US",
        crs=CRS, cell_size_m=250, tz=TZ, start=pd.Timestamp("2015-04-20"),
        end=pd.Timestamp("2015-04-20"), feature_groups=("violent",),
    )  # fmt: skip
    cells = active_cells(ev, origin[0])
    features = feature_columns(build_model_frame(ev, cells, origin, spec))
    assert any(f.startswith("lr_") for f in features) and any(
        f.startswith("hist_") for f in features
    )
    for lang in ("en", "zh"):
        stacked = feature_descriptions(lang)
        bare = [f for f in features if f not in stacked and describe(f, 1.0, lang) == f"{f} = 1"]
        assert not bare, f"{lang}: no plain words for {bare}"


def test_a_movement_factor_from_an_old_reading_says_how_old() -> None:
    """The demo's orange site: both sensors silent for 13 days, the model's top factor
    their last 24 h velocity, worded "over the last 24 h" as if it were now."""
    from models.explain import explain_rows

    contribs = pd.DataFrame(
        {"velocity_mm_per_day": [2.0, 2.0], "displacement_age_days": [0.1, 0.1], "bias": 0.0}
    )
    frame = pd.DataFrame(
        {"velocity_mm_per_day": [31.7, 31.7], "displacement_age_days": [12.7, 0.01]}
    )
    old, fresh = explain_rows(contribs, frame, top_n=1)
    assert old["sentence"] == (
        "Higher risk mainly because: the slope (GNSS) moved 31.70 mm per day over the last "
        "24 h (as of the last displacement reading, 12.7 days before this run)."
    )
    assert "（截至 12.7 天前的最近一次位移读数）" in old["sentence_zh"]
    assert "as of" not in fresh["sentence"] and "截至" not in fresh["sentence_zh"]


def test_a_stored_raw_factor_is_shown_in_words() -> None:
    """Reasons are stored as text at scoring time: a warning scored before the one wording
    path carries "lr_smooth_hl1y_s2 = 27.2608"; the dashboard shows it in the catalogue's
    words (rounded), in the reader's language; an uncatalogued name stays as written."""
    from dashboard.views import reason_lines

    stored = [
        {
            "en": "Higher risk mainly because: lr_smooth_hl1y_s2 = 27.2608; "
            "lr_count_loc_street = 12; mystery_input = 3.",
            "zh": "风险偏高的主要原因：lr_smooth_hl1y_s2 = 27.2608；lr_count_loc_street = 12。",
        },
        "Higher risk mainly because: lr_smooth_all_s4 = 3.14159.",
    ]
    en, legacy = reason_lines(stored, "en")
    assert en == (
        "Higher risk mainly because: 27.3 age-weighted past events around this cell "
        "(half-life one year, smoothed over about 2 cells); 12 events in this cell at "
        "street locations over all history; mystery_input = 3."
    )
    assert legacy == (
        "Higher risk mainly because: 3.1 past events around this cell (all history, "
        "smoothed over about 4 cells)."
    )
    zh = reason_lines(stored, "zh")[0]
    assert "lr_" not in zh and "27.2608" not in zh
    assert "约 2 个网格范围" in zh and "27.3" in zh and "街面" in zh
