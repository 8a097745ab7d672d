"""Data text made safe for ``st.markdown`` (used by the review form and the views)."""

from __future__ import annotations

_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>!~$#|:"})


def md_escape(text: str) -> str:
    """``text`` with the Markdown characters that make links, images, HTML, code, emphasis
    or formulas escaped, so data shown through ``st.markdown`` reads as written (``:`` too:
    Streamlit's ``:red[...]`` directives). A bare ``http://...`` in the text still shows as
    a link (GFM autolinks survive escaping): clickable, never fetched."""
    return str(text).translate(_MD_SPECIAL)


def md_line(text: str) -> str:
    """:func:`md_escape` of ``text`` on one line (runs of white space, line breaks
    included, become one space): for data put inside a sentence, where a line break would
    start a heading, list or table of its own."""
    return md_escape(" ".join(str(text).split()))
