"""The wheel carries every subpackage and each module imports from it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

# the top-level packages the wheel ships (pyproject's [tool.setuptools] packages)
PACKAGES = ("riskwarn", "features", "models", "dashboard")


def _module_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.endswith(".py") and n.split("/")[0] in PACKAGES]
    return sorted(n[:-3].replace("/", ".").removesuffix(".__init__") for n in names)


def test_wheel_contains_every_source_module_and_imports(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    out.mkdir()
    # Build through the PEP 517 backend the project declares (setuptools), as pip or uv would.
    build = f"from setuptools import build_meta as b; print(b.build_wheel({str(out)!r}))"
    res = subprocess.run([sys.executable, "-c", build], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    wheel = next(out.glob("riskwarn-*.whl"))
    in_wheel = set(_module_names(wheel))
    with zipfile.ZipFile(wheel) as zf:  # no tests, test fixtures (testkit/) or benchmarks
        tops = {n.split("/")[0] for n in zf.namelist() if n.endswith(".py")}
    assert tops == set(PACKAGES), f"the wheel ships {sorted(tops)}"
    expected = set()
    for top in PACKAGES:
        for path in (ROOT / top).rglob("*.py"):
            rel = path.relative_to(ROOT)
            expected.add(".".join(rel.with_suffix("").parts).removesuffix(".__init__"))
    assert expected - in_wheel == set(), f"missing from wheel: {sorted(expected - in_wheel)}"
    # import every module from the unpacked wheel, not from the source tree
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
    skip_import = {
        m for m in in_wheel if m.startswith("dashboard.pages") or m.endswith("dashboard.app")
    }
    code = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(target)!r})\n"
        f"mods = {sorted(in_wheel - skip_import)!r}\n"
        "for m in mods:\n"
        "    mod = importlib.import_module(m)\n"
        f"    assert mod.__file__.startswith({str(target)!r}), (m, mod.__file__)\n"
        "from dashboard import page_index\n"  # the pages are shipped and declare themselves
        f"assert page_index.PAGES_DIR.is_relative_to({str(target)!r}), page_index.PAGES_DIR\n"
        "assert len(page_index.pages()) >= 5, page_index.pages()\n"
        "print(len(mods))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert int(res.stdout.strip()) == len(in_wheel - skip_import)
