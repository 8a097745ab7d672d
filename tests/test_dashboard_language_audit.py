"""Issue 12 §4: no raw identifiers or English on Chinese pages, no Chinese on English
pages, one date format per language, on every page (Streamlit AppTest over the demo home).

What a reader sees is collected from every element of the page (titles, captions,
markdown, metrics and their deltas, tables with their columns and cells, select options,
chart axis, legend and tooltip titles); the ids a reviewer needs (warning ``W-…``, case
``D-…``, grid cell and hazard-site ids), product names and units are allowed. Each check
failed on the code before this commit: "-0.5 pp" and "recent_events" / "events_last_7d" /
"fraud" / "2026-11-22" in the evidence on Chinese pages, "mm" chart axes, "%m-%d" day
axes, hazard-site and district names in Chinese on English pages.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import auth, review, views
from dashboard.i18n import AXIS_DAY
from dashboard.placenames import english
from testkit.dashboard_demo import demo_home
from testkit.dashboard_server import use_dashboard_env

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dashboard" / "app.py"
PAGES = ["overview", "warnings", "disputes", "geohazard", "models"]

# what a Chinese page may write in Latin letters: ids, product names, units, roman levels
ALLOWED_ON_ZH = re.compile(
    r"W-[A-Z0-9]{7}|D-[A-Z0-9]{6,}|\bc\d+_\d+\b|\bHS\d+\b|\b[A-Z]{2,3}-?\d{2,}\b"
    r"|https?://\S+|\bAirflow\b|\bMLflow\b|°[NE]|\b(?:I|II|III|IV)级|\bCI\b|\bAUC\b|\bPAI\b|\bGNSS\b"
    r"|^English$"  # the language switch names each language in itself
    # a command or path to type, in a Markdown code span (`make up`, `riskwarn promote
    # ...`): the same in either language, never translated
    r"|`[^`\n]+`"
)
CJK = re.compile(r"[\u3400-\u9fff]")
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("language") / "home"
    city = demo_home(home, n_cells=120, weeks=2, n_cases=15)
    mp = pytest.MonkeyPatch()
    use_dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


def _frame_texts(frame: Any) -> list[str]:
    data = frame.data if hasattr(frame, "data") and not isinstance(frame, pd.DataFrame) else frame
    if not isinstance(data, pd.DataFrame):
        return []
    out = [str(c) for c in data.columns]
    out += [str(i) for i in data.index if isinstance(i, str)]  # row labels (metrics table)
    out += [str(n) for n in data.index.names if isinstance(n, str)]  # their header
    for col in data.columns:
        out += [str(v) for v in data[col].head(30) if isinstance(v, str)]
    return out


def _chart_texts(spec: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Every title in a Vega-Lite spec, and every time-axis format."""
    titles: list[str] = []
    formats: list[str] = []

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "title" and isinstance(v, str):
                    titles.append(v)
                elif k == "format" and isinstance(v, str) and "%" in v and "d" in v:
                    formats.append(v)
                else:
                    walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)

    walk(spec)
    return titles, formats


def page_texts(at: AppTest) -> tuple[list[str], list[str]]:
    """What a reader of the page sees (no HTML/CSS/scripts), and the charts' day formats."""
    texts: list[str] = []
    formats: list[str] = []

    def walk(node: Any) -> None:
        kind = getattr(node, "type", "")
        if kind in ("html",):
            return
        for attr in ("value", "label", "options", "help", "delta"):
            try:
                v = getattr(node, attr)
            except Exception:  # not every element has every attribute
                continue
            if kind in ("selectbox", "radio", "button_group") and attr == "value":
                continue  # the chosen option's key (a warning id), shown through its label
            if isinstance(v, pd.DataFrame) or hasattr(v, "data"):
                texts.extend(_frame_texts(v))
            elif isinstance(v, str) and v:
                v = re.sub(r"<style[^>]*>.*?</style>", " ", v, flags=re.S)  # CSS is not read
                texts.append(html.unescape(re.sub(r"<[^>]+>", " ", v)))
            elif isinstance(v, list | tuple):
                texts.extend(str(x) for x in v)
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child)

    walk(at._tree)
    # the element's type name changed across Streamlit versions: read both
    charts = [*at.get("arrow_vega_lite_chart"), *at.get("vega_lite_chart")]
    for chart in charts:
        titles, fmts = _chart_texts(json.loads(chart.proto.spec))
        texts += titles
        formats += fmts
    return texts, formats


def render(page: str, lang: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["user"] = auth.User("admin", "管理员", "admin")
    at.session_state["lang"] = lang
    at.run()
    if page != "overview":
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("page", PAGES)
def test_each_page_speaks_one_language(home: Path, page: str) -> None:
    zh_texts, zh_formats = page_texts(render(page, "zh"))
    english_words = sorted(
        {w for text in zh_texts for w in re.findall(r"[A-Za-z_]{2,}", ALLOWED_ON_ZH.sub(" ", text))}
    )
    assert english_words == [], f"English or raw ids on the Chinese {page} page"
    en_texts, en_formats = page_texts(render(page, "en"))
    chinese = sorted({t for t in en_texts if CJK.search(t) and t != "中文"})
    assert chinese == [], f"Chinese on the English {page} page"
    for lang, texts, formats in (("zh", zh_texts, zh_formats), ("en", en_texts, en_formats)):
        iso = sorted({t for t in texts if ISO_DATE.search(t)})
        assert iso == [], f"ISO dates beside the {lang} date format on the {page} page"
        assert set(formats) <= {AXIS_DAY[lang]}, (page, lang, formats)


def test_evidence_is_worded_in_the_page_language() -> None:
    evidence = {
        "events_last_7d": 9,
        "usual_per_week": 2.5,
        "recent_events": [{"date": "2026-11-22", "category": "telecom_fraud"}],
        "observed_to": "2026-11-22T10:00:00+00:00",
        "source": "stream",
        "health": "gappy",
    }
    facts, tables = views.evidence_frames(evidence)
    zh = [
        review.evidence_label(k, v, "zh") + review.evidence_value(k, v, "zh")
        for k, v in facts.items()
    ]
    zh += _frame_texts(review.evidence_table(tables["recent_events"], "zh"))
    zh.append(review.evidence_word("recent_events", "zh"))
    assert not [s for s in zh if re.search(r"[A-Za-z]{2,}|\d{4}-\d{2}", s)], zh
    assert "电信网络诈骗" in zh and "2026年11月22日" in zh
    # the model behind a warning, as riskwarn score writes it ("riskwarn-incidents v3")
    # in words of the page's language (a Chinese page showed "riskwarn-dispute_cases 第 1 版")
    assert review.evidence_value("model", "riskwarn-incidents v3", "zh") == "治安案事件模型 第 3 版"
    assert (
        review.evidence_value("model", "riskwarn-dispute_cases v1", "en")
        == "Dispute escalation model, version 1"
    )
    assert review.evidence_value("model", "other-model v2", "zh") == "other-model 第 2 版"
    en = [
        review.evidence_label(k, v, "en") + review.evidence_value(k, v, "en")
        for k, v in facts.items()
    ]
    assert not [s for s in en if CJK.search(s)], en


def test_quarantine_reasons_and_site_names_are_words() -> None:
    assert views.quarantine_reason("impossible_date:occurred_at", "zh") == "日期不存在"
    assert views.quarantine_reason("out_of_range_date:occurred_at", "zh") == "时间超出支持范围"
    assert (
        views.quarantine_reason("out_of_range_date:occurred_at", "en")
        == "Time out of supported range"
    )
    assert views.quarantine_reason("outside_area", "en") == "Outside the area"
    assert views.quarantine_reason("something_new:x", "zh") == "其他原因"
    assert english("黄尾镇崩塌") == "Huangwei Town Rockfall"  # was "Huangwei Town Bengta"
    assert english("五庙乡泥石流沟") == "Wumiao Township Debris Flow Gully"
    # the simulated city's numbered villagers' groups (was "Lingshan Community8Zuhuapo")
    assert english("凌山社区8组滑坡") == "Lingshan Community 8 Group Landslide"
    assert english("口城社区10组地面塌陷") == "Koucheng Community 10 Group Ground Collapse"
    assert english("区家村") == "Qujia Village"  # a leading 区 is a name, not a suffix


def test_a_map_scored_without_a_model_version_says_so() -> None:
    """The overview read "依据模型第 — 版。" over the bench's baseline scores."""
    assert "—" not in views.model_note("—", None, "zh")
    assert views.model_note("—", None, "en").startswith("These scores come from no registered")
    assert views.model_note("3", None, "zh") == "依据模型第 3 版。"
    forced = {"actor": "os:ana", "details": {"forced_over_gate": True, "gate": "fail"}}
    assert "未通过上线门槛" in views.model_note("3", forced, "zh")
    unjudged = {"actor": "os:ana", "details": {"forced_over_gate": True, "gate": None}}
    assert "never judged" in views.model_note("3", unjudged, "en")
    assert "未经上线门槛评判" in views.model_note("3", unjudged, "zh")


def test_the_map_note_of_a_champion_forced_over_a_not_judged_gate_says_could_not_be_judged() -> (
    None
):
    """A version whose gate ran but could not judge it (``gate=not_judged``: no event in
    the window), promoted with --force: the overview's note said "never judged by its
    promotion gate" (the words for a version its training never judged), while the models
    page says "could not be judged"."""
    from dashboard import views

    forced = {"actor": "os:ana", "details": {"forced_over_gate": True, "gate": "not_judged"}}
    en, zh = views.model_note("3", forced, "en"), views.model_note("3", forced, "zh")
    assert "could not judge" in en and "never judged" not in en, en
    # the note is Markdown: the promoter's name is escaped (os\\:ana), shown as os:ana
    assert "无法评判" in zh and "由 os:ana 强制启用" in zh.replace("\\", ""), zh


def test_a_warning_outside_every_district_is_said_in_words() -> None:
    """The county chart of the city showed a bare "—" row for cells beyond the boundaries."""
    assert views.place_words(None, None, {}, "zh") == "未落入任何县区"
    assert views.place_words(None, None, {}, "en") == "Outside every district"


def test_bench_baseline_evidence_is_worded_in_the_page_language(home: Path) -> None:
    """bench/bench_dashboard.py's warnings name their baseline in the page's language (it
    wrote "long-run count baseline (bench_dashboard; ...)" on Chinese pages too). Kept last
    in this module: it publishes a newer incidents run into the module's home."""
    import streamlit as st

    from riskwarn.settings import load_settings
    from riskwarn.store import Store
    from tests.test_dashboard_map_cache import _bench_module

    bench = _bench_module()
    settings = load_settings()
    store = Store(settings.resolved_store_url)
    run = store.published_run("incidents")
    assert run is not None
    origin = pd.Timestamp(run["origin"]) + pd.Timedelta(weeks=1)
    assert bench.publish_hotspots(settings, store, "incidents", [origin])[1] > 0
    w = store.warnings(domain="incidents")
    store.close()
    row = w.loc[pd.to_datetime(w["origin"], utc=True) == origin].iloc[0]
    st.cache_data.clear()
    for lang in ("zh", "en"):
        at = AppTest.from_file(str(APP), default_timeout=60)
        role, name = auth.DEMO_USERS["reviewer"]
        at.session_state["user"] = auth.User(username="reviewer", name=name, role=role)
        at.session_state["lang"] = lang
        at.run()
        at.session_state["rv_domain__value"] = "incidents"
        at.session_state["rv_county__value"] = row["county_code"]
        at.session_state["rv_state__value"] = None
        at.session_state["rv_pick__value"] = row["warning_id"]
        at.switch_page("pages/warnings.py").run()
        assert not at.exception, [e.value for e in at.exception]
        cells = [s for d in at.dataframe for s in _frame_texts(d.value)]
        assert bench.BASELINE_EVIDENCE[lang] in cells, cells
        if lang == "zh":
            assert not [s for s in cells if "baseline" in s or "bench" in s], cells


def test_the_audit_reads_the_charts(home: Path) -> None:
    """The chart titles above are checked only if the charts are found: the overview draws
    the per-county bar chart and the trend chart (Vega-Lite), in each language."""
    for lang in ("zh", "en"):
        at = render("overview", lang)
        charts = [*at.get("arrow_vega_lite_chart"), *at.get("vega_lite_chart")]
        assert charts, f"no Vega-Lite chart found on the {lang} overview"
        titles = [t for c in charts for t in _chart_texts(json.loads(c.proto.spec))[0]]
        assert titles, f"no chart title read on the {lang} overview"


# registry names (riskwarn-<domain>), the product XGBoost, data versions and the account
# that moved the champion (models.registry.authenticated_actor: os:<user>, mlflow:<user>;
# the page's Markdown escapes the colon)
# are ids a data scientist needs on the models page
ALLOWED_ON_ZH_MODELS = re.compile(
    r"\briskwarn-[a-z_]+\b|\bXGBoost\b|\b[0-9a-f]{8,16}\b|(?<![A-Za-z])(?:os|mlflow)\\?:[A-Za-z0-9_.@-]+"
)


def test_the_models_page_of_a_champion_shows_no_english_plot_or_raw_feature_id(
    home: Path,
) -> None:
    """Issue 12 §4: with a champion whose run holds training's plots (importance,
    reliability; PNGs with English matplotlib text, and their data since issue 12) and
    model card, the Chinese models page shows no English image, no raw feature id in its
    charts (the feature names are the bars' labels) and no English in its words. On the
    code before, the page showed both PNGs and the English card: this test failed there."""
    from tests.test_dashboard_model_plots import FEATURES, chart_strings, log_champion

    log_champion(home)
    import streamlit as st

    st.cache_data.clear()
    at = render("models", "zh")
    shown = [i.caption for e in at.main if e.type == "image" for i in e.proto.imgs]
    assert shown == [], f"training's English images on the Chinese models page: {shown}"
    texts, _ = page_texts(at)
    _, drawn = chart_strings(at)  # the charts' labels: feature names in words
    assert not set(FEATURES) & set(drawn), "raw feature ids on the Chinese models page"
    english_words = sorted(
        {
            w
            for text in texts + drawn
            for w in re.findall(
                r"[A-Za-z_]{2,}", ALLOWED_ON_ZH_MODELS.sub(" ", ALLOWED_ON_ZH.sub(" ", text))
            )
        }
    )
    assert english_words == [], english_words


def test_one_chinese_term_per_state_dismissed_and_withdrawn_apart() -> None:
    """A reviewer's dismissal read 已撤销 and a publication's withdrawal 已撤回 (reviewer:
    one character apart, for two different states). Every text about a dismissal says
    排除, every text about a withdrawal 撤回, and the two state labels share no character
    but 已."""
    from dashboard.i18n import TEXT

    for key, entry in TEXT.items():
        en, zh = entry.get("en", ""), entry.get("zh", "")
        if re.search(r"dismiss", en, re.I):
            assert "排除" in zh and "撤" not in zh, (key, zh)
        if re.search(r"withdr", en, re.I):
            assert "撤回" in zh and "排除" not in zh, (key, zh)
    dismissed, withdrawn = TEXT["state_dismissed"]["zh"], TEXT["state_withdrawn"]["zh"]
    assert set(dismissed) & set(withdrawn) <= {"已"}, (dismissed, withdrawn)
    assert TEXT["action_dismiss"]["zh"] in dismissed  # the action and its state agree
    assert TEXT["event_withdraw_warning"]["zh"] in withdrawn
