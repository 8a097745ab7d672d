"""The page's address against the session's state (:mod:`dashboard.address`).

Streamlit rebuilds ``st.query_params`` on every run from the address the browser sends;
a click sent before the previous run's new address arrived carries the old one. Read on
every run, such an echo undid what the page had just done (the review page's warning,
CI 2026-12-07; the wall screen's switch: tests/test_dashboard_wall.py and its browser
walk). The address is read on the first run of a visit of the page and on back/forward;
otherwise the session's state wins and the address follows it.
"""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("streamlit")

from dashboard import address, shell, views


def _warnings() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "warning_id": ["wa", "wb", "wc"],
            "domain": ["incidents", "disputes", "incidents"],
            "county_code": ["c1", "c2", "c1"],
        }
    )


def test_a_kept_parameter_is_read_once_per_visit_and_the_address_follows_the_session() -> None:
    state: dict = {}
    params = {"wall": "1", "lang": "zh"}
    visit = shell.count_visit(state, "overview")
    assert address.kept(params, state, "wall", "k", visit) == "1"  # a link, a reload
    state["k"] = None  # the switch
    assert address.kept(params, state, "wall", "k", visit) is None
    assert params == {"lang": "zh"}  # the address follows
    echo = {"wall": "1", "lang": "zh"}  # a click sent with the address before
    assert address.kept(echo, state, "wall", "k", visit) is None and echo == {"lang": "zh"}
    # back/forward, or another page and back: a new visit reads the address again
    visit = shell.count_visit(state, "overview", history=True)
    assert visit == 2 and address.kept({"wall": "1"}, state, "wall", "k", visit) == "1"
    shell.count_visit(state, "warnings")
    visit = shell.count_visit(state, "overview")
    assert visit == 4 and address.kept({}, state, "wall", "k", visit) is None
    # signed out (shell.main counts such runs as a page of their own), then in again
    shell.count_visit(state, shell.SIGNED_OUT)
    visit = shell.count_visit(state, "overview")
    assert visit == 6 and address.kept({"wall": "1"}, state, "wall", "k", visit) == "1"


def test_follow_writes_only_a_change() -> None:
    class Params(dict):
        writes = 0

        def __setitem__(self, key: str, value: str) -> None:
            Params.writes += 1
            super().__setitem__(key, value)

    params = Params(warning="w1")
    address.follow(params, "warning", "w1")
    address.follow(params, "absent", None)
    assert Params.writes == 0 and params == {"warning": "w1"}
    address.follow(params, "warning", "w2")
    assert Params.writes == 1 and params == {"warning": "w2"}


def test_the_overview_link_to_filtered_warnings_opens_them_again_after_an_echo() -> None:
    """The overview's "and n more" (``?level=red&domains=...``) opened the review queue
    filtered; the reviewer changed the level filter, the click carrying the link's
    address (its parameters dropped by the run before had not reached the browser).
    The old page remembered those parameters as applied, so the same link followed
    again from the overview left the reviewer's filters: the link did not open what it
    names. Each visit of the page reads the address once."""
    known = ["disputes", "incidents"]
    link = views.filters_link("red", ["incidents", "disputes"])
    state: dict = {}
    visit = shell.count_visit(state, "warnings")
    params = dict(link)
    views.focus_filters(known, params, state, visit)
    assert params == {}  # dropped: the filters are the session's
    assert state["rv_flevel__value"] == "red"
    assert state["rv_domain__value"] == ("disputes", "incidents")
    state["rv_flevel__value"] = "orange"  # the reviewer's choice ...
    echo = dict(link)  # ... sent with the link's address
    views.focus_filters(known, echo, state, visit)
    assert echo == {} and state["rv_flevel__value"] == "orange"  # kept, not put back
    shell.count_visit(state, "overview")
    visit = shell.count_visit(state, "warnings")  # the same link again
    views.focus_filters(known, dict(link), state, visit)
    assert state["rv_flevel__value"] == "red", "the link did not open what it names"
    state["rv_flevel__value"] = "orange"
    views.focus_filters(known, {}, state, visit)  # a click of the visit, no parameter
    assert state["rv_flevel__value"] == "orange"


def test_back_to_an_earlier_warning_opens_it() -> None:
    """Back/forward (a new visit, ``shell.count_visit(history=True)``) reads the address:
    back from ``?warning=wb`` to ``?warning=wa`` opens wa again (before, the page put
    wb back in the address: within one visit the address is the page's own)."""
    w = _warnings()
    state: dict = {}
    visit = shell.count_visit(state, "warnings")
    assert views.focus_warning(w, {"warning": "wa"}, state, visit) == "wa"
    state["rv_pick__value"] = "wb"
    views.keep_warning_in_url("wb", {"warning": "wa"}, state)
    assert views.focus_warning(w, {"warning": "wa"}, state, visit) is None  # an echo
    visit = shell.count_visit(state, "warnings", history=True)  # Back
    assert views.focus_warning(w, {"warning": "wa"}, state, visit) == "wa"
    assert state["rv_pick__value"] == "wa" and state["rv_domain__value"] == "incidents"
