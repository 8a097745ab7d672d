"""A hotspot model trained on some sources (``riskwarn train --source``) is judged on the
events of every source, the city's, and the gate compares it with the champion on those
events with each model fed its own serving inputs.

Before: a challenger on source X counted its hit rates / PAI on X's events alone, and the
gate scored the champion on the challenger's rows (X's cells and inputs) against X's
events, so neither what the champion serves nor what the city counts (a champion on X
met by an all-source challenger was scored on every source's inputs, which it is never
served). Now the backtest's windows count every source's events (events of the others
in cells the model does not score are misses, the standard count), the champion is
scored on a frame of its own training sources on the city's cells, and the run, the gate
check, ``riskwarn models --checks`` and the models page say on which sources each figure
was counted (en + zh).
"""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from riskwarn import domains, lake, serving_frames
from riskwarn.settings import Settings
from testkit.synthetic_hotspots import CRS, SMALL_TRAINING, TZ, synthetic_events
from tests.conftest import TEST_PSEUDONYM_KEY

ROOT = Path(__file__).resolve().parents[1]
EXTRA = "simcity_extra"  # a second incidents source: every 4th incident, ~3 km east


# ----------------------------------------------------------------- the backtest's count


def _two_sources() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic events of source ``a`` and, every third one moved ~2 km east, ``b``
    (cells ``a`` never has an event in)."""
    ev = synthetic_events(seed=3, n_cells=10, days=420).assign(source="a")
    b = ev.iloc[::3].copy()
    b["lon"] = b["lon"] + 0.02
    b["source"] = "b"
    every = pd.concat([ev, b], ignore_index=True).sort_values("occurred_at", ignore_index=True)
    return ev, every


def test_a_source_restricted_backtest_counts_every_sources_events() -> None:
    """The model's inputs and training labels from source ``a``; its windows count the
    events of ``a`` and ``b`` (as a backtest on both counts them), the ``b`` events in
    cells ``a`` never had misses. Fails on the old code (no ``judged``: it counted
    ``a``'s events only)."""
    from models.hotspot_backtest import HotspotBacktestSpec, run_hotspot_backtest

    only_a, every = _two_sources()
    spec = HotspotBacktestSpec(
        holiday_country="US",
        crs=CRS,
        cell_size_m=250,
        tz=TZ,
        start=pd.Timestamp("2016-01-10"),
        end=pd.Timestamp("2016-02-20"),
        model=SMALL_TRAINING,
    )
    own = run_hotspot_backtest(only_a, spec)  # counted on a's events
    judged = run_hotspot_backtest(only_a, spec, judged=every)
    both = run_hotspot_backtest(every, spec)
    m, o, b = (r.metrics["methods"]["xgboost"] for r in (judged, own, both))
    assert m["events"] == b["events"] > o["events"]  # every event of every window
    assert judged.metrics["counted_on_sources"] == ["a", "b"]
    assert own.metrics["counted_on_sources"] == ["a"]
    # the b events of cells a never had: outside its area, misses
    assert judged.metrics["events_outside_area"] > own.metrics["events_outside_area"]
    assert m["events"] - m["events_active_area"] == judged.metrics["events_outside_area"]
    # the same model, the same scores: only the count changed
    x = judged.scores[judged.scores["method"] == "xgboost"].reset_index(drop=True)
    y = own.scores[own.scores["method"] == "xgboost"].reset_index(drop=True)
    pd.testing.assert_frame_equal(x, y)
    assert m["hit_rate@0.05"] == pytest.approx(
        judged.model.scores.merge(judged.labels, on=["origin", "cell_x", "cell_y"]).pipe(
            _captured, 0.05
        )
        / m["events"]
    )


def _captured(rows: pd.DataFrame, share: float) -> float:
    """Events in the top ``share`` of each origin's scored cells (ties: no tie here)."""
    from models.metrics import n_flagged

    total = 0.0
    for _, g in rows.groupby("origin"):
        k = n_flagged(len(g), share)
        total += float(g.sort_values("score", ascending=False)["label_count"].head(k).sum())
    return total


# ------------------------------------------------------------ a real run on a small city


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A small simulated city's incidents from two sources: ``simcity`` and ``EXTRA``
    (every 4th incident again, moved ~3 km east: cells of its own)."""
    import yaml

    from riskwarn.ingest import ingest_files, load_mapping
    from riskwarn.simulate import simulate

    root = tmp_path_factory.mktemp("sources")
    sim = root / "sim"
    simulate(
        sim, "small", seed=5, start=dt.date(2023, 5, 1), days=320, n_incidents=4_000,
        n_disputes=300, n_sites=2, n_rain_gauges=1, sensor_offset_days=300, sensor_days=5,
        township_scale=0.2,
    )  # fmt: skip
    settings = Settings(home=root / "home", pseudonym_key=TEST_PSEUDONYM_KEY)
    as_of = datetime(2030, 1, 1, tzinfo=UTC)
    for path in ("admin_units", "incidents"):  # serving's frame names the cells' townships
        found = sorted(p for p in (sim / "extracts").rglob(f"{path}.*") if p.is_file())
        ingest_files(
            load_mapping(ROOT / "configs" / "sources" / f"sim_{path}.yaml"),
            found,
            settings,
            as_of=as_of,
        )
    mapping = ROOT / "configs" / "sources" / "sim_incidents.yaml"
    files = sorted(p for p in (sim / "extracts").rglob("incidents.*") if p.is_file())
    incidents = pd.concat([pd.read_csv(p, dtype=str) for p in files], ignore_index=True)
    extra = incidents.iloc[::4].copy()
    extra["经度"] = (extra["经度"].astype(float) + 0.03).map("{:.6f}".format)
    extra.to_csv(root / "extra.csv", index=False)
    doc = yaml.safe_load(mapping.read_text(encoding="utf-8"))
    (root / "extra.yaml").write_text(yaml.safe_dump({**doc, "name": EXTRA}), "utf-8")
    ingest_files(load_mapping(root / "extra.yaml"), [root / "extra.csv"], settings, as_of=as_of)
    assert set(lake.read_table(settings.lake_dir, "incidents")["source"]) == {"simcity", EXTRA}
    return settings


class Spy:
    """Records the rows the champion scores in the gate (``models.train.load_champion``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from models import train

        self.rows: list[pd.DataFrame] = []
        real, spy = train.load_champion, self

        class Proxy:
            def __init__(self, model: Any) -> None:
                self.model, self.features = model, model.features
                self.sources = model.sources

            def predict(self, context: Any, rows: pd.DataFrame, params: Any = None) -> Any:
                spy.rows.append(rows[["origin", "cell_x", "cell_y"]].copy())
                return self.model.predict(context, rows)

        monkeypatch.setattr(train, "load_champion", lambda *a, **k: Proxy(real(*a, **k)))


END = pd.Timestamp("2024-03-15T00:00Z")  # the challenger's data end (train_domain's)


def _window_events(settings: Settings, origins: pd.DatetimeIndex) -> int:
    """Every source's located incidents before ``END`` in the 7-day windows of
    ``origins``, summed (what the challenger's training read)."""
    ev = lake.read_table(settings.lake_dir, "incidents").dropna(subset=["lon", "lat"])
    at = pd.to_datetime(ev["occurred_at"], utc=True)
    at = at[at < END]
    return int(sum(((at >= o) & (at < o + pd.Timedelta(days=7))).sum() for o in origins))


def _pair(
    settings: Settings,
    home: str,
    champion: tuple[str, ...] | None,
    challenger: tuple[str, ...] | None,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Settings, dict[str, Any], Spy]:
    """A champion trained to 2024-01-20 on ``champion`` (promoted), then a challenger to
    2024-03-15 on ``challenger`` meeting it; a copy of the city's lake in ``home``."""
    import shutil

    from models.registry import configure, promote
    from riskwarn.pipeline import TrainOptions, train_domain
    from riskwarn.store import Store

    here = Settings(home=settings.home.parent / home, pseudonym_key=TEST_PSEUDONYM_KEY)
    shutil.copytree(settings.lake_dir, here.lake_dir)
    first = train_domain(
        here,
        "incidents",
        "2024-01-20T00:00Z",
        TrainOptions(eval_days=28, auto_promote=False, sources=champion),
    )
    client = configure(here.resolved_mlflow_uri)
    store = Store.from_settings(here)
    try:
        promote(client, "incidents", first["version"], store=store, reason="seed", force=True)
    finally:
        store.close()
    spy = Spy(monkeypatch)
    second = train_domain(
        here,
        "incidents",
        END,
        TrainOptions(eval_days=56, auto_promote=False, sources=challenger),
    )
    return here, second, spy


def _check(settings: Settings, run_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's champion check (gate.json) and its metrics.json."""
    import json

    import mlflow

    from models.registry import configure

    configure(settings.resolved_mlflow_uri)
    gate = json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/gate.json"))
    metrics = json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/metrics.json"))
    (check,) = [c for c in gate["checks"] if c.get("against") == "champion"]
    return check, metrics


def mlflow_params(settings: Settings, run_id: str) -> dict[str, str]:
    from models.registry import configure

    return dict(configure(settings.resolved_mlflow_uri).get_run(run_id).data.params)


def _cells(frame: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(frame["cell_x"].astype(int), frame["cell_y"].astype(int), strict=True))


def test_a_challenger_on_one_source_meets_an_every_source_champion_on_the_citys_events(
    city: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Champion on every source, challenger on ``simcity``: the champion is scored on its
    serving inputs (every source's cells, as ``score`` builds them), both counted on every
    source's events; the challenger's own hit rates count them too. Fails on the old code
    (the champion scored the challenger's ``simcity`` cells; events of ``simcity`` only)."""
    from click.testing import CliRunner

    from riskwarn.cli import cli

    settings, trained, spy = _pair(city, "a", None, ("simcity",), monkeypatch)
    check, metrics = _check(settings, trained["mlflow_run_id"])
    assert check["compared"] is True, check
    origins = pd.DatetimeIndex(sorted({o for r in spy.rows for o in r["origin"]}))
    assert len(origins) >= 4
    rows = pd.concat(spy.rows)
    for o in (origins[0], origins[-1]):
        scored = _cells(rows[rows["origin"] == o])
        served = serving_frames.cell_scoring_frame(settings, "incidents", o)
        own = serving_frames.cell_scoring_frame(settings, "incidents", o, ("simcity",))
        assert scored == _cells(served) and len(scored) > len(own)  # its own: every source's
    assert check["n_events"] == _window_events(settings, origins)
    assert check["counted_on_sources"] == ["simcity", EXTRA]
    assert check["challenger_sources"] == ["simcity"] and check["champion_sources"] == []
    # the challenger's own figures: every source's events of its windows
    assert metrics["counted_on_sources"] == ["simcity", EXTRA]
    assert metrics["input_sources"] == ["simcity"]
    params = mlflow_params(settings, trained["mlflow_run_id"])
    step = f"{domains.get('incidents').step_days}D"  # the evaluation origins' step
    window = pd.date_range(
        params["eval_start"], params["eval_end"], freq=step, tz=settings.display_tz
    )
    assert len(window) == check["window_origins"]
    assert metrics["methods"]["xgboost"]["events"] == _window_events(
        settings, window.tz_convert("UTC")
    )
    # and the CLI says so
    monkeypatch.setenv("RISKWARN_HOME", str(settings.home))
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    done = CliRunner().invoke(cli, ["models", "incidents", "--checks"])
    assert done.exit_code == 0, done.output
    text = " ".join(done.output.split())
    assert (
        "Trained on the source(s) simcity only (its inputs come from them, when served too); "
        f"its hit rates and PAI count the events of every source (simcity, {EXTRA})" in text
    )
    assert (
        f"Trained on every source; its hit rates and PAI count the events of every source (simcity, {EXTRA})"
        in text
    )
    assert (
        f"both were compared on the events of every source (simcity, {EXTRA}), each scored "
        "from its own serving inputs: this model from the source(s) simcity, v1 from every "
        "source" in text
    )


def test_an_every_source_challenger_meets_a_one_source_champion_on_its_own_inputs(
    city: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reverse: the champion on ``simcity`` is scored on a frame of ``simcity`` alone
    (what serving feeds it), not on the challenger's every-source inputs. Fails on the
    old code (it scored every source's cells, inputs it is never served)."""
    settings, trained, spy = _pair(city, "b", ("simcity",), None, monkeypatch)
    check, metrics = _check(settings, trained["mlflow_run_id"])
    assert check["compared"] is True, check
    rows = pd.concat(spy.rows)
    origins = pd.DatetimeIndex(sorted(set(rows["origin"])))
    for o in (origins[0], origins[-1]):
        own = serving_frames.cell_scoring_frame(settings, "incidents", o, ("simcity",))
        every = serving_frames.cell_scoring_frame(settings, "incidents", o)
        assert len(rows[rows["origin"] == o]) == len(own) < len(every)
    assert check["champion_sources"] == ["simcity"] and check["challenger_sources"] == []
    assert check["n_events"] == _window_events(settings, origins)
    assert metrics["counted_on_sources"] == ["simcity", EXTRA] and metrics["input_sources"] == []
    assert np.isfinite(check["diff"])


# ------------------------------------------------------------------------ the words


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_models_page_says_on_which_sources_the_figures_were_counted(lang: str) -> None:
    """The verdict's lines name the model's input sources and the sources its figures
    counted, and the champion comparison's (en + zh). Fails on the old code (no line)."""
    from dashboard import verdicts

    check = {
        "check": "beats champion",
        "against": "champion",
        "ok": True,
        "compared": True,
        "recipe_same": False,
        "diff": 0.5,
        "ci": [0.1, 0.9],
        "champion_version": "1",
        "trained_through": "2024-01-13T16:00:00+00:00",
        "n_origins": 8,
        "window_origins": 56,
        "counted_on_sources": ["simcity", EXTRA],
        "challenger_sources": ["simcity"],
        "champion_sources": [],
    }
    champ = {"version": "2", "gate_tag": "pass", "params": {"sources": "simcity"}}
    metrics = {
        "headline": "pai@0.05",
        "methods": {"xgboost": {"pai@0.05": 3.0}, "kde": {"pai@0.05": 2.0}},
        "counted_on_sources": ["simcity", EXTRA],
    }
    gate = {"passed": True, "status": "pass", "checks": [check]}
    v = verdicts.verdict("incidents", champ, gate, metrics, None)
    text = "\n".join(verdicts.verdict_lines(v, lang, "Asia/Shanghai"))
    if lang == "en":
        assert "Trained on the source(s) simcity only" in text
        assert f"count the events of every source (simcity, {EXTRA})" in text
        assert "this model from the source(s) simcity, v1 from every source" in text
    else:
        assert "仅用来源 simcity 训练" in text and f"全部来源（simcity、{EXTRA}）" in text
        assert "本模型取自来源 simcity，v1 取自全部来源" in text
    # a run from before the counted sources were recorded: counted on its own sources
    old = verdicts.verdict("incidents", champ, None, {**metrics, "counted_on_sources": None}, None)
    words = "\n".join(verdicts.verdict_lines(old, lang, "Asia/Shanghai"))
    assert ("count only their events" if lang == "en" else "只计这些来源的事件") in words
