"""Train and serve on the same sources: a champion is scored on exactly the lake sources
it was trained on, never on a source ingested after it (attack review 2026-12-07, p1).

Before: a champion trained on "every source" recorded no sources, and scoring read every
source in the lake at the time it scored: a second incidents source (a second
department delivering the same events) ingested after training doubled the counts the
model was given (count_28d 2,388 -> 4,776 on the simulated city), raised the mean
probability 0.0205 -> 0.0257 and the blue warnings 100 -> 181, and the CLI said only
"published". Now training records the sources it learned from (the model's
``trained_on``, run param and tag ``trained_on_sources``), serving builds its frame from
them alone (:func:`riskwarn.scoring.served_sources`) and names the source it leaves out.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskwarn import lake, scoring, serving_frames
from riskwarn.settings import Settings
from tests.conftest import TEST_PSEUDONYM_KEY

ROOT = Path(__file__).resolve().parents[1]
SECOND = "simcity_b"  # the same incidents again, as a second department delivers them
AS_OF = datetime(2030, 1, 1, tzinfo=UTC)
TRAIN_END = "2024-01-20T00:00Z"
ORIGIN = "2024-03-11"  # local midnight, after the champion's data end: out of sample


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A small simulated city (incidents and disputes of one source, ``simcity``) with an
    incidents champion trained on every source (``riskwarn train incidents``), promoted."""
    from models.registry import configure, promote
    from riskwarn.ingest import ingest_files, load_mapping
    from riskwarn.pipeline import TrainOptions, train_domain
    from riskwarn.simulate import simulate
    from riskwarn.store import Store

    root = tmp_path_factory.mktemp("served_sources")
    sim = root / "sim"
    simulate(
        sim, "small", seed=5, start=dt.date(2023, 5, 1), days=320, n_incidents=4_000,
        n_disputes=600, n_sites=2, n_rain_gauges=1, sensor_offset_days=300, sensor_days=5,
        township_scale=0.2,
    )  # fmt: skip
    settings = Settings(home=root / "home", pseudonym_key=TEST_PSEUDONYM_KEY)
    for table in ("admin_units", "incidents", "disputes", "dispute_events"):
        found = sorted(p for p in (sim / "extracts").rglob(f"{table}.*") if p.is_file())
        mapping = load_mapping(ROOT / "configs" / "sources" / f"sim_{table}.yaml")
        ingest_files(mapping, found, settings, as_of=AS_OF)
    done = train_domain(
        settings, "incidents", TRAIN_END, TrainOptions(eval_days=28, auto_promote=False)
    )
    client = configure(settings.resolved_mlflow_uri)
    store = Store.from_settings(settings)
    try:
        promote(client, "incidents", done["version"], store=store, reason="test", force=True)
    finally:
        store.close()
    (root / "run_id").write_text(done["mlflow_run_id"])
    return settings


def _copy(settings: Settings, name: str) -> Settings:
    """A copy of the trained home (lake, registry, store) to change on its own."""
    here = settings.home.parent / name
    shutil.copytree(settings.home, here)
    return Settings(home=here, pseudonym_key=TEST_PSEUDONYM_KEY)


def _ingest_second(settings: Settings, table: str, every: int = 1) -> None:
    """Every ``every``-th row of the city's ``table`` extracts again, as source SECOND."""
    import yaml

    from riskwarn.ingest import ingest_files, load_mapping

    extracts = settings.home.parent / "sim" / "extracts"  # the copies sit beside it
    files = sorted(p for p in extracts.rglob(f"{table}.*") if p.is_file())
    if every > 1:  # (incidents: UTF-8; the disputes extracts are sent whole, as they are)
        rows = pd.concat([pd.read_csv(p, dtype=str) for p in files], ignore_index=True)
        files = [settings.home / f"{table}_{SECOND}.csv"]
        rows.iloc[::every].to_csv(files[0], index=False)
    doc = yaml.safe_load((ROOT / "configs" / "sources" / f"sim_{table}.yaml").read_text("utf-8"))
    mapping = settings.home / f"{table}_{SECOND}.yaml"
    mapping.write_text(yaml.safe_dump({**doc, "name": SECOND}), "utf-8")
    ingest_files(load_mapping(mapping), files, settings, as_of=AS_OF)


def _cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    from click.testing import CliRunner

    from riskwarn.cli import cli

    monkeypatch.setenv("RISKWARN_HOME", str(settings.home))
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    return CliRunner().invoke(cli, list(args))


def _forecasts(settings: Settings) -> pd.DataFrame:
    from riskwarn.store import Store

    with Store.from_settings(settings) as store:
        got = store.published_forecasts("incidents")
    return got[["unit_id", "probability", "score"]].sort_values("unit_id", ignore_index=True)


def _live_warnings(settings: Settings) -> set[tuple[str, str]]:
    from riskwarn.store import Store

    with Store.from_settings(settings) as store:
        w = store.warnings(domain="incidents", published_only=True)
    if "withdrawn_at" in w.columns:
        w = w[w["withdrawn_at"].isna()]
    return set(zip(w["unit_id"].astype(str), w["level"].astype(str), strict=True))


def test_training_records_its_sources_and_scoring_reads_exactly_them(
    trained: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A champion trained on every source records the sources it learned from (run param
    and tag, the model itself) and ``score`` builds its frame from exactly those. Fails on
    the old code (nothing recorded: ``trained_on_sources`` absent, frame of every
    source)."""
    from models.registry import configure, serving_champion
    from riskwarn.store import Store

    settings = _copy(trained, "records")
    client = configure(settings.resolved_mlflow_uri)
    run = client.get_run((trained.home.parent / "run_id").read_text())
    assert run.data.params["sources"] == "all"  # as asked: every source
    assert run.data.params["trained_on_sources"] == "simcity"
    assert run.data.tags["riskwarn.trained_on_sources"] == "simcity"
    with Store.from_settings(settings) as store:
        champion = serving_champion(settings.resolved_mlflow_uri, "incidents", store)
    assert champion.sources == ("simcity",) and champion.sources_basis == "recorded at training"
    assert champion.python_model().trained_on == ("simcity",)

    seen: list[Any] = []
    real = scoring.scoring_frame

    def spy(s: Settings, domain: str, origin: Any, sources: Any = None) -> pd.DataFrame:
        seen.append(sources)
        return real(s, domain, origin, sources)

    monkeypatch.setattr(scoring, "scoring_frame", spy)
    done = _cli(settings, monkeypatch, "score", "incidents", "--origin", ORIGIN)
    assert done.exit_code == 0, done.output
    assert seen == [("simcity",)]  # training's sources == the sources scored
    assert "not served" not in done.output  # nothing left out: nothing said


def test_a_source_ingested_after_training_changes_no_score_and_is_named(
    trained: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The attack's repro: the same incidents delivered again by a second source after
    training, then the same champion scores the same origin. Every probability, score and
    warning is what it was; the CLI (and the DAG task's log) names the source it left out,
    once. Fails on the old code (the counts doubled: other probabilities, 94% of them on
    this city, other warnings, nothing said)."""
    settings = _copy(trained, "second")
    first = _cli(settings, monkeypatch, "score", "incidents", "--origin", ORIGIN)
    assert first.exit_code == 0, first.output
    assert "not served" not in first.output
    before, warned = _forecasts(settings), _live_warnings(settings)
    origin = pd.Timestamp(ORIGIN).tz_localize(settings.display_tz).tz_convert("UTC")
    own = serving_frames.cell_scoring_frame(settings, "incidents", origin, ("simcity",))

    _ingest_second(settings, "incidents")
    assert set(lake.read_table(settings.lake_dir, "incidents")["source"]) == {"simcity", SECOND}
    every = serving_frames.cell_scoring_frame(settings, "incidents", origin)
    # the repro's doubling, in the lake: every source's frame counts each incident twice
    assert every["count_28d"].sum() == 2 * own["count_28d"].sum() > 0
    again = _cli(settings, monkeypatch, "score", "incidents", "--origin", ORIGIN)
    assert again.exit_code == 0, again.output
    pd.testing.assert_frame_equal(_forecasts(settings), before)  # no score changed
    lines = [x for x in again.output.splitlines() if "not served" in x]
    assert len(lines) == 1 and f"not served: {SECOND}" in lines[0], again.output
    assert "trained on simcity only" in lines[0]
    assert _live_warnings(settings) == warned  # (none on this small city at these levels)
    # the score_and_warn DAG's task (no CLI): the same scores, the words in its log
    from riskwarn.pipeline import score_and_warn

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="riskwarn.scoring"):
        score_and_warn(settings, "incidents", origin + pd.Timedelta(hours=1), "manual__test")
    said = [r.getMessage() for r in caplog.records if "not served" in r.getMessage()]
    assert len(said) == 1 and f"not served: {SECOND}" in said[0]
    pd.testing.assert_frame_equal(_forecasts(settings), before)


def test_a_champion_of_the_old_record_is_served_on_its_runs_counted_sources(
    trained: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A champion logged before ``trained_on`` (as the repro's v1): its run's
    ``counted_on_sources`` (the sources of its training events, for a model on every
    source) say what it learned from. Fails on the old code (served on every source)."""
    from models import registry
    from riskwarn.store import Store

    settings = _copy(trained, "older")
    _ingest_second(settings, "incidents", every=3)
    real = registry.served_sources_of

    def older(model: Any, client: Any, run_id: Any) -> Any:
        saved = model.trained_on
        model.trained_on = None  # as a model pickled before the attribute existed
        try:
            return real(model, client, run_id)
        finally:
            model.trained_on = saved

    monkeypatch.setattr(registry, "served_sources_of", older)
    with Store.from_settings(settings) as store:
        champion = registry.serving_champion(settings.resolved_mlflow_uri, "incidents", store)
    assert champion.sources == ("simcity",)
    assert champion.sources_basis == "its run's counted_on_sources"
    sources, note = scoring.served_sources(settings, "incidents", champion)
    assert sources == ("simcity",) and note is not None and f"not served: {SECOND}" in note


def test_a_training_source_gone_or_unrecorded_is_refused(
    trained: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A champion whose training source is no longer in the lake, or which records no
    source while the lake holds several, is refused in one line (exit 2, audited, nothing
    published); recording none on a lake of one source, it is served on that one. Fails
    on the old code (no such check: scored)."""
    from dataclasses import replace

    from models import registry
    from riskwarn.store import Store

    settings = _copy(trained, "refused")
    with Store.from_settings(settings) as store:
        champion = registry.serving_champion(settings.resolved_mlflow_uri, "incidents", store)
    unrecorded = replace(champion, sources=None, sources_basis=None)
    assert scoring.served_sources(settings, "incidents", unrecorded) == (None, None)
    gone = replace(champion, sources=("simcity", "retired"))
    with pytest.raises(scoring.SourcesMismatch, match="retired is no longer in the lake"):
        scoring.served_sources(settings, "incidents", gone)
    _ingest_second(settings, "incidents", every=5)
    with pytest.raises(scoring.SourcesMismatch, match="does not record the sources"):
        scoring.served_sources(settings, "incidents", unrecorded)
    # through the CLI: one line, exit 2, nothing published
    monkeypatch.setattr(
        registry, "served_sources_of", lambda *a: (("simcity", "retired"), "recorded at training")
    )
    done = _cli(settings, monkeypatch, "score", "incidents", "--origin", ORIGIN)
    assert done.exit_code == 2, done.output
    assert "retired is no longer in the lake's incidents" in done.output
    with Store.from_settings(settings) as store:
        assert store.published_run("incidents") is None
        assert len(store.audit_entries("model", "riskwarn-incidents", ("champion_refused",))) == 1


def test_a_case_frame_reads_only_the_champions_sources(trained: Settings) -> None:
    """Dispute cases: the frame on a champion's sources is the same before and after a
    second disputes source is ingested (its cases are not scored); every source's frame
    gains them. Fails on the old code (case_scoring_frame took no sources)."""
    settings = _copy(trained, "cases")
    origin = pd.Timestamp(ORIGIN).tz_localize(settings.display_tz).tz_convert("UTC")
    before = serving_frames.scoring_frame(settings, "dispute_cases", origin, ("simcity",))
    assert len(before)
    _ingest_second(settings, "disputes")
    _ingest_second(settings, "dispute_events")
    after = serving_frames.scoring_frame(settings, "dispute_cases", origin, ("simcity",))
    every = serving_frames.scoring_frame(settings, "dispute_cases", origin)
    pd.testing.assert_frame_equal(after, before)
    assert len(every) > len(before)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_models_page_names_a_source_not_served(lang: str) -> None:
    """The models page's verdict card adds "Not served: <source>" (en + zh) for a lake
    source the champion was not trained on, read as scoring reads its record. Fails on
    the old code (no such line)."""
    from dashboard import verdicts

    every = {"sources": "all", "trained_on_sources": "simcity"}
    assert verdicts.served_sources(every, None) == ("simcity",)
    assert verdicts.served_sources({"sources": "simcity"}, None) == ("simcity",)
    older = {"counted_on_sources": ["simcity"]}  # an every-source run before trained_on
    assert verdicts.served_sources({"sources": "all"}, older) == ("simcity",)
    assert verdicts.served_sources({}, None) is None
    words = verdicts.not_served_words(("simcity",), ["simcity", SECOND], lang)
    assert words is not None and SECOND in words
    assert ("Not served: " if lang == "en" else "未用于打分：") + SECOND in words
    assert verdicts.not_served_words(("simcity",), ["simcity"], lang) is None
    assert verdicts.not_served_words(None, ["simcity", SECOND], lang) is None


def test_the_lake_sources_are_read_from_the_delta_log_alone(trained: Settings) -> None:
    """The sources scoring checks a champion against come from the Delta log (``source``
    is a partition column), not from reading the table's ``source`` column at every
    scoring: the same sources as a full read, and the same answer with every data file
    of the table unreadable. Fails on the old code (it read the whole column: the
    corrupted files raise)."""
    from dataclasses import replace

    from models import registry
    from riskwarn.store import Store

    settings = _copy(trained, "log_only")
    _ingest_second(settings, "incidents", every=4)
    for table in ("incidents", "disputes", "dispute_events", "admin_units", "sensors"):
        full = lake.read_table(settings.lake_dir, table, columns=["source"])
        assert lake.sources(settings.lake_dir, table) == sorted(set(full["source"].dropna()))
    assert lake.sources(settings.lake_dir, "incidents") == ["simcity", SECOND]
    with Store.from_settings(settings) as store:
        champion = registry.serving_champion(settings.resolved_mlflow_uri, "incidents", store)
    want = scoring.served_sources(settings, "incidents", champion)
    assert want[0] == ("simcity",) and want[1] is not None and f"not served: {SECOND}" in want[1]
    files = sorted((settings.lake_dir / "incidents").rglob("*.parquet"))
    files = [p for p in files if "_delta_log" not in p.parts]
    assert files
    for p in files:  # no data file can be read now
        p.write_bytes(b"not parquet")
    assert scoring.served_sources(settings, "incidents", champion) == want
    gone = replace(champion, sources=("simcity", "retired"))
    with pytest.raises(scoring.SourcesMismatch, match="retired is no longer in the lake"):
        scoring.served_sources(settings, "incidents", gone)


def test_riskwarn_models_names_the_sources_each_version_was_trained_on(
    trained: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``riskwarn models`` lists each version's ``trained_on_sources`` (the only sources
    it is scored on), in its text and its JSON. Fails on the old code (not listed)."""
    import json

    settings = _copy(trained, "listed")
    done = _cli(settings, monkeypatch, "models", "incidents")
    assert done.exit_code == 0, done.output
    assert "Trained on the records of: simcity (scored on these sources alone)." in done.output
    got = _cli(settings, monkeypatch, "models", "incidents", "--json")
    assert got.exit_code == 0, got.output
    (row,) = json.loads(got.output)
    assert row["trained_on_sources"] == ["simcity"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_models_page_names_the_sources_the_champion_was_trained_on(lang: str) -> None:
    """The models page's champion card says from which sources' records the champion
    learned (en + zh). Fails on the old code (no such line)."""
    from dashboard import verdicts

    params = {"sources": "all", "trained_on_sources": f"{SECOND},simcity"}
    words = verdicts.trained_on_words(verdicts.trained_on_of(params), lang)
    sep = ", " if lang == "en" else "、"
    assert words is not None and f"simcity{sep}{SECOND}" in words
    assert ("scored on these sources alone" if lang == "en" else "只读这些来源") in words
    assert verdicts.trained_on_words(verdicts.trained_on_of({"sources": "all"}), lang) is None
