"""A model's *recipe*: how it is trained, apart from the data it is trained on.

Two versions with the same recipe differ only in their data (a scheduled refresh); the
promotion gate then asks the challenger to be *not worse* than the champion instead of
*better* (:func:`models.gate.gate`, docs/design.md "Promotion gate"). Every training run
(all three families) logs the recipe's short digest as the run param ``recipe`` and its
JSON as ``recipe.json`` (what a data scientist diffs to see what changed).

:func:`recipe` is pure: the caller passes the code version (:func:`code_version`, a hash
of the ``features/`` and ``models/`` packages' ``.py`` files, read once per process).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECIPE_PACKAGES = (
    "features",
    "models",
    "riskwarn/contracts.py",
    "riskwarn/domains.py",
    "riskwarn/geo.py",
    "riskwarn/sensor_physics.py",
    "riskwarn/sensor_rules.py",
)
"""The source that is part of every recipe (how rows are built and fitted): the
``features`` and ``models`` packages and the ``riskwarn`` modules they build rows with
(categories, domains, cells, sensor physics and rules; ``tests/test_recipe.py`` checks
that every such module ``features`` and ``models`` import at module level is listed)."""

MACHINE_KEYS = frozenset({"nthread", "n_jobs"})
"""Config keys that say how many cores fit the model, not how it is trained (left out:
the same recipe on another worker is the same recipe)."""


@dataclass(frozen=True)
class Recipe:
    """A recipe's digest (``sha256`` of :attr:`document`, 16 hex digits) and its JSON."""

    digest: str
    document: dict[str, Any]


def _plain(value: Any) -> Any:
    """A config value as canonical JSON data (dataclasses as dicts, tuples as lists,
    machine keys dropped, anything else by ``str``)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if str(k) not in MACHINE_KEYS}
    if isinstance(value, list | tuple):
        # a tuple of (key, value) pairs (CaseModelConfig.params) is a mapping
        if value and all(
            isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) for v in value
        ):
            return _plain(dict(value))
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def recipe(
    domain: str,
    features: Iterable[str],
    config: Any,
    shape: Mapping[str, Any],
    code: str,
) -> Recipe:
    """The recipe of a model of ``domain``: its sorted ``features``, its model ``config``
    (a dataclass: hyperparameters or their grid, objective, horizon, refit cadence, ...),
    the settings that ``shape`` its rows (CRS, cell size, time zone, ...) and the ``code``
    version. Nothing here depends on the data's dates."""
    document = {
        "domain": domain,
        "features": sorted(features),
        "config": _plain(config),
        "shape": _plain(dict(shape)),
        "code": code,
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return Recipe(hashlib.sha256(text.encode()).hexdigest()[:16], json.loads(text))


@functools.cache
def code_version(packages: tuple[str, ...] = RECIPE_PACKAGES) -> str:
    """sha256 (16 hex digits) over the ``.py`` files of ``packages`` (folders or single
    files; path and content, sorted): any change to how rows are built or models fitted
    changes every recipe."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for package in packages:
        where = root / package
        for path in [where] if where.is_file() else sorted(where.rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]
