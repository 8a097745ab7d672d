"""``riskwarn models`` after a rollback (review of 2026-12-06, revA): the reviewer trained
disputes v2 (--no-promote), promoted it by force, rolled back to v1, and the listing
showed v1 "[SERVING] gate fail (with no champion)" with no word of who rolled back, when
or why (``--json`` had it, the dashboard card said it), and v2's "promoted by force" line
was gone. Now the serving version's last registry action is said (promote, forced
promote or rollback: who, when UTC, the reason) and each version's own history lines
(every recorded move to it, and the rollback away from it) are listed under it."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from models import registry as reg
from riskwarn.cli import cli
from tests.test_champion_verification import NAME, OS_USER, home  # noqa: F401 (fixture)


def _models(*args: str) -> str:
    done = CliRunner().invoke(cli, ["models", "incidents", *args])
    assert done.exit_code == 0, done.output
    return done.output


def test_models_says_who_rolled_back_when_and_why_and_keeps_the_forced_promotion(
    home: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = home["settings"]
    monkeypatch.setenv("RISKWARN_HOME", str(settings.home))
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    client, store, v1, v2 = home["client"], home["store"], home["v1"], home["v2"]
    for v in (v1, v2):
        client.set_model_version_tag(NAME, v, "gate", "fail")
    reg.promote(client, "incidents", v1, store=store, reason="first champion", force=True)
    reg.promote(client, "incidents", v2, store=store, reason="reviewer test: go", force=True)
    reg.rollback(client, "incidents", store=store, reason="reviewer test: back")

    out = _models()
    lines = out.splitlines()
    at1 = next(i for i, line in enumerate(lines) if line.split()[0] == f"v{v1}")
    at2 = next(i for i, line in enumerate(lines) if line.split()[0] == f"v{v2}")
    back = f"rolled back from v{v2} to v{v1} by os:{OS_USER} at "
    # the serving version's last registry action, first
    assert lines[0].startswith(f"riskwarn-incidents: v{v1} serves: {back}")
    assert lines[0].endswith('reason: "reviewer test: back"')
    assert "returned to by a rollback  [SERVING]" in lines[at1]
    v1_block = "\n".join(lines[at1 + 1 :])
    # the rollback to it is said once, in the first line (review of 6 Dec 2026)
    assert back not in v1_block and out.count(back) == 2  # line 0 and under v2
    assert 'reason: "reviewer test: back"' not in v1_block
    assert "promoted by force" in v1_block  # its own first promotion stays listed
    v2_block = "\n".join(lines[at2:at1])
    assert "promoted by force" in lines[at2]
    assert "promoted by force by os:" in v2_block and 'reason: "reviewer test: go"' in v2_block
    assert back in v2_block
