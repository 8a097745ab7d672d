"""Data text made safe for ``st.markdown`` (used by the review form and the views), and
reasons typed by people shown without the personal data they may hold."""

from __future__ import annotations

from typing import Any

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
