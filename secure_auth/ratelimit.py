"""Rate limits per client address, with slowapi's limiter and storage backends.

A pure ASGI middleware (no BaseHTTPMiddleware, no second routing pass): the bucket is
chosen by path, so the check costs a dictionary lookup and a counter increment with
the memory storage. /auth/login and /auth/callback share the stricter RATE_LIMIT_AUTH
bucket, the API proxy has RATE_LIMIT_API; /health and static files are exempt. The client address is the connection's
peer, or the forwarded one only when ProxyHeadersMiddleware trusted the peer
(FORWARDED_ALLOW_IPS), so a forged X-Forwarded-For cannot dodge a limit.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter, RateLimiter
from slowapi import Limiter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from secure_auth.config import Settings
from secure_auth.events import security_event
from secure_auth.rendering import error_response, request_id

logger = logging.getLogger("secure_auth.ratelimit")
STORAGE_RETRY_SECONDS = 5.0
AUTH_PATHS = frozenset({"/auth/login", "/auth/callback"})
API_PREFIX = "/api/proxy/"
EXEMPT_PREFIXES = ("/static/", "/health")


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def build_limiter(settings: Settings) -> Limiter:
    return Limiter(key_func=lambda request: client_address(request.scope), storage_uri=settings.rate_limit_storage,
                   strategy="fixed-window")


class RateLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, limiter: Limiter, default_limits: str, auth_limits: str, api_limits: str
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.default: list[RateLimitItem] = parse_many(default_limits)
        self.auth: list[RateLimitItem] = parse_many(auth_limits)
        self.api: list[RateLimitItem] = parse_many(api_limits)
        # A networked storage (Redis) blocks: keep it off the event loop.
        self.blocking = not type(limiter._storage).__name__.startswith("Memory")
        self.fallback: RateLimiter = FixedWindowRateLimiter(MemoryStorage())
        self._storage_down_until = 0.0

    def _strategy(self) -> RateLimiter:
        if self._storage_down_until > time.monotonic():
            return self.fallback
        return self.limiter.limiter

    def _hit(self, bucket: str, items: list[RateLimitItem], key: str) -> int | None:
        """Count the request; return seconds to wait when a limit is exceeded. A storage
        that cannot be reached (Redis down) gives way to per-process counters for a while."""
        try:
            return self._count(self._strategy(), bucket, items, key)
        except Exception as exc:  # the storage's own errors (redis, memcached, ...)
            if self._storage_down_until <= time.monotonic():
                logger.error("rate-limit storage unreachable (%s): counting in this process for now", type(exc).__name__)
            self._storage_down_until = time.monotonic() + STORAGE_RETRY_SECONDS
            return self._count(self.fallback, bucket, items, key)

    @staticmethod
    def _count(strategy: RateLimiter, bucket: str, items: list[RateLimitItem], key: str) -> int | None:
        exceeded = [item for item in items if not strategy.hit(item, bucket, key)]
        if not exceeded:
            return None
        resets = [strategy.get_window_stats(item, bucket, key).reset_time for item in exceeded]
        return max(1, math.ceil(max(resets) - time.time()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        if path in AUTH_PATHS:
            bucket, items = "auth", self.auth
        elif path.startswith(API_PREFIX):
            bucket, items = "api", self.api  # a page's script calls the API far more often
        else:
            bucket, items = "default", self.default
        key = client_address(scope)
        if self.blocking:
            retry_after = await run_in_threadpool(self._hit, bucket, items, key)
        else:
            retry_after = self._hit(bucket, items, key)
        if retry_after is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        security_event("rate_limited", request_id(request), bucket=bucket, client=key, path=path)
        response = error_response(
            request, 429, "Too many requests", f"Too many requests. Try again in {retry_after} seconds.",
            reason="rate_limited", headers={"retry-after": str(retry_after)},
        )
        await response(scope, receive, send)
