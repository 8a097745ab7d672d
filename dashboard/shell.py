"""The frame around every page: sign-in, language switch, navigation and the role check."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from dashboard import auth, generations, page_index, queries, sessions
from dashboard.i18n import DEFAULT_LANG, LANGS, ROLE_KEYS, fmt_datetime, fmt_zone, t
from riskwarn.settings import Settings
from riskwarn.store import STORE_ERRORS

LOG = logging.getLogger(__name__)

CSS = """
<style>
[data-testid="stMetricValue"] { font-size: 1.9rem; }
.rw-badge { display:inline-block; padding:0.1rem 0.55rem; border-radius:0.6rem;
  color:#fff; font-weight:600; font-size:0.85rem; }
.rw-place { font-size:1.02rem; line-height:1.9; }
div[data-testid="stSidebarHeader"] { padding-bottom: 0; }
div[data-testid="stMainBlockContainer"] { padding-top: 2.2rem; }
h1 { padding-top: 0.2rem; }
/* the 220 px sidebar cut a long page title ("Models & data qu…" at 1280 px): wrap it */
[data-testid="stSidebarNavLink"] { height: auto; min-height: 2rem; }
[data-testid="stSidebarNavLink"] span, [data-testid="stSidebarNavLink"] p {
  white-space: normal; overflow: visible; text-overflow: clip; }
/* the overview's red lines off the maps wrap (Streamlit cut a link's label at its frame's
   edge: at 390 px the only red line lost its probability; pages/overview.py) */
.st-key-rwred_off_maps [data-testid="stPageLink"] a,
.st-key-rwred_off_maps [data-testid="stPageLink"] a * {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
  overflow-wrap: anywhere; height: auto !important; max-width: 100% !important; }
</style>
"""

# Streamlit writes its own input hints ("Press Enter to submit form", "Press Ctrl+Enter to
# apply") in English whatever the page's language; on a Chinese page they are hidden (every
# form and text box here has its own submit button, whose click applies the text)
ZH_CSS = """
<style>
[data-testid="InputInstructions"] { display: none; }
</style>
"""


@dataclass(frozen=True)
class PageContext:
    """What a page needs: settings, language, display zone, store URL, user, and the
    snapshot of what is published (read once per render: every store read of the page
    goes through it, so the page never mixes two runs)."""

    settings: Settings
    lang: str
    tz: str
    store_url: str
    lake_dir: str
    user: auth.User
    snapshot: queries.Snapshot


SIDEBAR_WIDTH_PX = 220
LANG_KEY = "lang"  # the session's language: plain state, not a widget's
LANG_WIDGET = "lang_choice"  # the sidebar control that changes it


def lang() -> str:
    """The session's language (Chinese unless switched)."""
    value = st.session_state.get(LANG_KEY)
    return str(value) if value in LANGS else DEFAULT_LANG


def initial_lang() -> str:
    """The language a new session starts in: the page address's ``?lang=`` (kept there on
    every run, so a refresh or a restarted server keeps it), else Chinese. Read only
    here: back/forward keeps the session's language (:mod:`dashboard.address`)."""
    asked = st.query_params.get("lang")
    return asked if asked in LANGS else DEFAULT_LANG


def _language_chosen() -> None:
    """``on_change`` of the sidebar control: the one place the language changes."""
    chosen = st.session_state.get(LANG_WIDGET)
    if chosen in LANGS:
        st.session_state[LANG_KEY] = chosen


def oidc_configured() -> bool:
    """Whether ``[auth]`` is configured in Streamlit secrets (then ``st.login`` is used)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def audit(settings: Settings, action: str, username: str, **details: Any) -> None:
    """One sign-in event in the serving store's audit log (object type ``user``)."""
    name = sessions.audit_name(username)
    queries.store(settings.resolved_store_url).audit(name, action, "user", name, details)


def _end_session(settings: Settings, user: auth.User, reason: str, flash: str) -> None:
    """End the session of ``user`` (idle, removed, demoted, revoked elsewhere, past the
    absolute limit): token revoked, then audited (:func:`_forget`)."""
    ended = ("session_ended", user.username, {"reason": reason, "role": user.role})
    if _forget(settings, reason, then=ended):  # else its flash says it was not recorded
        st.session_state["signin_flash"] = flash


def _audit_after(settings: Settings, entry: tuple[str, str, dict[str, Any]] | None) -> None:
    """The audit ``entry`` (action, username, details) of a session's end, written once
    its token is revoked; a store failing now is logged (the session has ended)."""
    if entry is None:
        return
    action, username, details = entry
    try:
        audit(settings, action, username, **details)
    except STORE_ERRORS as exc:
        LOG.warning("%s not audited: %s", action, type(exc).__name__)


def _store(settings: Settings) -> Any:
    """The serving store, where revocations are kept; the revoked file of earlier
    versions is carried into it first (once: a stat on each run until then)."""
    store = queries.store(settings.resolved_store_url)
    sessions.carry_legacy_revocations(settings.home, store, sessions.now_utc())
    return store


def is_revoked(settings: Settings, payload: Any) -> bool:
    """Whether the session token ``payload`` was revoked by any dashboard process on the
    serving store (this one, another server, before a restart)."""
    return sessions.is_revoked(_store(settings), payload)


def _forget(
    settings: Settings,
    reason: str = "logout",
    then: tuple[str, str, dict[str, Any]] | None = None,
) -> bool:
    """Revoke the session token, then drop the signed-in user (the cookie is cleared),
    then audit the end of the session, ``then`` (action, username, details). The session
    ends in this browser even when the store cannot record the revocation: then the
    sign-in screen says so (``signout_unrecorded``: a copy of the cookie still works
    elsewhere) and later runs of this browser session retry it, auditing ``then`` once
    it is recorded. Before (review 2026-12-06) the token was dropped first and a failed
    revocation left the user signed in without it: the next run issued a new token (a
    fresh 12 hours) and the old one, never revoked, still worked on another server; and
    the end was audited before the revocation, so a crash or a store failing between
    them left a ``logout`` recorded for a token still valid. Returns whether the
    revocation was recorded."""
    payload = st.session_state.get("token_payload")
    recorded = True
    if isinstance(payload, dict) and reason != "revoked":  # revoked elsewhere: it already is
        try:
            sessions.revoke(_store(settings), payload, reason)
        except STORE_ERRORS as exc:
            # the exception's text may hold the statement's parameters: its type only
            LOG.warning("session revocation (%s) not recorded: %s", reason, type(exc).__name__)
            st.session_state[REVOKE_PENDING] = (dict(payload), reason, then)
            st.session_state["signin_flash"] = "signout_unrecorded"
            recorded = False
    st.session_state.pop("token_payload", None)
    st.session_state.pop("user", None)
    st.session_state.pop("last_active", None)
    st.session_state["cookie_out"] = None  # delete the cookie on the next run
    if recorded:
        _audit_after(settings, then)
    return recorded


# (payload, reason, the audit entry to write after it) of a revocation the store refused
REVOKE_PENDING = "revoke_pending"


def _retry_revocation(settings: Settings) -> None:
    """Record the revocation a failing store refused at sign-out, if it answers now,
    then the end of the session it was to be audited with (:func:`_forget`)."""
    pending = st.session_state.get(REVOKE_PENDING)
    if not pending:
        return
    payload, reason, *after = pending  # a session of the previous version: no third
    try:
        sessions.revoke(_store(settings), payload, reason)
    except STORE_ERRORS as exc:
        LOG.warning("session revocation (%s) still not recorded: %s", reason, type(exc).__name__)
        return
    st.session_state.pop(REVOKE_PENDING, None)
    _audit_after(settings, after[0] if after else None)


def _start_session(settings: Settings, user: auth.User, payload: dict[str, Any] | None) -> None:
    """Sign ``user`` in for this browser session; a new or renewed token goes to the cookie."""
    now = sessions.now_utc()
    ttl = sessions.idle_timeout()
    if payload is None or sessions.needs_renewal(payload, now, ttl):
        first = datetime.fromtimestamp(int(payload["iat"]), UTC) if payload is not None else None
        token = sessions.issue(
            sessions.signing_key(settings.home),
            user.username,
            user.role,
            now,
            ttl,
            first_issued=first,
            jti=str(payload["jti"]) if payload is not None else None,
        )
        payload = sessions.read(sessions.signing_key(settings.home), token, now)
        if payload is None:  # at the absolute limit: no token; the next run signs out
            return
        st.session_state["cookie_out"] = token
    st.session_state["user"] = user
    st.session_state["token_payload"] = payload
    st.session_state["last_active"] = now


def _resume(settings: Settings, users: dict[str, Any]) -> auth.User | None:
    """The user of a valid, unrevoked session cookie (a browser refresh), or None."""
    token = st.context.cookies.get(sessions.COOKIE)
    if not token or st.session_state.get("cookie_out", "") is None:
        return None  # no cookie, or signed out in this browser session
    payload = sessions.read(sessions.signing_key(settings.home), token, sessions.now_utc())
    if payload is None or is_revoked(settings, payload):
        return None
    user = auth.still_valid(
        users, auth.User(str(payload["u"]), str(payload["u"]), str(payload["r"]))
    )
    if user is None:
        return None
    audit(settings, "session_resumed", user.username, role=user.role)
    _start_session(settings, user, payload)
    return user


def current_user(settings: Settings) -> auth.User | None:
    """The signed-in user (OIDC, this session's sign-in, or the session cookie), checked
    on every run against the users file (deleted or demoted users are signed out at once)
    and the idle timeout."""
    users = auth.usable_users(auth.users_file_path(settings.home))
    if users is None:  # a corrupt users file: nobody is signed in (login_form says why)
        return None
    if oidc_configured():
        if not st.user.is_logged_in:
            return None
        oidc = auth.oidc_user(users, dict(st.user.to_dict()))
        if oidc is None:
            if not st.session_state.get("oidc_refused_audited"):
                claims = dict(st.user.to_dict())
                audit(settings, "login_failed", str(claims.get("email") or "?"), reason="oidc")
                st.session_state["oidc_refused_audited"] = True
            return None
        if st.session_state.get("oidc_audited") != oidc.username:
            audit(settings, "login", oidc.username, role=oidc.role, method="oidc")
            st.session_state["oidc_audited"] = oidc.username
        return oidc
    _retry_revocation(settings)
    user = st.session_state.get("user")
    if not isinstance(user, auth.User):
        return _resume(settings, users)
    if auth.still_valid(users, user) is None:
        _end_session(settings, user, "account_changed", "session_changed")
        return None
    now, idle = sessions.now_utc(), sessions.idle_timeout()
    last = st.session_state.get("last_active")
    if isinstance(last, datetime) and now - last > idle:
        _end_session(settings, user, "idle", "session_idle")
        return None
    payload = st.session_state.get("token_payload")
    # every run, not only when a cookie resumes a session: a sign-out elsewhere (the
    # owner's other tab, or the owner while a thief's copy is open) ends this one too,
    # and so does the absolute limit (a renewal never starts a new 12 hours)
    if isinstance(payload, dict):
        if is_revoked(settings, payload):
            _end_session(settings, user, "revoked", "session_revoked")
            return None
        if sessions.past_max_session(payload, now):
            _end_session(settings, user, "max_session", "session_max")
            return None
    _start_session(settings, user, payload if isinstance(payload, dict) else None)
    return user


def run_user(settings: Settings) -> auth.User | None:
    """The user :func:`current_user` resolved at the start of this run (no side effects)."""
    if oidc_configured():
        if not st.user.is_logged_in:
            return None
        users = auth.usable_users(auth.users_file_path(settings.home))
        return None if users is None else auth.oidc_user(users, dict(st.user.to_dict()))
    user = st.session_state.get("user")
    return user if isinstance(user, auth.User) else None


def still_signed_in(settings: Settings) -> bool:
    """For runs that do not pass through :func:`main` (the wall screen's refresh): whether
    the signed-in user still exists with the same role and the session token is neither
    revoked nor past the absolute limit (else the whole app reruns)."""
    user = st.session_state.get("user")
    if oidc_configured() or not isinstance(user, auth.User):
        return True
    users = auth.usable_users(auth.users_file_path(settings.home))
    if users is None:
        return False
    payload = st.session_state.get("token_payload")
    if isinstance(payload, dict) and (
        is_revoked(settings, payload) or sessions.past_max_session(payload, sessions.now_utc())
    ):
        return False
    return auth.still_valid(users, user) is not None


def watch_session() -> None:
    """Every :data:`sessions.WATCH_S` seconds on an open signed-in page (a fragment): a
    session revoked by any dashboard process on the store, past its absolute limit, or
    whose user was removed or demoted reruns the whole app, which ends it (the page's
    content goes with it); before, such a page stayed on screen until its next click."""
    if not still_signed_in(queries.settings()):
        st.rerun(scope="app")


def try_sign_in(settings: Settings, users: dict[str, Any], username: str, password: str) -> str:
    """Check one sign-in attempt (back-off, password) and audit it; the outcome's text key
    (``""`` when signed in). Known and unknown names get the same answers and timing.
    The attempts of one name run one at a time (:func:`sessions.name_lock`): parallel
    attempts each passed the lock check before any failure was recorded."""
    with sessions.name_lock(username):
        return _try_sign_in(settings, users, username, password)


def _try_sign_in(settings: Settings, users: dict[str, Any], username: str, password: str) -> str:
    now = sessions.now_utc()
    name = sessions.audit_name(username)
    store = queries.store(settings.resolved_store_url)
    key = sessions.signing_key(settings.home)
    # a browser where this name signed in before counts its attempts apart (a lock caused
    # from elsewhere does not keep the member out of their own browser)
    device = sessions.read_device(key, _cookie(sessions.device_cookie(name)), name, now)
    known = {"device": device} if device else {}
    entries = store.audit_entries("user", name, sessions.LOGIN_ACTIONS)
    until = sessions.locked_until(entries, now, device)
    if until is not None:
        audit(settings, "login_locked", name, until=until.isoformat(), **known)
        st.session_state["locked_until"] = until
        return "login_locked"
    user = auth.authenticate(users, username, password)
    if user is None:
        audit(settings, "login_failed", name, reason="bad_credentials", **known)
        entries = store.audit_entries("user", name, sessions.LOGIN_ACTIONS)
        until = sessions.locked_until(entries, sessions.now_utc(), device)
        if until is not None:
            st.session_state["locked_until"] = until
            return "login_locked"
        return "bad_login"
    audit(settings, "login", user.username, role=user.role, method="password", **known)
    st.session_state.pop("cookie_out", None)
    _start_session(settings, user, None)
    # this browser is (still) a known device of the name: a token renewed for 90 days
    st.session_state["device_cookie_out"] = (
        sessions.device_cookie(name),
        sessions.issue_device(key, name, sessions.now_utc(), device),
    )
    return ""


def _cookie(name: str) -> str | None:
    """A cookie of the request that opened this browser session (None outside a server:
    AppTest's context is a mock whose every cookie is a mock object, never a string)."""
    try:
        value = st.context.cookies.get(name)
    except Exception:  # no request
        return None
    return value if isinstance(value, str) and value else None


def login_form(settings: Settings) -> None:
    """The sign-in screen (OIDC button or username/password form)."""
    lg = lang()
    st.title(t("app_title", lg))
    flash = st.session_state.pop("signin_flash", None)
    if not flash and st.session_state.get(REVOKE_PENDING):
        flash = "signout_unrecorded"  # until a retry records it
    if flash:
        minutes = round(sessions.idle_timeout().total_seconds() / 60)
        st.warning(t(flash, lg, minutes=minutes), icon=":material/logout:")
    path = auth.users_file_path(settings.home)
    try:
        users = auth.load_users(path)
    except auth.UsersFileError as exc:  # what is wrong, never the file's content
        st.error(t("users_file_broken", lg, path=path, problem=t(f"users_{exc.problem}", lg)))
        return  # no sign-in form
    if oidc_configured():
        if st.user.is_logged_in:  # signed in at the provider but refused here
            st.error(t("oidc_refused", lg))
            st.button(t("sign_out", lg), on_click=st.logout, key="oidc_out")
            return
        st.button(t("sign_in_sso", lg), on_click=st.login, type="primary")
        return
    if not users["users"]:
        st.error(t("no_users", lg, path=path))
        return
    auth.authenticate(users, "", "")  # prepare the dummy hash before the first attempt
    with st.form("login", width=420):
        username = st.text_input(t("username", lg), key="login_user")
        password = st.text_input(t("password", lg), type="password", key="login_password")
        submitted = st.form_submit_button(t("sign_in", lg), type="primary")
    if submitted:
        try:
            problem = try_sign_in(settings, users, username, password)
        except Exception:  # the audit log is part of signing in: no audit, no sign-in
            LOG.exception("sign-in could not be audited")
            problem = "audit_down"
        if not problem:
            st.rerun()
        until = st.session_state.pop("locked_until", None)
        st.error(
            t(problem, lg, until=fmt_datetime(until, lg, settings.display_tz) if until else "")
        )


def sign_out() -> None:
    """``on_click`` of the sign-out button: token revoked, cookie cleared, then audited
    (a ``logout`` in the audit log means the token no longer works: :func:`_forget`)."""
    settings = queries.settings()
    user = st.session_state.get("user")
    logout = ("logout", user.username, {"role": user.role}) if isinstance(user, auth.User) else None
    _forget(settings, then=logout)
    if oidc_configured():
        st.logout()


def emit_cookie() -> None:
    """Write a new session cookie, or delete it, when this run decided to; and a new
    device token after a sign-in."""
    device = st.session_state.pop("device_cookie_out", None)
    if device:
        name, token = device
        script = sessions.cookie_script(
            token, int(sessions.DEVICE_TTL.total_seconds()), name, _cookie(sessions.NONCE_COOKIE)
        )
        if script:
            with st.sidebar:
                st.html(script, unsafe_allow_javascript=True)
        else:  # no nonce: nothing was sent; keep it for a later run rather than drop it
            st.session_state["device_cookie_out"] = device
    if "cookie_out" not in st.session_state or st.session_state.get("cookie_sent") == (
        st.session_state["cookie_out"] or "-"
    ):
        return
    token = st.session_state["cookie_out"]
    max_age = int(sessions.idle_timeout().total_seconds())
    script = sessions.cookie_script(token, max_age, sessions.COOKIE, _cookie(sessions.NONCE_COOKIE))
    if not script:  # no nonce cookie: no code could be issued, so nothing was sent
        return
    with st.sidebar:
        st.html(script, unsafe_allow_javascript=True)
    st.session_state["cookie_sent"] = token or "-"


def sidebar(user: auth.User | None) -> None:
    """Language switch and signed-in user in the sidebar."""
    with st.sidebar:
        if st.session_state.get(LANG_WIDGET) != lang():
            st.session_state[LANG_WIDGET] = lang()
        st.segmented_control(
            t("language", lang()),
            options=list(LANGS),
            format_func=lambda v: {"zh": "中文", "en": "English"}[v],
            key=LANG_WIDGET,
            on_change=_language_chosen,
            selection_mode="single",
            required=True,
        )
        if user is not None:
            lg = lang()
            name = user.name if lg == "zh" else user.username  # display names are Chinese
            st.caption(signed_in_line(name, t(ROLE_KEYS[user.role], lg), lg))
            st.button(t("sign_out", lg), on_click=sign_out, key="sign_out")


def signed_in_line(name: str, role: str, lang: str) -> str:
    """The sidebar's "signed in as NAME (ROLE)" (Markdown: the name is escaped); the role
    once when the name is the role's own word, whatever its case (the demo's 评估专家 and
    "leader (Leader)" were shown twice)."""
    from dashboard.text import md_line

    if name.strip().casefold() == role.strip().casefold():
        return t("signed_in_as_role", lang, role=md_line(role))
    return t("signed_in_as", lang, name=md_line(name), role=role)


def navigation(user: auth.User) -> Any:
    """``st.navigation`` over the pages: allowed ones listed, others hidden (they refuse)."""
    lg = lang()
    sections: dict[str, list[Any]] = {}
    default_key = "overview" if auth.can_view(user.role, "overview") else None
    for key, info in page_index.pages().items():  # each page's own PAGE entry
        allowed = auth.can_view(user.role, key)
        page = st.Page(
            str(info.file),
            title=page_index.title(key, lg),
            icon=info.icon,
            url_path=key,
            default=key == default_key,
            visibility="visible" if allowed else "hidden",
        )
        sections.setdefault(t(info.section, lg), []).append(page)
    return st.navigation(sections, position="sidebar", expanded=True)


def _sign_in_page() -> None:
    login_form(queries.settings())


def signed_out_navigation() -> Any:
    """Before sign-in the navigation lists nothing (``position="hidden"``): every URL,
    the app's own and each page's (``/disputes``), shows the sign-in screen, so a link
    to a page opens it after sign-in (no "page not found" dialog). Without it Streamlit
    listed the ``pages/`` folder next to ``app.py`` by file name (``disputes``,
    ``geohazard``, ...), each answering only "sign in" (review S12)."""
    lg = lang()
    pages = [st.Page(_sign_in_page, title=t("sign_in", lg), default=True)]
    pages += [
        st.Page(_sign_in_page, title=t("sign_in", lg), url_path=key, visibility="hidden")
        for key in page_index.pages()
    ]
    return st.navigation(pages, position="hidden")


def _store_known(settings: Settings) -> bool:
    """Whether the serving store is at a schema revision this code knows; if not, say so
    on the page (en/zh) instead of a traceback: nothing may read or migrate such a store
    (:class:`riskwarn.store.base.UnknownRevisionError`)."""
    from riskwarn.store.base import UnknownRevisionError

    try:
        queries.store(settings.resolved_store_url)
    except UnknownRevisionError as exc:
        LOG.error("serving store at an unknown schema revision: %s", exc)
        revision = getattr(exc, "revision", None) or "?"
        st.error(t("store_unknown_revision", lang(), revision=revision))
        return False
    return True


PAGE_VISIT = "rw_page_visit"  # (the page the session's last run drew, its visit number)
SIGNED_OUT = "/signed-out"  # the "page" of signed-out runs (no page has this url_path)


def count_visit(state: MutableMapping[Any, Any], page: str, history: bool = False) -> int:
    """The session's visit of ``page`` this run belongs to: a new number each time a run
    is on another page than the run before (the session arrived from another page, or
    started) or is the browser's back/forward (``history``: the address it goes back to
    is read again, :mod:`dashboard.address`); the same for every other rerun on the page
    (a click, a language switch)."""
    last = state.get(PAGE_VISIT)
    if not isinstance(last, tuple) or last[0] != page or history:
        number = (last[1] if isinstance(last, tuple) else 0) + 1
        state[PAGE_VISIT] = (page, number)
    return int(state[PAGE_VISIT][1])


def page_visit() -> int:
    """The number of the visit of the page this run draws (:func:`count_visit`)."""
    last = st.session_state.get(PAGE_VISIT)
    return int(last[1]) if isinstance(last, tuple) else 0


def history_navigation() -> bool:
    """Whether this run is the browser's back or forward (Streamlit reruns the page with
    the address gone back to, ``is_history_navigation``)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return bool(getattr(ctx, "is_history_navigation", False)) if ctx is not None else False


def main() -> None:
    """Entry point body: page config, sign-in, sidebar, then run the chosen page."""
    if st.session_state.get(LANG_KEY) not in LANGS:
        st.session_state[LANG_KEY] = initial_lang()
    st.set_page_config(
        page_title=t("app_title", lang()),
        page_icon="🛡️",
        layout="wide",
        # "auto" with a width: open on a desktop screen, closed (behind its toggle) on a
        # narrow one; 220 px instead of Streamlit's default leaves an 800 px screen about
        # 580 px for the maps and tables (issue 12: at 800 px the open sidebar crowded them)
        initial_sidebar_state=SIDEBAR_WIDTH_PX,
    )
    st.html(CSS)
    if lang() == "zh":
        st.html(ZH_CSS)
    settings = queries.settings()
    if not _store_known(settings):
        return
    user = current_user(settings)
    sidebar(user)
    emit_cookie()
    if st.query_params.get("lang") != lang():
        st.query_params["lang"] = lang()
    if user is None:
        count_visit(st.session_state, SIGNED_OUT)  # a sign-in starts a new visit of a page
        signed_out_navigation().run()
        return
    page = navigation(user)
    count_visit(st.session_state, page.url_path, history_navigation())
    page.run()
    with st.sidebar:  # the page ran to its end: browsers wait for this, not for a pause
        st.html(RUN_DONE)
        # an open page nobody touches learns of a sign-out elsewhere within WATCH_S
        st.fragment(run_every=sessions.WATCH_S)(watch_session)()


RUN_DONE = '<div class="rw-run-done" hidden></div>'


def model_caption(ctx: PageContext, domain: str) -> None:
    """The caption on the model behind ``domain``'s published probabilities, on every page
    that shows them: its version and gate verdict (passed, or failed and promoted by force
    by whom; :func:`dashboard.views.model_note`), the sensor rules' part where it did worse
    than them, and what the next scoring run would serve if not that version; and a
    warning when its own backtest's top share held fewer events than that share (PAI below
    1), with the run's own chance reference (:func:`dashboard.verdicts.below_random_notice`:
    the map then shows little of where events will be). Nothing
    when the published run names no model."""
    from dashboard import verdicts, views

    run = queries.published_run(ctx.snapshot, domain)
    if not run or not run.get("model_name"):
        return
    version = str(run.get("model_version") or "—")
    promo = queries.promotion(ctx.store_url, str(run["model_name"]), version)
    gate = queries.version_gate(ctx.settings.resolved_mlflow_uri, domain, version)
    note = views.model_note(version, promo, ctx.lang, gate)
    # what scoring serves now (the models page's check), if not this run's model
    now = views.serving_note(
        version,
        queries.serving_model(ctx.settings.resolved_mlflow_uri, ctx.store_url, domain),
        ctx.lang,
        domain,
        ctx.tz,
    )
    # the gate's own rule for the model's family (the stream's runs: the hourly site model)
    rule = verdicts.gate_rule(str(run["model_name"]).removeprefix("riskwarn-"), ctx.lang)
    st.caption(f"{note} {now}" if now else note, help=t("model_note_help", ctx.lang, rule=rule))
    # a hotspot model whose own backtest's top 5% held fewer than 5% of the events: its
    # map shows little of where events will be, and "no warning this week" must not read as low risk
    metrics = queries.version_metrics(ctx.settings.resolved_mlflow_uri, domain, version)
    notice = verdicts.below_random_notice(metrics, domain, ctx.lang)
    if notice:
        st.warning(notice, icon=":material/warning:")


def page_context(page: str) -> PageContext:
    """Check the signed-in user may open ``page`` (else refuse and stop); return the context."""
    settings = queries.settings()
    user = run_user(settings)
    lg = lang()
    if user is None:
        st.warning(t("sign_in", lg))
        st.stop()
    if not auth.can_view(user.role, page):
        st.error(t("refused", lg, role=t(ROLE_KEYS[user.role], lg)), icon=":material/block:")
        st.stop()
    # the page's material icon would make the browser fetch a favicon from the internet
    st.set_page_config(page_title=page_index.title(page, lg), page_icon="🛡️")
    st.title(page_index.title(page, lg))
    snap = queries.snapshot(settings.resolved_store_url)
    data_as_of(settings, lg, snap)
    return PageContext(
        settings=settings,
        lang=lg,
        tz=settings.display_tz,
        store_url=settings.resolved_store_url,
        lake_dir=str(settings.lake_dir),
        user=user,
        snapshot=snap,
    )


def data_as_of(settings: Settings, lg: str, snap: queries.Snapshot) -> None:
    """The "data as of" line every page shows: newest ingested event, newest sensor
    reading, newest forecast origin of the page's snapshot (one date format per
    language), replay or not."""
    clock = queries.clock(snap)
    times = queries.data_times(str(settings.lake_dir))
    st.caption(as_of_line(times, clock, lg, settings.display_tz), help=None)


AS_OF_SEP = " · "  # between the parts of the "data as of" line (texts: as_of)


def as_of_line(times: dict[str, Any], clock: dict[str, Any], lg: str, tz: str) -> str:
    """The "data as of" line (:func:`data_as_of`) of ``times`` (``queries.data_times``)
    and ``clock`` (``queries.clock``): its parts, then the time zone's sentence, joined by
    :data:`AS_OF_SEP` as the parts are (a bare space ran the sentence into the origin)."""
    line = t(
        "as_of",
        lg,
        event=fmt_datetime(times["event"], lg, tz) if times["event"] is not None else "—",
        reading=fmt_datetime(times["reading"], lg, tz) if times["reading"] is not None else "—",
        origin=fmt_datetime(clock["origin"], lg, tz) if clock["origin"] is not None else "—",
    )
    if clock["replay"]:  # a remark on the origin: in brackets right after it
        line += " " + t("as_of_replay", lg)
    # the zone of these times and of every other on the page (its offset as at the
    # newest origin shown, else now: a zone with summer time has two)
    at = clock["origin"] if clock["origin"] is not None else datetime.now(UTC)
    return line + AS_OF_SEP + t("times_zone", lg, zone=fmt_zone(tz, lg, at))


def select_key(key: str, lg: str, gen: int, texts: str | None = None) -> str:
    """The widget key of :func:`select`'s box ``key`` of generation ``gen``
    (``generations.drawn_in``) in ``lg``; ``texts``: its options' shown texts, when they
    vary with the data. The first box drawn in the default language keeps the plain key
    (tests address it); no key is used for two generations."""
    if texts is None and lg == DEFAULT_LANG and gen <= 1:
        return key
    wkey = f"{key}__g{gen}_{lg}"
    if texts is not None:
        wkey += f"__{hashlib.sha256(texts.encode()).hexdigest()[:10]}"
    return wkey


def select_drawn(state: MutableMapping[Any, Any], key: str, lg: str) -> int:
    """:func:`select`'s box ``key`` is being drawn in ``lg``: the generation of its widget
    (a new one whenever it is drawn in another language than last time; the record in
    ``<key>__gen``)."""
    holder = state.get(f"{key}__gen")
    if not isinstance(holder, dict):
        holder = generations.new_holder()
        state[f"{key}__gen"] = holder
    generations.drawn_in(holder, lg)
    return generations.generation(holder)


def select_changed(state: MutableMapping[Any, Any], key: str, wkey: str, gen: int) -> None:
    """``on_change`` of :func:`select`'s widget ``wkey`` (box ``key``, generation ``gen``):
    its choice becomes the box's ``<key>__value`` before the script runs, also when that
    run is then stopped for a newer click (a language switch); a widget of an earlier
    generation moves the box to a new one, so the box drawn next shows the choice
    (``generations.changed``)."""
    if wkey not in state:
        return
    state[f"{key}__value"] = state[wkey]
    holder = state.get(f"{key}__gen")
    if isinstance(holder, dict):
        generations.changed(holder, gen)


def select(
    container: Any,
    label: str,
    options: list[Any],
    format_func: Any,
    key: str,
    lg: str,
    index: int | None = 0,
    texts_vary: bool = False,
    placeholder: str | None = None,
) -> Any:
    """A selectbox whose shown option follows the language, keeping the choice.

    Streamlit keeps showing a selected option's old text when only ``format_func`` changes
    (streamlit/streamlit PR 13788), so after a language switch a filter read "全部" on the
    English page. The widget therefore gets a new key whenever the box is drawn in another
    language than last time (a generation, :func:`select_key`, ``dashboard.generations``:
    a key per language alone brought an earlier choice back when the runs in between were
    stopped for the next click: picked in Chinese, English, another picked, Chinese again
    reopened the first), and the choice is carried over through ``<key>__value``, which
    the widget's ``on_change`` sets before any run (:func:`select_changed`). With
    ``texts_vary`` (options whose text changes with the data, such as a warning's level
    after a review) the key also carries a digest of the texts.
    """
    state = st.session_state
    gen = select_drawn(state, key, lg)
    texts = "\n".join(str(format_func(o)) for o in options) if texts_vary else None
    wkey = select_key(key, lg, gen, texts)
    previous = state.get(f"{key}__value")
    if previous in options:
        index = options.index(previous)
    extra = {} if placeholder is None else {"placeholder": placeholder}
    value = container.selectbox(
        label,
        options,
        index=index,
        format_func=format_func,
        key=wkey,
        on_change=select_changed,
        args=(state, key, wkey, gen),
        **extra,
    )
    state[f"{key}__value"] = value
    return value


def grid(data: Any, *, style: Any = None, **kwargs: Any) -> Any:
    """``st.dataframe`` of ``data`` (a DataFrame) made safe for its CSV download
    (:func:`dashboard.text.spreadsheet_safe`: text a spreadsheet would run as a formula,
    e.g. a typed reason "=HYPERLINK(...)", gets a leading apostrophe); ``style`` (a
    function of the frame's ``Styler``) formats or colours it. Every data grid of the
    dashboard goes through here (tests/test_spreadsheet_safe.py checks the sources)."""
    from dashboard.text import spreadsheet_safe

    safe = spreadsheet_safe(data)
    return st.dataframe(style(safe.style) if style is not None else safe, **kwargs)


def wrapped_table(name: str, table_html: str, cards_html: str) -> None:
    """A wide list that fits its frame: the HTML table (``review.frame_table``) where the
    frame is 760 px wide or more, the same rows as cards (``review.frame_cards``) where it
    is narrower (``review.QUEUE_CSS``: the review queue's layout; the data grid cut long
    text at its frame's edge and showed one or two columns on a phone)."""
    from dashboard import review

    with st.container(key=f"rwwrap_{name}"):
        with st.container(key=f"rwwide_{name}"):
            st.html(table_html)
        with st.container(key=f"rwnarrow_{name}"):
            st.markdown(review.with_css(cards_html), unsafe_allow_html=True)
