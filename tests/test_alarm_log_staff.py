"""The geohazard page's alarm log and staff personal data (review of 2026-12-06, C5):
who acknowledged a change (a dashboard user's name) was shown to every role. Now only
the roles that acknowledge alarms (reviewer, admin) see the name; leaders and data
scientists see "acknowledged (duty staff)". Contact ids (duty labels) stay; a phone or
ID number in an id or a name is masked for everyone."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard import views


def _alarms() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unit_id": ["DZ1", "DZ2", "DZ3"],
            "sent": [
                "webhook:town-a-duty sent",
                "email:13812345678 sent, webhook:county-duty retrying (2 attempts)",
                None,
            ],
            "acknowledged_by": ["zhang.wei", None, "li 139 1234 5678"],
        }
    )


@pytest.mark.parametrize("role", ["leader", "data_scientist"])
@pytest.mark.parametrize(
    ("lang", "label"), [("en", "acknowledged (duty staff)"), ("zh", "已签收（值班人员）")]
)
def test_leaders_and_scientists_see_no_staff_names(role: str, lang: str, label: str) -> None:
    shown = views.alarm_people(_alarms(), role, lang)
    assert shown["acknowledged_by"].tolist()[0] == label
    assert pd.isna(shown["acknowledged_by"].tolist()[1])  # not acknowledged: stays empty
    assert shown["acknowledged_by"].tolist()[2] == label
    assert "zhang" not in shown.to_string() and "13812345678" not in shown.to_string()
    assert shown["sent"].tolist()[0] == "webhook:town-a-duty sent"  # a duty label


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_the_roles_that_acknowledge_see_who_did_with_numbers_masked(role: str) -> None:
    shown = views.alarm_people(_alarms(), role, "en")
    assert shown["acknowledged_by"].tolist()[0] == "zhang.wei"
    assert shown["acknowledged_by"].tolist()[2] == "li [phone removed]"
    assert shown["sent"].tolist()[1].startswith("email:[phone removed] sent")
