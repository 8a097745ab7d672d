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

    def template_for(self, lang: str) -> str:
        """The template in ``lang`` ('zh' or 'en'; English when no Chinese one is given)."""
        return self.zh if lang == "zh" and self.zh else self.template
