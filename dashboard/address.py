"""The page's address (``st.query_params``) against the session's state: which one wins.

Streamlit rebuilds ``st.query_params`` on every run from the address the browser sends
with the run's request. A change the page makes to the address reaches the browser with
the run's other messages; a click sent before they arrived (a slow network, a loaded
machine) carries the address from before the change. A page that reads the address on
every run takes that echo for a new link and undoes what was just done: the review page
reopened the warning picked before (CI 2026-12-07), the wall screen's switch flipped back.

The rule here is Streamlit's own for widgets bound to the address: the address is read on
the first run of a visit of the page (a link, a reload, a new session) and on the run of
a back/forward in the browser (``shell.count_visit`` numbers both as a new visit); on
every other run of the visit what the session holds wins, and the address is made to
follow it (:func:`follow`), so a reload or a copied link opens what is on the screen.

The language (``?lang=``) is the one parameter outside this rule, by choice: it is the
reader's preference, not a place. It seeds a new session (``shell.initial_lang``) and
follows the session on every run; back/forward never changes it (docs/dashboard.md,
"Sessions and language"): Back onto the history step a language switch added shows the
page in the language chosen last, the address saying so again.

Plain functions of the two mappings (``st.query_params``, ``st.session_state``, or
dicts in tests); nothing here imports Streamlit.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

READ_KEY = "rw_address_read__{}"  # session key: the visit whose address ``name`` was read


def unread(state: MutableMapping[Any, Any], name: str, visit: int) -> bool:
    """Whether the address's ``name`` is still to be read in visit ``visit`` of the page
    (:func:`read_once` has not been called for it in this visit)."""
    return state.get(READ_KEY.format(name)) != visit


def read_once(state: MutableMapping[Any, Any], name: str, visit: int) -> bool:
    """Whether this run is the one of visit ``visit`` that reads the address's ``name``:
    True on the first call of the visit, False on every later one (the address is then
    the page's own, or an echo of an earlier one: the session's state wins)."""
    if not unread(state, name, visit):
        return False
    state[READ_KEY.format(name)] = visit
    return True


def follow(query_params: MutableMapping[str, Any], name: str, value: str | None) -> None:
    """Make the address's ``name`` say ``value`` (absent when None); writes only a change
    (each write sends the browser the whole address, and adds a step to its history)."""
    if value is None:
        if name in query_params:
            del query_params[name]
    elif query_params.get(name) != value:
        query_params[name] = value


def kept(
    query_params: MutableMapping[str, Any],
    state: MutableMapping[Any, Any],
    name: str,
    key: str,
    visit: int,
) -> str | None:
    """The value of the address parameter ``name`` that the session keeps in ``key``:
    taken from the address once per visit (:func:`read_once`), the session's after that,
    with the address following it. The page changes it by setting ``state[key]``."""
    if read_once(state, name, visit):
        asked = query_params.get(name)
        state[key] = str(asked) if asked is not None else None
    value = state.get(key)
    value = str(value) if value is not None else None
    follow(query_params, name, value)
    return value
