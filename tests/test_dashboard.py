"""AppTest of every dashboard page for every role, on a populated demo store."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import auth, trends
from testkit.dashboard_demo import DEMO_PASSWORD, dashboard_env, demo_home

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
PAGES = {
    "overview": "pages/overview.py",
    "warnings": "pages/warnings.py",
    "disputes": "pages/disputes.py",
    "geohazard": "pages/geohazard.py",
    "models": "pages/models.py",
}
TITLES_ZH = {
    "overview": "本周风险总览",
    "warnings": "预警研判",
    "disputes": "矛盾纠纷案件",
    "geohazard": "地质灾害隐患点",
    "models": "模型与数据质量",
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A populated riskwarn home; RISKWARN_* point at it while the module runs."""
    home = tmp_path_factory.mktemp("dash") / "home"
    city = demo_home(home, n_cells=300, weeks=4, n_cases=60)
    mp = pytest.MonkeyPatch()
    dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


def _user(username: str) -> auth.User:
    role, name = auth.DEMO_USERS[username]
    return auth.User(username=username, name=name, role=role)


def _app(username: str | None, lang: str = "zh") -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    if username is not None:
        at.session_state["user"] = _user(username)
    at.session_state["lang"] = lang
    return at


def _open(username: str, page: str, lang: str = "zh") -> AppTest:
    at = _app(username, lang).run()
    if page != "overview":
        at.switch_page(PAGES[page]).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.caption]
    parts += [m.value for m in at.title] + [m.value for m in at.subheader]
    parts += [m.label + " " + str(m.value) for m in at.metric]
    parts += (
        [m.value for m in at.error] + [m.value for m in at.warning] + [m.value for m in at.info]
    )
    parts += [m.value for m in at.success]
    return "\n".join(str(p) for p in parts)


def test_login_form_accepts_the_right_password_only(home: Path) -> None:
    at = _app(None).run()
    assert at.title[0].value == "市域风险预警"
    at.text_input(key="login_user").input("reviewer")
    at.text_input(key="login_password").input("wrong")
    submit = next(b for b in at.button if b.label == "登录")
    submit.click().run()
    assert "用户名或密码错误" in _text(at)
    assert "user" not in at.session_state
    at.text_input(key="login_password").input(DEMO_PASSWORD)
    next(b for b in at.button if b.label == "登录").click().run()
    assert at.session_state["user"].role == "reviewer"
    assert at.title[0].value == TITLES_ZH["overview"]


@pytest.mark.parametrize("username", ["leader", "reviewer", "scientist", "admin"])
def test_every_page_for_every_role(home: Path, username: str) -> None:
    role = _user(username).role
    at = _app(username).run()
    for page in PAGES:
        if page != "overview":
            at.switch_page(PAGES[page]).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        _check_page(at, page, role)


def _check_page(at: AppTest, page: str, role: str) -> None:
    text = _text(at)
    if not auth.can_view(role, page):
        assert "无权访问此页面" in text, page
        assert not at.metric and not at.dataframe
        return
    assert at.title[0].value == TITLES_ZH[page]
    assert "无权访问" not in text
    if page == "overview":
        assert any(m.label == "有效预警" and int(m.value) > 0 for m in at.metric)
        assert "重点关注地区" in text and " 处 · 最高 " in text
        assert len(at.get("deck_gl_json_chart")) == 2  # one map per hotspot domain
    elif page == "warnings":
        assert at.dataframe[0].value.shape[0] > 10
        can = auth.can_review(role)
        assert any(b.label == "提交" for b in at.button) == can
        assert ("您的角色只读" in text) == (not can)
    elif page == "disputes":
        frame = at.dataframe[0].value
        assert frame.shape[0] == 60
        assert frame["案件编号"].str.match(r"^D-[0-9A-F]{10}$").all()  # pseudonymous ids only
    elif page == "geohazard":
        assert "在线传感器" in text and len(at.get("vega_lite_chart")) == 4
    elif page == "models":
        assert "无法连接 Airflow" in text  # Airflow is not running: said plainly
        assert "尚未登记服役模型" in text  # the temporary MLflow has no champion


def test_english_switch_translates_labels_and_dates(home: Path) -> None:
    at = _open("admin", "overview", lang="en")
    text = _text(at)
    assert at.title[0].value == "This week's risk"
    assert "Places to watch" in text and "Week of" in text
    assert "本周" not in text
    at = _open("admin", "warnings", lang="en")
    assert list(at.dataframe[0].value.columns)[:4] == ["ID", "Level", "Domain", "Place"]


def test_trend_labels() -> None:
    import pandas as pd

    origins = pd.date_range("2026-01-05", periods=4, freq="7D", tz="UTC")
    rows = []
    # a: hot every week, stable; b: hot only now; c: hot before, gone now; d: hot, rising
    for k, o in enumerate(origins):
        rows += [
            {"unit_id": "a", "origin": o, "score": 0.5, "rank": 1},
            {
                "unit_id": "b",
                "origin": o,
                "score": 0.6 if k == 3 else 0.01,
                "rank": 2 if k == 3 else 50,
            },
            {
                "unit_id": "c",
                "origin": o,
                "score": 0.01 if k == 3 else 0.4,
                "rank": 60 if k == 3 else 3,
            },
            {"unit_id": "d", "origin": o, "score": 0.2 + 0.2 * k, "rank": 4},
            {"unit_id": "e", "origin": o, "score": 0.01, "rank": 70},
        ]
    out = trends.classify_hotspots(pd.DataFrame(rows), top_n=10, weeks=4, change=0.15)
    got = dict(zip(out["unit_id"], out["label"], strict=True))
    assert got == {"a": "persistent", "b": "emerging", "c": "diminishing", "d": "intensifying"}
    assert out.set_index("unit_id").loc["a", "hot_weeks"] == 4
    # only the last `weeks` origins count: with weeks=1 there is no earlier week to
    # compare with, so no place is labelled (it used to call every top place "emerging")
    one = trends.classify_hotspots(pd.DataFrame(rows), top_n=10, weeks=1)
    assert one.empty


def test_password_hashes_verify_and_differ() -> None:
    h1, h2 = auth.hash_password("s3cret"), auth.hash_password("s3cret")
    assert h1 != h2 and h1.startswith("scrypt$")
    assert auth.verify_password("s3cret", h1) and not auth.verify_password("s3cret!", h1)
    assert not auth.verify_password("x", "md5$abc")
    assert not io.StringIO().getvalue()


def test_models_page_shows_the_champion_run(home: Path, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow
    from mlflow import MlflowClient

    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.create_experiment("riskwarn-incidents", artifact_location=str(tmp_path / "art"))
    run = client.create_run(exp)
    for key, value in {  # keys as models.registry logs them
        "methods.xgboost.pai_at_0.05": 4.91,
        "methods.counts.pai_at_0.05": 4.57,
        "methods.xgboost.brier": 0.041,
    }.items():
        client.log_metric(run.info.run_id, key, value)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    client.log_figure(run.info.run_id, fig, "plots/reliability.png")
    client.log_text(run.info.run_id, "# Model card\nweekly incidents", "model_card.md")
    client.set_terminated(run.info.run_id)
    client.create_registered_model("riskwarn-incidents")
    mv = client.create_model_version(
        "riskwarn-incidents", f"runs:/{run.info.run_id}/plots", run_id=run.info.run_id
    )
    client.set_registered_model_alias("riskwarn-incidents", "champion", mv.version)
    # recorded by riskwarn, as `riskwarn promote` does: the page names what scoring serves
    # (an alias riskwarn never recorded is refused, tests/test_dashboard_served_champion.py)
    import os

    from riskwarn.store import Store
    from scripts.check_champion import adopt_champion

    with Store(os.environ["RISKWARN_STORE_URL"]) as store:
        adopt_champion(uri, store, "incidents")
    del mlflow
    import streamlit as st

    st.cache_data.clear()  # an earlier test cached "no champion" within the TTL
    at = _open("scientist", "models")
    text = _text(at)
    assert "riskwarn-incidents" in text and f"版本 {mv.version}" in text
    assert run.info.run_id in text  # the link to the MLflow run
    table = at.dataframe[0].value
    pai, brier = "命中效率 PAI（全域前 5% 面积）", "Brier 评分"  # metrics in words
    assert table.loc[pai, "模型（XGBoost）"] == "4.910"  # sent as text (views.metrics_display)
    assert table.loc[pai, "counts"] == "4.570"
    assert table.loc[brier, "counts"] == "—"  # a metric the baseline lacks
    assert [e.type for e in at.main].count("image") == 1  # plots/reliability.png


def test_site_series_and_sensor_health() -> None:
    import numpy as np
    import pandas as pd

    from dashboard import sensors

    hours = pd.date_range("2026-06-01", periods=24 * 40, freq="h", tz="UTC")
    disp = np.arange(len(hours)) * 0.5 / 24  # steady creep, 0.5 mm/day
    disp[-24 * 5 :] += np.arange(24 * 5) * 3.0 / 24  # then 7x faster for 5 days
    frame = pd.DataFrame(
        {"sensor_id": "G", "observed_at": hours, "quantity": "displacement_mm", "value": disp}
    )
    rain = frame.assign(sensor_id="R", quantity="rain_mm", value=0.5)
    daily = sensors.daily_site_series(pd.concat([frame, rain]), steady_days=30, smooth_days=1)
    assert daily["rain_mm"].iloc[5] == pytest.approx(12.0)
    assert daily["tangent_angle_deg"].iloc[10] == pytest.approx(45.0, abs=0.5)  # steady: 45°
    assert daily["tangent_angle_deg"].iloc[-2] > 80.0  # acceleration crosses the orange line

    gappy = frame.drop(index=range(100, 130)).copy()
    gappy.loc[300, "value"] += 50.0
    showers = rain.assign(value=np.where(np.arange(len(rain)) % 7 == 0, 8.0, 0.0))
    showers.loc[400, "value"] = 500.0  # impossible for one hour
    health = sensors.sensor_health(
        pd.concat([gappy, showers]),
        pd.DataFrame({"record_id": ["G", "R", "X"], "sensor_type": ["gnss", "rain_gauge", "tilt"]}),
        now=hours[-1] + pd.Timedelta(hours=1),
    )
    h = health.set_index("sensor_id")
    assert (h.loc["G", "gaps"], h.loc["G", "spikes"], bool(h.loc["G", "online"])) == (1, 1, True)
    assert h.loc["R", "spikes"] == 1  # showers are not spikes, 500 mm in an hour is
    assert (h.loc["X", "gaps"], bool(h.loc["X", "online"])) == (0, False)


def test_map_needs_no_internet() -> None:
    import json
    from urllib.parse import unquote

    from dashboard import maps

    style = json.loads(unquote(maps.style_url().split(",", 1)[1]))
    assert style["sources"] == {} and style["layers"][0]["type"] == "background"
    with_tiles = json.loads(unquote(maps.style_url("http://tiles.intra/{z}/{x}/{y}.png")[36:]))
    assert with_tiles["sources"]["basemap"]["tiles"] == ["http://tiles.intra/{z}/{x}/{y}.png"]


def test_dashboard_command_runs_streamlit_headless_without_usage_stats() -> None:
    from riskwarn.commands.dashboard import APP as CMD_APP
    from riskwarn.commands.dashboard import SERVER, streamlit_command

    cmd = streamlit_command("127.0.0.1", 8765)
    # served through dashboard/server.py: app.py inside the ASGI app whose cookie route
    # sets the session cookie HttpOnly (docs/security.md)
    assert cmd[1:4] == ["-m", "streamlit", "run"] and Path(cmd[4]) == SERVER
    assert CMD_APP.resolve() == APP.resolve() and CMD_APP.exists() and SERVER.exists()
    assert '"app.py"' in SERVER.read_text()
    assert {
        "--server.headless=true",
        "--browser.gatherUsageStats=false",
        "--server.port=8765",
        "--server.address=127.0.0.1",
    } <= set(cmd)


def test_metrics_table_keeps_dotted_metric_names_whole() -> None:
    from dashboard.views import metrics_table

    wide = metrics_table(
        {
            "methods.xgboost.pai_at_0.05": 4.7,
            "methods.xgboost.pai_at_0.05_ci_lo": 4.6,
            "methods.long_run.pai_at_0.05": 4.6,
            "model_minus_baseline.long_run.diff": 0.09,
            "n_origins": 12.0,
        }
    )
    assert list(wide.columns) == ["long_run", "xgboost", "run"]
    assert wide.loc["pai_at_0.05", "xgboost"] == 4.7
    assert wide.loc["pai_at_0.05_ci_lo", "xgboost"] == 4.6
    assert wide.loc["model_minus_baseline.long_run.diff", "run"] == 0.09
    assert metrics_table({}).empty
