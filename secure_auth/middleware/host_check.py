"""Host header check: a request for a host this app does not serve gets a 400 page.

Like Starlette's TrustedHostMiddleware (same `*.example.com` patterns), but the refusal
is the app's own error page with a request id, and a `host_rejected` security event.
"""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.types import ASGIApp, Receive, Scope, Send

from secure_auth.middleware.request_context import scope_header
from secure_auth.operations.events import security_event
from secure_auth.web.context import context_of
from secure_auth.web.rendering import Refuse

MAX_CHECKED_HOSTS = 64


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
    def __init__(self, app: ASGIApp, *, allowed_hosts: list[str], refuse: Refuse) -> None:
        if not allowed_hosts:
            raise ValueError("HostCheckMiddleware needs at least one allowed host")
        self.app = app
        self.allowed = [h.lower() for h in allowed_hosts]
        self.refuse = refuse
        # Host headers already checked: a page view costs one dictionary lookup. Bounded, as
        # anyone can send any Host header (a full table is simply emptied).
        self._checked: dict[str, bool] = {}

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] not in ("http", "websocket"):
            return self.app(scope, receive, send)
        header = scope_header(scope, b"host")
        allowed = self._checked.get(header)
        if allowed is None:
            allowed = host_allowed(host_of(header), self.allowed)
            if len(self._checked) >= MAX_CHECKED_HOSTS:
                self._checked.clear()
            self._checked[header] = allowed
        if allowed:
            return self.app(scope, receive, send)
        return self._refuse(scope, receive, send, header)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, header: str) -> None:
        context = context_of(scope)
        security_event("host_rejected", context.request_id if context else None, host=header[:100] or "(none)")
        response = await self.refuse(
            scope,
            400,
            "host_rejected",
            title="Bad request",
            message="This site is not served under that host name.",
            show_user=False,
        )
        await response(scope, receive, send)
