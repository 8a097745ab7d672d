"""One comparison, one CI, one key (review of 2026-12-07, numbers).

* The models page showed two CIs of the model minus kde at PAI@5%: the gate's
  [+0.041, +0.200] (1000 paired bootstrap draws, models/train.py) and the metrics table's
  [+0.041, +0.194] (``model_minus_baseline``, 500 draws, models/hotspot_evaluation.py).
  Training now records the gate's draws in the table; an older run's page says which is
  the gate's.
* gate.json named the baseline ``baseline`` at PAI@1% and @10% and ``against`` at 5%, so
  :func:`dashboard.verdicts.comparisons` listed the 5% comparison only. Every share now
  writes ``against``; both are read (older runs), and the verdict's comparison with the
  best baseline stays the headline's (PAI@5%), not whichever share came last.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dashboard import verdicts
from models import gate as gate_mod
from models.metrics import hotspot_windows
from models.train import model_minus_baselines, not_worse_than_best

# the make-demo incidents run of 2026-12-07 (/work/rv-numbers/var): its gate.json checks
# and its metrics.json comparison with kde
OLD_GATE: dict[str, Any] = {
    "passed": True,
    "status": "pass",
    "checks": [
        {"check": "not worse than kde at PAI@1%", "ok": True, "metric": "pai@0.01",
         "diff": 0.23240651880053065, "ci": [-0.013587493294489003, 0.5090093622851946],
         "baseline": "kde"},
        {"check": "not worse than kde at PAI@5%", "ok": True, "metric": "pai@0.05",
         "diff": 0.11476904286845446, "ci": [0.041417650838895086, 0.19979710630959402],
         "against": "kde"},
        {"check": "not worse than kde at PAI@10%", "ok": True, "metric": "pai@0.1",
         "diff": 0.042355503875608935, "ci": [-0.0013400439125110125, 0.0825106350970293],
         "baseline": "kde"},
        {"check": "calibration", "ok": True, "ece": 0.0029545656624989395,
         "bound": 0.011128478403872034},
    ],
}  # fmt: skip
OLD_METRICS: dict[str, Any] = {
    "headline": "pai@0.05",
    "best_baseline": "kde",
    "methods": {
        "xgboost": {"pai@0.05": 4.590761714738187, "events": 7319.0, "events_active_area": 4242.0},
        "kde": {"pai@0.05": 4.475992671869733, "events": 7319.0, "events_active_area": 4242.0},
    },
    "model_minus_baseline": {
        "kde": {"diff": 0.11476904286845446, "ci": [0.041378759212021436, 0.1941999083525956]}
    },
}


def test_every_share_of_an_old_gate_is_listed_and_the_verdict_keeps_the_headline() -> None:
    comps = verdicts.comparisons(OLD_GATE, OLD_METRICS)
    assert [(c.against, c.metric) for c in comps] == [
        ("kde", "pai@0.01"),
        ("kde", "pai@0.05"),
        ("kde", "pai@0.1"),
    ]
    champ = {"version": "1", "gate_tag": "pass", "params": {}}
    v = verdicts.verdict("incidents", champ, OLD_GATE, OLD_METRICS, None)
    assert v.versus_best is not None and v.versus_best.metric == "pai@0.05"
    assert v.versus_best.hi == pytest.approx(0.19979710630959402)
    # a new gate: "against" at every share, the same verdict
    new = {**OLD_GATE, "checks": [_renamed(c) for c in OLD_GATE["checks"]]}
    v2 = verdicts.verdict("incidents", champ, new, OLD_METRICS, None)
    assert v2.versus_best == v.versus_best
    assert len(verdicts.comparisons(new, OLD_METRICS)) == 3


def _renamed(check: dict[str, Any]) -> dict[str, Any]:
    out = dict(check)
    if "baseline" in out:
        out["against"] = out.pop("baseline")
    return out


def test_the_gate_names_the_baseline_against_at_every_share() -> None:
    def at(lo: float, hi: float) -> dict[str, Any]:
        return {"against": "kde", "diff": (lo + hi) / 2, "ci": [lo, hi]}

    record = gate_mod.gate(
        {}, 0.001, not_worse={f"pai@{f:g}": at(-0.1, 0.2) for f in (0.01, 0.05, 0.1)}
    ).record()
    shares = [c for c in record["checks"] if str(c.get("metric", "")).startswith("pai@")]
    assert len(shares) == 3
    assert all(c.get("against") == "kde" and "baseline" not in c for c in shares), shares


def _windows(seed: int) -> dict[str, pd.DataFrame]:
    """Per-method window tables of a small backtest (12 weekly origins, 200 cells)."""
    rng = np.random.default_rng(seed)
    origins = pd.date_range("2023-10-01", periods=12, freq="7D", tz="UTC")
    rows = []
    for o in origins:
        counts = rng.poisson(rng.gamma(0.5, 0.4, 200))
        for m, noise in (("xgboost", 0.5), ("kde", 1.0), ("long_run", 1.5)):
            score = counts + rng.normal(0, noise, 200)
            rows += [
                {"origin": o, "method": m, "cell": i, "score": s, "label_count": c}
                for i, (s, c) in enumerate(zip(score, counts, strict=True))
            ]
    frame = pd.DataFrame(rows)
    return {
        m: hotspot_windows(g).sort_values("origin").reset_index(drop=True)
        for m, g in frame.groupby("method")
    }


def test_the_metrics_table_carries_the_gates_ci() -> None:
    windows = _windows(3)
    gate_5 = not_worse_than_best(windows, "kde", 1000)["pai@0.05"]
    table = model_minus_baselines(windows, ["kde", "long_run"], 1000)
    assert table["kde"]["diff"] == gate_5["diff"] and table["kde"]["ci"] == gate_5["ci"]
    assert set(table) == {"kde", "long_run"}
    gate = {"status": "pass", "passed": True, "checks": [{**gate_5, "metric": "pai@0.05"}]}
    metrics = {"headline": "pai@0.05", "model_minus_baseline": table}
    assert verdicts.table_ci_differs(gate, metrics) == []
    assert verdicts.table_ci_words(gate, metrics, "en") is None


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", "the model minus kernel density hotspots: gate +0.041 to +0.200, table +0.041 "
         "to +0.194"),
        ("zh", "模型减“核密度热点”：门槛 +0.041 至 +0.200，本表 +0.041 至 +0.194"),
    ],
)  # fmt: skip
def test_an_old_runs_two_cis_are_labelled(lang: str, words: str) -> None:
    text = verdicts.table_ci_words(OLD_GATE, OLD_METRICS, lang)
    assert text is not None and words in text, text
    assert ("the gate used the gate's" in text) if lang == "en" else ("依据门槛的区间" in text)


# --------------------------------------------------------------------------- the page

pytest.importorskip("streamlit")

from tests.test_dashboard_verdicts import _page  # noqa: E402
from tests.test_dashboard_verdicts import home as home  # noqa: E402 (this module's own)


def test_the_models_page_gives_the_runs_chance_reference_and_labels_two_cis(home: Path) -> None:
    """The page itself (AppTest): the demo's incidents run of 2026-12-07 as training logged
    it (metrics.json, its flat metrics, gate.json with "baseline" at 1% and 10%)."""
    import mlflow

    from models import registry as reg
    from riskwarn.store import Store

    metrics = {
        **OLD_METRICS,
        "methods": {
            **OLD_METRICS["methods"],
            "xgboost": {**OLD_METRICS["methods"]["xgboost"], "ece": 0.003},
        },
    }
    client = reg.configure(f"sqlite:///{home / 'mlflow.db'}")
    reg.ensure_experiment("riskwarn-incidents", (home / "art").as_uri())
    mlflow.set_experiment("riskwarn-incidents")
    with mlflow.start_run() as run:
        mlflow.log_params({"domain": "incidents"})
        mlflow.log_dict(metrics, "metrics.json")
        mlflow.log_metrics(reg._flat_metrics(metrics))
        mlflow.log_dict(OLD_GATE, "gate.json")
    client.create_registered_model("riskwarn-incidents")
    mv = client.create_model_version(
        "riskwarn-incidents", f"runs:/{run.info.run_id}/x", run_id=run.info.run_id
    )
    client.set_model_version_tag("riskwarn-incidents", mv.version, "gate", "pass")
    store = Store(f"sqlite:///{home / 'serving.db'}")
    try:
        reg.promote(client, "incidents", mv.version, store=store, actor="ana", reason="demo")
    finally:
        store.close()
    en = _page(home, "en")
    text = "\n".join(m.value for m in en.markdown)
    assert "random = 1" not in text and "PAI@5% (random" not in text
    assert "scores PAI@5% 0.58 here, not 1" in text and "The model scores 7.9 times that" in text
    assert "3,077 of 7,319 (42%) fell in cells with no earlier event" in text, text
    assert "+0.041 to +0.200" in text  # the verdict: the gate's CI
    captions = "\n".join(c.value for c in en.caption)
    assert "gate +0.041 to +0.200, table +0.041 to +0.194" in captions, captions
    zh = _page(home, "zh")
    text_zh = "\n".join(m.value for m in zh.markdown)
    assert "随机为 1" not in text_zh and "命中效率 PAI@5%在此为 0.58，而非 1" in text_zh
    assert "模型约为随机的 7.9 倍" in text_zh
    assert "门槛 +0.041 至 +0.200，本表 +0.041 至 +0.194" in "\n".join(c.value for c in zh.caption)
