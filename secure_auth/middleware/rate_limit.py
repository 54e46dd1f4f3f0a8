"""Rate limits per client address and per network.

A pure ASGI middleware (no BaseHTTPMiddleware, no second routing pass): the bucket is
chosen by path. /auth/login and /auth/callback share the stricter RATE_LIMIT_AUTH bucket,
the API proxy has RATE_LIMIT_API; /health and static files are exempt. Counted in this
process (the default), a check is two counter increments; on the Redis session store the
counters ride in the session read's round trip; any other RATE_LIMIT_STORAGE_URL goes
through slowapi's limiter and its storage backends. The client address is the
connection's peer, or the forwarded one only when ProxyHeadersMiddleware trusted the peer
(FORWARDED_ALLOW_IPS), so a forged X-Forwarded-For cannot dodge a limit.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Awaitable
from functools import lru_cache

from limits import RateLimitItem, parse_many
from slowapi import Limiter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from secure_auth.config import Settings
from secure_auth.middleware.pipelined_limits import PipelinedCounter
from secure_auth.middleware.request_context import client_address
from secure_auth.operations.events import security_event
from secure_auth.outbound.proxy_rules import PROXY_PREFIX
from secure_auth.stores.rate_counters import InProcessCounters, Window
from secure_auth.web.context import context_of
from secure_auth.web.rendering import Refuse

logger = logging.getLogger("secure_auth.ratelimit")
STORAGE_RETRY_SECONDS = 5.0
AUTH_PATHS = frozenset({"/auth/login", "/auth/callback"})
EXEMPT_PREFIXES = ("/static/", "/health")
IN_PROCESS_STORAGE = "secure-auth-memory://"


@lru_cache(maxsize=65_536)
def network_of(address: str) -> str:
    """The IPv4 /24 or IPv6 /64 an address belongs to (the address itself if it is none)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # a dual-stack socket's view of an IPv4 client
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _limit_key(request: Request) -> str:
    return client_address(request.scope)


def build_limiter(settings: Settings, *, in_process: bool = False) -> Limiter:
    """slowapi's Limiter on RATE_LIMIT_STORAGE_URL; `in_process`: counting happens elsewhere
    (in the Redis session read's pipeline), and this one serves only while Redis is away."""
    storage = settings.rate_limit_storage
    if in_process or storage.startswith("memory://"):
        storage = IN_PROCESS_STORAGE  # limits' MemoryStorage runs a timer thread every 10 ms
    options: dict[str, str] = {}
    if storage.split("://", 1)[0].startswith("redis"):
        options["key_prefix"] = settings.redis_key_prefix + "rl"  # every key under REDIS_KEY_PREFIX
    return Limiter(key_func=_limit_key, storage_uri=storage, storage_options=options, strategy="fixed-window")


def windows_for(bucket: str, scope: str, items: list[RateLimitItem]) -> list[Window]:
    return [(item.amount, item.get_expiry(), f"{bucket}/{scope}/{item.amount}/{item.get_expiry()}/") for item in items]


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: Limiter,
        default_limits: str,
        auth_limits: str,
        api_limits: str,
        network_factor: int,
        refuse: Refuse,
        pipelined: PipelinedCounter | None = None,
    ) -> None:
        self.app = app
        self.pipelined = pipelined
        self.limiter = limiter
        self.limits: dict[str, tuple[list[RateLimitItem], list[RateLimitItem]]] = {
            bucket: (items, [type(item)(item.amount * network_factor, item.multiples) for item in items])
            for bucket, items in (
                ("default", parse_many(default_limits)),
                ("auth", parse_many(auth_limits)),
                ("api", parse_many(api_limits)),
            )
        }
        self.windows: dict[str, tuple[list[Window], list[Window]]] = {
            bucket: (windows_for(bucket, "addr", per_address), windows_for(bucket, "net", per_network))
            for bucket, (per_address, per_network) in self.limits.items()
        }
        self.refuse = refuse
        # slowapi's public `limiter` is the limits strategy, whose `storage` is public too.
        # Counted in this process, a page view costs two dictionary updates (no `limits`
        # strategy, no key building); a networked storage (Redis, memcached) blocks, so it is
        # asked from the threadpool, and gives way to counters in this process while it is away.
        storage = limiter.limiter.storage
        self.local = storage if isinstance(storage, InProcessCounters) else None
        self.fallback = InProcessCounters()
        self._storage_down_until = 0.0

    def _count_locally(self, counters: InProcessCounters, bucket: str, address: str, network: str) -> int | None:
        """Count the request; return seconds to wait when a limit is exceeded."""
        now = time.time()
        wait: float | None = None
        per_address, per_network = self.windows[bucket]
        for windows, key in ((per_address, address), (per_network, network)):
            for amount, seconds, prefix in windows:
                count, ends = counters.count(prefix + key, seconds, now)
                if count > amount and (wait is None or ends - now > wait):
                    wait = ends - now
        return None if wait is None else max(1, math.ceil(wait))

    def _hit(self, bucket: str, address: str, network: str) -> int | None:
        """On a networked storage (in the threadpool). A storage that cannot be reached
        (Redis down) gives way to counters in this process for a while."""
        if self._storage_down_until > time.monotonic():
            return self._count_locally(self.fallback, bucket, address, network)
        per_address, per_network = self.limits[bucket]
        strategy = self.limiter.limiter
        try:
            exceeded = [
                (item, key)
                for items, key in ((per_address, address), (per_network, "net:" + network))
                for item in items
                if not strategy.hit(item, bucket, key)
            ]
            if not exceeded:
                return None
            resets = [strategy.get_window_stats(item, bucket, key).reset_time for item, key in exceeded]
        except Exception as exc:  # the storage's own errors (redis, memcached, ...)
            if self._storage_down_until <= time.monotonic():
                logger.error(
                    "rate-limit storage unreachable (%s): counting in this process for now", type(exc).__name__
                )
            self._storage_down_until = time.monotonic() + STORAGE_RETRY_SECONDS
            return self._count_locally(self.fallback, bucket, address, network)
        return max(1, math.ceil(max(resets) - time.time()))

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(EXEMPT_PREFIXES):
            return self.app(scope, receive, send)
        if path in AUTH_PATHS:
            bucket = "auth"
        elif path.startswith(PROXY_PREFIX):
            bucket = "api"  # a page's script calls the API far more often
        else:
            bucket = "default"
        context = context_of(scope)
        key = context.client_ip if context is not None else client_address(scope)
        # Per address, and per network: a few hundred addresses (or one IPv6 /64) share one.
        network = network_of(key)
        if self.pipelined is None and self.local is not None:
            # Counted in this process: nothing to wait for, so no frame of ours either.
            retry_after = self._count_locally(self.local, bucket, key, network)
            if retry_after is None:
                return self.app(scope, receive, send)
            return self._refuse(scope, receive, send, bucket, key, retry_after)
        return self._count_elsewhere(scope, receive, send, bucket, key, network)

    async def _count_elsewhere(
        self, scope: Scope, receive: Receive, send: Send, bucket: str, key: str, network: str
    ) -> None:
        """In the Redis session read's round trip (in this process while Redis cannot be
        asked), or in a networked storage from the threadpool."""
        context = context_of(scope)
        retry_after: int | bool | None = False
        if self.pipelined is not None:
            per_address, per_network = self.windows[bucket]
            retry_after = await self.pipelined.retry_after(scope, context, [(per_address, key), (per_network, network)])
        if retry_after is False:  # no pipeline, or Redis could not be asked
            if self.local is not None:
                retry_after = self._count_locally(self.local, bucket, key, network)
            else:
                retry_after = await run_in_threadpool(self._hit, bucket, key, network)
        if retry_after is None:
            await self.app(scope, receive, send)
            return
        await self._refuse(scope, receive, send, bucket, key, retry_after)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, bucket: str, key: str, retry_after: int
    ) -> None:
        context = context_of(scope)
        security_event(
            "rate_limited", context.request_id if context else None, bucket=bucket, client=key, path=scope["path"]
        )
        response = await self.refuse(
            scope,
            429,
            "rate_limited",
            title="Too many requests",
            message=f"Too many requests. Try again in {retry_after} seconds.",
            headers={"retry-after": str(retry_after)},
        )
        await response(scope, receive, send)
