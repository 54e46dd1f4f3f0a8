"""Cookie attributes in one place: HttpOnly, SameSite=Lax, Secure on https, __Host- in production."""

from __future__ import annotations

from starlette.responses import Response

from secure_auth.config import Settings
from secure_auth.stores.base import FLOW_LIFETIME_SECONDS


def set_session_cookie(response: Response, settings: Settings, value: str) -> None:
    # No Max-Age: the server ends sessions; the browser drops the cookie when it closes.
    response.set_cookie(
        settings.session_cookie_name, value, path="/", httponly=True, samesite="lax", secure=settings.uses_https
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        settings.session_cookie_name, path="/", httponly=True, samesite="lax", secure=settings.uses_https
    )


def set_flow_cookie(response: Response, settings: Settings, value: str) -> None:
    """The browser's pending sign-ins (sealed: identity/pending.py), gone in 10 minutes.

    Path=/ so that /auth/login sees it too (two sign-ins started in two tabs share one
    binding instead of the second orphaning the first) and so that production can use
    the __Host- prefix, which no sibling subdomain can plant.
    """
    response.set_cookie(
        settings.flow_cookie_name,
        value,
        path="/",
        max_age=FLOW_LIFETIME_SECONDS,
        httponly=True,
        samesite="lax",
        secure=settings.uses_https,
    )
