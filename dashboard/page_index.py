"""The dashboard's pages, each described in its own file: adding a page is adding one file.

A page is ``dashboard/pages/<key>.py``; after its imports it declares a literal ``PAGE``::

    PAGE = {
        "title": {"zh": "模型与数据质量", "en": "Models & data quality"},
        "icon": ":material/model_training:",
        "section": "section_science",  # sidebar group: section_leaders | _panels | _science
        "roles": ["data_scientist", "admin"],  # who may open it (dashboard.auth.ROLES)
        "order": 50,  # place in the sidebar
    }

The navigation (:func:`dashboard.shell.navigation`), page access
(:func:`dashboard.auth.can_view`) and the page's title (sidebar, browser tab, heading)
all come from it. It is read without running the page (``ast.literal_eval``), each time
it is asked for, so a new file shows up without touching any other.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parent / "pages"
FIELDS = {"title", "icon", "section", "roles", "order"}


@dataclass(frozen=True)
class PageInfo:
    """One page: its key (the file's stem, also its URL path), file and ``PAGE`` entry."""

    key: str
    file: Path
    title: dict[str, str]
    icon: str
    section: str
    roles: frozenset[str]
    order: int


def read_page(path: Path) -> PageInfo:
    """The ``PAGE`` literal of a page file (``ValueError`` if it is missing or malformed)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "PAGE"
        ):
            entry = ast.literal_eval(node.value)
            break
    else:
        raise ValueError(f"{path.name}: no module-level PAGE = {{...}} (see {__name__})")
    if not isinstance(entry, dict) or set(entry) != FIELDS:
        raise ValueError(f"{path.name}: PAGE must have exactly the fields {sorted(FIELDS)}")
    title = dict(entry["title"])
    if not {"zh", "en"} <= set(title):
        raise ValueError(f"{path.name}: PAGE title needs 'zh' and 'en'")
    return PageInfo(
        key=path.stem,
        file=path,
        title=title,
        icon=str(entry["icon"]),
        section=str(entry["section"]),
        roles=frozenset(entry["roles"]),
        order=int(entry["order"]),
    )


@lru_cache(maxsize=8)
def _pages(folder: Path, stamp: tuple[tuple[str, int], ...]) -> dict[str, PageInfo]:
    found = [read_page(folder / name) for name, _ in stamp]
    return {p.key: p for p in sorted(found, key=lambda p: (p.order, p.key))}


def pages(folder: Path | None = None) -> dict[str, PageInfo]:
    """Every page of ``folder`` (default :data:`PAGES_DIR`) by key, in sidebar order."""
    folder = folder or PAGES_DIR
    files = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
    return _pages(folder, tuple((p.name, p.stat().st_mtime_ns) for p in files))


def title(key: str, lang: str) -> str:
    """The page's title in ``lang`` (the key itself for an unknown page)."""
    info = pages().get(key)
    return (info.title.get(lang) or info.title["zh"]) if info else key


def title_texts() -> dict[str, dict[str, str]]:
    """``page_<key>`` texts of every page, for :data:`dashboard.i18n.TEXT`."""
    return {f"page_{k}": dict(p.title) for k, p in pages().items()}
