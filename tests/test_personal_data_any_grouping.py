"""Phone and ID numbers in any grouping, parted by any separator, are personal data
(attack review 2026-12-07, second).

``Store.review_warning(..., "call 1380 013 8000", ...)`` was recorded: the check knew
a mobile number's usual groupings (3-4-4, 3-8, 7-4, 4-4-3) and an ID number's, not
4-3-4, 6-5, 3-2-2-2-2, a digit at a time, tildes or commas between groups, 幺/两 for 1/2,
nor an ID number in 6-6-6 or 3-digit groups. Now any run of digits parted by single
separators whose digits make a mobile number, or an ID number with a right check digit,
is found (and masked where a reason recorded before is shown); dates, times, counts,
coordinates, warning ids, money and version numbers stay ordinary reasons.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from riskwarn.redact import mask_personal, personal_data
from riskwarn.store import PersonalDataError, Store, warning_id_for
from tests.test_store import DOMAIN, ORIGIN, publish

WORDS = {"phone": "[P]", "id_number": "[ID]"}

PHONES = [
    "1380 013 8000",
    "138001 38000",
    "138 00 13 80 00",
    "13 80 01 38 00 0",
    "1 3 8 0 0 1 3 8 0 0 0",
    "1-3-8-0-0-1-3-8-0-0-0",
    "138~0013~8000",
    "138,0013,8000",
    "幺三八零零幺三八零零零",
    "１３８～００１３～８０００",  # full-width digits and tilde
    "138，0013，8000",  # full-width comma
    "138、0013、8000",  # the ideographic comma
    "138／0013／8000",
    "138_00_13_8000",
    "138.0013.8000",
    "1380 013 800 0",
    "+86 1380 013 8000",
    "0086-1380-013-8000",
    "1/3/2/4/1/8/3/5/7/6/8",  # was read as votes before
    "138/12345/678",
    "138_12345_678",
    "幺三八 零零幺三 八零零零",
    "两三八",  # not a number: 3 digits (below: not found)
]
IDS = ["110101 199003 074514", "110 101 199 003 074 514", "110101-199003-07451-4"]


@pytest.mark.parametrize("number", [p for p in PHONES if p != "两三八"])
def test_a_mobile_number_in_any_grouping_is_found_and_masked_whole(number: str) -> None:
    assert personal_data(f"call {number} today") == ["phone"]
    assert personal_data(f"电话{number}。") == ["phone"]
    assert mask_personal(f"call {number} today", WORDS) == "call [P] today"
    assert mask_personal(f"电话{number}。", WORDS) == "电话[P]。"


@pytest.mark.parametrize("number", IDS)
def test_an_id_number_in_any_grouping_is_found_and_masked_whole(number: str) -> None:
    assert personal_data(f"ID {number} checked") == ["id_number"]
    assert mask_personal(f"身份证{number}。", WORDS) == "身份证[ID]。"


def test_a_date_beside_a_number_neither_hides_it_nor_is_taken_for_one() -> None:
    text = "called 2024-06-03 1380 013 8000, again 2024/6/4 08:30 138~0013~8000"
    assert mask_personal(text, WORDS) == "called 2024-06-03 [P], again 2024/6/4 08:30 [P]"


# what reviewers write: dates, times, counts, coordinates, warning ids, money, versions
ORDINARY = [
    "checked 2024-06-03 and 2024年6月3日, again 2024/6/4 and 2024.06.05",
    "on 2024-06-03 13:00-18:30, 2024-06-04 08:30:15",
    "1990-01-31 234 cases, 2024-06-03 1380 013 cases",
    "20 people, 3 sites, sites 13 14 15, 138 households, 1380 calls",
    "counts 1380 — 1390 — 120, 13, 80, 01, 38, 00, 0",
    "coordinates 116.397,39.908 and 31.2304, 121.4737, (120.15 30.28)",
    "lon 116.3974 lat 39.9087; 13.8 0013.8 000",
    "warning incidents:c001_002:20260304T0200Z and flood:3408820001:20260304T0200Z",
    "loss ¥13,800,138,000 and 1,380,013.50 yuan; 13 800 yuan",
    "versions 1.3.8, 13.8.0.0.1, v2.13.80, model v13.80.01",
    "host 192.168.10.100 and 10.13.80.138",
    "2024年6月3日13时80分，雨量138.0毫米，概率0.85，二〇二四年六月三日",
    "两次走访，一二三组共38人，两三天后复核",
    "timestamps 1717400000 and 1717400000123",
    "case MD202312190001 and DZ3408820004",
    "ids 110101 199003 074515 (a wrong check digit)",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_numbers_stay_ordinary(text: str) -> None:
    assert personal_data(text) == []
    assert mask_personal(text, WORDS) == text


def test_numerals_two_and_one_read_out_are_digits_only_in_a_number() -> None:
    assert personal_data("两三八") == []
    assert personal_data("幺三八零零幺三八零零零两次") == ["phone"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'serving.db'}")
    s.upgrade()
    yield s
    s.close()


def test_the_store_refuses_the_new_forms_and_records_an_ordinary_reason(store: Store) -> None:
    publish(store)
    wid = warning_id_for(DOMAIN, "c000", ORIGIN)
    for reason in ("call 1380 013 8000", "ID 110101 199003 074514", "电话幺三八零零幺三八零零零"):
        with pytest.raises(PersonalDataError):
            store.review_warning(wid, "accept", reason, "alice", 1)
    assert store.warning_reviews(wid).empty
    done = store.review_warning(wid, "accept", ORDINARY[0] + "; " + ORDINARY[4], "alice", 1)
    assert done["version"] == 2


def test_the_dashboard_masks_the_new_forms_in_a_reason_recorded_before() -> None:
    from dashboard.text import shown_reason

    shown = shown_reason("call 1380 013 8000 or 138~0013~8000, ID 110101 199003 074514", "en")
    assert shown == "call [phone removed] or [phone removed], ID [ID number removed]"
    zh = shown_reason("电话幺三八零零幺三八零零零", "zh")
    assert zh == "电话[电话已隐去]"


# Run on with another number by one separator, or parted by a comma and a space (helper
# pii2, 2026-12-07): not found before (a longer run; ', ' ended the loose pass's run).
RUN_ON = [
    ("room 5 1380 013 8000", "room 5 [P]"),
    ("房间5 1380 013 8000", "房间5 [P]"),
    ("call 1380 013 8000 2 times", "call [P] 2 times"),
    ("2 1380-013-8000 3", "2 [P] 3"),
    ("room 5 86 1380 013 8000", "room 5 [P]"),
    ("13.5 1380 013 8000", "13.5 [P]"),
    ("call 138, 0013, 8000", "call [P]"),
    ("电话138， 0013， 8000。", "电话[P]。"),
    ("电话138、 0013、 8000", "电话[P]"),
    ("room 5 110101 199003 074514", "room 5 [ID]"),
]


@pytest.mark.parametrize(("text", "masked"), RUN_ON)
def test_a_number_run_on_with_another_or_comma_spaced_is_found(text: str, masked: str) -> None:
    assert personal_data(text) == ["id_number" if "[ID]" in masked else "phone"]
    assert mask_personal(text, WORDS) == masked


# what stays ordinary beside those: a dotted part (a decimal's half, an IP address),
# money in thousands, lists of counts of other lengths, dates and times run on
ORDINARY_RUN_ON = [
    "rain 5.1380 013 8000",
    "version 5 1380.013.8000",
    "host 10.13.80.138 0013 8000",
    "loss ¥13,800,138,000 5 yuan",
    "counts 5 1380 013, 20 13 80 01 38 00 0, 1 2 3 4 5 6 7 8 9 10 11 12 13",
    "counts 150, 1200, 340 and 1380, 013, 8000",
    "on 2024-06-03 08:30 1380 013 cases",
    "case MD202312190001 5 1380 013 and DZ3408820004 5 138",
    "timestamps 1717400000 1717400000123 5",
    "ids 5 110101 199003 074515 (a wrong check digit)",
]


@pytest.mark.parametrize("text", ORDINARY_RUN_ON)
def test_ordinary_numbers_run_on_stay_ordinary(text: str) -> None:
    assert personal_data(text) == []


def test_a_three_number_list_shaped_like_a_mobile_is_taken_for_one() -> None:
    """The price of finding 138, 0013, 8000: a list 150, 1200, 3400 (3-4-4, the first
    130-199) is refused too, as 150 1200 3400 and 150,1200,3400 already were."""
    for text in ("150, 1200, 3400", "150 1200 3400", "150,1200,3400"):
        assert personal_data(text) == ["phone"]
