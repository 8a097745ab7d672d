"""The import graph of the product: declared layers, no upward import, no circle.

The layers, lowest first (docs/design.md "Layers" explains them). A module may import
from its own layer and the layers below, never from a layer above; the graph has no
circle (counting imports inside functions and under ``TYPE_CHECKING`` too: a lazy
import hides a circle from the interpreter, not from a reader). A module belongs to
the layer of the longest prefix below that names it; a new ``riskwarn`` module is core
until it is listed here.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # settings, contracts, the domain registry, lake, serving store, ingest, simulator:
    # building blocks that know nothing of features or models
    ("core", ("riskwarn",)),
    # pure functions of lake tables -> model inputs, and the feature catalogue
    ("features", ("features",)),
    # frame builders, training, backtests, metrics, the MLflow registry (champions)
    ("models", ("models",)),
    # the road's last steps and the jobs around it: serving frames, scoring, levels,
    # reasons, evidence, the nowcast, streaming, the pipeline steps the DAGs call, backup, and the
    # engines that run feature building and training (local or Dask)
    (
        "app",
        (
            "riskwarn.serving_frames",
            "riskwarn.scoring",
            "riskwarn.warnings",
            "riskwarn.level_hold",
            "riskwarn.reasons",
            "riskwarn.evidence",
            "riskwarn.nowcast",
            "riskwarn.stream",
            "riskwarn.pipeline",
            "riskwarn.orchestration",
            "riskwarn.backup",
            "riskwarn.engine",
        ),
    ),
    # reads the serving store and the lake through core; never scores or trains
    ("dashboard", ("dashboard",)),
    # entry points: the CLI, the demo, the Airflow DAG files, operational scripts
    ("entry", ("riskwarn.cli", "riskwarn.commands", "riskwarn.demo", "dags", "scripts")),
)
PRODUCT = ("riskwarn", "features", "models", "dashboard", "dags", "scripts")

# Imports (upward, or closing a circle) waiting for another stream's change, each with
# the change that removes it. The test fails when one of them is gone, so the list only
# shrinks; nothing may be added to it.
PENDING: dict[tuple[str, str], str] = {}


def layer_of(module: str) -> int:
    """Index in :data:`LAYERS` of the longest declared prefix of ``module``."""
    best, best_len = -1, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best_len:
                best, best_len = i, len(p)
    assert best >= 0, f"{module} is in no layer: add it to LAYERS in {__file__}"
    return best


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def product_modules() -> dict[str, Path]:
    return {_module_name(p): p for top in PRODUCT for p in sorted((ROOT / top).rglob("*.py"))}


def _imported_names(module: str, path: Path) -> list[tuple[str, int]]:
    """Every module name an import statement of ``path`` may refer to, with its line."""
    out: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join([*pkg, base] if base else pkg)
            # ``from pkg import sub`` imports the submodule; ``from pkg import name`` the
            # package (a name that is not a module) -- resolved in import_graph
            out += [(f"{base}.{a.name}", node.lineno) for a in node.names]
    return out


def import_graph() -> dict[str, dict[str, int]]:
    """``importer -> {imported product module: first line}`` over the product."""
    mods = product_modules()

    def resolve(name: str) -> str | None:
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            if ".".join(parts[:i]) in mods:
                return ".".join(parts[:i])
        return None

    graph: dict[str, dict[str, int]] = {}
    for m, path in mods.items():
        edges: dict[str, int] = {}
        for name, line in _imported_names(m, path):
            target = resolve(name)
            if target is not None and target != m:
                edges.setdefault(target, line)
        graph[m] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, {})))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on_stack.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, int]]:
    g = import_graph()
    for (a, b), why in PENDING.items():
        assert b in g.get(a, {}), f"{a} no longer imports {b} ({why}): delete it from PENDING"
        del g[a][b]
    return g


def test_every_product_module_has_a_layer() -> None:
    for m in product_modules():
        layer_of(m)


def test_no_upward_import(graph: dict[str, dict[str, int]]) -> None:
    names = [n for n, _ in LAYERS]
    upward = [
        f"{a} ({names[layer_of(a)]}) imports {b} ({names[layer_of(b)]}) at line {line}"
        for a, edges in sorted(graph.items())
        for b, line in sorted(edges.items())
        if layer_of(b) > layer_of(a)
    ]
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_no_import_circle(graph: dict[str, dict[str, int]]) -> None:
    assert not cycles(graph), f"import circles: {cycles(graph)}"


def test_the_cycle_finder_finds_a_circle() -> None:
    assert cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b": 1}, "b": {}}) == []


def _imports_of_tree(top: str, forbidden: set[str]) -> list[str]:
    """``file:line imports name`` for each import of a ``forbidden`` top-level package
    (or a ``sys.path`` entry pointing into one) in the Python files under ``top``."""
    bad = []
    for path in sorted((ROOT / top).rglob("*.py")):
        m = _module_name(path)
        for name, line in _imported_names(m, path):
            if name.split(".")[0] in forbidden:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            # sys.path.insert(0, str(ROOT / "tests")) would make ``import dashboard_demo``
            # an import of tests/ that no import statement names
            if isinstance(node, ast.Constant) and node.value in forbidden:
                bad.append(
                    f"{path.relative_to(ROOT)}:{node.lineno} names the folder {node.value!r}"
                )
    return bad


def test_the_product_never_imports_tests_bench_or_testkit() -> None:
    bad = []
    for m, path in product_modules().items():
        for name, line in _imported_names(m, path):
            if name.split(".")[0] in {"tests", "bench", "testkit"}:
                bad.append(f"{m}:{line} imports {name}")
    for sh in sorted((ROOT / "scripts").glob("*.sh")):
        for n, text in enumerate(sh.read_text(encoding="utf-8").splitlines(), 1):
            if text.lstrip().startswith(("from tests", "import tests", "from bench")):
                bad.append(f"{sh.relative_to(ROOT)}:{n}: {text.strip()}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("top", ["bench", "scripts", "testkit"])
def test_bench_scripts_and_testkit_never_import_tests(top: str) -> None:
    """Fixtures that a benchmark or a script shares with the tests live in ``testkit/``:
    ``tests/`` is imported by pytest only."""
    bad = _imports_of_tree(top, {"tests"})
    assert not bad, "\n".join(bad)


def test_the_tests_rule_fails_on_an_import_of_tests(tmp_path: Path, monkeypatch) -> None:
    """The rule above is not vacuous: a bench file importing a test fixture is caught."""
    fake = tmp_path / "bench"
    fake.mkdir()
    (fake / "bench_x.py").write_text(
        "import sys\nsys.path.insert(0, 'tests')\nfrom tests.conftest import x\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _imports_of_tree("bench", {"tests"}) == [
        "bench/bench_x.py:3 imports tests.conftest.x",
        "bench/bench_x.py:2 names the folder 'tests'",
    ]


def test_the_lake_is_opened_only_by_riskwarn_lake() -> None:
    """Each store has one reader (14.5): only ``riskwarn.lake`` imports ``deltalake``;
    everything else reads the lake through ``riskwarn.lake.read_table`` and its kin."""
    bad = [
        f"{m}:{line} imports {name}"
        for m, path in product_modules().items()
        if not (m == "riskwarn.lake" or m.startswith("riskwarn.lake."))
        for name, line in _imported_names(m, path)
        if name.split(".")[0] == "deltalake"
    ]
    assert not bad, "\n".join(bad)


def test_no_silent_import_fallback() -> None:
    """No ``except ImportError`` in the product: a dependency is declared or not used."""
    bad = []
    for m, path in product_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                types = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
                caught = {t.id for t in types if isinstance(t, ast.Name)}
                if caught & {"ImportError", "ModuleNotFoundError"}:
                    bad.append(f"{m}:{node.lineno}")
    assert not bad, "except ImportError in: " + ", ".join(bad)
