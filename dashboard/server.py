"""The dashboard's server: Streamlit's ASGI app (``st.App``) plus one route of riskwarn's,
``POST /_riskwarn/cookie``, that sets the session and device cookies ``HttpOnly``.

A Streamlit script cannot answer an HTTP request, so it could only set its cookies from
JavaScript (``document.cookie``), where they cannot be HttpOnly: any script running in
the page could read the session token and use it elsewhere. Now the script hands the
browser a one-time code (:func:`dashboard.sessions.cookie_code`, 60 s, single use, kept
in this process) and the page posts it here; the answer sets the cookie with
``HttpOnly; SameSite=Strict; Path=/`` (``Secure`` behind the TLS proxy). Page scripts
never see the token, and cannot have it set elsewhere either: each code is bound to the
browser that asked for it by an HttpOnly nonce cookie (:data:`sessions.NONCE_COOKIE`)
that :class:`NonceMiddleware` sets on the page's first load, which the browser session
sees in ``st.context.cookies``; the route redeems a code only with that nonce cookie
(a code a page script kept and posted from elsewhere gets 403). Posts over
:data:`sessions.MAX_CODE_BODY` bytes get 413 unread. ``riskwarn dashboard`` runs this file (``streamlit run`` finds the
``app`` below and serves it with uvicorn).
"""

from __future__ import annotations

from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from streamlit.starlette import App

from dashboard import sessions


def _secure(request_scheme: str, forwarded_proto: str | None) -> bool:
    return request_scheme == "https" or forwarded_proto == "https"


# where Streamlit serves what is not the page: its bundles, API, media and components
ASSET_PREFIXES = ("/static/", "/_stcore/", "/media/", "/component/", "/app/static/")


def is_page_path(path: str) -> bool:
    """Whether ``path`` asks for the page itself (``/``, a page's route such as
    ``/review``, or an ``.html`` file), not one of its assets (a script, a style sheet,
    the favicon, ``manifest.json``: a name with another extension, or under
    :data:`ASSET_PREFIXES`)."""
    if path.startswith(ASSET_PREFIXES):
        return False
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return "." not in last or last.endswith(".html")


class NonceMiddleware:
    """Give a browser without one an HttpOnly nonce cookie with the page (an HTML
    answer, or a ``304 Not Modified`` one for the page's path, :func:`is_page_path`: the
    page is served ``no-cache``, so a browser restarted with the page in its cache, its
    session cookies gone, revalidates it and gets a 304 with no body and no content
    type; a 304 of a script or style sheet mints no nonce): the websocket it opens next carries
    it, so the browser session's one-time codes are bound to it (``SameSite=Lax``: a
    page opened from a link elsewhere keeps the browser's nonce instead of replacing it
    under its other tabs)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if request.cookies.get(sessions.NONCE_COOKIE):
            await self.app(scope, receive, send)
            return
        secure = _secure(request.url.scheme, request.headers.get("x-forwarded-proto"))

        async def send_with_nonce(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                html = headers.get("content-type", "").startswith("text/html")
                if html or (message.get("status") == 304 and is_page_path(scope["path"])):
                    cookie = Response()
                    cookie.set_cookie(
                        sessions.NONCE_COOKIE,
                        sessions.new_nonce(),
                        path="/",
                        httponly=True,
                        samesite="lax",
                        secure=secure,
                    )
                    headers.append("set-cookie", cookie.headers["set-cookie"])
            await send(message)

        await self.app(scope, receive, send_with_nonce)


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The request's body, or None as soon as it is longer than ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return body


async def set_cookie(request: Request) -> Response:
    """Redeem a one-time code: 204 with the cookie it stands for set (or deleted); 403
    for a spent, expired or unknown code or one issued to another browser's nonce; 413
    for a body over :data:`sessions.MAX_CODE_BODY` bytes."""
    body = await _read_body(request, sessions.MAX_CODE_BODY)
    if body is None:
        return Response(status_code=413)
    code = body.decode("ascii", "replace").strip()
    cookie = sessions.redeem_cookie_code(code, request.cookies.get(sessions.NONCE_COOKIE))
    if cookie is None:
        return Response(status_code=403)
    name, value, max_age = cookie
    secure = _secure(request.url.scheme, request.headers.get("x-forwarded-proto"))
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        name,
        value or "",
        max_age=max_age if value else 0,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    return response


app = App(
    str(Path(__file__).with_name("app.py")),
    routes=[Route(sessions.COOKIE_ROUTE, set_cookie, methods=["POST"])],
    middleware=[Middleware(NonceMiddleware)],
)
