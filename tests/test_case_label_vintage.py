"""Case labels are what happened, as known when the labels are read; features are what
was known at the origin.

An event first recorded as a failed mediation and corrected into an escalation after the
origin is, at that origin, an open case's failed mediation (its inputs) and, in the
evaluation (the current versions), an escalation of the origin's window (its label), the
same as an escalation ingested equally late as a new record. A refit at cut-off ``T``
reads its training labels as known at ``T``: a correction made after ``T`` never reaches
them (leakage by construction), one made before does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import models.case_models as case_models
from features.disputes import DisputeCaseParams, build_dispute_case_features, escalation_labels
from models.case_models import CaseModelConfig, case_training_rows, run_case_backtest


def U(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


DISPUTES = pd.DataFrame(
    {
        "record_id": ["A", "B"],
        "opened_at": [U("2024-01-01")] * 2,
        "category": ["neighbour"] * 2,
        "cell_x": [1, 5],
        "cell_y": [1, 5],
        "party_ids": ["p1", "p2"],
    }
)


def _events(corrected_at: str = "2024-02-15") -> pd.DataFrame:
    """A's 02-10 event recorded as 'mediation_failed', corrected into a petition at
    ``corrected_at``; B's petition of 02-10 a new record (reported late, never corrected)."""
    at = U(corrected_at)
    ev = pd.DataFrame(
        {
            "dispute_id": ["A", "A", "B"],
            "event_at": [U("2024-02-10")] * 3,
            "event_type": ["mediation_failed", "escalated_petition", "escalated_petition"],
            "known_from": [pd.NaT, at, pd.NaT],
            "known_to": [at, pd.NaT, pd.NaT],
        }
    )
    for c in ("known_from", "known_to"):
        ev[c] = pd.to_datetime(ev[c], utc=True)
    return ev


ORIGINS = [U("2024-02-05"), U("2024-02-12")]
PARAMS = DisputeCaseParams(tz="UTC", horizon_days=30)


def _label(table: pd.DataFrame, origin: str, case: str) -> int:
    row = table[(table["origin"] == U(origin)) & (table["dispute_id"] == case)]
    assert len(row) == 1
    return int(row["label_escalation"].iloc[0])


def test_a_correction_after_the_origin_reaches_the_evaluation_label():
    """The reproduction: A's and B's escalations of 02-10 are both in the 02-05 window's
    label (A's was 0 on the old code: the version valid at the origin); A at 02-12 is
    still the open case with a failed mediation it was then (features unchanged)."""
    t = build_dispute_case_features(DISPUTES, _events(), ORIGINS, PARAMS)
    assert _label(t, "2024-02-05", "A") == 1
    assert _label(t, "2024-02-05", "B") == 1
    a12 = t[(t["origin"] == U("2024-02-12")) & (t["dispute_id"] == "A")]
    assert len(a12) == 1 and a12["n_failed_mediations"].iloc[0] == 1  # open, as known then
    assert a12["label_escalation"].iloc[0] == 0  # its escalation is before this origin
    assert set(t.loc[t["origin"] == U("2024-02-12"), "dispute_id"]) == {"A"}  # B escalated


def test_labels_known_at_takes_the_version_valid_then():
    """The one label rule with an explicit time: before the correction A's window holds a
    failed mediation, from the correction on a petition; the features never change."""
    ev = _events()
    before = build_dispute_case_features(
        DISPUTES, ev, ORIGINS, PARAMS, labels_known_at=U("2024-02-14")
    )
    after = build_dispute_case_features(
        DISPUTES, ev, ORIGINS, PARAMS, labels_known_at=U("2024-02-16")
    )
    assert _label(before, "2024-02-05", "A") == 0 and _label(before, "2024-02-05", "B") == 1
    assert _label(after, "2024-02-05", "A") == 1
    feats = [c for c in before.columns if not c.startswith("label_")]
    pd.testing.assert_frame_equal(before[feats], after[feats])
    # the function on rows alone gives what the builder gives
    now = build_dispute_case_features(DISPUTES, ev, ORIGINS, PARAMS)
    rows = now[["origin", "dispute_id"]]
    for at in (None, U("2024-02-14"), U("2024-02-16")):
        got = escalation_labels(rows, ev, 30, labels_known_at=at)
        want = build_dispute_case_features(DISPUTES, ev, ORIGINS, PARAMS, labels_known_at=at)
        assert got["label_escalation"].tolist() == want["label_escalation"].tolist()
        assert got["label_escalation_count"].tolist() == want["label_escalation_count"].tolist()


def test_a_correction_after_the_refit_never_reaches_its_training_labels():
    """Refit at 03-10 (the 02-05 window ended 03-06): a correction made on 03-20 is not in
    its training labels (A's row 0, B's 1), while the evaluation table (current versions)
    says 1; a correction made on 02-15 is (1)."""
    config = CaseModelConfig(horizon_days=30, tz="UTC", train_window_days=728)
    refit = U("2024-03-10")
    for corrected, want_a in (("2024-03-20", 0), ("2024-02-15", 1)):
        ev = _events(corrected)
        table = build_dispute_case_features(DISPUTES, ev, ORIGINS, PARAMS)
        assert _label(table, "2024-02-05", "A") == 1  # evaluation: as known now
        train = case_training_rows(table, ev, refit, config)
        assert set(train["origin"]) == {U("2024-02-05")}
        assert _label(train, "2024-02-05", "A") == want_a
        assert _label(train, "2024-02-05", "B") == 1


def test_the_backtest_refits_learn_the_labels_known_at_their_origin(monkeypatch):
    """run_case_backtest: each refit's rows are labelled as known at the refit's origin
    (a correction after it not in them), the evaluation rows as known now."""
    days = pd.date_range("2024-01-01", periods=20, freq="7D", tz="UTC")
    cases = [f"C{i:02d}" for i in range(20)]
    disputes = pd.DataFrame(
        {
            "record_id": cases,
            "opened_at": [days[0] - pd.Timedelta(days=3)] * 20,
            "category": ["neighbour"] * 20,
            "cell_x": range(20),
            "cell_y": [0] * 20,
            "party_ids": [f"p{i}" for i in range(20)],
        }
    )
    # case i: a failed mediation on day i*7+1 corrected into a petition 100 days later
    rows = []
    for i, c in enumerate(cases):
        at = days[0] + pd.Timedelta(days=7 * i + 1)
        fix = at + pd.Timedelta(days=100)
        rows += [
            (c, at, "mediation_failed", pd.NaT, fix),
            (c, at, "escalated_petition", fix, pd.NaT),
        ]
    ev = pd.DataFrame(
        rows, columns=["dispute_id", "event_at", "event_type", "known_from", "known_to"]
    )
    for col in ("known_from", "known_to"):
        ev[col] = pd.to_datetime(ev[col], utc=True)
    table = build_dispute_case_features(disputes, ev, days, PARAMS)
    assert table["label_escalation"].sum() > 0
    seen: list[pd.DataFrame] = []

    class _Model:
        best_iteration = 1

        def predict_proba(self, r: pd.DataFrame) -> np.ndarray:
            return np.full(len(r), 0.5)

    def _fit(r, features, config, refit_origin):
        seen.append(r.assign(_refit=refit_origin))
        return _Model()

    monkeypatch.setattr(case_models, "fit_case_model", _fit)
    config = CaseModelConfig(horizon_days=30, tz="UTC", refit_every_days=28)
    bt = run_case_backtest(table, days[10:], config, ev)
    assert seen and bt.scores["label"].sum() > 0  # evaluation: the corrected escalations
    fixes = ev[ev["known_from"].notna()].set_index("dispute_id")
    leaked = 0
    for r in seen:
        refit = r["_refit"].iloc[0]
        at = pd.DatetimeIndex(fixes.loc[r["dispute_id"], "event_at"])
        fix = pd.DatetimeIndex(fixes.loc[r["dispute_id"], "known_from"])
        o = pd.DatetimeIndex(r["origin"])
        in_window = np.asarray((at >= o) & (at < o + pd.Timedelta(days=30)))
        known = np.asarray(fix < refit)
        assert r["label_escalation"].tolist() == (in_window & known).astype(int).tolist()
        leaked += int((in_window & ~known).sum())
    assert leaked > 0  # rows whose escalation was corrected after their refit: 0 there
