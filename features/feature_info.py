"""One catalogue entry (:class:`FeatureInfo`): what a feature means, in English and Chinese.

The entries live in :mod:`features.catalog` (cells and dispute cases) and
:mod:`features.catalog_sites` (geohazard sites and city-wide rain).
"""

from __future__ import annotations

from dataclasses import dataclass

BEFORE = "records known before the origin"


@dataclass(frozen=True)
class FeatureInfo:
    """One feature (or family of features)."""

    template: (
        str  # plain words; ``{value}`` is the feature's value, other placeholders from the name
    )
    unit: str
    lookback: str  # what data it may look at (all strictly before the origin unless said)
    domain: str  # cells | disputes | geohazard | citywide
    zh: str = ""  # the same template in Chinese (same placeholders)
    # what the feature is, without its value, for a table with a value column
    # ("mediation attempts so far" | "6"; "已调解次数" | "6"): same placeholders but
    # ``{value}``; a label with the sentence's value left out read "已调解 … 次" | "6"
    label: str = ""
    label_zh: str = ""

    def template_for(self, lang: str) -> str:
        """The template in ``lang`` ('zh' or 'en'; English when no Chinese one is given)."""
        return self.zh if lang == "zh" and self.zh else self.template

    def label_for(self, lang: str) -> str:
        """The label in ``lang`` ('zh' or 'en'; "" when the entry has none in it)."""
        return self.label_zh if lang == "zh" else self.label
