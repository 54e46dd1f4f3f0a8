"""In-process stores: one worker's pending sign-ins and sessions.

Values are kept as JSON text, so each caller gets its own copy and a concurrent writer
can never leave a half-updated record behind.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from secure_auth.stores.base import (
    FLOW_LIFETIME_SECONDS,
    MAX_FLOW_BACKUPS,
    TOKEN_CACHE_NOT_READ,
    Clock,
    pressure_of,
)

logger = logging.getLogger("secure_auth.stores")
USED = {"used": True}  # what a claimed key holds


def _purge_front(entries: OrderedDict[str, Any], now: float) -> list[str]:
    """Drop expired entries from the front; stop at the first live one. Returns their keys."""
    dropped = []
    while entries:
        expires_at = next(iter(entries.values()))[0]
        if expires_at > now:
            break
        dropped.append(entries.popitem(last=False)[0])
    return dropped


class MemoryStateStore:
    """Entries share one lifetime, so insertion order is expiry order: purging pops
    expired entries off the front and never scans the rest. When full, the oldest entry
    goes: this store is the backup of flows the browser carries itself (identity/pending.py),
    so a flood of /auth/login requests evicts only backups and never refuses a sign-in."""

    def __init__(
        self, *, ttl: float = FLOW_LIFETIME_SECONDS, max_entries: int = MAX_FLOW_BACKUPS, clock: Clock = time.monotonic
    ) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def pressure(self) -> str | None:
        _purge_front(self._entries, self._clock())
        return pressure_of("pending sign-ins (backups) in this worker", len(self._entries), self._max_entries)

    async def close(self) -> None:
        return None

    async def put(self, key: str, flow: dict[str, Any]) -> None:
        now = self._clock()
        _purge_front(self._entries, now)
        self._entries.pop(key, None)
        while len(self._entries) >= self._max_entries:
            self._entries.popitem(last=False)
        self._entries[key] = (now + self._ttl, json.dumps(flow))

    async def take(self, key: str) -> dict[str, Any] | None:
        now = self._clock()
        _purge_front(self._entries, now)
        entry = self._entries.pop(key, None)
        if entry is None or entry[0] <= now:
            return None
        return json.loads(entry[1])

    async def claim(self, key: str) -> dict[str, Any] | None:
        previous = await self.take(key)  # no await inside: nothing runs between the two steps
        await self.put(key, USED)
        return previous


class MemorySessionStore:
    """Sessions in this process. Every write moves the entry to the back, so the front
    holds the least recently written ones; purging pops expired entries off the front
    until it meets a live one (reads still check expiry themselves)."""

    backend = "memory"

    def __init__(self, *, max_entries: int = 100_000, clock: Clock = time.monotonic) -> None:
        self._max_entries = max_entries
        self._clock = clock
        # id -> (expires at, the record as JSON without its token cache, the token cache): the
        # cache is most of a record and only the token service reads it, so a page view does
        # not decode it (a string is immutable: sharing it gives no caller another's copy).
        self._entries: OrderedDict[str, tuple[float, str, str | None]] = OrderedDict()
        self._indexes: dict[tuple[str, str], set[str]] = {}
        self._memberships: dict[str, set[tuple[str, str]]] = {}  # session id -> its index keys

    def _purge(self, now: float) -> None:
        for session_id in _purge_front(self._entries, now):
            self._forget(session_id)

    def _forget(self, session_id: str) -> None:
        """Drop an ended session from every index it was in (no stale members pile up)."""
        for index_key in self._memberships.pop(session_id, ()):
            members = self._indexes.get(index_key)
            if members is not None:
                members.discard(session_id)
                if not members:
                    del self._indexes[index_key]

    def __len__(self) -> int:
        return len(self._entries)

    async def ping(self) -> bool:
        return True

    def pressure(self) -> str | None:
        return pressure_of("sessions in this worker", len(self._entries), self._max_entries)

    async def close(self) -> None:
        return None

    @asynccontextmanager
    async def lock(self, name: str) -> AsyncIterator[None]:
        """One process: the session manager's own asyncio lock is all the locking needed."""
        yield

    async def get(self, session_id: str) -> dict[str, Any] | None:
        now = self._clock()
        self._purge(now)
        entry = self._entries.get(session_id)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._entries[session_id]
            self._forget(session_id)
            return None
        record: dict[str, Any] = json.loads(entry[1])
        if entry[2] is not None:
            record["token_cache"] = entry[2]
        return record

    async def set(self, session_id: str, record: dict[str, Any], ttl: float) -> None:
        now = self._clock()
        self._purge(now)
        previous = self._entries.pop(session_id, None)
        while len(self._entries) >= self._max_entries:
            self._forget(self._entries.popitem(last=False)[0])
            logger.warning("session store full (%d sessions): ended the least recently used", self._max_entries)
        tokens = record.get("token_cache")
        if tokens == TOKEN_CACHE_NOT_READ:  # a writer that never read the cache keeps it
            tokens = previous[2] if previous is not None else None
        elif not isinstance(tokens, str):
            tokens = None
        record = {name: value for name, value in record.items() if name != "token_cache"}
        self._entries[session_id] = (now + ttl, json.dumps(record), tokens)

    async def replace(self, session_id: str, record: dict[str, Any], ttl: float) -> bool:
        entry = self._entries.get(session_id)
        if entry is None or entry[0] <= self._clock():
            return False
        await self.set(session_id, record, ttl)
        return True

    async def delete(self, session_id: str) -> None:
        self._entries.pop(session_id, None)
        self._forget(session_id)

    async def count(self) -> int:
        self._purge(self._clock())
        return len(self._entries)

    async def index_add(self, index: str, key: str, session_id: str) -> None:
        self._indexes.setdefault((index, key), set()).add(session_id)
        self._memberships.setdefault(session_id, set()).add((index, key))

    async def index_remove(self, index: str, key: str, session_id: str) -> None:
        members = self._indexes.get((index, key))
        if members is not None:
            members.discard(session_id)
            if not members:
                del self._indexes[(index, key)]
        memberships = self._memberships.get(session_id)
        if memberships is not None:
            memberships.discard((index, key))
            if not memberships:
                del self._memberships[session_id]

    async def index_members(self, index: str, key: str) -> list[str]:
        return sorted(self._indexes.get((index, key), ()))
