"""Host header check: a request for a host this app does not serve gets a 400 page.

Like Starlette's TrustedHostMiddleware (same `*.example.com` patterns), but the refusal
is the app's own error page with a request id, and a `host_rejected` security event.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from secure_auth.events import security_event
from secure_auth.middleware import scope_header
from secure_auth.rendering import error_response, request_id


def host_of(header_value: str) -> str:
    """The host part of a Host header, lower-cased, without the port."""
    value = header_value.strip().lower()
    if value.startswith("["):  # [IPv6]:port
        return value.split("]", 1)[0] + "]"
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def host_allowed(host: str, allowed: list[str]) -> bool:
    for pattern in allowed:
        if pattern == "*" or host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


class HostCheckMiddleware:
    def __init__(self, app: ASGIApp, *, allowed_hosts: list[str]) -> None:
        self.app = app
        self.allowed = [h.lower() for h in allowed_hosts]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = scope_header(scope, b"host")
        if host_allowed(host_of(header), self.allowed):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        security_event("host_rejected", request_id(request), host=header[:100] or "(none)")
        response = error_response(request, 400, "Bad request", "This site is not served under that host name.",
                                  reason="host_rejected")
        await response(scope, receive, send)
