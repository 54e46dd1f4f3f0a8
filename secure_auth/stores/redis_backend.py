"""Redis-backed stores, so several workers and hosts share sessions, pending sign-ins,
the per-user session index and the refresh lock.

A session is a record and, beside it, its sealed token cache (stores/redis_records.py): a
page view reads only the record. Every key carries an expiry matching the session's
timeouts or the 10-minute flow lifetime, so Redis cleans up by itself. Taking a pending
flow is GETDEL: atomic and single use across workers.

When Redis cannot be reached the stores fall back to memory (logged once, loudly, and
reported by readiness) and return to Redis by themselves when it answers again. The
price: sessions and sign-ins begun during the outage live on one worker only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import redis.asyncio as redis
from redis.exceptions import LockError, RedisError

from secure_auth.crypto.sealing import Sealer
from secure_auth.stores.memory import MemorySessionStore
from secure_auth.stores.redis_batch import ScriptBatcher
from secure_auth.stores.redis_client import (
    OPERATION_TIMEOUT_SECONDS,
    REDIS_ERRORS,
    Fallback,
    RedisHealth,
    close_client,
    connect,
)
from secure_auth.stores.redis_flows import RedisStateStore
from secure_auth.stores.redis_records import COUNT_AND_GET, REPLACE, SessionRecords

__all__ = ["RedisHealth", "RedisSessionStore", "RedisStateStore", "connect"]

logger = logging.getLogger("secure_auth.redis")
T = TypeVar("T")
LOCK_TIMEOUT_SECONDS = 30.0
COUNT_TIMEOUT_SECONDS = 10.0  # a SCAN of up to 100,000 sessions, for the metrics gauge
INDEX_TTL_SECONDS = 7 * 24 * 3600


class RedisSessionStore(Fallback):
    backend = "redis"

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        health: RedisHealth,
        *,
        owns_client: bool = False,
        sealer: Sealer | None = None,
    ) -> None:
        super().__init__(health)
        self.client = client
        self.prefix = prefix
        self.records = SessionRecords(prefix, sealer)  # the record, and its sealed token cache beside it
        self.memory = MemorySessionStore()
        self.owns_client = owns_client
        self._pending_deletes: set[str] = set()
        self._count_and_get = ScriptBatcher(client, health, COUNT_AND_GET)
        self._replace = client.register_script(REPLACE)

    def pressure(self) -> str | None:
        return self._pressure(self.memory.pressure())

    async def ping(self, timeout: float = 3.0) -> bool:
        """Whether Redis answers now. It reports, and leaves the fallback's state alone."""
        try:
            async with self.health.bounded(timeout):
                return bool(await self.client.ping())
        except Exception:  # unreachable, refused, timed out: all mean "not Redis right now"
            return False

    async def close(self) -> None:
        if self.owns_client:
            await close_client(self.client)

    async def _flush_pending_deletes(self) -> None:
        while self._pending_deletes:
            session_id = next(iter(self._pending_deletes))
            await self.client.delete(*self.records.keys(session_id))
            self._pending_deletes.discard(session_id)

    def _index(self, index: str, key: str) -> str:
        return f"{self.prefix}index:{index}:{key}"

    async def get(self, session_id: str) -> dict[str, Any] | None:
        if self._pending_deletes:  # sign-outs from an outage: replay them once Redis answers
            await self._try(self._flush_pending_deletes, _nothing)
        if session_id in self._pending_deletes:
            return None

        async def from_redis() -> dict[str, Any] | None:
            raw, tokens = await self.client.mget(self.records.keys(session_id))
            if raw is None:
                return await self.memory.get(session_id)
            try:
                return self.records.decode(session_id, _text(raw), tokens=_text(tokens) if tokens is not None else "")
            except ValueError:
                logger.warning("discarding a session record that is not a JSON object")
                return None

        return await self._try(from_redis, lambda: self.memory.get(session_id))

    async def count_and_get(
        self, counters: Sequence[tuple[str, int]], session_id: str | None
    ) -> tuple[list[int], dict[str, Any] | None] | None:
        """One command for a page view: increment each rate-limit counter (its key under this
        app's prefix, its window in seconds set as the expiry when the window opens) and read
        the session, in one server-side script. None when Redis cannot be asked now, or outage
        sign-outs wait to be replayed: the caller then takes the ordinary path."""
        if self._pending_deletes or not self.health.should_try():
            return None
        keys = [f"{self.prefix}rl:{key}" for key, _ in counters]
        if session_id is not None:
            keys.append(self.records.key(session_id))
        try:
            # Shares its round trip with the other page views of this turn of the loop.
            results = await self._count_and_get.run(keys, [window for _, window in counters])
        except REDIS_ERRORS as exc:
            self.health.failed(exc)
            return None
        except RedisError as exc:  # answering, but refusing (out of memory, read-only replica)
            self.health.refused(exc)
            return None
        self.health.succeeded()
        counts = [int(count) for count in results[:-1]]
        if session_id is None:
            return counts, None
        raw = results[-1]
        if not raw:
            return counts, await self.memory.get(session_id)  # begun during an outage
        try:
            # A page view needs no token: the cache stays in Redis (TokenService re-reads the
            # session whole when it needs one), so no page view reads or opens a refresh token.
            return counts, self.records.decode(session_id, raw, tokens=None)
        except ValueError:
            logger.warning("discarding a session record that is not JSON")
            return counts, None

    async def set(self, session_id: str, record: dict[str, Any], ttl: float) -> None:
        value, tokens = self.records.encode(session_id, record)
        expiry = max(1, int(ttl * 1000))

        async def to_redis() -> None:
            async with self.client.pipeline(transaction=True) as pipe:  # both, or neither
                pipe.set(self.records.key(session_id), value, px=expiry)
                if tokens is None:
                    pipe.pexpire(self.records.tokens_key(session_id), expiry)
                elif tokens:
                    pipe.set(self.records.tokens_key(session_id), tokens, px=expiry)
                else:
                    pipe.delete(self.records.tokens_key(session_id))
                await pipe.execute()

        await self._try(to_redis, lambda: self.memory.set(session_id, record, ttl))

    async def replace(self, session_id: str, record: dict[str, Any], ttl: float) -> bool:
        value, tokens = self.records.encode(session_id, record)
        action = "keep" if tokens is None else "set" if tokens else "delete"
        keys = self.records.keys(session_id)

        async def to_redis() -> bool:
            if await self._replace(keys=keys, args=[value, max(1, int(ttl * 1000)), action, tokens or ""]):
                return True
            return await self.memory.replace(session_id, record, ttl)  # begun during an outage

        return await self._try(to_redis, lambda: self.memory.replace(session_id, record, ttl))

    async def delete(self, session_id: str) -> None:
        await self.memory.delete(session_id)

        async def remember() -> None:
            # Redis is unreachable: delete it there once it answers again, and meanwhile
            # never serve it (a sign-out during an outage must not come undone).
            self._pending_deletes.add(session_id)

        await self._try(lambda: self.client.delete(*self.records.keys(session_id)), remember)

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
                # Outside the operation slots (it may wait): bounded by its own deadline.
                async with asyncio.timeout(LOCK_TIMEOUT_SECONDS + OPERATION_TIMEOUT_SECONDS), self.health.lock_slots:
                    acquired = bool(await lock.acquire())
            except REDIS_ERRORS as exc:
                self.health.failed(exc)
            except RedisError as exc:  # full or read-only: the in-process lock is what is left
                self.health.refused(exc)
        try:
            yield
        finally:
            if acquired:
                try:
                    async with asyncio.timeout(OPERATION_TIMEOUT_SECONDS), self.health.lock_slots:
                        await lock.release()
                except (LockError, RedisError, *REDIS_ERRORS):
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

        return await self._try(from_redis, lambda: _value(local), seconds=COUNT_TIMEOUT_SECONDS)


async def _nothing() -> None:
    return None


async def _value(value: T) -> T:
    return value


def _text(value: bytes | str) -> str:
    """The client decodes replies (decode_responses=True); redis-py's types still allow bytes."""
    return value if isinstance(value, str) else value.decode()
