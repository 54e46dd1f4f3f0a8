"""What every store backend offers: the interfaces the sessions and sign-in code rely on.

Two protocols, so a networked backend (Redis) replaces the in-memory one without
touching a caller. Values are JSON-serialisable dicts. They know nothing about HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

Clock = Callable[[], float]
FLOW_LIFETIME_SECONDS = 600
# Backups of pending sign-ins each store keeps (a few hundred bytes each; up to ~6 KB with a
# long return path or claims challenge); the oldest go first.
MAX_FLOW_BACKUPS = 10_000


PRESSURE_SHARE = 0.8  # a bounded store this full reports pressure
# A page view's record holds this for its token cache when the store left the cache where it
# lies (Redis keeps it beside the record): it is no cache, and writing the record back keeps
# the stored one. Tokens are had through TokenService, which reads the session whole.
TOKEN_CACHE_NOT_READ = "(not read)"


def pressure_of(what: str, size: int, bound: int) -> str | None:
    return f"{what}: {size} of {bound}" if size >= PRESSURE_SHARE * bound else None


class StateStore(Protocol):
    """Backups of pending sign-ins by key: single use, short lived, bounded."""

    async def put(self, key: str, flow: dict[str, Any]) -> None:
        """Keep `flow` under `key`; when full, evict the oldest entries. Never refuses: the
        browser carries its own flow, and a flood must not block the next sign-in."""
        ...

    async def take(self, key: str) -> dict[str, Any] | None:
        """Remove and return the flow under `key`; None when unknown, taken or expired."""
        ...

    async def claim(self, key: str) -> dict[str, Any] | None:
        """Mark `key` used (a marker with the flow lifetime, bounded like any entry) and
        return what it held before, in one atomic step: of two racing claims, one gets None."""
        ...

    async def close(self) -> None:
        """Release connections (at shut-down)."""
        ...

    def pressure(self) -> str | None:
        """Why the store is under pressure (near its bound, its backend refusing writes), or None."""
        ...


class SessionStore(Protocol):
    """Session records by id, with expiry, secondary indexes and a lock."""

    backend: str  # "memory" or "redis": what readiness and the doctor report

    async def get(self, session_id: str) -> dict[str, Any] | None: ...

    async def set(self, session_id: str, record: dict[str, Any], ttl: float) -> None: ...

    async def replace(self, session_id: str, record: dict[str, Any], ttl: float) -> bool:
        """Like set, but only when the session still exists (never recreates an ended one)."""
        ...

    async def delete(self, session_id: str) -> None: ...

    # Secondary indexes: a user's sessions ("user"), the sessions of an Entra sid ("sid").
    # Members may outlive their session; readers drop the ones that no longer exist.

    async def index_add(self, index: str, key: str, session_id: str) -> None: ...

    async def index_remove(self, index: str, key: str, session_id: str) -> None: ...

    async def index_members(self, index: str, key: str) -> list[str]: ...

    async def count(self) -> int:
        """How many sessions the store holds (bounded work)."""
        ...

    def lock(self, name: str) -> AbstractAsyncContextManager[None]:
        """A lock held across every process sharing the store (a no-op for one process)."""
        ...

    async def ping(self) -> bool:
        """Whether the backend answers right now (readiness); never raises."""
        ...

    def pressure(self) -> str | None:
        """Why the store is under pressure (near its bound, its backend refusing writes), or None."""
        ...

    async def close(self) -> None:
        """Release connections (at shut-down)."""
        ...
