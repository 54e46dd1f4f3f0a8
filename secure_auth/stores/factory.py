"""The stores an application uses, from SESSION_STORE_URL (memory or Redis)."""

from __future__ import annotations

from dataclasses import dataclass

from secure_auth.config import Settings
from secure_auth.crypto.sealing import Sealer
from secure_auth.stores import redis_backend
from secure_auth.stores.base import SessionStore, StateStore
from secure_auth.stores.memory import MemorySessionStore, MemoryStateStore

TOKEN_CACHE_PURPOSE = b"secure_auth token cache at rest v1"


@dataclass
class Stores:
    sessions: SessionStore
    flows: StateStore

    async def close(self) -> None:
        await self.sessions.close()
        await self.flows.close()


def open_stores(settings: Settings, *, sessions: SessionStore | None = None, flows: StateStore | None = None) -> Stores:
    """Stores for these settings; a store passed in (tests) is used as it is. Redis stores
    share one client, closed by whichever of them it was made for first."""
    if settings.uses_redis and (sessions is None or flows is None):
        client = redis_backend.connect(settings.session_store_url)
        health = redis_backend.RedisHealth()
        prefix = settings.redis_key_prefix
        if sessions is None:
            sealer = Sealer(settings.token_cache_keys, purpose=TOKEN_CACHE_PURPOSE)
            sessions = redis_backend.RedisSessionStore(client, prefix, health, owns_client=True, sealer=sealer)
            owner_made = True
        else:
            owner_made = False
        if flows is None:
            flows = redis_backend.RedisStateStore(client, prefix, health, owns_client=not owner_made)
    # `is None`, not `or`: an empty store has len() 0 and is falsy.
    return Stores(
        sessions=MemorySessionStore() if sessions is None else sessions,
        flows=MemoryStateStore() if flows is None else flows,
    )
