"""FastAPI dependencies: who the user is, and may they do this."""

from __future__ import annotations

from typing import Annotated, Awaitable, Callable

from fastapi import Depends, Request

from secure_auth.config import normalised_origin
from secure_auth.crypto import constant_time_equals
from secure_auth.events import security_event
from secure_auth.rendering import request_id
from secure_auth.services import Services
from secure_auth.sessions import Session

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SignInRequired(Exception):
    """Raised by require_user; answered with a redirect to sign in (or 401 JSON)."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign-in required")
        self.next_path = next_path


class CsrfRejected(Exception):
    """Raised when an unsafe request lacks the session's CSRF token; answered with 403."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Forbidden(Exception):
    """Signed in, but not allowed; answered with 403."""


def get_services(request: Request) -> Services:
    return request.app.state.services


async def current_session(request: Request) -> Session | None:
    """The signed-in session, loaded once per request (also used by page rendering)."""
    if hasattr(request.state, "session"):
        return request.state.session
    services: Services = request.app.state.services
    session = await services.sessions.load(
        request.cookies.get(services.settings.session_cookie_name),
        on_expired=lambda: security_event("session_expired", request_id(request)),
    )
    request.state.session = session
    return session


async def require_user(request: Request, session: Annotated[Session | None, Depends(current_session)]) -> Session:
    """The one dependency a feature router needs to require sign-in."""
    if session is None:
        query = f"?{request.url.query}" if request.url.query else ""
        raise SignInRequired(request.url.path + query)
    return session


async def csrf_guard(request: Request) -> None:
    """Every unsafe request, on every route the app mounts (feature routers included):
    it must not come from another site, and with a session it must carry the session's
    CSRF token (form field `csrf_token` or header `X-CSRF-Token`), compared in constant time.
    Installed once as an application-wide dependency, so a router cannot forget it."""
    if request.method not in UNSAFE_METHODS:
        return
    reject_cross_site(request)
    session = await current_session(request)
    if session is None:
        return  # nothing to ride on; routes that need a user answer 401 themselves
    supplied = request.headers.get("x-csrf-token")
    if supplied is None and "form" in request.headers.get("content-type", ""):
        form = await request.form()
        value = form.get("csrf_token")
        supplied = value if isinstance(value, str) else None
    if not constant_time_equals(supplied, session.csrf_token):
        _reject(request, "missing_token" if not supplied else "wrong_token")


def _cross_site_reason(request: Request) -> str | None:
    services: Services = request.app.state.services
    origin = request.headers.get("origin")
    if origin == "null":
        return "opaque_origin"
    if origin:
        normalised = normalised_origin(origin)
        if normalised == services.settings.base_url:
            return None
        if normalised not in services.settings.cors_origins:
            return "foreign_origin"
        return None  # an allowed CORS origin: the token still decides
    if request.headers.get("sec-fetch-site") == "cross-site":
        return "cross_site_request"
    return None


def reject_cross_site(request: Request) -> None:
    """The Origin / Sec-Fetch-Site half of the CSRF check."""
    reason = _cross_site_reason(request)
    if reason is not None:
        _reject(request, reason)


def _reject(request: Request, reason: str) -> None:
    security_event("csrf_rejected", request_id(request), reason=reason, path=request.url.path)
    raise CsrfRejected(reason)


def require_roles(*roles: str) -> Callable[..., Awaitable[Session]]:
    """A dependency that requires every one of `roles` (Entra app roles, the id_token's
    `roles` claim). Signed out: sent to sign in; signed in without them: 403."""
    wanted = frozenset(roles)

    async def dependency(session: Annotated[Session, Depends(require_user)]) -> Session:
        if not wanted.issubset(session.roles):
            raise Forbidden()
        return session

    return dependency


def require_any_role(*roles: str) -> Callable[..., Awaitable[Session]]:
    """A dependency that requires at least one of `roles`."""
    wanted = frozenset(roles)

    async def dependency(session: Annotated[Session, Depends(require_user)]) -> Session:
        if wanted.isdisjoint(session.roles):
            raise Forbidden()
        return session

    return dependency


CurrentUser = Annotated[Session, Depends(require_user)]
