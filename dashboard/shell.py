"""The frame around every page: sign-in, language switch, navigation and the role check."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard import auth, queries
from dashboard.i18n import DEFAULT_LANG, LANGS, ROLE_KEYS, t
from riskwarn.settings import Settings

PAGES_DIR = Path(__file__).resolve().parent / "pages"

# page key -> (file, icon, section key)
PAGES: dict[str, tuple[str, str, str]] = {
    "overview": ("overview.py", ":material/map:", "section_leaders"),
    "warnings": ("warnings.py", ":material/notification_important:", "section_panels"),
    "disputes": ("disputes.py", ":material/groups:", "section_panels"),
    "geohazard": ("geohazard.py", ":material/landslide:", "section_panels"),
    "models": ("models.py", ":material/model_training:", "section_science"),
}

CSS = """
<style>
[data-testid="stMetricValue"] { font-size: 1.9rem; }
.rw-badge { display:inline-block; padding:0.1rem 0.55rem; border-radius:0.6rem;
  color:#fff; font-weight:600; font-size:0.85rem; }
.rw-place { font-size:1.02rem; line-height:1.9; }
div[data-testid="stSidebarHeader"] { padding-bottom: 0; }
div[data-testid="stMainBlockContainer"] { padding-top: 2.2rem; }
h1 { padding-top: 0.2rem; }
</style>
"""


@dataclass(frozen=True)
class PageContext:
    """What a page needs: settings, language, display zone, store URL and user."""

    settings: Settings
    lang: str
    tz: str
    store_url: str
    lake_dir: str
    user: auth.User


LANG_KEY = "lang"  # the session's language: plain state, not a widget's
LANG_WIDGET = "lang_choice"  # the sidebar control that changes it


def lang() -> str:
    """The session's language (Chinese unless switched)."""
    value = st.session_state.get(LANG_KEY)
    return str(value) if value in LANGS else DEFAULT_LANG


def initial_lang() -> str:
    """The language a new session starts in: the page address's ``?lang=`` (kept there on
    every run, so a refresh or a restarted server keeps it), else Chinese."""
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


def current_user(settings: Settings) -> auth.User | None:
    """The signed-in user, from OIDC or the session's configured-users login."""
    if oidc_configured():
        if not st.user.is_logged_in:
            return None
        users = auth.load_users(auth.users_file_path(settings.home))
        return auth.oidc_user(users, dict(st.user.to_dict()))
    user = st.session_state.get("user")
    return user if isinstance(user, auth.User) else None


def login_form(settings: Settings) -> None:
    """The sign-in screen (OIDC button or username/password form)."""
    lg = lang()
    st.title(t("app_title", lg))
    if oidc_configured():
        st.button(t("sign_in_sso", lg), on_click=st.login, type="primary")
        return
    path = auth.users_file_path(settings.home)
    users = auth.load_users(path)
    if not users["users"]:
        st.error(t("no_users", lg, path=path))
        return
    with st.form("login", width=420):
        username = st.text_input(t("username", lg), key="login_user")
        password = st.text_input(t("password", lg), type="password", key="login_password")
        submitted = st.form_submit_button(t("sign_in", lg), type="primary")
    if submitted:
        user = auth.authenticate(users, username, password)
        if user is None:
            st.error(t("bad_login", lg))
        else:
            st.session_state["user"] = user
            st.rerun()


def sign_out() -> None:
    if oidc_configured():
        st.logout()
    st.session_state.pop("user", None)


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
            st.caption(t("signed_in_as", lg, name=user.name, role=t(ROLE_KEYS[user.role], lg)))
            st.button(t("sign_out", lg), on_click=sign_out, key="sign_out")


def navigation(user: auth.User) -> Any:
    """``st.navigation`` over the pages: allowed ones listed, others hidden (they refuse)."""
    lg = lang()
    sections: dict[str, list[Any]] = {}
    default_key = "overview" if auth.can_view(user.role, "overview") else None
    for key, (file, icon, section) in PAGES.items():
        allowed = auth.can_view(user.role, key)
        page = st.Page(
            str(PAGES_DIR / file),
            title=t(f"page_{key}", lg),
            icon=icon,
            url_path=key,
            default=key == default_key,
            visibility="visible" if allowed else "hidden",
        )
        sections.setdefault(t(section, lg), []).append(page)
    return st.navigation(sections, position="sidebar", expanded=True)


def main() -> None:
    """Entry point body: page config, sign-in, sidebar, then run the chosen page."""
    if st.session_state.get(LANG_KEY) not in LANGS:
        st.session_state[LANG_KEY] = initial_lang()
    st.set_page_config(
        page_title=t("app_title", lang()),
        page_icon="🛡️",
        layout="wide",
        initial_sidebar_state="expanded",
    )
    st.html(CSS)
    settings = queries.settings()
    user = current_user(settings)
    sidebar(user)
    if st.query_params.get("lang") != lang():
        st.query_params["lang"] = lang()
    if user is None:
        login_form(settings)
        return
    navigation(user).run()


def page_context(page: str) -> PageContext:
    """Check the signed-in user may open ``page`` (else refuse and stop); return the context."""
    settings = queries.settings()
    user = current_user(settings)
    lg = lang()
    if user is None:
        st.warning(t("sign_in", lg))
        st.stop()
    if not auth.can_view(user.role, page):
        st.error(t("refused", lg, role=t(ROLE_KEYS[user.role], lg)), icon=":material/block:")
        st.stop()
    # the page's material icon would make the browser fetch a favicon from the internet
    st.set_page_config(page_title=t(f"page_{page}", lg), page_icon="🛡️")
    st.title(t(f"page_{page}", lg))
    return PageContext(
        settings=settings,
        lang=lg,
        tz=settings.display_tz,
        store_url=settings.resolved_store_url,
        lake_dir=str(settings.lake_dir),
        user=user,
    )


def select(
    container: Any,
    label: str,
    options: list[Any],
    format_func: Any,
    key: str,
    lg: str,
    index: int | None = 0,
    texts_vary: bool = False,
) -> Any:
    """A selectbox whose shown option follows the language, keeping the choice.

    Streamlit keeps showing a selected option's old text when only ``format_func`` changes
    (streamlit/streamlit PR 13788), so after a language switch a filter read "全部" on the
    English page. The widget key therefore carries the language (the default language
    keeps the plain key, which tests address), and the choice is carried over through
    ``<key>__value``. With ``texts_vary`` (options whose text changes with the data, such
    as a warning's level after a review) the key also carries a digest of the texts.
    """
    wkey = key if lg == DEFAULT_LANG else f"{key}__{lg}"
    if texts_vary:
        shown = "\n".join(str(format_func(o)) for o in options)
        wkey = f"{key}__{lg}__{hashlib.sha256(shown.encode()).hexdigest()[:10]}"
    previous = st.session_state.get(f"{key}__value")
    if previous in options:
        index = options.index(previous)
    value = container.selectbox(label, options, index=index, format_func=format_func, key=wkey)
    st.session_state[f"{key}__value"] = value
    return value
