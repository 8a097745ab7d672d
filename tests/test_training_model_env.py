"""A logged model lists its environment without MLflow's inference (issue 18.3: that
imported the model in a subprocess, about 10 s of every training run)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb

import models.registry as reg
from models.backtest import FittedModel
from models.calibration import fit_calibrator
from models.model_env import MODEL_PACKAGES, model_requirements


def _xgboost_pin() -> str:
    """The installed distribution that provides ``import xgboost`` (the lock file's
    ``xgboost-cpu``), pinned to its version, which is the module's own."""
    from importlib.metadata import packages_distributions, version

    [dist] = packages_distributions()["xgboost"]
    assert version(dist) == xgb.__version__
    return f"{dist}=={xgb.__version__}"


def test_requirements_are_the_installed_versions_of_the_listed_packages() -> None:
    from importlib.metadata import version

    reqs = model_requirements()
    assert [r.split("==")[0] for r in reqs][: len(MODEL_PACKAGES)] == list(MODEL_PACKAGES)
    assert "numpy==" + version("numpy") in reqs and "riskwarn==" + version("riskwarn") in reqs
    assert all("==" in r for r in reqs)  # every one pinned


def test_the_served_model_gets_xgboost_at_the_installed_version() -> None:
    """The served model unpickles an XGBoost booster: its environment must install that
    XGBoost, at the locked version (failed before the fix: no xgboost requirement, the
    serving environment got whatever riskwarn's ">=3.0" resolved to)."""
    assert _xgboost_pin() in model_requirements()


def test_the_logged_model_lists_them_and_mlflow_infers_nothing(tmp_path, monkeypatch) -> None:
    import mlflow

    def no_inference(*_a, **_k):
        raise AssertionError("MLflow inferred the requirements")

    monkeypatch.setattr(mlflow.models, "infer_pip_requirements", no_inference)
    client = reg.configure(f"sqlite:///{tmp_path / 'mlflow.db'}")
    reg.ensure_experiment("riskwarn-disputes", (tmp_path / "artifacts").as_uri())
    rng = np.random.default_rng(0)
    features = ["count_7d", "hist_kde"]
    x = pd.DataFrame(rng.random((200, 2)), columns=features)
    y = (x["count_7d"] + 0.3 * rng.random(200) > 0.8).astype(float)
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(x, label=y), num_boost_round=3)
    fitted = FittedModel(
        booster=booster,
        calibrator=None,  # type: ignore[arg-type]
        features=features,
        params={"max_depth": 2},
        best_iteration=2,
        trained_until=pd.Timestamp("2024-01-01", tz="UTC"),
        n_train_rows=200,
    )
    fitted.calibrator = fit_calibrator(fitted.raw(x), y.to_numpy(), "platt")
    record = reg.log_training_run(
        fitted, "disputes", {"methods": {}}, "dv", x, {}, "# card", register=False
    )
    local = mlflow.artifacts.download_artifacts(record.model_uri, dst_path=str(tmp_path / "m"))
    text = (tmp_path / "m" / "requirements.txt").read_text() if local else ""
    assert text.split() == model_requirements()
    assert _xgboost_pin() in text.split()
    assert client.get_run(record.run_id).data.params["domain"] == "disputes"
