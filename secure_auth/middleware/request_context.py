"""Creates each request's context: request id, CSP nonce, client address, session cookie.

Pure ASGI, like the rest of the middleware: responses stream through untouched. The
request id is a sane incoming X-Request-ID (a proxy's) or a new one, and is echoed on
the response.
"""

from __future__ import annotations

import re
import secrets

from starlette.datastructures import MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from secure_auth.web.context import CONTEXT_KEY, RequestContext

REQUEST_ID_HEADER = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def scope_header(scope: Scope, name: bytes) -> str:
    """The first value of a (lower-case) header in an ASGI scope, or ""."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


def new_request_id() -> str:
    return secrets.token_hex(8)


def new_csp_nonce() -> str:
    return secrets.token_urlsafe(16)


def client_address(scope: Scope) -> str:
    """The connection's peer, or the forwarded address when a trusted proxy's headers
    were applied further out (FORWARDED_ALLOW_IPS)."""
    client = scope.get("client")
    return client[0] if client else "unknown"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, session_cookie_name: str) -> None:
        self.app = app
        self.session_cookie_name = session_cookie_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = scope_header(scope, b"x-request-id")
        request_id = incoming if _SANE_REQUEST_ID.match(incoming) else new_request_id()
        cookie_header = scope_header(scope, b"cookie")
        cookie = cookie_parser(cookie_header).get(self.session_cookie_name) if cookie_header else None
        scope[CONTEXT_KEY] = RequestContext(
            request_id=request_id, csp_nonce=new_csp_nonce(), client_ip=client_address(scope), session_cookie=cookie
        )

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)
