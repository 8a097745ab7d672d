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


def model_requirements() -> list[str]:
    """``MODEL_PACKAGES`` pinned to the installed versions (unpinned if not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in MODEL_PACKAGES:
        try:
            out.append(f"{pkg}=={version(pkg)}")
        except PackageNotFoundError:
            out.append(pkg)
    return out
