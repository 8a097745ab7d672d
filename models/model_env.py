"""The Python environment a logged model lists (its ``requirements.txt``)."""

from __future__ import annotations

MODEL_PACKAGES = (
    "mlflow",
    "cloudpickle",
    "numpy",
    "pandas",
    "pyarrow",
    "riskwarn",
    "scikit-learn",
    "scipy",
)
"""The packages a logged model's environment lists (pinned to the installed versions):
the list MLflow's own inference found for these models (riskwarn brings XGBoost and the
rest). Given, so MLflow does not infer it: that imports the model in a subprocess, about
10 s of every training run."""

MODEL_MODULES = ("xgboost",)
"""Modules the served model imports itself (it unpickles an XGBoost booster), listed as
the installed distribution that provides them at its version: ``xgboost-cpu==3.2.0``
where uv.lock installs XGBoost as ``xgboost-cpu`` (a pin of ``xgboost`` would get the
other, GPU build, and riskwarn's own ``>=3.0`` would not fix the version)."""


def model_requirements() -> list[str]:
    """``MODEL_PACKAGES`` pinned to the installed versions (unpinned if not installed),
    then each of ``MODEL_MODULES`` as its installed distribution, pinned."""
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    out = []
    for pkg in MODEL_PACKAGES:
        try:
            out.append(f"{pkg}=={version(pkg)}")
        except PackageNotFoundError:
            out.append(pkg)
    provides = packages_distributions()
    for module in MODEL_MODULES:
        dists = provides.get(module) or []
        out.append(f"{dists[0]}=={version(dists[0])}" if dists else module)
    return out
