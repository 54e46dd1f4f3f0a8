"""Creates each request's context (request id, CSP nonce, client address, session cookie)
and stamps every response with the security headers and the request id.

Pure ASGI, like the rest of the middleware: responses stream through untouched. The
request id is a sane incoming X-Request-ID (a proxy's) or a new one, and is echoed on
the response. Outermost of the app's layers, so every refusal below carries the headers;
the two jobs share one pass over each response's headers.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from collections.abc import Awaitable

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from secure_auth.middleware.security_headers import SecurityHeaders
from secure_auth.web.context import CONTEXT_KEY, RequestContext

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def scope_header(scope: Scope, name: bytes) -> str:
    """The first value of a (lower-case) header in an ASGI scope, or ""."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


def new_csp_nonce() -> str:
    return secrets.token_urlsafe(16)


def new_request_id_and_nonce() -> tuple[str, str]:
    """Both from one read of the system's random source (one system call, not two; the
    same source as `secrets`, without its two layers of Python wrappers)."""
    random = os.urandom(24)
    return random[:8].hex(), base64.urlsafe_b64encode(random[8:]).rstrip(b"=").decode("ascii")


def client_address(scope: Scope) -> str:
    """The connection's peer, or the forwarded address when a trusted proxy's headers
    were applied further out (FORWARDED_ALLOW_IPS)."""
    client = scope.get("client")
    return client[0] if client else "unknown"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, session_cookie_name: str, headers: SecurityHeaders) -> None:
        self.app = app
        self.session_cookie_name = session_cookie_name
        self.headers = headers

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        incoming = ""
        cookie = None
        for key, value in scope["headers"]:  # one pass for both
            if key == b"cookie":  # every Cookie header (HTTP/2 may split them), the last one winning
                cookie = cookie_parser(value.decode("latin-1")).get(self.session_cookie_name, cookie)
            elif key == b"x-request-id" and not incoming:
                incoming = value.decode("latin-1")
        new_id, nonce = new_request_id_and_nonce()
        request_id = incoming if _SANE_REQUEST_ID.match(incoming) else new_id
        context = RequestContext(
            request_id=request_id, csp_nonce=nonce, client_ip=client_address(scope), session_cookie=cookie
        )
        scope[CONTEXT_KEY] = context
        path: str = scope["path"]
        apply = self.headers.apply_raw

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = apply(
                    message.get("headers", ()),
                    path=path,
                    has_session=cookie is not None,
                    nonce=nonce,
                    request_id=request_id,
                )
            await send(message)

        return self.app(scope, receive, send_with_headers)
