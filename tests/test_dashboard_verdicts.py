"""The models page says, per domain, whether the serving model passes its gate, against
which baseline, by how much, when it was trained and who forced it in; retrain asks first."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import verdicts, views
from dashboard.auth import DEMO_USERS, User
from models.registry import gate

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
TZ = "Asia/Shanghai"

# the demo's incidents run (make demo, 2026-12-03): worse than kde, long_run, prospective
INCIDENTS_METRICS = {
    "headline": "pai@0.05",
    "best_baseline": "kde",
    "methods": {
        "ceiling": {"pai@0.05": 10.97},
        "ceiling_loo": {"pai@0.05": 6.63},
        "kde": {"pai@0.05": 8.00},
        "prospective": {"pai@0.05": 7.91},
        "long_run": {"pai@0.05": 7.52},
        "xgboost": {"pai@0.05": 7.14, "ece": 0.0174},
        "last_period": {"pai@0.05": 4.43},
    },
    "model_minus_baseline": {
        "kde": {"diff": -0.865, "ci": [-1.161, -0.586]},
        "last_period": {"diff": 2.714, "ci": [2.345, 3.056]},
        "long_run": {"diff": -0.378, "ci": [-0.537, -0.226]},
        "prospective": {"diff": -0.767, "ci": [-0.899, -0.632]},
    },
}
SITE_METRICS = {
    "headline": "auc",
    "methods": {
        "xgboost": {"auc": 0.36, "ece": 0.002},
        "sensor_rules": {"auc": 0.91},
        "velocity": {"auc": 0.68},
    },
    "model_minus_baseline": {
        "sensor_rules": {"diff": -0.546, "ci": [-0.656, -0.375]},
        "velocity": {"diff": -0.322, "ci": [-0.418, -0.203]},
    },
}
CHAMPION = {
    "version": "1",
    "gate_tag": "fail",
    "trained_at": pd.Timestamp("2026-12-03 00:22", tz="UTC"),
    "params": {
        "trained_until": "2023-12-30 16:00:00+00:00",
        "n_train_rows": "1104831",
        "n_features": "61",
        "data_version": "2fd3485d557b6099",
        "eval_start": "2023-10-02",
        "eval_end": "2023-12-24",
    },
}
# the training data end scoring serves the version on (dashboard.model_reads.serving_model's
# ``data_end``, models.registry.data_end: the version's tag first), not a run param
DATA_END = {"at": "2023-12-30 16:00:00+00:00"}
FORCED = {
    "actor": "demo",
    "at": pd.Timestamp("2026-12-03 00:39", tz="UTC"),
    "details": {"forced_over_gate": True, "reason": "demo bootstrap", "version": "1"},
}


def _gate_record(metrics: dict, ece: float, champion: str | None = None) -> dict:
    return gate(metrics["model_minus_baseline"], ece, champion=champion).record()


def test_a_failed_and_forced_champion_is_said_plainly() -> None:
    g = _gate_record(INCIDENTS_METRICS, ece=0.0174)
    v = verdicts.verdict("incidents", CHAMPION, g, INCIDENTS_METRICS, FORCED, DATA_END)
    assert (v.status, v.forced, v.best_baseline) == ("fail", True, "kde")
    assert v.versus_best is not None and v.versus_best.verdict == "worse"
    assert (v.rank, v.n_methods) == (4, 5)  # ceilings are not methods
    zh = "\n".join(verdicts.verdict_lines(v, "zh", TZ))
    assert "未达标" in zh.splitlines()[0]  # what it means comes first
    assert "核密度热点" in zh and "明显不如" in zh and "低 0.865" in zh and "−1.161 至 −0.586" in zh
    assert "在 5 种可实际使用的方法中排第 4" in zh
    assert "由 demo 于 2026年12月3日 08:39 强制启用" in zh and "demo bootstrap" in zh
    assert "2023年12月31日 之前的数据" in zh and "110.5万" in zh
    assert verdicts.status_words(v, "zh") == "未通过上线门槛，被强制启用"
    en = "\n".join(verdicts.verdict_lines(v, "en", TZ))
    assert "clearly worse" in en and "kernel density hotspots" in en and "by force" in en
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in en)  # no Chinese on English pages


def test_a_rolled_back_champion_names_the_version_it_went_back_to() -> None:
    """The badge read "Fails its gate, rolled back to" and stopped: it names the version."""
    g = _gate_record(INCIDENTS_METRICS, ece=0.0174)
    rollback = {**FORCED, "action": "rollback"}
    v = verdicts.verdict("incidents", {**CHAMPION, "version": "7"}, g, INCIDENTS_METRICS, rollback)
    assert v.rolled_back and v.status == "fail"
    assert verdicts.status_words(v, "en") == "Fails its gate, rolled back to version 7"
    assert verdicts.status_words(v, "zh") == "未通过上线门槛，经回滚恢复为第 7 版"


def test_a_model_below_chance_and_the_failed_checks_are_named() -> None:
    g = _gate_record(SITE_METRICS, ece=0.002)
    v = verdicts.verdict("geohazard_hourly", CHAMPION, g, SITE_METRICS, FORCED)
    zh = "\n".join(verdicts.verdict_lines(v, "zh", TZ))
    assert "比随机还差" in zh and "传感器规则（切线角与速率）" in zh
    assert "不如“位移速率”" in zh  # each failed check in words
    assert v.rank == 3 and v.n_methods == 3


def test_the_gates_other_pai_checks_read_in_the_pages_language() -> None:
    """The make-demo home's Chinese models page read "not worse than kde at PAI@1%":
    models/gate.py writes the non-headline checks' text in English."""
    check = {
        "check": "not worse than kde at PAI@1%",
        "ok": False,
        "metric": "pai@0.01",
        "diff": -0.15,
        "ci": [-0.27, -0.01],
        "baseline": "kde",
    }
    zh = verdicts.check_words(check, "zh")
    assert zh == "在命中效率 PAI@1%上不如“核密度热点”（差 −0.150，区间 −0.270 至 −0.010）"
    en = verdicts.check_words({**check, "metric": "pai@0.1"}, "en")
    assert en == "worse than kernel density hotspots at PAI@10% (−0.150, CI −0.270 to −0.010)"
    assert verdicts.method_name("inverse_velocity", "zh") == "速率倒数法"


def test_a_failed_calibration_check_says_what_its_bound_is() -> None:
    """At a site model's base rate (0.0001) the models page read "calibration error 0.000
    above the bound 0.000": neither number nor the bound's meaning. The consistency bound's
    words say what the bound is (half the base rate, or what chance gives a calibrated
    model 1 time in 20) in both languages, with the numbers' significant digits."""
    ok = {"long_run": {"diff": 0.2, "ci": [0.1, 0.3]}}
    check = gate(ok, 0.00031, base_rate=0.0001, n_rows=90_000, ece_noise=0.00012).checks[-1]
    assert not check["ok"]
    en = verdicts.check_words(check, "en")
    assert en.startswith("calibration error 0.00031 above the bound 0.00012: ")
    assert "0.5 x the base rate" in en and "1 time in 20" in en and "at most 0.05" in en
    zh = verdicts.check_words(check, "zh")
    assert zh.startswith("概率校准误差 0.00031 超过上限 0.00012：")
    assert "基准发生率的 0.5 倍" in zh and "20 次中才有 1 次" in zh and "最多 0.05" in zh
    # a gate.json written before the consistency bound keeps its old words
    old = {"check": "calibration", "ok": False, "ece": 0.0554, "bound": 0.05}
    assert verdicts.check_words(old, "en") == (
        "calibration error 0.055 above the bound 0.050 (probabilities do not match observed rates)"
    )


def test_a_passing_champion_promoted_by_training() -> None:
    metrics = {
        "headline": "average_precision",
        "methods": {
            "xgboost": {"average_precision": 0.64},
            "failed_mediations": {"average_precision": 0.56},
        },
        "model_minus_baseline": {"failed_mediations": {"diff": 0.075, "ci": [0.05, 0.11]}},
    }
    g = _gate_record(metrics, ece=0.0)
    auto = {"actor": "riskwarn train", "at": "2026-12-03T00:32:00Z", "details": {"version": "1"}}
    v = verdicts.verdict("dispute_cases", {**CHAMPION, "gate_tag": "pass"}, g, metrics, auto)
    assert (v.status, v.forced) == ("pass", False)
    zh = "\n".join(verdicts.verdict_lines(v, "zh", TZ))
    assert "明显优于" in zh and "门槛检查全部通过" in zh and "自动启用" in zh


def test_the_audit_entry_settle_gate_writes_reads_as_automatic_and_an_unjudged_force_is_named() -> (
    None
):
    """settle_gate's promotion records the training's operator as actor (``os:airflow``)
    and "riskwarn train (gate passed)" as ``via``: the old page compared the actor with
    "riskwarn train" and said "promoted by hand by os:airflow". A version forced in
    without any gate tag was said to have failed its gate."""
    from dashboard import views

    auto = {
        "actor": "os:airflow",
        "at": "2026-12-03T00:32:00Z",
        "details": {"version": "1", "via": "riskwarn train (gate passed)", "gate": "pass"},
    }
    v = verdicts.verdict("incidents", {**CHAMPION, "gate_tag": "pass"}, None, None, auto)
    assert "自动启用" in "\n".join(verdicts.verdict_lines(v, "zh", TZ))
    assert views.model_note("1", auto, "en") == "Model version 1: passed its promotion gate."
    forced = {
        "actor": "os:ana",
        "at": "2026-12-03T00:32:00Z",
        "details": {"forced_over_gate": True, "gate": None, "reason": "urgent"},
    }
    u = verdicts.verdict("incidents", {**CHAMPION, "gate_tag": None}, None, None, forced)
    en = "\n".join(verdicts.verdict_lines(u, "en", TZ))
    assert "never judged by its gate" in en and "failed its gate" not in en
    forced_fail = {**forced, "details": {**forced["details"], "gate": "fail"}}
    f = verdicts.verdict("incidents", {**CHAMPION, "gate_tag": "fail"}, None, None, forced_fail)
    assert "failed its gate" in "\n".join(verdicts.verdict_lines(f, "en", TZ))


def test_without_a_recorded_gate_the_version_tag_still_decides_and_else_it_says_unknown() -> None:
    v = verdicts.verdict("incidents", CHAMPION, None, INCIDENTS_METRICS, None)
    assert v.status == "fail" and v.versus_best is not None  # from metrics.json
    u = verdicts.verdict("incidents", {**CHAMPION, "gate_tag": None}, None, None, None)
    assert u.status == "unknown"
    assert "未记录门槛结果" in "".join(verdicts.verdict_lines(u, "zh", TZ))


def test_a_domain_not_trained_says_not_trained_with_its_reason_in_both_languages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retrain whose data held nothing to learn (models.gate.NothingToLearn: the
    pipeline returns ``not_trained`` with the reason, no version, no gate) was shown as
    "new version — fails the gate" (failed before the fix: the page had no such words,
    it took every outcome without "gate PASS" for a failed gate)."""
    from models.gate import NothingToLearn
    from models.geohazard_sites import run_site_backtest, site_config
    from riskwarn import pipeline
    from riskwarn.settings import Settings
    from tests.test_training_not_trained import _table

    table = _table(failures=False)
    evals = list(pd.DatetimeIndex(table["origin"].unique())[-10:])
    with pytest.raises(NothingToLearn) as info:  # the real reason, as the trainer raises it
        run_site_backtest(table, evals, site_config("geohazard"))

    def nothing(*_a: object, **_k: object) -> None:
        raise info.value

    monkeypatch.setattr(pipeline, "_train_sites", nothing)
    outcome = pipeline.train_domain(
        Settings(home=tmp_path / "home"), "geohazard", pd.Timestamp("2026-01-01", tz="UTC")
    )
    kind, zh = verdicts.retrain_words(outcome, None, "zh")
    assert kind == "info" and "**未训练**新模型" in zh and "未通过" not in zh
    assert "0 行失稳记录" in zh and "2025-10-01 .. 2025-11-09" in zh
    assert not re.search("[A-Za-z]", zh), zh  # no English on Chinese pages
    kind, en = verdicts.retrain_words(outcome, None, "en")
    assert kind == "info" and "**not trained**" in en and "fails" not in en
    assert "0 failure row(s)" in en
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in en)
    # an outcome without the Chinese reason (an older run): a Chinese sentence still
    _, zh_old = verdicts.retrain_words({**outcome, "not_trained_zh": None}, None, "zh")
    assert "未训练" in zh_old and not re.search("[A-Za-z]", zh_old.replace("Airflow", ""))
    # trained outcomes read as before
    passed = {"version": "3", "gate": "gate PASS: ...", "promoted": True}
    assert verdicts.retrain_words(passed, None, "en") == (
        "success",
        "Done: new version 3 **passes** the gate and now serves.",
    )
    failed = {"version": "4", "gate": "gate FAIL", "promoted": False}
    check = {"check": "x", "ok": False, "metric": "auc", "diff": -0.1, "ci": [-0.2, -0.05]}
    kind, words = verdicts.retrain_words(failed, {"passed": False, "checks": [check]}, "zh")
    assert kind == "warning" and "**未通过**上线门槛" in words and "未通过的门槛检查" in words


# --------------------------------------------------------------------------- the page


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from testkit.dashboard_demo import dashboard_env, demo_home

    home = tmp_path_factory.mktemp("verdicts") / "home"
    city = demo_home(home, n_cells=120, weeks=2, n_cases=20)
    mp = pytest.MonkeyPatch()
    dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


def _forced_champion(home: Path) -> None:
    """A champion logged and gated as models does, promoted over its failed gate."""
    import mlflow

    from models import registry as reg
    from riskwarn.store import Store

    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = reg.configure(uri)
    reg.ensure_experiment("riskwarn-incidents", (home / "art").as_uri())
    mlflow.set_experiment("riskwarn-incidents")
    with mlflow.start_run() as run:
        mlflow.log_params(CHAMPION["params"])
        mlflow.log_dict(INCIDENTS_METRICS, "metrics.json")
        mlflow.log_text("# card", "model_card.md")
    client.create_registered_model("riskwarn-incidents")
    mv = client.create_model_version(
        "riskwarn-incidents", f"runs:/{run.info.run_id}/x", run_id=run.info.run_id
    )
    decision = reg.gate(INCIDENTS_METRICS["model_minus_baseline"], 0.0174)
    reg.settle_gate(client, "incidents", mv.version, decision, auto_promote=True)
    store = Store(f"sqlite:///{home / 'serving.db'}")
    try:
        reg.promote(
            client,
            "incidents",
            mv.version,
            store=store,
            actor="ana",
            reason="no champion yet",
            force=True,
        )
    finally:
        store.close()


def _page(home: Path, lang: str = "zh", role: str = "data_scientist") -> AppTest:
    import streamlit as st

    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=120)
    # a configured user of that role (the shell signs out users the users file lacks)
    username = next(u for u, (r, _) in DEMO_USERS.items() if r == role)
    at.session_state["user"] = User(username, "Ana", role)
    at.session_state["lang"] = lang
    at.run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_models_page_states_the_verdict_for_a_non_specialist(home: Path) -> None:
    _forced_champion(home)
    at = _page(home)
    text = "\n".join(m.value for m in at.markdown)
    html = "\n".join(str(h.proto.body) for h in at.get("html"))
    assert "未通过上线门槛，被强制启用" in html
    assert "明显不如" in text and "核密度热点" in text
    assert "由 ana 于" in text and "no champion yet" in text
    captions = "\n".join(c.value for c in at.caption)
    assert "#/models/riskwarn-incidents/versions/" in captions  # the MLflow version link
    en = _page(home, "en")
    text_en = "\n".join(m.value for m in en.markdown)
    assert "clearly worse" in text_en and "promoted by force" in text_en


def test_retrain_asks_for_confirmation_before_anything_is_triggered(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard import airflow_api

    triggered: list[str] = []
    ids: list[str] = []
    monkeypatch.setattr(airflow_api, "reachable", lambda cfg: True)
    monkeypatch.setattr(
        airflow_api,
        "trigger",
        lambda cfg, domain, who, run_id: (
            triggered.append(domain) or ids.append(run_id) or {"dag_run_id": run_id}
        ),
    )
    at = _page(home)
    next(b for b in at.button if b.key == "retrain_go").click().run()
    assert triggered == []  # one click asks, nothing starts
    assert any("确认重新训练" in w.value for w in at.warning)
    next(b for b in at.button if b.key == "retrain_no").click().run()
    assert triggered == [] and "retrain_confirm" not in at.session_state
    next(b for b in at.button if b.key == "retrain_go").click().run()
    next(b for b in at.button if b.key == "retrain_yes").click().run()
    assert triggered == ["incidents"]
    assert at.session_state["retrain_run"]["dag_run_id"] == ids[0]


def test_a_retrain_whose_answer_was_lost_is_followed_by_its_id_or_said_not_started(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page keeps the run id before asking Airflow: a trigger that raises after
    Airflow stored the run (answer lost) is still followed; one Airflow never stored is
    said refused and the button comes back. The old page kept nothing when the trigger
    raised (a second click started a second run)."""
    import requests

    from dashboard import airflow_api

    stored: dict[str, dict] = {}

    def trigger(cfg, domain, who, run_id):
        if domain == "incidents":  # stored, then the answer lost
            stored[run_id] = {"state": "running"}
        raise requests.ConnectionError("connection reset")

    def progress(cfg, run_id):
        if run_id not in stored:
            response = requests.Response()
            response.status_code = 404
            raise requests.HTTPError("404 DagRun not found", response=response)
        return {
            "state": "running",
            "conf": {},
            "tasks": {"train": "running"},
            "queued_at": None,
            "start_date": "2026-12-04T10:00:00Z",
            "end_date": None,
        }

    monkeypatch.setattr(airflow_api, "reachable", lambda cfg: True)
    monkeypatch.setattr(airflow_api, "trigger", trigger)
    monkeypatch.setattr(airflow_api, "progress", progress)
    at = _page(home)
    next(b for b in at.button if b.key == "retrain_go").click().run()
    next(b for b in at.button if b.key == "retrain_yes").click().run()
    run = at.session_state["retrain_run"]
    assert list(stored) == [run["dag_run_id"]] and "connection reset" in run["start_error"]
    assert not at.exception and not at.error  # followed: the run exists
    assert any("重新训练（" in m.value and "已用时" in m.value for m in at.markdown)

    del at.session_state["retrain_run"]
    at.run()
    at.selectbox(key="rt_domain").set_value("disputes").run()
    next(b for b in at.button if b.key == "retrain_go").click().run()
    next(b for b in at.button if b.key == "retrain_yes").click().run()
    assert any("拒绝" in e.value and "connection reset" in e.value for e in at.error)
    assert "retrain_run" not in at.session_state  # the button is offered again
    assert len(stored) == 1


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_finished_retrain_that_trained_nothing_reads_not_trained(
    home: Path, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    """The page itself, with the Airflow answers of a run whose training task returned
    ``not_trained`` (failed before the fix: it said the new version fails the gate)."""
    from dashboard import airflow_api

    outcome = {
        "domain": "geohazard",
        "mlflow_run_id": None,
        "version": None,
        "gate": "not trained: no evaluation origin has a failure in its training rows",
        "promoted": False,
        "champion_before": None,
        "not_trained": "no evaluation origin has a failure in its training rows",
        "not_trained_zh": "所有评估起点的训练数据中都没有失稳记录",
    }
    monkeypatch.setattr(airflow_api, "reachable", lambda cfg: True)
    monkeypatch.setattr(
        airflow_api,
        "progress",
        lambda cfg, run_id: {
            "state": "success",
            "tasks": {"domains": "success", "train": "success"},
            "start_date": "2026-12-04T06:00:00Z",
            "end_date": "2026-12-04T06:05:00Z",
        },
    )
    monkeypatch.setattr(airflow_api, "result", lambda cfg, run_id: outcome)
    import streamlit as st

    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=120)
    username = next(u for u, (r, _) in DEMO_USERS.items() if r == "data_scientist")
    at.session_state["user"] = User(username, "Ana", "data_scientist")
    at.session_state["lang"] = lang
    at.session_state["retrain_run"] = {
        "dag_run_id": "manual__2",
        "domain": "geohazard",
        "requested_at": pd.Timestamp("2026-12-04 06:00", tz="UTC"),
        "finished": True,
    }
    at.run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    said = [m.value for m in [*at.info, *at.warning, *at.success]]
    if lang == "zh":
        assert any("未训练" in s and "失稳记录" in s for s in said), said
        assert not any("上线门槛" in s for s in said), said
    else:
        assert any("not trained" in s and "no evaluation origin" in s for s in said), said
        assert not any("gate" in s for s in said), said


def test_metrics_table_shows_a_dash_for_empty_cells(home: Path) -> None:
    """Issue 12: in the champion's metrics-vs-baselines table a metric a method does not
    have reads "—". The page sends text: a Styler's na_rep only changed the Styler's
    display values, and the browser still drew Streamlit's grey "None" (screenshot of the
    models page, make demo home); so this reads the data the browser receives."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)
    if not client.search_registered_models("name='riskwarn-incidents'"):
        _forced_champion(home)
    run_id = client.search_model_versions("name='riskwarn-incidents'")[0].run_id
    client.log_metric(run_id, "methods.xgboost.auc", 0.71)
    client.log_metric(run_id, "methods.xgboost.pai_at_0.05", 3.2)
    client.log_metric(run_id, "methods.kde.pai_at_0.05", 2.9)  # kde: no auc
    client.log_metric(run_id, "methods.xgboost.events", 7319)
    at = _page(home, "en")
    frame = next(d for d in at.dataframe if d.value.index.name == "Metric")
    sent = frame.value  # the Arrow table the browser draws
    assert all(pd.api.types.is_string_dtype(d) for d in sent.dtypes), sent.dtypes
    kde, model = "kernel density hotspots", "the model (XGBoost)"  # methods in words
    assert sent.loc["AUC", kde] == "—" and sent.loc["AUC", model] == "0.710"  # metrics too
    assert sent.loc["Events", model] == "7,319"
    assert not sent.isna().to_numpy().any()
    assert not sent.isin(["", "None", "nan"]).to_numpy().any()


def test_the_chinese_metrics_table_names_its_rows_in_words(home: Path) -> None:
    """Issue 12 §4: the row labels of the metrics table were raw MLflow ids
    (``pai_at_0.05_ci_lo``, ``levels.velocity.3.mean_lead_h``...) on the Chinese page."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)
    if not client.search_registered_models("name='riskwarn-incidents'"):
        _forced_champion(home)
    run_id = client.search_model_versions("name='riskwarn-incidents'")[0].run_id
    for key in (
        "methods.xgboost.pai_at_0.05_ci_lo",
        "methods.xgboost.far_orange",
        "methods.velocity.hit_rate_active_area_at_0.01",
        "levels.velocity.3.mean_lead_h",
        "lead_model_minus.sensor_rules.4.diff",
        "model_minus_baseline_tss.caine.ci_hi",
        "timings_s.model_s",
        "n_windows",
    ):
        client.log_metric(run_id, key, 1.0)
    at = _page(home, "zh")
    frame = next(d for d in at.dataframe if d.value.index.name == "指标").value  # not "metric"
    labels = [str(i) for i in frame.index]
    raw = [s for s in labels if "_" in s or re.search(r"(?<![A-Za-z])[a-z]", s)]
    assert raw == [], raw
    assert "位移速率·橙色及以上：平均提前时间（小时，未预警计 0）" in labels
    assert labels.index("命中效率 PAI（全域前 5% 面积，95% 置信区间下限）") < labels.index(
        "回测窗口数"
    )


def test_the_chinese_page_draws_the_hit_rate_curve_and_says_what_each_plot_shows(
    home: Path,
) -> None:
    """Issue 12 §4: training's plots carry English matplotlib text and their artifact path
    as caption; on the Chinese page the hit-rate curve is redrawn from the logged metrics
    and the other plots get a caption in words."""
    from matplotlib.figure import Figure
    from mlflow import MlflowClient

    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)
    if not client.search_registered_models("name='riskwarn-incidents'"):
        _forced_champion(home)
    run_id = client.search_model_versions("name='riskwarn-incidents'")[0].run_id
    for name in ("importance", "hit_rate_curve"):
        client.log_figure(run_id, Figure(figsize=(2, 2)), f"plots/{name}.png")
    for share, value in ((0.01, 0.1), (0.05, 0.3)):
        client.log_metric(run_id, f"methods.xgboost.hit_rate_at_{share}", value)
    at = _page(home, "zh")
    captions = [i.caption for e in at.main if e.type == "image" for i in e.proto.imgs]
    assert len(captions) == 1 and captions[0].startswith("特征重要性"), captions
    titles = [
        json.dumps(json.loads(c.proto.spec), ensure_ascii=False)
        for c in at.main
        if c.type == "vega_lite_chart"
    ]
    assert any("预警面积占比（%）" in s for s in titles)
    en = _page(home, "en")
    captions = [i.caption for e in en.main if e.type == "image" for i in e.proto.imgs]
    assert sorted(captions)[0].startswith("Feature importance") and len(captions) == 2


def test_metrics_display_formats_counts_and_gaps() -> None:
    wide = pd.DataFrame(
        {"kde": [None, 2.9, 100.0], "xgboost": [0.71, 3.2, 7319.0]},
        index=pd.Index(["auc", "pai_at_0.05", "events"], name="metric"),
    )
    shown = views.metrics_display(wide)
    assert shown.to_dict() == {
        "kde": {"auc": "—", "pai_at_0.05": "2.900", "events": "100"},
        "xgboost": {"auc": "0.710", "pai_at_0.05": "3.200", "events": "7,319"},
    }


# a site run whose evaluation window held no failure (the city's dry-season December)
NAN = float("nan")
DRY_METRICS = {
    "headline": "auc",
    "methods": {
        "xgboost": {"auc": NAN, "ece": 0.001, "tss": NAN, "failures": 0},
        "velocity": {"auc": NAN, "tss": NAN},
        "sensor_rules": {"auc": NAN, "tss": NAN},
    },
    "model_minus_baseline": {
        "velocity": {"diff": NAN, "ci": [NAN, NAN]},
        "sensor_rules": {"diff": NAN, "ci": [NAN, NAN]},
    },
}
DRY_WHY = "no site failure in the evaluation window 2025-12-01 .. 2025-12-28"
DRY_PARAMS = {
    **CHAMPION["params"],
    "eval_start": "2025-12-01",
    "eval_end": "2025-12-28",
    "eval_failures": "0",
    "eval_default_start": "2025-12-01",
    "eval_window_extended_for": "none",
    "eval_window_limited_by": "training_history",
    "eval_min_failures": "10",
}


def test_a_gate_that_could_not_judge_reads_could_not_be_judged_with_what_to_do() -> None:
    """The page read "Fails its gate ... not clearly better than velocity (nan ...)" for a
    challenger nothing could be judged on: it must say could not be judged, that this is
    not a failure, and what to do, in both languages."""
    g = gate(DRY_METRICS["model_minus_baseline"], 0.001, not_judged_why=DRY_WHY).record()
    champ = {**CHAMPION, "gate_tag": "not_judged", "params": DRY_PARAMS}
    v = verdicts.verdict("geohazard", champ, g, DRY_METRICS, None)
    assert v.status == "not_judged" and v.failed == [] and len(v.not_judged) == 2
    en = "\n".join(verdicts.verdict_lines(v, "en", TZ))
    assert verdicts.status_words(v, "en") == "Could not be judged by its gate"
    assert "could not judge it" in en and "this is not a failure" in en
    assert "0 site failure(s) in the backtest 1 Dec 2025 to 28 Dec 2025, so no comparison" in en
    assert not re.search(r"\d{4}-\d{2}-\d{2}", en)  # the page's date format, not ISO
    assert "promote it by hand with a reason" in en and "--force --reason" in en
    assert "0 site failure(s) in the backtest" in en
    assert "it could not reach 10: further back the first refit would have no failure" in en
    assert "nan" not in en.lower() and "Gate checks failed" not in en
    assert "below the standard" not in en and "fails" not in en.lower()
    zh = "\n".join(verdicts.verdict_lines(v, "zh", TZ))
    assert verdicts.status_words(v, "zh") == "上线门槛无法评判"
    assert "门槛无法评判" in zh and "并非未通过" in zh and "人工在命令行强制启用并填写理由" in zh
    assert "--force" not in zh  # the Chinese page writes no Latin command
    assert "回测期 2025年12月1日 至 2025年12月28日 内监测点失稳 0 起" in zh
    assert "nan" not in zh.lower() and "未通过的门槛检查" not in zh and "未达标" not in zh
    # older runs' gate.json (no status) and the version's tag alone still decide
    assert verdicts.gate_status({"passed": False, "checks": []}) == "fail"
    assert verdicts.gate_status(None, "not_judged") == "not_judged"
    # a finished retrain says the same, not "fails the gate"
    kind, words = verdicts.retrain_words({"version": "7", "domain": "geohazard"}, g, "en")
    assert kind == "warning" and "could not be judged" in words and "held no event" in words
    assert "fails" not in words
    kind, zh_words = verdicts.retrain_words({"version": "7", "domain": "geohazard"}, g, "zh")
    assert "无法由上线门槛评判" in zh_words and "未通过上线门槛" not in zh_words


def test_a_site_backtest_that_reached_back_says_how_far_and_why() -> None:
    params = {
        **DRY_PARAMS,
        "eval_start": "2025-08-02",
        "eval_failures": "10",
        "eval_default_start": "2025-12-01",
        "eval_window_extended_for": "min_eval_failures=10",
        "eval_window_limited_by": "none",
    }
    v = verdicts.verdict("geohazard", {**CHAMPION, "params": params}, None, SITE_METRICS, None)
    en = "\n".join(verdicts.verdict_lines(v, "en", TZ))
    assert "10 site failure(s) in the backtest" in en
    assert "the backtest reaches back from 1 Dec 2025 to hold at least 10 failures" in en
    zh = "\n".join(verdicts.verdict_lines(v, "zh", TZ))
    assert "为纳入至少 10 起失稳，回测期由 2025年12月1日 起向前延伸" in zh


def test_models_page_says_could_not_be_judged_for_a_site_champion(home: Path) -> None:
    """The page itself (AppTest): a geohazard version gated on a window with no failure,
    logged and settled as training does, then promoted by hand with a reason."""
    import mlflow

    from models import registry as reg
    from riskwarn.store import Store

    client = reg.configure(f"sqlite:///{home / 'mlflow.db'}")
    reg.ensure_experiment("riskwarn-geohazard", (home / "art").as_uri())
    mlflow.set_experiment("riskwarn-geohazard")
    with mlflow.start_run() as run:
        mlflow.log_params(DRY_PARAMS)
        mlflow.log_dict(json.loads(json.dumps(DRY_METRICS)), "metrics.json")
        mlflow.log_text("# card", "model_card.md")
    client.create_registered_model("riskwarn-geohazard")
    mv = client.create_model_version(
        "riskwarn-geohazard", f"runs:/{run.info.run_id}/x", run_id=run.info.run_id
    )
    decision = gate(DRY_METRICS["model_minus_baseline"], 0.001, not_judged_why=DRY_WHY)
    assert not reg.settle_gate(client, "geohazard", mv.version, decision, auto_promote=True)
    store = Store(f"sqlite:///{home / 'serving.db'}")
    try:
        reg.promote(
            client,
            "geohazard",
            mv.version,
            store=store,
            actor="ana",
            reason="dry season",
            force=True,
        )
    finally:
        store.close()
    at = _page(home)
    html = "\n".join(str(h.proto.body) for h in at.get("html"))
    text = "\n".join(m.value for m in at.markdown)
    # (the module's home may also hold another test's incidents champion: read this one's)
    badge = next(line for line in html.splitlines() if "地质灾害 · 服役模型" in line)
    assert "上线门槛无法评判，被强制启用" in badge and "未通过" not in badge
    assert "#5d6d7e" in badge  # grey, not the failure's red
    assert "门槛无法评判" in text and "人工在命令行强制启用" in text and "dry season" in text
    en = _page(home, "en")
    text_en = "\n".join(m.value for m in en.markdown)
    assert "could not judge it" in text_en and "0 site failure(s) in the backtest" in text_en


OK_CASES = {
    "headline": "average_precision",
    "methods": {"xgboost": {"average_precision": 0.4}, "category_rate": {"average_precision": 0.2}},
    "model_minus_baseline": {"category_rate": {"diff": 0.2, "ci": [0.1, 0.3]}},
}


def _versus(**kw):
    from models.gate import ChampionComparison

    base = {
        "version": "3",
        "trained_through": "2026-11-30T16:00:00+00:00",
        "recipe_same": False,
        "n_origins": 1,
        "window_origins": 12,
        "n_events": 1,
        "challenger_through": "2026-12-04T16:00:00+00:00",
    }
    return ChampionComparison(**{**base, **kw})


def test_a_champion_that_cannot_be_compared_out_of_sample_reads_why_in_both_languages() -> None:
    """The gate's comparison with the previous model is made only on forecast origins after
    its training data: with too few the challenger is not judged (grey, not promoted), and
    the page says so in its own words, not "no event in the backtest" (which is not why)."""
    g = gate(OK_CASES["model_minus_baseline"], 0.001, champion="3", champion_vs=_versus()).record()
    assert g["status"] == "not_judged"
    champ = {**CHAMPION, "gate_tag": "not_judged"}
    v = verdicts.verdict("dispute_cases", champ, g, OK_CASES, None)
    assert v.status == "not_judged" and v.failed == []
    en = "\n".join(verdicts.verdict_lines(v, "en", TZ))
    assert "could not be compared with the previous model on data neither saw" in en
    assert "the previous model (v3) was trained on data before 1 Dec 2026 00:00" in en
    assert "only 1 of the backtest's 12 forecast origins come after that (needs 4" in en
    assert "riskwarn promote dispute_cases VERSION --force --reason" in en
    assert "held no event" not in en and "beats the simple methods" not in en
    zh = "\n".join(verdicts.verdict_lines(v, "zh", TZ))
    assert "此前的服役模型（第 3 版）用 2026年12月1日 00:00 之前的数据训练" in zh
    assert "无法在两者都未见过的数据上" in zh and "并非未通过" in zh and "--force" not in zh
    kind, words = verdicts.retrain_words({"version": "4", "domain": "dispute_cases"}, g, "en")
    assert kind == "warning" and "could not be judged" in words and "(v3)" in words
    assert "held no event" not in words
    from dashboard.model_plots import _gate_line

    assert "第 3 版" in _gate_line(g, TZ) and "没有可供比较的失稳" not in _gate_line(g, TZ)


def test_the_comparison_with_the_previous_model_is_said_when_the_gate_passes() -> None:
    refresh = gate(
        OK_CASES["model_minus_baseline"],
        0.001,
        champion="3",
        champion_vs=_versus(recipe_same=True, n_origins=0, n_events=0),
    ).record()
    v = verdicts.verdict("dispute_cases", {**CHAMPION, "gate_tag": "pass"}, refresh, OK_CASES, None)
    en = "\n".join(verdicts.verdict_lines(v, "en", TZ))
    assert v.status == "pass" and "Same recipe as the previous model (v3), with newer data" in en
    assert "the simple methods and calibration decide" in en
    zh = "\n".join(verdicts.verdict_lines(v, "zh", TZ))
    assert "训练方法相同，只是数据更新" in zh
    # a retrain on the same lake (trained through the champion's own end): a refit on
    # the same data, not "newer data" (review of 2026-12-07: both trained to 2023-12-30)
    same = _versus(
        recipe_same=True,
        n_origins=0,
        n_events=0,
        challenger_through="2026-11-30T16:00:00+00:00",
    )
    refit = gate(OK_CASES["model_minus_baseline"], 0.001, champion="3", champion_vs=same).record()
    (check,) = [c for c in refit["checks"] if c.get("against") == "champion"]
    assert "a refit on the same data;" in check["detail"] and "refresh" not in check["detail"]
    v = verdicts.verdict("dispute_cases", {**CHAMPION, "gate_tag": "pass"}, refit, OK_CASES, None)
    en = "\n".join(verdicts.verdict_lines(v, "en", TZ))
    assert "Same recipe and same data as the previous model (v3; both trained through" in en
    assert "newer data" not in en
    zh = "\n".join(verdicts.verdict_lines(v, "zh", TZ))
    assert "训练方法相同，数据也相同" in zh and "只是数据更新" not in zh
    better = gate(
        OK_CASES["model_minus_baseline"],
        0.001,
        champion="3",
        champion_vs=_versus(n_origins=6, n_events=2, diff=0.12, ci=[0.02, 0.2]),
    ).record()
    v = verdicts.verdict("dispute_cases", {**CHAMPION, "gate_tag": "pass"}, better, OK_CASES, None)
    en = "\n".join(verdicts.verdict_lines(v, "en", TZ))
    assert "clearly better on the 6 forecast origins from 1 Dec 2026 00:00 on" in en
    worse = gate(
        OK_CASES["model_minus_baseline"],
        0.001,
        champion="3",
        champion_vs=_versus(recipe_same=True, n_origins=6, n_events=2, diff=-0.3, ci=[-0.5, -0.1]),
    ).record()
    v = verdicts.verdict("dispute_cases", {**CHAMPION, "gate_tag": "fail"}, worse, OK_CASES, None)
    en = "\n".join(verdicts.verdict_lines(v, "en", TZ))
    said = (
        "worse than the previous serving model at average precision (−0.300, CI −0.500 to −0.100)"
    )
    assert said in en


def test_a_signed_number_near_zero_keeps_its_digits() -> None:
    """A CI bound of -0.0050 read "−0.00" (reviewer helper-88 S5c): a bound whose sign
    decides the verdict must not print as zero."""
    from dashboard.verdicts import _signed

    assert _signed(-0.0050) == "−0.0050"
    assert _signed(0.0004) == "+0.00040"
    assert _signed(-0.1452) == "−0.15" and _signed(0.122) == "+0.12"
    assert _signed(0.0) == "+0.00"


SMALL_METRICS = {  # differences of a few thousandths: where two precisions disagreed
    "headline": "pai@0.05",
    "best_baseline": "kde",
    "methods": {"xgboost": {"pai@0.05": 1.2312}, "kde": {"pai@0.05": 1.2355}},
    "model_minus_baseline": {"kde": {"diff": -0.0043, "ci": [-0.0081, -0.0012]}},
}
_NUM = re.compile(r"[+−-]?\d+\.\d+")


@pytest.mark.parametrize(
    ("lang", "metric"),
    [("en", "worse than kernel density hotspots at PAI@5% ("), ("zh", "在命中效率 PAI@5%上不如")],
)
def test_a_failed_check_names_its_metric_and_rounds_as_the_detail(lang: str, metric: str) -> None:
    """The failed-check line said "worse than kde (−0.0043, CI −0.0081 to −0.0012)"
    without the metric, under "lower by 0.00 (95% CI −0.0081 to −0.0012), clearly worse"
    (reviewer): it names the metric, and every number of the comparison is written at one
    precision, the metrics table's 3 decimals, in both lines."""
    g = _gate_record(SMALL_METRICS, ece=0.001)
    v = verdicts.verdict("incidents", CHAMPION, g, SMALL_METRICS, FORCED)
    lines = verdicts.verdict_lines(v, lang, TZ)
    versus = next(x for x in lines if "0.0" in x and ("backtest" in x or "回测中" in x))
    failed = next(x for x in lines if x.startswith(("Gate checks failed", "未通过的门槛检查")))
    assert metric in failed, failed
    check_numbers = _NUM.findall(failed)
    assert check_numbers == ["−0.004", "−0.008", "−0.001"], failed
    versus_numbers = _NUM.findall(versus)
    assert versus_numbers == ["1.231", "1.236", "0.004", "−0.008", "−0.001"], versus
    # the retrain's result and the Chinese model card name it too
    _kind, words = verdicts.retrain_words({"version": "2"}, g, lang, "pai@0.05")
    assert metric in words, words
    if lang == "zh":
        from dashboard import model_plots

        card = model_plots.card_markdown("incidents", "2", SMALL_METRICS, {}, [], g)
        assert card is not None and metric in card, card


def test_a_passing_hotspot_model_is_said_to_pass_the_rule_its_gate_applies() -> None:
    """The hotspot gate passes a model that does no worse than the simple methods (a CI
    reaching below 0 passes); 'better than each simple method' was not what it checked
    (review of 2026-12-07)."""
    metrics = {
        "headline": "pai@0.05",
        "methods": {"xgboost": {"pai@0.05": 4.6}, "kde": {"pai@0.05": 4.5}},
        "model_minus_baseline": {"kde": {"diff": 0.1, "ci": [-0.05, 0.2]}},
    }
    g = _gate_record(metrics, ece=0.0)
    auto = {"actor": "riskwarn train", "at": "2026-12-03T00:32:00Z", "details": {"version": "1"}}
    v = verdicts.verdict("incidents", {**CHAMPION, "gate_tag": "pass"}, g, metrics, auto)
    en = "\n".join(verdicts.verdict_lines(v, "en", TZ))
    zh = "\n".join(verdicts.verdict_lines(v, "zh", TZ))
    assert "Every gate check passed: the model had to do no worse than" in en, en
    assert "better than each simple method" not in en
    assert "it beat the simple methods" not in en and "met its gate's standard" in en
    assert "门槛检查全部通过：在 PAI@1%、5%、10% 上不差于" in zh, zh
