"""A case's facts on the review page and the catalogue name one input alike.

The review page's facts table said "当事人数" for ``n_parties`` while the catalogue (the
importance chart, the reasons, the evidence rows) says "当事方数" (h-ux2, 2026-12-07).
"""

from __future__ import annotations

from dashboard.review import EVIDENCE_TEXT
from features.catalog import short_label

# the same names, other quantities: the site evidence shows the sensor rules' 6-hour
# velocity and angle, the model's inputs of those names are its own 24-hour GNSS ones
# (the comment above them in dashboard/review.py)
RULE_QUANTITIES = {"velocity_mm_per_day", "tangent_angle_deg"}


def test_facts_shared_with_the_catalogue_read_as_the_catalogue_in_chinese() -> None:
    shared = [k for k in EVIDENCE_TEXT if short_label(k, "zh") and k not in RULE_QUANTITIES]
    assert "n_parties" in shared
    differing = {
        k: (EVIDENCE_TEXT[k]["zh"], short_label(k, "zh"))
        for k in shared
        if EVIDENCE_TEXT[k]["zh"] != short_label(k, "zh")
    }
    assert not differing, differing
