"""The dashboard's server: Streamlit's ASGI app (``st.App``) plus one route of riskwarn's,
``POST /_riskwarn/cookie``, that sets the session and device cookies ``HttpOnly``.

A Streamlit script cannot answer an HTTP request, so it could only set its cookies from
JavaScript (``document.cookie``), where they cannot be HttpOnly: any script running in
the page could read the session token and use it elsewhere. Now the script hands the
browser a one-time code (:func:`dashboard.sessions.cookie_code`, 60 s, single use, kept
in this process) and the page posts it here; the answer sets the cookie with
``HttpOnly; SameSite=Strict; Path=/`` (``Secure`` behind the TLS proxy). Page scripts
never see the token. ``riskwarn dashboard`` runs this file (``streamlit run`` finds the
``app`` below and serves it with uvicorn).
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from streamlit.starlette import App

from dashboard import sessions


async def set_cookie(request: Request) -> Response:
    """Redeem a one-time code: 204 with the cookie it stands for set (or deleted)."""
    code = (await request.body()).decode("ascii", "replace").strip()
    cookie = sessions.redeem_cookie_code(code)
    if cookie is None:
        return Response(status_code=403)
    name, value, max_age = cookie
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
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
)
