"""Strict security headers on every response: pages, redirects, JSON, errors, static files.

The header set lives in `SecurityHeaders`, so the last-resort 500 handler (which Starlette
runs outside all middleware) applies exactly the same set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from secure_auth.outbound.proxy_rules import PROXY_PREFIX
from secure_auth.web.context import context_of

# The one page the IdP may load in an iframe (it ends sessions; it shows nothing private).
FRONT_CHANNEL_LOGOUT_PATH = "/auth/front-channel-logout"
API_RESPONSE_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


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


RawHeaders = list[tuple[bytes, bytes]]
# The headers this set owns: whatever a route set under these names is replaced.
_OWNED = frozenset(
    {
        b"content-security-policy",
        b"x-content-type-options",
        b"x-frame-options",
        b"referrer-policy",
        b"cross-origin-opener-policy",
        b"permissions-policy",
        b"strict-transport-security",
    }
)
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """The strict header set, in one place: the middleware applies it to every response,
    and the last-resort 500 handler (which Starlette runs outside all middleware) too.

    Everything but the CSP nonce is encoded once; a response costs one pass over its
    headers and a list extension."""

    def __init__(
        self,
        *,
        form_action_origins: Callable[[], Iterable[str]],
        hsts: bool = False,
        hsts_include_subdomains: bool = False,
    ) -> None:
        self.form_action_origins = form_action_origins
        hsts_value = "max-age=31536000; includeSubDomains" if hsts_include_subdomains else "max-age=31536000"
        common: RawHeaders = [
            (b"x-content-type-options", b"nosniff"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
        ]
        if hsts:
            common.append((b"strict-transport-security", hsts_value.encode("latin-1")))
        self._common = common

    def headers_for(self, *, path: str, nonce: str) -> RawHeaders:
        """The headers for a response to `path` (Cache-Control aside: see `apply_raw`)."""
        is_auth = path.startswith("/auth/")
        framable = path == FRONT_CHANNEL_LOGOUT_PATH
        if path.startswith(PROXY_PREFIX):
            # The API's answers are served from this origin: whatever their type, they may
            # run nothing and load nothing here.
            csp = API_RESPONSE_CSP
        else:
            csp = content_security_policy(self.form_action_origins(), nonce, framable_by_idp=framable)
        headers = [(b"content-security-policy", csp.encode("latin-1")), *self._common]
        if not framable:
            headers.append((b"x-frame-options", b"DENY"))
        referrer = b"no-referrer" if is_auth else b"strict-origin-when-cross-origin"
        headers.append((b"referrer-policy", referrer))
        return headers

    def apply_raw(self, raw: Iterable[tuple[bytes, bytes]], *, path: str, has_session: bool, nonce: str) -> RawHeaders:
        """`raw` with this set applied. /auth/ URLs carry codes and state, and responses to a
        request with a session or that set a cookie are private: those are never cached."""
        kept: RawHeaders = []
        sets_cookie = False
        for name, value in raw:
            if name in _OWNED:
                continue
            if name == b"set-cookie":
                sets_cookie = True
            kept.append((name, value))
        if has_session or sets_cookie or path.startswith("/auth/"):
            kept = [header for header in kept if header[0] != b"cache-control"]
            kept.append(_NO_STORE)
        kept.extend(self.headers_for(path=path, nonce=nonce))
        return kept

    def apply(self, headers: MutableHeaders, *, path: str, has_session: bool, nonce: str) -> None:
        """The same, on a response's headers (the 500 handler's)."""
        headers.raw[:] = self.apply_raw(headers.raw, path=path, has_session=has_session, nonce=nonce)


class SecurityHeadersMiddleware:
    """Strict headers on every response, with the request context's CSP nonce.

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
        context = context_of(scope)
        has_session = context is not None and context.session_cookie is not None
        nonce = context.csp_nonce if context is not None else ""

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self.headers.apply_raw(
                    message.get("headers", ()), path=path, has_session=has_session, nonce=nonce
                )
            await send(message)

        await self.app(scope, receive, send_with_headers)
