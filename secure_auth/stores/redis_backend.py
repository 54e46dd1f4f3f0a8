"""Redis-backed stores, so several workers and hosts share sessions, pending sign-ins,
the per-user session index and the refresh lock.

Values are JSON (never pickle: a stolen dump cannot execute code). Every key carries an
expiry matching the session's timeouts or the 10-minute flow lifetime, so Redis cleans up
by itself. Taking a pending flow is GETDEL: atomic and single use across workers.

When Redis cannot be reached the stores fall back to memory (logged once, loudly, and
reported by readiness) and return to Redis by themselves when it answers again. The
price: sessions and sign-ins begun during the outage live on one worker only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError
from redis.exceptions import TimeoutError as RedisTimeoutError

from secure_auth.stores.base import FLOW_LIFETIME_SECONDS
from secure_auth.stores.memory import MemorySessionStore, MemoryStateStore

logger = logging.getLogger("secure_auth.redis")

T = TypeVar("T")
REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
RETRY_AFTER_SECONDS = 5.0
LOCK_TIMEOUT_SECONDS = 30.0
INDEX_TTL_SECONDS = 7 * 24 * 3600


def connect(url: str, *, timeout: float = 2.0) -> redis.Redis:
    """A client with a connection pool and short timeouts (a slow Redis must not stall pages)."""
    # A blocking pool: under a burst, requests wait for a connection (up to `timeout`)
    # instead of failing, and a burst is never mistaken for Redis being down.
    pool = redis.BlockingConnectionPool.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
        decode_responses=True,
        max_connections=64,
        timeout=timeout,
    )
    return redis.Redis(connection_pool=pool)


async def close_client(client: redis.Redis) -> None:
    """Close the client and its pool's connections."""
    await client.aclose()
    await client.connection_pool.disconnect()


class RedisHealth:
    """Shared by the stores of one app: whether Redis is answering, and when to try again."""

    def __init__(self) -> None:
        self.degraded = False
        self._retry_at = 0.0

    def should_try(self) -> bool:
        return not self.degraded or time.monotonic() >= self._retry_at

    def failed(self, exc: BaseException) -> None:
        if not self.degraded:
            logger.error(
                "REDIS UNREACHABLE (%s): falling back to in-process memory; sessions and sign-ins started "
                "now live on this worker only until Redis is back",
                type(exc).__name__,
            )
        self.degraded = True
        self._retry_at = time.monotonic() + RETRY_AFTER_SECONDS

    def succeeded(self) -> None:
        if self.degraded:
            logger.warning("Redis is reachable again: shared stores resumed")
        self.degraded = False


class _Fallback:
    def __init__(self, health: RedisHealth) -> None:
        self.health = health

    async def _try(self, call: Callable[[], Awaitable[T]], fallback: Callable[[], Awaitable[T]]) -> T:
        if self.health.should_try():
            try:
                result = await call()
            except REDIS_ERRORS as exc:
                self.health.failed(exc)
            else:
                self.health.succeeded()
                return result
        return await fallback()


class RedisStateStore(_Fallback):
    def __init__(self, client: redis.Redis, prefix: str, health: RedisHealth, *, owns_client: bool = False) -> None:
        super().__init__(health)
        self.client = client
        self.prefix = prefix + "flow:"
        self.memory = MemoryStateStore()
        self.owns_client = owns_client

    async def close(self) -> None:
        if self.owns_client:
            await close_client(self.client)

    async def put(self, key: str, flow: dict[str, Any]) -> None:
        value = json.dumps(flow)
        await self._try(
            lambda: self.client.set(self.prefix + key, value, ex=FLOW_LIFETIME_SECONDS),
            lambda: self.memory.put(key, flow),
        )

    async def take(self, key: str) -> dict[str, Any] | None:
        async def from_redis() -> dict[str, Any] | None:
            raw = await self.client.getdel(self.prefix + key)
            if raw is None:
                return await self.memory.take(key)  # begun during an outage on this worker
            return json.loads(raw)

        return await self._try(from_redis, lambda: self.memory.take(key))


class RedisSessionStore(_Fallback):
    backend = "redis"

    def __init__(self, client: redis.Redis, prefix: str, health: RedisHealth, *, owns_client: bool = False) -> None:
        super().__init__(health)
        self.client = client
        self.prefix = prefix
        self.memory = MemorySessionStore()
        self.owns_client = owns_client
        self._pending_deletes: set[str] = set()

    async def ping(self, timeout: float = 3.0) -> bool:
        """Whether Redis answers now. It reports, and leaves the fallback's state alone."""
        try:
            return bool(await asyncio.wait_for(self.client.ping(), timeout=timeout))
        except Exception:  # unreachable, refused, timed out: all mean "not Redis right now"
            return False

    async def close(self) -> None:
        if self.owns_client:
            await close_client(self.client)

    async def _flush_pending_deletes(self) -> None:
        while self._pending_deletes:
            session_id = next(iter(self._pending_deletes))
            await self.client.delete(self._key(session_id))
            self._pending_deletes.discard(session_id)

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}"

    def _index(self, index: str, key: str) -> str:
        return f"{self.prefix}index:{index}:{key}"

    async def get(self, session_id: str) -> dict[str, Any] | None:
        if self._pending_deletes:  # sign-outs from an outage: replay them once Redis answers
            await self._try(self._flush_pending_deletes, _nothing)
        if session_id in self._pending_deletes:
            return None

        async def from_redis() -> dict[str, Any] | None:
            raw = await self.client.get(self._key(session_id))
            if raw is None:
                return await self.memory.get(session_id)
            return json.loads(raw)

        return await self._try(from_redis, lambda: self.memory.get(session_id))

    async def set(self, session_id: str, record: dict[str, Any], ttl: float) -> None:
        value = json.dumps(record, separators=(",", ":"))
        await self._try(
            lambda: self.client.set(self._key(session_id), value, px=max(1, int(ttl * 1000))),
            lambda: self.memory.set(session_id, record, ttl),
        )

    async def replace(self, session_id: str, record: dict[str, Any], ttl: float) -> bool:
        value = json.dumps(record, separators=(",", ":"))

        async def to_redis() -> bool:
            if await self.client.set(self._key(session_id), value, px=max(1, int(ttl * 1000)), xx=True):
                return True
            return await self.memory.replace(session_id, record, ttl)  # begun during an outage

        return await self._try(to_redis, lambda: self.memory.replace(session_id, record, ttl))

    async def delete(self, session_id: str) -> None:
        await self.memory.delete(session_id)

        async def remember() -> None:
            # Redis is unreachable: delete it there once it answers again, and meanwhile
            # never serve it (a sign-out during an outage must not come undone).
            self._pending_deletes.add(session_id)

        await self._try(lambda: self.client.delete(self._key(session_id)), remember)

    async def index_add(self, index: str, key: str, session_id: str) -> None:
        async def to_redis() -> None:
            name = self._index(index, key)
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.sadd(name, session_id)
                pipe.expire(name, INDEX_TTL_SECONDS)
                await pipe.execute()

        await self._try(to_redis, lambda: self.memory.index_add(index, key, session_id))

    async def index_remove(self, index: str, key: str, session_id: str) -> None:
        await self.memory.index_remove(index, key, session_id)
        await self._try(lambda: self.client.srem(self._index(index, key), session_id), _nothing)

    async def index_members(self, index: str, key: str) -> list[str]:
        local = await self.memory.index_members(index, key)

        async def from_redis() -> list[str]:
            members = {_text(m) for m in await self.client.smembers(self._index(index, key))}
            return sorted(members | set(local))

        return await self._try(from_redis, lambda: _value(local))

    @asynccontextmanager
    async def lock(self, name: str) -> AsyncIterator[None]:
        """A lock across processes (Redis, with a timeout so a crashed holder cannot block
        forever). The caller already holds its in-process lock, which is all that is left
        while Redis is unreachable."""
        lock = self.client.lock(
            f"{self.prefix}lock:{name}", timeout=LOCK_TIMEOUT_SECONDS, blocking_timeout=LOCK_TIMEOUT_SECONDS
        )
        acquired = False
        if self.health.should_try():
            try:
                acquired = bool(await lock.acquire())
            except REDIS_ERRORS as exc:
                self.health.failed(exc)
        try:
            yield
        finally:
            if acquired:
                try:
                    await lock.release()
                except (LockError, *REDIS_ERRORS):
                    pass  # expired meanwhile, or Redis went away: its timeout frees it

    async def count(self, limit: int = 100_000) -> int:
        """Sessions in Redis under this prefix (a bounded SCAN), plus outage ones here."""
        local = await self.memory.count()

        async def from_redis() -> int:
            total = 0
            async for _ in self.client.scan_iter(match=f"{self.prefix}session:*", count=1000):
                total += 1
                if total >= limit:
                    break
            return total + local

        return await self._try(from_redis, lambda: _value(local))


async def _nothing() -> None:
    return None


async def _value(value: T) -> T:
    return value


def _text(value: bytes | str) -> str:
    """The client decodes replies (decode_responses=True); redis-py's types still allow bytes."""
    return value if isinstance(value, str) else value.decode()
