"""`riskwarn score` when riskwarn's record and MLflow's champion alias disagree (an
alias moved straight in MLflow): one `error:` line naming both versions and how to
settle it, exit 2, the served run unchanged, the refusal audited (`champion_refused`).
Checked 2026-12-05 (it was asked whether this exits 1 with a traceback: it does not;
this pins it). Real MLflow (SQLite) registry, lake and serving store of a home."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pandas as pd

from models import registry as reg
from riskwarn.scoring import score_domain
from tests.test_champion_verification import NAME
from tests.test_champion_verification import home as home  # the fixture, re-exported
from tests.test_scoring import ORIGIN


def test_score_refuses_an_alias_moved_behind_riskwarns_back_in_one_line_exit_2(
    home: dict[str, Any],
) -> None:
    client, store, settings = home["client"], home["store"], home["settings"]
    reg.promote(client, "incidents", home["v1"], store=store, reason="champion")
    run_id = score_domain(settings, "incidents", ORIGIN, store=store)
    client.set_registered_model_alias(NAME, reg.CHAMPION, home["v2"])  # straight to MLflow
    settings.home.chmod(0o700)
    env = {
        **os.environ,
        "RISKWARN_HOME": str(settings.home),
        "RISKWARN_MLFLOW_TRACKING_URI": settings.resolved_mlflow_uri,
    }
    origin = (ORIGIN + pd.Timedelta(days=1)).isoformat()
    # the real command in its own process: what an operator sees on the terminal
    done = subprocess.run(
        [sys.executable, "-m", "riskwarn.cli", "score", "incidents", "--origin", origin],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out, err = done.stdout, done.stderr
    assert done.returncode == 2, (out, err)
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    line = lines[0]
    assert line.startswith(f"error: refusing to serve {NAME}: {NAME}@champion points at "), line
    assert f"v{home['v2']}, but riskwarn recorded v{home['v1']}" in line, line
    assert "riskwarn promote incidents VERSION" in line, line
    assert line.endswith("(the last published run stays served)"), line
    assert store.published_run("incidents")["run_id"] == run_id
    assert store.audit_log().iloc[0]["action"] == "champion_refused"
