"""A newcomer's review of the demo (6 Dec 2026), in Chinese and English (AppTest):

1. the disputes page said "Open cases 50" where 103 cases were open: the model scores
   only the cases not escalated yet, the 53 that had escalated were nowhere. It now says
   "Open, not yet escalated" and "Open, already escalated" (not scored) from the run's
   published ``unscored`` ids, and lists those cases apart;
2. a site warned orange at 0.87 %: its "why" now says the model's *own* orange threshold
   (0.65 %, set in training), not a bare "the Orange (II) threshold";
3. the overview's red line put the probability last, where a phone cut it off: first now;
4. the cases' explanations and the sites' "why" were cut by the data grid at 1280 px and
   off-screen at 390 px: both lists are the review queue's wrapping HTML table (cards in
   a narrow frame: ``review.frame_cards``), the grid one click away.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from dashboard import auth, review, views
from testkit.dashboard_demo import _pseudonym, demo_home
from testkit.dashboard_server import use_dashboard_env

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
N_CASES = 10
ESCALATED = N_CASES // 3 + 1  # testkit.dashboard_demo publishes these as already escalated


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A demo home with a red dispute case (off the maps) and a site at orange whose
    warning records the model's own orange threshold, 0.65 %, met by p = 0.87 %."""
    home = tmp_path_factory.mktemp("casecounts") / "home"
    city = demo_home(home, n_cells=120, weeks=1, n_cases=N_CASES)
    engine = sa.create_engine(city.store_url)
    with engine.begin() as conn:
        case = conn.execute(
            sa.text("SELECT warning_id FROM warnings WHERE domain = 'dispute_cases' LIMIT 1")
        ).scalar_one()
        conn.execute(
            sa.text("UPDATE warnings SET level = 'red' WHERE warning_id = :w"), {"w": case}
        )
        site = conn.execute(
            sa.text(
                "SELECT warning_id, unit_id, run_id FROM warnings "
                "WHERE domain = 'geohazard' AND level = 'orange' LIMIT 1"
            )
        ).one()
        ev = {"model_level": "orange", "model_threshold": 0.0065, "rules_level": "none"}
        conn.execute(
            sa.text(
                "UPDATE warnings SET evidence = :e, probability = 0.0087 WHERE warning_id = :w"
            ),
            {"e": json.dumps(ev), "w": site.warning_id},
        )
        conn.execute(
            sa.text(
                "UPDATE forecasts SET probability = 0.0087, score = 0.0087 "
                "WHERE run_id = :r AND unit_id = :u"
            ),
            {"r": site.run_id, "u": site.unit_id},
        )
    engine.dispose()
    mp = pytest.MonkeyPatch()
    use_dashboard_env(mp, home, city.store_url)
    yield home, str(case)
    mp.undo()


def _page(lang: str, page: str | None, role: str = "reviewer") -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    r, name = auth.DEMO_USERS[role]
    at.session_state["user"] = auth.User(username=role, name=name, role=r)
    at.session_state["lang"] = lang
    at.run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _html(at: AppTest) -> str:
    return html.unescape(
        "\n".join(
            [*(str(h.proto.body) for h in at.get("html")), *(str(m.value) for m in at.markdown)]
        )
    )


@pytest.mark.parametrize(
    ("lang", "scored", "escalated", "total", "listed"),
    [
        (
            "en",
            "Open, not yet escalated",
            "Open, already escalated",
            f"{N_CASES + ESCALATED} cases were open at the forecast origin, ",
            f"Open cases that already escalated ({ESCALATED}, not scored)",
        ),
        (
            "zh",
            "未结且尚未升级",
            "未结且已升级",
            f"时共有 {N_CASES + ESCALATED} 件未结案件",
            f"已升级的未结案件（{ESCALATED} 件，不评分）",
        ),
    ],
)
def test_disputes_page_counts_every_open_case(
    home: tuple[Path, str], lang: str, scored: str, escalated: str, total: str, listed: str
) -> None:
    at = _page(lang, "disputes")
    metrics = {m.label: str(m.value) for m in at.metric}
    # the old page: one metric "Open cases" / "未结案件" = the scored cases alone
    assert metrics.get(scored) == str(N_CASES), metrics
    assert metrics.get(escalated) == str(ESCALATED), metrics
    assert "Open cases" not in metrics and "未结案件" not in metrics
    assert any(total in str(c.value) for c in at.caption), [c.value for c in at.caption]
    expanders = [str(e.label) for e in at.expander]
    assert listed in expanders, expanders
    text = _html(at)
    for i in range(ESCALATED):  # the cases left out, listed by id
        assert _pseudonym("D", N_CASES + i) in text
    # the explanations wrap in the HTML table (the grid cut them), cards in a narrow frame
    assert 'class="rw-table"' in text and "rw-qcard" in text and "st-key-rwwrap_" in text
    table = at.dataframe[0].value  # the grid, one click away
    for explanation in table.iloc[:, -1]:
        assert " ".join(str(explanation).split()) in text


def test_unscored_cases_read_from_the_run() -> None:
    assert views.unscored_cases(None) is None
    assert views.unscored_cases({"unscored": None}) is None  # a run before migration 0013
    got = {"unscored": {"already_escalated": ["MD2", "MD1"]}}
    assert views.unscored_cases(got) == ["MD1", "MD2"]
    assert views.unscored_cases({"unscored": json.dumps(got["unscored"])}) == ["MD1", "MD2"]
    assert views.unscored_cases({"unscored": {"already_escalated": []}}) == []


@pytest.mark.parametrize(
    ("lang", "why"),
    [
        (
            "en",
            "model: probability 0.87%, at or above this model's own Orange (II) threshold "
            "of 0.65% (set in training; the domain's thresholds do not apply)",
        ),
        (
            "zh",
            "模型预测：概率 0.87%，达到本模型自身的橙色（II级）阈值 0.65%（训练时设定，不采用领域通用阈值）",
        ),
    ],
)
def test_site_why_says_the_models_own_threshold_and_wraps(
    home: tuple[Path, str], lang: str, why: str
) -> None:
    kind, facts = views.site_why(
        "orange", 0.0087, {"model_level": "orange", "model_threshold": 0.0065}, (0.02,) * 4
    )
    assert views.site_why_words(kind, facts, lang) == why
    at = _page(lang, "geohazard", role="leader")
    text = _html(at)
    # every site's whole "why", in the wrapping table and in the cards (the grid cut it)
    assert 'class="rw-table"' in text and "rw-qcard" in text
    grid = at.dataframe[0].value  # the grid (sort, search, pick a site), one click away
    whys = grid[{"en": "Why", "zh": "判定依据"}[lang]].tolist()
    assert len(whys) >= 3 and all(w for w in whys)
    for w in whys:
        assert text.count(" ".join(str(w).split())) >= 2, w


@pytest.mark.parametrize(("lang", "first"), [("en", "%"), ("zh", "概率 ")])
def test_overview_red_line_says_the_probability_first_and_wraps(
    home: tuple[Path, str], lang: str, first: str
) -> None:
    from urllib.parse import urlencode

    _, case = home
    at = _page(lang, None, role="leader")
    query = urlencode({"warning": case})
    (link,) = [e for e in at.get("page_link") if e.proto.query_string == query]
    label = str(link.proto.label)
    head = label.split(" · ")[0]
    assert first in head and any(ch.isdigit() for ch in head), label  # "87.8%" / "概率 87.8%"
    assert "st-key-rwred_off_maps" in _html(at) and "white-space: normal" in _html(at)


def test_frame_cards_escape_and_title_first() -> None:
    import pandas as pd

    shown = pd.DataFrame({"Level": ["Red"], "Site": ["<b>x</b>"], "Why": ["a long reason"]})
    cards = review.frame_cards(shown, title=("Level", "Site"), cells={"Level": ["<i>R</i>"]})
    assert cards.startswith("<div class='rw-qcard'><i>R</i> · <b>&lt;b&gt;x&lt;/b&gt;</b><br>")
    assert "Why:</span> a long reason" in cards
