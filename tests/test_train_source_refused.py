"""`riskwarn train <domain> --source X` for a domain that cannot limit its sources (the
case and site families) was accepted and trained on every source, silently (a helper's
finding, stop 41). Now refused before anything is read or logged."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskwarn.pipeline import TrainOptions, train_domain
from riskwarn.settings import Settings


@pytest.mark.parametrize("domain", ["dispute_cases", "geohazard", "geohazard_hourly"])
def test_a_source_limit_is_refused_where_it_cannot_apply(tmp_path: Path, domain: str) -> None:
    import pandas as pd

    settings = Settings(home=tmp_path / "home")
    with pytest.raises(ValueError, match="hotspot domains only"):
        train_domain(
            settings, domain, pd.Timestamp("2024-01-01", tz="UTC"), TrainOptions(sources=("x",))
        )
    assert not (tmp_path / "home" / "mlflow.db").exists()
