"""The CLI as a data scientist used it after ``make demo`` (review of 2026-12-06).

1. ``riskwarn models`` listed a version promoted with ``--force`` over its failed gate as
   "gate fail (with no champion) [SERVING]", never saying it was forced, by whom or why
   (the models page did); now the line says "promoted by force" and the next one who,
   when and the reason, and ``--json`` carries the move (``promotion``).
2. ``riskwarn models --checks`` printed "NO beats caine: diff -0.015, 95% CI [...]"
   naming neither the metric nor what the CI resampled; every comparison line now names
   both (the check's own metric, else the family's headline: AUC for the site models).
3. ``riskwarn backtest disputes --help`` was ``incidents``' help ("cell hotspot backtest of
   incidents"): it is its own command now, with its own words, and refuses a mapping of
   incidents instead of running an incidents backtest under the name of disputes.
(4., the models page's MLflow links: tests/test_dashboard_mlflow_ui_down.py.)
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from models import registry as reg
from riskwarn.cli import cli, main
from tests.test_champion_verification import NAME, OS_USER, home  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[1]


def _models(*args: str) -> str:
    done = CliRunner().invoke(cli, ["models", "incidents", *args])
    assert done.exit_code == 0, done.output
    return done.output


def _use_home(home: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    settings = home["settings"]
    monkeypatch.setenv("RISKWARN_HOME", str(settings.home))
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)


def test_models_says_a_version_was_promoted_by_force_by_whom_and_why(
    home: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _use_home(home, monkeypatch)
    client, store, v1, v2 = home["client"], home["store"], home["v1"], home["v2"]
    client.set_model_version_tag(NAME, v1, "gate", "fail")
    reason = "fresh install, no champion yet"
    reg.promote(client, "incidents", v1, store=store, reason=reason, force=True)

    lines = _models().splitlines()
    at = next(i for i, line in enumerate(lines) if line.split()[0] == f"v{v1}")
    assert "gate fail (with no champion), promoted by force  [SERVING]" in lines[at]
    # said once, in the "serves" line, not again under the version (review of 6 Dec 2026,
    # tests/test_cli_models_words.py)
    told = lines[0]
    assert told.startswith(f"riskwarn-incidents: v{v1} serves: promoted by force by ")
    assert "promoted by force by" not in "\n".join(lines[at + 1 :])
    assert f"promoted by force by os:{OS_USER} at " in told
    assert "(it failed its promotion gate)" in told
    assert told.endswith('reason: "fresh install, no champion yet"')
    v2_line = next(line for line in lines if line.split()[0] == f"v{v2}")
    assert "by force" not in v2_line  # never moved to: nothing to say

    rows = {r["version"]: r for r in json.loads(_models("--json"))}
    move = rows[v1]["promotion"]
    assert move["action"] == "promote" and move["forced"] == "gate" and move["gate"] == "fail"
    assert move["actor"] == f"os:{OS_USER}" and move["reason"].startswith("fresh install")
    assert move["at"].endswith("+00:00")
    assert rows[v2]["promotion"] is None

    # a promotion that needed no force says nothing of force
    reg.promote(client, "incidents", v2, store=store, reason="passed its gate")
    rows = {r["version"]: r for r in json.loads(_models("--json"))}
    assert rows[v2]["promotion"]["forced"] is None
    assert "by force" not in next(ln for ln in _models().splitlines() if ln.startswith(f"   v{v2}"))


def test_a_recorded_reasons_phone_number_is_masked_in_the_listing() -> None:
    """A reason recorded before promote refused phone and ID numbers (or restored from an
    older backup) is listed masked, as the models page shows it; the record is unchanged."""
    entry = {
        "action": "promote",
        "actor": "os:ops",
        "at": dt.datetime(2026, 12, 1, 8, 30, tzinfo=dt.UTC),
        "details": {"reason": "ask 13800138000", "gate": None, "forced_over_gate": True},
    }
    move = reg.move_summary(entry)
    assert move["reason"] == "ask [phone removed]" and move["forced"] == "gate"
    assert entry["details"]["reason"] == "ask 13800138000"
    from riskwarn.commands.registry import forced_words

    assert forced_words(move) == (
        "promoted by force by os:ops at 2026-12-01 08:30Z (it has no gate outcome); "
        'reason: "ask [phone removed]"'
    )


def test_models_checks_name_the_metric_and_what_the_ci_resampled(
    home: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _use_home(home, monkeypatch)
    client, v1 = home["client"], home["v1"]
    checks = [
        {"check": "beats kde", "ok": False, "detail": "diff -0.015, 95% CI [-0.364, +0.737]",
         "against": "kde", "diff": -0.015, "ci": [-0.364, 0.737]},
        {"check": "not worse than kde at PAI@1%", "ok": True, "metric": "pai@0.01",
         "detail": "diff -0.092, 95% CI [-0.214, +0.000] (fails only if the CI lies below zero)",
         "baseline": "kde", "diff": -0.092, "ci": [-0.214, 0.0]},
        {"check": "calibration", "ok": True, "detail": "ECE 0.0039, bound 0.0068"},
    ]  # fmt: skip
    run_id = client.get_model_version(NAME, v1).run_id
    client.log_dict(run_id, {"status": "fail", "checks": checks}, reg.GATE_ARTIFACT)

    out = _models("--checks")
    assert (
        "NO  beats kde on PAI@5%: diff -0.015, 95% CI [-0.364, +0.737] "
        "(CI: paired bootstrap over forecast origins)" in out
    )
    # a check that names its metric is not told it twice; worse on the point estimate
    # with a CI reaching 0, it passed the gate's rule but is not called simply "ok"
    # (review revA, tests/test_verdict_below_random.py)
    assert (
        "ok  not worse than kde at PAI@1%: diff -0.092, 95% CI [-0.214, +0.000] (fails only "
        "if the CI lies below zero); tie, point below: worse on the point estimate, not beyond "
        "noise "
        "(CI: paired bootstrap over forecast origins)" in out
    )
    assert "ok  calibration: ECE 0.0039, bound 0.0068\n" in out  # not a comparison
    # the version's line names the check that failed its gate (review of 2026-12-07: the
    # line named only the champion comparison, read as the cause)
    client.set_model_version_tag(NAME, v1, "gate", "fail")
    (line,) = [ln for ln in _models().splitlines() if ln.split()[:1] == [f"v{v1}"]]
    assert "gate fail (failing: beats kde; with no champion)" in line, line
    rows = {r["version"]: r for r in json.loads(_models("--json"))}
    by_name = {c["check"]: c for c in rows[v1]["checks"]}
    assert by_name["beats kde"]["metric"] == "pai@0.05"
    assert by_name["not worse than kde at PAI@1%"]["metric"] == "pai@0.01"
    assert by_name["beats kde"]["ci_resampled"] == "paired bootstrap over forecast origins"
    assert "metric" not in by_name["calibration"]


def test_a_check_that_records_its_resampling_is_named_by_it() -> None:
    """The case gates resample whole cases since 2026-12-06 and record it in the check;
    the CLI says so (older case gates, without it, resampled forecast origins)."""
    from riskwarn.commands.registry import check_line

    beats = {"check": "beats failed_mediations", "ok": True, "against": "failed_mediations",
             "detail": "diff +0.077, 95% CI [+0.020, +0.140] (bootstrap over 507 cases)",
             "diff": 0.077, "ci": [0.020, 0.140], "resampled": "cases", "n_clusters": 507}  # fmt: skip
    summary = reg.check_summary(beats, reg.COMPARISON_BASIS["case"])
    assert summary["ci_resampled"] == "paired bootstrap over 507 cases"
    assert check_line(summary) == (
        "beats failed_mediations on average precision (AP): diff +0.077, 95% CI "
        "[+0.020, +0.140] (bootstrap over 507 cases)"
    )
    old = {k: v for k, v in beats.items() if k not in ("resampled", "n_clusters")}
    old["detail"] = "diff +0.077, 95% CI [+0.054, +0.103]"
    assert reg.check_summary(old, reg.COMPARISON_BASIS["case"])["ci_resampled"] == (
        "paired bootstrap over forecast origins"
    )


def test_every_family_names_its_comparison_metric_and_resampling() -> None:
    """The site models' "beats caine" compares AUC over resampled local days (the
    review's line); cases compare average precision over forecast origins."""
    from riskwarn import domains
    from riskwarn.commands.registry import check_line

    beats = {"check": "beats caine", "ok": False, "diff": -0.015, "ci": [-0.364, 0.737],
             "detail": "diff -0.015, 95% CI [-0.364, +0.737]"}  # fmt: skip
    level = {"check": "not worse than sensor_rules at TSS at red", "ok": True,
             "metric": "tss@red", "diff": 0.0, "ci": [0.0, 0.0], "detail": "TSS 0.437 vs 0.437"}  # fmt: skip
    site = reg.COMPARISON_BASIS[domains.get("geohazard_hourly").family]
    assert check_line(reg.check_summary(beats, site)) == (
        "beats caine on AUC: diff -0.015, 95% CI [-0.364, +0.737] "
        "(CI: paired bootstrap over local days)"
    )
    assert check_line(reg.check_summary(level, site)) == (
        "not worse than sensor_rules at TSS at red: TSS 0.437 vs 0.437 "
        "(CI: paired bootstrap over local days)"
    )
    case = reg.COMPARISON_BASIS[domains.get("dispute_cases").family]
    assert "beats caine on average precision (AP): " in check_line(reg.check_summary(beats, case))
    assert {domains.get(d).family for d in domains.names()} <= set(reg.COMPARISON_BASIS)


def _help(*argv: str) -> str:
    done = CliRunner().invoke(cli, [*argv, "--help"])
    assert done.exit_code == 0, done.output
    return " ".join(done.output.split())


def test_each_backtest_help_names_its_own_domain() -> None:
    disputes = _help("backtest", "disputes")
    assert "hotspot backtest of disputes" in disputes and "backtest of incidents" not in disputes
    assert "Disputes extract" in disputes
    incidents = _help("backtest", "incidents")
    assert "hotspot backtest of incidents" in incidents
    assert "Events extract read through the mapping" in incidents  # its option unchanged
    listing = _help("backtest")
    assert "disputes Weekly (or daily) cell hotspot backtest of disputes" in listing
    assert "geohazard Daily city-wide landslide nowcasts" in _help("backtest")
    # train and score take the domain as an argument: their help names none in particular
    for argv in (("train",), ("score",)):
        words = _help(*argv)
        assert "DOMAIN" in words and "of incidents" not in words and "of disputes" not in words


def test_backtest_disputes_refuses_an_incidents_mapping(tmp_path: Path, capsys: Any) -> None:
    """It ran the incidents backtest of an incidents extract, named disputes."""
    from riskwarn.simulate import simulate

    sim = tmp_path / "sim"
    simulate(
        sim, "small", seed=5, start=dt.date(2024, 1, 1), days=60, n_incidents=300,
        n_disputes=50, n_sites=2, n_rain_gauges=1, sensor_offset_days=5, sensor_days=1,
        township_scale=0.2,
    )  # fmt: skip
    extract = next((sim / "extracts").glob("incidents.*.csv.gz"))
    rc = main(
        [
            "backtest", "disputes", "--source", str(ROOT / "configs/sources/sim_incidents.yaml"),
            "--events", str(extract), "--cell-size", "500", "--crs", "EPSG:32650",
            "--start", "2024-02-05", "--end", "2024-02-26", "--out", str(tmp_path / "out"),
        ]
    )  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err
    assert "does not map disputes (opened_at)" in err and "riskwarn backtest incidents" in err
    assert not (tmp_path / "out").exists()
