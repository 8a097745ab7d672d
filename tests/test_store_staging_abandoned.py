"""A score killed after staging: the next staging of the run discards the rows with an
audit entry (an attacker's review, finding 6).

Before, ``forecast_runs`` showed the run as ``staging`` with staged rows and the audit
log said nothing; the next score of the run discarded them silently. Now the discard is
audited as ``staging_abandoned`` with the run id, when the rows were staged and how many
forecasts and warnings were dropped.
"""

from __future__ import annotations

from pathlib import Path

from riskwarn.store import Store
from tests.test_store import ORIGIN, forecast_frame, run_meta, warning_frame


def test_restaging_audits_the_abandoned_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    Store(url).upgrade()
    with Store(url) as dead:  # the killed score: staged, never published
        run_id = dead.stage_run(run_meta(ORIGIN))
        n_f = dead.write_forecasts(run_id, forecast_frame(ORIGIN, n=5))
        n_w = dead.write_warnings(run_id, warning_frame(ORIGIN, levels=("red", "orange")))
    with Store(url) as s:
        assert (s.audit_log()["action"] == "staging_abandoned").sum() == 0
        again = s.stage_run(run_meta(ORIGIN))
        assert again == run_id
        log = s.audit_log()
        [entry] = log[log["action"] == "staging_abandoned"].to_dict("records")
        assert entry["object_id"] == run_id
        assert entry["details"]["n_forecasts"] == n_f
        assert entry["details"]["n_warnings"] == n_w
        assert entry["details"]["staged_at"]
        s.write_forecasts(run_id, forecast_frame(ORIGIN, n=5))
        s.publish_run(run_id)
        log = s.audit_log()
        assert (log["action"] == "staging_abandoned").sum() == 1  # publishing is no abandon


def test_a_first_staging_audits_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    Store(url).upgrade()
    with Store(url) as s:
        s.stage_run(run_meta(ORIGIN))
        assert (s.audit_log()["action"] == "staging_abandoned").sum() == 0
