"""The recipe's code hash covers every module rows are built with."""

from __future__ import annotations

import ast
from pathlib import Path

from models.recipe import RECIPE_PACKAGES, code_version

ROOT = Path(__file__).resolve().parents[1]


def _module_level_riskwarn_imports() -> set[str]:
    """``riskwarn/<module>.py`` of every module-level ``riskwarn`` import in ``features``
    and ``models`` (``from riskwarn import x`` and ``from riskwarn.x import y``)."""
    found: set[str] = set()
    for package in ("features", "models"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.parse(path.read_text()).body:
                if not isinstance(node, ast.ImportFrom) or not node.module:
                    continue
                if node.module == "riskwarn":
                    names = [a.name for a in node.names]
                elif node.module.startswith("riskwarn."):
                    names = [node.module.split(".")[1]]
                else:
                    continue
                for name in names:
                    if (ROOT / "riskwarn" / f"{name}.py").is_file():
                        found.add(f"riskwarn/{name}.py")
    return found


def test_every_riskwarn_module_features_and_models_build_rows_with_is_in_the_recipe() -> None:
    """A change to e.g. riskwarn/sensor_physics.py changes the site features: a challenger
    built with it must count as another recipe, never as a refresh of the champion."""
    imported = _module_level_riskwarn_imports()
    assert "riskwarn/sensor_physics.py" in imported  # the parse finds what it should
    assert imported <= set(RECIPE_PACKAGES), imported - set(RECIPE_PACKAGES)
    for entry in RECIPE_PACKAGES:
        assert (ROOT / entry).exists(), entry


def test_a_listed_single_file_is_hashed() -> None:
    """Single files in the list are hashed (not silently skipped like an empty folder)."""
    with_file = code_version(("features", "riskwarn/sensor_physics.py"))
    assert with_file != code_version(("features",))
