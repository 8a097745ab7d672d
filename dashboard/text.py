"""Data text made safe for ``st.markdown`` (used by the review form and the views), and
reasons typed by people shown without the personal data they may hold."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

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


def shown_reason(reason: Any, lang: str) -> str:
    """A reason typed by a person, as shown or exported in ``lang``: a warning review's
    (``warning_reviews``), a model promotion's or rollback's (the audit entry of the
    champion alias move). Any phone or ID number (:func:`riskwarn.redact.personal_data`:
    a reason recorded before such reasons were refused, or restored from an older backup)
    masked as "[phone removed]" / "[ID number removed]"; the record itself (the review,
    the audit log) is never changed. ``""`` for no reason."""
    from dashboard.i18n import t
    from riskwarn.redact import PERSONAL_KINDS, mask_personal

    words = {k: t(f"masked_{k}", lang) for k in PERSONAL_KINDS}
    return mask_personal(str(reason or ""), words)


# A cell a spreadsheet would run as a formula once the grid is downloaded (Streamlit's
# data grid offers "download as CSV" and quotes only commas, quotes and line ends):
# text starting "=", "@", a tab or a carriage return (or their full-width forms), or
# "+" / "-" followed by more than a number (OWASP, "CSV Injection").
_FORMULA_FIRST = frozenset("=@\t\r＝＠")
_SIGN_FIRST = frozenset("+-＋－")
_NUMBER_TEXT = re.compile(r"[+\-＋－]\s*[\d.,\s]*%?")


def spreadsheet_safe_text(value: Any) -> Any:
    """``value`` as a data grid shows and exports it: text a spreadsheet would run as a
    formula gets a leading apostrophe (shown, and read as text by Excel and LibreOffice);
    anything else (numbers, a signed number as text such as "-3.2%", other text)
    unchanged."""
    if not isinstance(value, str) or not value:
        return value
    first = value[0]
    if first in _FORMULA_FIRST or (first in _SIGN_FIRST and not _NUMBER_TEXT.fullmatch(value)):
        return "'" + value
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell through :func:`spreadsheet_safe_text` (a copy; its
    index, columns and non-text columns unchanged): what a data grid (``st.dataframe``,
    whose toolbar downloads CSV) is given, :func:`dashboard.shell.grid`."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype):
            safe = [spreadsheet_safe_text(v) for v in out[col]]
            out[col] = pd.Series(safe, index=out.index, dtype=out[col].dtype)
    return out
