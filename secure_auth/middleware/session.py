"""Resolves the signed-in session once per request, before any route runs (as Starlette's
own session middleware does): the route, its dependencies and its error pages all read
the same answer from the request context."""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.types import ASGIApp, Receive, Scope, Send

from secure_auth.web.context import SessionResolver

# Liveness, metrics and static files never need to know who is signed in, and must not
# touch the store (nor extend an idle session).
SESSIONLESS_PREFIXES = ("/static/", "/health", "/metrics")


class SessionMiddleware:
    def __init__(self, app: ASGIApp, *, resolver: SessionResolver) -> None:
        self.app = app
        self.resolver = resolver

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http" or scope["path"].startswith(SESSIONLESS_PREFIXES):
            return self.app(scope, receive, send)
        return self._resolved(scope, receive, send)

    async def _resolved(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.resolver.resolve(scope)
        await self.app(scope, receive, send)
