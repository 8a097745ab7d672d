"""The domain registry: one record per domain, every list a lookup in it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from riskwarn import domains
from riskwarn.contracts import TABLES

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("riskwarn", "features", "models", "dashboard", "dags", "scripts")


def test_every_domain_is_consistent() -> None:
    for name, d in domains.DOMAINS.items():
        assert d.name == name
        assert d.event_table in TABLES
        assert d.time_column in TABLES[d.event_table].columns
        assert d.group_column in TABLES[d.event_table].columns
        assert d.unit == {"hotspot": "cell", "case": "case", "site": "site"}[d.family]
        assert d.horizon_hours >= d.step_hours > 0
        assert d.holiday_calendar == domains.CITY_HOLIDAYS
        assert d.model_name == f"riskwarn-{name}"


def test_lookups() -> None:
    assert domains.get("incidents").horizon_days == 7
    with pytest.raises(domains.UnknownDomain, match="one of"):
        domains.get("nope")
    assert set(domains.names("site")) <= set(domains.DOMAINS)
    assert set(domains.served()) == {
        d for d in domains.DOMAINS if domains.get(d).scored_by is not None
    }
    scored_daily = domains.names(scored_by=domains.DAILY_SCORING_DAG)
    assert scored_daily and all(domains.get(d).family != "site" for d in scored_daily)


def test_level_policies_refuse_bad_thresholds() -> None:
    with pytest.raises(ValueError, match="increasing"):
        domains.LevelPolicy((0.5, 0.4, 0.6, 0.7), (0.1, 0.2, 0.3, 0.4))
    with pytest.raises(ValueError, match="exceed"):
        domains.LevelPolicy((0.1, 0.2, 0.3, 0.4), (0.2, 0.3, 0.4, 0.5))


def test_dag_ids_the_registry_names_exist() -> None:
    """``scored_by`` / ``trained_by`` name real DAG files (DAG id = file name)."""
    dag_files = {p.stem for p in (ROOT / "dags").glob("*.py")}
    for d in domains.DOMAINS.values():
        for dag in (d.scored_by, d.trained_by):
            assert dag is None or dag in dag_files, (d.name, dag)


def _string_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (n.lineno, n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def test_a_domain_name_is_a_literal_only_in_the_registry() -> None:
    """Outside tests, a domain name is written only in riskwarn/domains.py. Names that
    are also table names (``incidents``, ``disputes``) or page and command names
    (``geohazard``) cannot be told apart by a scan, so the unambiguous ones are checked."""
    ambiguous = set(TABLES) | {"geohazard"}
    only_domains = set(domains.DOMAINS) - ambiguous
    assert only_domains
    found = []
    for top in PRODUCT:  # bench/ scripts take domain names as their command-line vocabulary
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if path.is_symlink() or rel.parts[:2] in {("riskwarn", p) for p in PRODUCT}:
                continue
            if rel == Path("riskwarn/domains.py"):
                continue
            found += [f"{rel}:{n}: {v}" for n, v in _string_literals(path) if v in only_domains]
    assert not found, "domain names written outside the registry:\n" + "\n".join(found)
