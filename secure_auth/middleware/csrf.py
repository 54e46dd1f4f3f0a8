"""The CSRF guard, wrapping every request, so every route mounted now or later (feature
routers included) gets it and none can forget it. Safe methods pass at no cost.

An unsafe request must not come from another site (Origin, else Sec-Fetch-Site), and with
a session it must carry the session's CSRF token (header `X-CSRF-Token`, or form field
`csrf_token`), compared in constant time. A form body is read, within
MAX_REQUEST_BODY_BYTES, to find the token, then replayed to the route untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from secure_auth.config.origins import normalised_origin
from secure_auth.crypto.primitives import constant_time_equals
from secure_auth.middleware.request_context import scope_header
from secure_auth.operations.events import security_event
from secure_auth.web.context import RequestContext, context_of
from secure_auth.web.rendering import Refuse

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_REFUSED = "This form has expired or did not come from this site. Go back, reload the page and try again."


class BodyTooLarge(Exception):
    pass


def cross_site_reason(origin: str, sec_fetch_site: str, base_url: str, cors_origins: list[str]) -> str | None:
    """Why a request looks cross-site (Origin, else Sec-Fetch-Site), or None."""
    if origin == "null":
        # Chromium sends an opaque Origin for this site's own forms on a page served with
        # Referrer-Policy: no-referrer (the /auth/ pages). Sec-Fetch-Site, which no script can
        # set, tells the site's own form from a sandboxed frame or a data: URL elsewhere.
        return None if sec_fetch_site == "same-origin" else "opaque_origin"
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


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()  # a cut-off form must never reach the route as whole
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the route the body already read, then the real channel."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class CsrfMiddleware:
    def __init__(
        self, app: ASGIApp, *, base_url: str, cors_origins: list[str], max_form_bytes: int, refuse: Refuse
    ) -> None:
        self.app = app
        self.max_form_bytes = max_form_bytes
        self.base_url = base_url
        self.cors_origins = cors_origins
        self.refuse = refuse

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            return self.app(scope, receive, send)  # nothing to guard: not even a frame of ours
        return self._guard(scope, receive, send)

    async def _guard(self, scope: Scope, receive: Receive, send: Send) -> None:
        context = context_of(scope)
        origin, fetch_site = scope_header(scope, b"origin"), scope_header(scope, b"sec-fetch-site")
        reason = cross_site_reason(origin, fetch_site, self.base_url, self.cors_origins)
        session = context.session if context is not None else None
        if reason is None and session is not None:
            reason, receive = await self._token_reason(scope, receive, context, session.csrf_token)
        if reason is None:
            await self.app(scope, receive, send)
            return
        if reason == "client_gone":
            return  # nobody is listening, and the route must not act on part of a form
        security_event("csrf_rejected", context.request_id if context else None, reason=reason, path=scope["path"])
        if reason == "form_too_large":
            message = f"A form may send at most {self.max_form_bytes} bytes."
            response = await self.refuse(scope, 413, "body_too_large", title="Request too large", message=message)
        elif reason == "malformed_form":
            message = "The form could not be read."
            response = await self.refuse(scope, 400, "invalid_input", title="Bad request", message=message)
        else:
            response = await self.refuse(scope, 403, "csrf_rejected", title="Request refused", message=_REFUSED)
        await response(scope, receive, send)

    async def _token_reason(
        self, scope: Scope, receive: Receive, context: RequestContext | None, expected: str
    ) -> tuple[str | None, Receive]:
        supplied: str | None = scope_header(scope, b"x-csrf-token") or None
        content_type = scope_header(scope, b"content-type")
        if supplied is None and "form" in content_type:
            try:
                body = await read_body(receive, self.max_form_bytes)
            except BodyTooLarge:
                return "form_too_large", receive
            except ClientDisconnect:
                return "client_gone", receive
            receive = replay(body, receive)
            try:
                form = await Request(scope, replay(body, _nothing_more)).form()
            except (HTTPException, MultiPartException):
                return "malformed_form", receive
            try:
                value = form.get("csrf_token")
            finally:
                await form.close()
            supplied = value if isinstance(value, str) else None
            if context is not None:
                context.token_in_form = True
        if constant_time_equals(supplied, expected):
            return None, receive
        return ("missing_token" if not supplied else "wrong_token"), receive


async def _nothing_more() -> Message:
    return {"type": "http.disconnect"}
