"""Data text made safe for ``st.markdown`` (used by the review form and the views)."""

from __future__ import annotations

_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>!~$"})


def md_escape(text: str) -> str:
    """``text`` with the Markdown characters that make links, images, HTML, code, emphasis
    or formulas escaped, so data shown through ``st.markdown`` reads as written."""
    return str(text).translate(_MD_SPECIAL)
