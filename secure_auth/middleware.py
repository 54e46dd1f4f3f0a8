"""Pure ASGI middleware for what truly wraps every request: a request id and security headers.

Pure ASGI (not BaseHTTPMiddleware) so responses stream through untouched and the
overhead per request stays a dictionary update.
"""

from __future__ import annotations

import re
import secrets
from functools import lru_cache
from typing import Callable, Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
# The one page the IdP may load in an iframe (it ends sessions; it shows nothing private).
FRONT_CHANNEL_LOGOUT_PATH = "/auth/front-channel-logout"
API_PROXY_PREFIX = "/api/proxy/"
API_RESPONSE_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def scope_header(scope: Scope, name: bytes) -> str:
    """The first value of a (lower-case) header in an ASGI scope, or ""."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


def new_request_id() -> str:
    return secrets.token_hex(8)


class RequestIdMiddleware:
    """Accept a sane incoming X-Request-ID (a proxy's), else make one; expose it in
    `request.state.request_id` and echo it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = scope_header(scope, b"x-request-id")
        request_id = incoming if _SANE_REQUEST_ID.match(incoming) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)


@lru_cache(maxsize=16)
def _csp_prefix(form_action_origins: frozenset[str], frame_ancestors: str) -> tuple[str, str]:
    form_action = " ".join(["'self'", *sorted(form_action_origins)])
    return (
        "default-src 'self'; script-src 'self' 'nonce-",
        "'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
        f"frame-ancestors {frame_ancestors}; form-action {form_action}",
    )


def content_security_policy(form_action_origins: Iterable[str], nonce: str, *, framable_by_idp: bool = False) -> str:
    """The strict policy: scripts only from this origin or carrying this response's nonce,
    no inline style; form-action also allows the IdP origins a form's redirect reaches.
    Only the front-channel logout page may be framed, and only by the IdP."""
    origins = frozenset(form_action_origins)
    ancestors = " ".join(sorted(origins)) if framable_by_idp else "'none'"
    head, tail = _csp_prefix(origins, ancestors)
    return f"{head}{nonce}{tail}"


def new_csp_nonce() -> str:
    return secrets.token_urlsafe(16)


class SecurityHeaders:
    """The strict header set, in one place: the middleware applies it to every response,
    and the last-resort 500 handler (which Starlette runs outside all middleware) too."""

    def __init__(
        self,
        *,
        form_action_origins: Callable[[], Iterable[str]],
        session_cookie_name: str,
        hsts: bool = False,
        hsts_include_subdomains: bool = False,
    ) -> None:
        self.form_action_origins = form_action_origins
        self.hsts = "max-age=31536000; includeSubDomains" if hsts_include_subdomains else "max-age=31536000"
        self.hsts_enabled = hsts
        self.session_cookie = session_cookie_name.encode("latin-1") + b"="

    def has_session_cookie(self, raw_headers: Iterable[tuple[bytes, bytes]]) -> bool:
        return any(name == b"cookie" and self.session_cookie in value for name, value in raw_headers)

    def apply(self, headers: MutableHeaders, *, path: str, has_session: bool, nonce: str) -> None:
        is_auth = path.startswith("/auth/")
        framable = path == FRONT_CHANNEL_LOGOUT_PATH
        if path.startswith(API_PROXY_PREFIX):
            # The API's answers are served from this origin: whatever their type, they may
            # run nothing and load nothing here.
            headers["content-security-policy"] = API_RESPONSE_CSP
        else:
            headers["content-security-policy"] = content_security_policy(
                self.form_action_origins(), nonce, framable_by_idp=framable
            )
        headers["x-content-type-options"] = "nosniff"
        if not framable:
            headers["x-frame-options"] = "DENY"
        headers["referrer-policy"] = "no-referrer" if is_auth else "strict-origin-when-cross-origin"
        headers["cross-origin-opener-policy"] = "same-origin"
        headers["permissions-policy"] = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
        if self.hsts_enabled:
            headers["strict-transport-security"] = self.hsts
        if is_auth or has_session or "set-cookie" in headers:
            headers["cache-control"] = "no-store"


class SecurityHeadersMiddleware:
    """Strict headers on every response: pages, redirects, JSON, errors, static files,
    with a fresh CSP nonce per response.

    /auth/ URLs carry codes and state, so their responses send no Referer and are never
    cached; so are responses to requests that carried a session cookie.
    """

    def __init__(self, app: ASGIApp, *, headers: SecurityHeaders) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        has_session = self.headers.has_session_cookie(scope["headers"])
        nonce = new_csp_nonce()  # templates read it as csp_nonce
        scope.setdefault("state", {})["csp_nonce"] = nonce

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.headers.apply(MutableHeaders(scope=message), path=path, has_session=has_session, nonce=nonce)
            await send(message)

        await self.app(scope, receive, send_with_headers)
