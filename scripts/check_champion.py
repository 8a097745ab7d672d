"""A transparent incidents champion and a small lake, for the operational checks.

scripts/backfill_check.sh and scripts/celery_check.sh run real Airflow processes that
must score with a champion whose numbers are predictable: :class:`CountModel` (the
probability rises with the cell's recent events) registered by :func:`register` and
recorded by :func:`adopt_champion`, on the 12-cell lake of :func:`incidents`. The tests
use the same fixtures (tests/test_scoring.py imports them from here; scripts never
import tests). The task processes unpickle ``scripts.check_champion.CountModel``, so the
checks put the repository on ``PYTHONPATH``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from models.registry import TRAINED_THROUGH_TAG, model_name
from riskwarn.geo import unproject

if TYPE_CHECKING:
    from riskwarn.store import Store

ORIGIN = pd.Timestamp("2024-03-10T16:00Z")  # local midnight, Asia/Shanghai
# the training data end :func:`register` tags its version with: CountModel's rule is
# fixed, it learned from no data, so every origin is out of sample for it (scoring refuses
# a champion whose data end is not recorded: riskwarn.scoring.out_of_sample)
LEARNED_NOTHING = "2000-01-01T00:00:00+00:00"


class CountModel(PythonModel):
    """A transparent 'champion': probability rises with recent events in the cell."""

    def __init__(self, feature: str) -> None:
        self.feature = feature

    @property
    def features(self) -> list[str]:
        return [self.feature]

    def predict(self, context, model_input, params=None):
        x = model_input[self.feature].to_numpy(float)
        p = 1.0 - np.exp(-0.35 * x)
        return pd.DataFrame({"probability": p, "score": x}, index=model_input.index)


def incidents(n_cells: int = 12, seed: int = 1) -> pd.DataFrame:
    """Events in a 12-cell strip; cell k gets ~k events a week (so levels spread)."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n_cells):
        n = 6 * (k + 1)
        t = ORIGIN - pd.to_timedelta(rng.uniform(0.1, 40, n), unit="D")
        # centre of cell (2000 + 2k, 13500) in EPSG:32650, jittered by < 50 m
        x = (2000 + 2 * k + 0.5) * 250.0 + rng.uniform(-50, 50, n)
        y = (13500 + 0.5) * 250.0 + rng.uniform(-50, 50, n)
        lon, lat = unproject(x, y, "EPSG:32650")
        rows.append(pd.DataFrame({"occurred_at": t, "lon": lon, "lat": lat}))
    ev = pd.concat(rows, ignore_index=True).sort_values("occurred_at", ignore_index=True)
    return ev.assign(
        source="test",
        record_id=[f"i{i:05d}" for i in range(len(ev))],
        reported_at=ev["occurred_at"],
        time_precision="minute",
        category="assault",
        category_group="violent",
        severity=pd.array([2] * len(ev), dtype="Int64"),
        admin_code=None,
        location_type=None,
    )


def register(tracking_uri: str, artifacts: str, domain: str, feature: str) -> str:
    # both URIs: an earlier test may have pointed the process-wide registry URI elsewhere
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    exp = mlflow.create_experiment(f"test-{domain}", artifact_location=artifacts)
    with mlflow.start_run(experiment_id=exp):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=CountModel(feature),
            registered_model_name=model_name(domain),
            pip_requirements=["mlflow"],
        )
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = str(info.registered_model_version)
    client.set_model_version_tag(model_name(domain), version, TRAINED_THROUGH_TAG, LEARNED_NOTHING)
    client.set_registered_model_alias(model_name(domain), "champion", version)
    return version


def adopt_champion(tracking_uri: str, store: Store, domain: str) -> None:
    """Record the registry's current champion in ``store``'s audit log, as ``riskwarn
    promote`` does: scoring serves only a champion riskwarn recorded."""
    from models import registry as reg

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = reg.champion_version(client, domain)
    assert version is not None
    reg.promote(client, domain, version, store=store, reason="test registry", force=True)
