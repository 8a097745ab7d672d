"""Every DAG task that does work runs inside its memory budget (orchestration.memory_budget),
read from the DAG files' source: a task added without one is caught here."""

from __future__ import annotations

import ast

from riskwarn.orchestration import DAGS_FOLDER

# tasks that only compute which domains to run (a list of names), or do nothing at all
# (score_and_warn's all_scored: its state fails the run when a scoring failed): no data work
NO_DATA_WORK = {"domains", "all_scored"}


def _tasks(tree: ast.AST) -> list[ast.FunctionDef]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for dec in node.decorator_list:
                target = dec.func if isinstance(dec, ast.Call) else dec
                name = (
                    target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                )
                if name == "task":
                    out.append(node)
    return out


def _uses_budget(fn: ast.FunctionDef) -> bool:
    for node in ast.walk(fn):
        if isinstance(node, ast.With):
            for item in node.items:
                call = item.context_expr
                if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "memory_budget":
                    return True
    return False


def test_every_working_task_runs_inside_its_memory_budget() -> None:
    seen, missing = [], []
    for path in sorted(DAGS_FOLDER.glob("*.py")):
        for fn in _tasks(ast.parse(path.read_text())):
            seen.append(f"{path.name}:{fn.name}")
            if fn.name not in NO_DATA_WORK and not _uses_budget(fn):
                missing.append(f"{path.name}:{fn.name}")
    assert "lake_maintenance.py:maintain" in seen and "train_models.py:train" in seen, seen
    assert not missing, f"tasks without memory_budget: {missing}"
