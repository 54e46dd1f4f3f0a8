"""The CSRF guard: installed once as an application-wide dependency, so every route mounted
now or later (feature routers included) gets it and none can forget it.

An unsafe request must not come from another site, and with a session it must carry the
session's CSRF token (form field `csrf_token` or header `X-CSRF-Token`), compared in
constant time.
"""

from __future__ import annotations

from starlette.requests import Request

from secure_auth.config.origins import normalised_origin
from secure_auth.crypto.primitives import constant_time_equals
from secure_auth.operations.events import security_event
from secure_auth.web.context import context_of
from secure_auth.web.rendering import request_id

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfRejected(Exception):
    """An unsafe request without the session's CSRF token, or from another site; answered with 403."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def csrf_guard(request: Request) -> None:
    if request.method not in UNSAFE_METHODS:
        return
    settings = request.app.state.services.settings
    reason = cross_site_reason(
        request.headers.get("origin"), request.headers.get("sec-fetch-site"), settings.base_url, settings.cors_origins
    )
    if reason is not None:
        _reject(request, reason)
    context = context_of(request.scope)
    session = context.session if context is not None else None
    if session is None:
        return  # nothing to ride on; routes that need a user answer 401 themselves
    supplied = request.headers.get("x-csrf-token")
    if supplied is None and "form" in request.headers.get("content-type", ""):
        form = await request.form()
        value = form.get("csrf_token")
        supplied = value if isinstance(value, str) else None
    if not constant_time_equals(supplied, session.csrf_token):
        _reject(request, "missing_token" if not supplied else "wrong_token")


def cross_site_reason(
    origin: str | None, sec_fetch_site: str | None, base_url: str, cors_origins: list[str]
) -> str | None:
    """Why a request looks cross-site (Origin, else Sec-Fetch-Site), or None."""
    if origin == "null":
        return "opaque_origin"
    if origin:
        normalised = normalised_origin(origin)
        if normalised == base_url:
            return None
        if normalised not in cors_origins:
            return "foreign_origin"
        return None  # an allowed CORS origin: the token still decides
    if sec_fetch_site == "cross-site":
        return "cross_site_request"
    return None


def _reject(request: Request, reason: str) -> None:
    security_event("csrf_rejected", request_id(request), reason=reason, path=request.url.path)
    raise CsrfRejected(reason)
