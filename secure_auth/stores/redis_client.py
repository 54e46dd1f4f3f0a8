"""The Redis client the stores share, and how they survive Redis going away: after a
connection error they fall back to memory, say so once, and try Redis again every few
seconds."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import redis.asyncio as redis
from redis.exceptions import BusyLoadingError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("secure_auth.redis")

T = TypeVar("T")
REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
RETRY_AFTER_SECONDS = 5.0


OPERATION_TIMEOUT_SECONDS = 2.0
# Store operations in flight at once; a burst beyond waits for a slot (within the timeout).
MAX_OPERATIONS = 64
# Connections on top of those, for the cross-process locks (which wait outside the slots).
LOCK_CONNECTIONS = 16


def connect(url: str, *, timeout: float = OPERATION_TIMEOUT_SECONDS) -> redis.Redis:
    """A client whose every store operation is bounded as a whole (`RedisHealth.bounded`):
    a slow Redis cannot stall pages. That costs a page view one timer; redis-py's own
    per-read socket timeout and its blocking pool's condition cost a page view about a
    third of its Redis time (measured: 69 against 45 microseconds of CPU per operation)."""
    pool = redis.ConnectionPool.from_url(
        url,
        socket_connect_timeout=timeout,
        health_check_interval=30,
        decode_responses=True,
        max_connections=MAX_OPERATIONS + LOCK_CONNECTIONS,
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
        self._refusals_logged: dict[str, float] = {}
        self._last_refusal: tuple[str, float] | None = None
        self._slots = asyncio.Semaphore(MAX_OPERATIONS)
        # Cross-process locks wait (and sleep between tries) outside the operation slots; their
        # own slots keep the pool within MAX_OPERATIONS + LOCK_CONNECTIONS connections.
        self.lock_slots = asyncio.Semaphore(LOCK_CONNECTIONS)

    @asynccontextmanager
    async def bounded(self, seconds: float = OPERATION_TIMEOUT_SECONDS) -> AsyncIterator[None]:
        """One store operation: a slot (so the pool is never exhausted) and a deadline for the
        whole of it, the wait for the slot included. Past it: TimeoutError, an OSError."""
        async with asyncio.timeout(seconds), self._slots:
            yield

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

    def refused(self, exc: BaseException) -> None:
        """Redis answers but refused a command; logged once a minute for each kind."""
        kind = type(exc).__name__
        now = time.monotonic()
        self._last_refusal = (kind, now)
        if self._refusals_logged.get(kind, float("-inf")) + 60 <= now:
            self._refusals_logged[kind] = now
            logger.error(
                "REDIS REFUSED A COMMAND (%s): writes go to this worker's memory meanwhile; check maxmemory "
                "and that SESSION_STORE_URL points at the primary",
                kind,
            )

    def refusing(self, within: float = 60.0) -> str | None:
        """The kind of refusal Redis answered with in the last `within` seconds, if any."""
        if self._last_refusal is None or self._last_refusal[1] + within < time.monotonic():
            return None
        return self._last_refusal[0]

    def succeeded(self) -> None:
        if self.degraded:
            logger.warning("Redis is reachable again: shared stores resumed")
        self.degraded = False


class Fallback:
    def __init__(self, health: RedisHealth) -> None:
        self.health = health

    def _pressure(self, memory_pressure: str | None) -> str | None:
        refusal = self.health.refusing()
        if refusal is not None:
            return f"Redis refused writes ({refusal}) in the last minute"
        return memory_pressure

    async def _try(
        self,
        call: Callable[[], Awaitable[T]],
        fallback: Callable[[], Awaitable[T]],
        seconds: float = OPERATION_TIMEOUT_SECONDS,
    ) -> T:
        if self.health.should_try():
            try:
                async with self.health.bounded(seconds):
                    result = await call()
            except REDIS_ERRORS as exc:
                self.health.failed(exc)
            except BusyLoadingError as exc:  # restarting and loading its data: not answering yet
                self.health.failed(exc)
            except RedisError as exc:
                # Answering, but refusing this command: full at maxmemory, a read-only replica
                # after a failover. Reads go on from Redis; only this call takes the fallback.
                self.health.refused(exc)
            else:
                self.health.succeeded()
                return result
        return await fallback()
