"""The two site domains trained together for one end share their readings' work.

``geohazard`` and ``geohazard_hourly`` read the same ~92 M readings on the city: trained
as a group (``riskwarn.pipeline.train_domains``, the ``train_models`` DAG's site task)
the lake's readings are spilled once and each sensor's rule kinematics computed once,
and each domain's MLflow run is the one it gets trained alone. One domain's failure
leaves the other trained and recorded. Small simulated city (seed 3: 20 sites, three
failures on 11-14 July 2023), geohazard tables only.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskwarn.settings import Settings
from tests.conftest import create_stores

ROOT = Path(__file__).resolve().parents[1]
AS_OF = pd.Timestamp("2023-07-16T00:00Z")  # after the first failures, before the data end
SITES = ["geohazard_hourly", "geohazard"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose lake holds the small city's geohazard tables, and whose stores exist
    (empty)."""
    from riskwarn.ingest import ingest_files, load_mapping
    from riskwarn.simulate import simulate

    root = tmp_path_factory.mktemp("sitegroup")
    simulate(root / "sim", "small", seed=3)
    settings = Settings(home=root / "home")
    for name in ("hazard_sites", "sensors", "hazard_events", "sensor_readings"):
        mapping = load_mapping(ROOT / "configs" / "sources" / f"sim_{name}.yaml")
        files = sorted(p for p in (root / "sim" / "extracts").rglob(f"{name}.*") if p.is_file())
        ingest_files(mapping, files, settings, as_of=datetime(2030, 1, 1, tzinfo=UTC))
    # and its stores, created once: each test's home (six in all) copies them instead of
    # paying MLflow's migrations of a new mlflow.db again (3-5 s each here)
    create_stores(settings.home)
    return settings.home


def _home(template: Path, tmp_path: Path, name: str) -> Settings:
    home = tmp_path / name
    shutil.copytree(template, home)
    return Settings(home=home)


class Counts:
    """How often the shared work runs: readings spilled, sensors' rule kinematics."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from riskwarn import sensor_rules, spill

        self.spills = 0
        self.kinematics = 0
        real_claim, real_kin = spill.claim, sensor_rules.displacement_kinematics

        def claim(parent: Any, what: str, *a: Any, **k: Any) -> Any:
            if what.startswith("sensor_readings"):
                self.spills += 1
            return real_claim(parent, what, *a, **k)

        def kinematics(*a: Any, **k: Any) -> Any:
            self.kinematics += 1
            return real_kin(*a, **k)

        monkeypatch.setattr(spill, "claim", claim)
        monkeypatch.setattr(sensor_rules, "displacement_kinematics", kinematics)


def _run_contents(settings: Settings, result: dict[str, Any]) -> dict[str, Any]:
    """What a training recorded in MLflow, less what differs between any two runs."""
    from models.registry import configure

    client = configure(settings.resolved_mlflow_uri)
    run = client.get_run(result["mlflow_run_id"])
    params = dict(run.data.params)
    tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
    metrics = {k: v for k, v in run.data.metrics.items() if "seconds" not in k}
    return {
        "params": params,
        "metrics": metrics,
        "data_version": tags.get("data_version"),
        "gate": result["gate"],
        "version": result["version"],
        "promoted": result["promoted"],
    }


def test_site_domains_trained_together_spill_once_and_equal_each_alone(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from riskwarn import pipeline

    counts = Counts(monkeypatch)
    alone = {}
    per_domain_kinematics = {}
    for domain in SITES:
        settings = _home(template, tmp_path, f"alone-{domain}")
        before = counts.kinematics
        alone[domain] = (settings, pipeline.train_domain(settings, domain, AS_OF))
        per_domain_kinematics[domain] = counts.kinematics - before
    assert counts.spills == 2
    assert per_domain_kinematics["geohazard"] == per_domain_kinematics["geohazard_hourly"] > 0

    counts.spills = counts.kinematics = 0
    settings = _home(template, tmp_path, "together")
    together = pipeline.train_domains(settings, SITES, AS_OF)
    assert list(together) == SITES
    assert counts.spills == 1  # one spill of the readings for both domains
    assert counts.kinematics == per_domain_kinematics["geohazard"]  # once per sensor
    for domain in SITES:
        result = together[domain]
        assert isinstance(result, dict), result
        assert result["mlflow_run_id"] is not None
        assert set(result) == set(alone[domain][1])
        assert _run_contents(settings, result) == _run_contents(*alone[domain])


def test_a_failing_site_domain_leaves_the_other_trained_and_recorded(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daily domain fails after the shared work (its backtest raises): the hourly one
    is trained, registered and gated all the same; the DAG task's result then fails
    naming the failed domain and the one recorded."""
    from models import geohazard_sites
    from models.registry import configure
    from riskwarn import pipeline

    settings = _home(template, tmp_path, "one-fails")
    real = geohazard_sites.run_site_backtest

    def daily_fails(table: Any, eval_origins: Any, config: Any, **k: Any) -> Any:
        if config.step_hours == 24:
            raise RuntimeError("daily backtest broke")
        return real(table, eval_origins, config, **k)

    monkeypatch.setattr(geohazard_sites, "run_site_backtest", daily_fails)
    results = pipeline.train_domains(settings, ["geohazard", "geohazard_hourly"], AS_OF)
    assert isinstance(results["geohazard"], RuntimeError)
    hourly = results["geohazard_hourly"]
    assert isinstance(hourly, dict) and hourly["version"] == "1"
    client = configure(settings.resolved_mlflow_uri)
    assert client.get_run(hourly["mlflow_run_id"]).info.status == "FINISHED"
    assert not client.search_model_versions("name = 'riskwarn-geohazard'")
    with pytest.raises(pipeline.GroupFailed, match="geohazard: RuntimeError") as err:
        pipeline.group_result(results)
    assert hourly["mlflow_run_id"] in str(err.value)
    assert err.value.results["geohazard_hourly"] == hourly


def test_a_retry_of_the_task_trains_only_the_domain_that_failed(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DAG's site task fails because its daily domain failed; Airflow's retry (the same
    task key) trains only the daily domain and returns the hourly one's first result: one
    hourly run and one hourly version in MLflow, not two. Another task (next week's run)
    trains both."""
    from models import geohazard_sites
    from models.registry import configure
    from riskwarn import pipeline

    settings = _home(template, tmp_path, "retry")
    real = geohazard_sites.run_site_backtest
    task = "train_models/scheduled__2023-07-16T00:00:00+00:00/1"

    def daily_fails(table: Any, eval_origins: Any, config: Any, **k: Any) -> Any:
        if config.step_hours == 24:
            raise RuntimeError("daily backtest broke")
        return real(table, eval_origins, config, **k)

    with monkeypatch.context() as m:
        m.setattr(geohazard_sites, "run_site_backtest", daily_fails)
        first = pipeline.train_group(settings, SITES, AS_OF, task=task)
    with pytest.raises(pipeline.GroupFailed):
        pipeline.group_result(first)
    hourly = first["geohazard_hourly"]
    assert isinstance(hourly, dict) and hourly["version"] == "1"

    retry = pipeline.train_group(settings, SITES, AS_OF, task=task)
    assert retry["geohazard_hourly"] == {**hourly, "earlier_try": True}
    daily = retry["geohazard"]
    assert isinstance(daily, dict) and daily["version"] == "1" and "earlier_try" not in daily
    assert set(pipeline.group_result(retry)["domains"]) == set(SITES)

    client = configure(settings.resolved_mlflow_uri)
    hourly_exp = client.get_experiment_by_name("riskwarn-geohazard_hourly")
    assert hourly_exp is not None
    assert len(client.search_runs([hourly_exp.experiment_id])) == 1
    assert len(client.search_model_versions("name = 'riskwarn-geohazard_hourly'")) == 1

    again = pipeline.train_group(settings, SITES, AS_OF, task=task)  # a third try: both kept
    assert all(r["earlier_try"] for r in again.values() if isinstance(r, dict))
    assert again["geohazard"]["mlflow_run_id"] == daily["mlflow_run_id"]

    other = pipeline.train_group(settings, SITES, AS_OF, task="train_models/manual__x/1")
    assert all(isinstance(r, dict) and "earlier_try" not in r for r in other.values())
    assert len(client.search_runs([hourly_exp.experiment_id])) == 2


def test_a_site_domain_already_training_elsewhere_does_not_stop_the_other(
    template: Path, tmp_path: Path
) -> None:
    """Another process holds ``geohazard``'s training lock: the group trains the hourly
    domain and reports ``TrainingBusy`` for the daily one."""
    from riskwarn import pipeline
    from riskwarn.spill import TrainingBusy

    settings = _home(template, tmp_path, "busy")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from riskwarn.settings import Settings\n"
            "from riskwarn.spill import training_lock\n"
            "with training_lock(Settings(home=Path(sys.argv[1])), 'geohazard'):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(600)\n",
            str(settings.home),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        results = pipeline.train_domains(settings, SITES, AS_OF)
    finally:
        holder.kill()
        holder.wait()
    assert isinstance(results["geohazard"], TrainingBusy)
    assert isinstance(results["geohazard_hourly"], dict)
    assert results["geohazard_hourly"]["mlflow_run_id"] is not None


def test_training_groups_put_the_site_domains_together() -> None:
    from riskwarn.domains import training_groups

    assert training_groups(["incidents", "geohazard", "dispute_cases", "geohazard_hourly"]) == [
        ("incidents",),
        ("geohazard", "geohazard_hourly"),
        ("dispute_cases",),
    ]
    assert training_groups(["geohazard"]) == [("geohazard",)]  # one site domain alone
    assert training_groups(["nope", "incidents", "incidents"]) == [("nope",), ("incidents",)]


def test_group_result_is_one_domain_s_own_result_or_error() -> None:
    from riskwarn.pipeline import group_result

    one = {"domain": "incidents", "version": "3"}
    assert group_result({"incidents": one}) == one  # what the dashboard reads
    with pytest.raises(ValueError, match="boom"):
        group_result({"incidents": ValueError("boom")})
    both = {"geohazard": {"version": "1"}, "geohazard_hourly": {"version": "2"}}
    assert group_result(both) == {"domains": both}
