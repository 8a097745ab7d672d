"""The data end of champions promoted before riskwarn recorded one, and a hand tag
bounded by its run's ``trained_until`` (attack review 2026-12-07, gaps left open).

1. A champion moved before 2026-12-07 has no data end in its audit record: scoring read
   the version's end afresh each time, so a ``riskwarn.trained_through`` tag edited
   earlier after its run was collected let an origin inside its training data through.
   Now scoring records the end it first reads (``data_end_first_seen``, once) and holds
   later reads to it, without refusing the working champion.
2. A version whose run logged no ``trained_through`` param (before 2026-12-07) but its
   final fit's zoned ``trained_until``, tagged by hand with an earlier end before its
   promotion: the tag alone was read (the promotion recorded it), and origins between the
   tag and ``trained_until`` were scored in-sample. ``trained_until`` bounds the tag now.

Real MLflow (SQLite) registry, in-process ``mlflow gc``, SQLite serving store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests import test_registry_data_end as base

DOMAIN = base.DOMAIN
THROUGH, EARLIER, INSIDE, AFTER = base.THROUGH, base.EARLIER, base.INSIDE, base.AFTER
home = base.home  # v1 (param and tag THROUGH) promoted through riskwarn; v2 by hand


def _legacy_move(home: dict[str, Any]) -> None:
    """v1's promotion as riskwarn recorded it before 2026-12-07: no data end."""
    import uuid

    from models import registry as reg

    store, name = home["store"], home["name"]
    record = reg.recorded_champion(store, name)
    assert record is not None
    details = {
        k: v
        for k, v in record.items()
        if k not in ("action", "actor", "at", reg.DATA_END_RECORD, "db_user")
    }
    store.audit("ana", "promote", "model", name, {**details, "move_id": uuid.uuid4().hex})
    assert reg.DATA_END_RECORD not in reg.recorded_champion(store, name)


def _seen(home: dict[str, Any]) -> list[dict[str, Any]]:
    from models import registry as reg

    return home["store"].audit_entries("model", home["name"], (reg.DATA_END_SEEN,))


def test_a_champion_moved_before_the_record_is_held_to_the_end_first_read(
    home: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from models import registry as reg
    from riskwarn import scoring

    client, store, name = home["client"], home["store"], home["name"]
    uri = home["settings"].resolved_mlflow_uri
    _legacy_move(home)
    scoring.out_of_sample(uri, DOMAIN, "1", AFTER, store)  # served: not refused for it
    scoring.out_of_sample(uri, DOMAIN, "1", AFTER, store)

    # its run collected, its tag moved earlier: the old code read EARLIER and scored
    # INSIDE (in its training data) as a forecast
    base.collect(home, home["runs"][0])
    client.set_model_version_tag(name, "1", reg.TRAINED_THROUGH_TAG, EARLIER)
    with pytest.raises(scoring.UnknownDataEnd, match="when scoring first served it"):
        scoring.out_of_sample(uri, DOMAIN, "1", pd.Timestamp(INSIDE, tz="UTC"), store)
    (seen,) = _seen(home)  # first seen once, by scoring
    assert seen["details"][reg.DATA_END_RECORD] == THROUGH, seen
    assert seen["actor"] == "pipeline"
    record = reg.recorded_champion(store, name)
    assert record[reg.DATA_END_RECORD] == THROUGH and record["data_end_seen"]["by"] == "pipeline"
    code, err = base.score(INSIDE, capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"{name} v1's training data end reads {EARLIER} now" in err, err
    assert f"riskwarn recorded {THROUGH} when scoring first served it (pipeline at" in err, err
    assert "its promote of" in err and "recorded none)" in err, err
    assert base.refusals(home), "refused, audited"

    # the fix of any edit: set the tag back (or promote again, which records the end)
    client.set_model_version_tag(name, "1", reg.TRAINED_THROUGH_TAG, THROUGH)
    scoring.out_of_sample(uri, DOMAIN, "1", AFTER, store)


def test_no_end_is_recorded_for_a_champion_whose_end_cannot_be_read(
    home: dict[str, Any],
) -> None:
    """v2 (its run logged none) moved before the record: refused as before, and nothing
    'first seen' is written (a tag set later is not believed without a promotion)."""
    from models import registry as reg
    from riskwarn import scoring

    client, store = home["client"], home["store"]
    uri = home["settings"].resolved_mlflow_uri
    reg.promote(client, DOMAIN, "2", store=store, actor="bob", reason="by hand", force=True)
    _legacy_move(home)
    with pytest.raises(scoring.UnknownDataEnd, match="cannot be read"):
        scoring.out_of_sample(uri, DOMAIN, "2", AFTER, store)
    assert _seen(home) == []


def test_a_hand_tag_earlier_than_the_runs_trained_until_is_bounded_by_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run of an older riskwarn (``trained_until`` logged with its zone, no
    ``trained_through`` param), its version tagged by hand before promotion with an end
    earlier than ``trained_until``: the old code read the tag alone, recorded it at
    promotion and scored INSIDE in-sample; the run's ``trained_until`` bounds it now."""
    import mlflow

    from models import registry as reg
    from riskwarn import scoring
    from riskwarn.settings import load_settings
    from riskwarn.store import Store

    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path))
    for key in ("RISKWARN_STORE_URL", "RISKWARN_MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(key, raising=False)
    settings = load_settings()
    client = reg.configure(settings.resolved_mlflow_uri)
    name = reg.model_name(DOMAIN)
    reg.ensure_experiment(name, (tmp_path / "art").resolve().as_uri())
    mlflow.set_experiment(name)
    client.create_registered_model(name)
    with mlflow.start_run() as run:  # str() of the final fit's zoned origin, as logged
        mlflow.log_params({"domain": DOMAIN, "trained_until": str(pd.Timestamp(THROUGH))})
        mlflow.log_text("weights", "x/model.txt")
    mv = client.create_model_version(name, f"runs:/{run.info.run_id}/x", run.info.run_id)
    client.set_model_version_tag(name, mv.version, reg.TRAINED_THROUGH_TAG, EARLIER)
    store = Store.from_settings(settings)
    store.upgrade()
    try:
        reg.promote(client, DOMAIN, "1", store=store, actor="ana", reason="tagged", force=True)
        assert reg.recorded_champion(store, name)[reg.DATA_END_RECORD] == THROUGH
        end = reg.data_end(client, DOMAIN, "1", reg.recorded_champion(store, name))
        assert end.at == pd.Timestamp(THROUGH) and end.problem is None
        uri = settings.resolved_mlflow_uri
        with pytest.raises(scoring.InSampleOrigin, match="in-sample"):
            scoring.out_of_sample(uri, DOMAIN, "1", pd.Timestamp(INSIDE, tz="UTC"), store)
        scoring.out_of_sample(uri, DOMAIN, "1", AFTER, store)
    finally:
        store.close()
