"""Pending sign-ins in Redis: put with the 10-minute flow lifetime, taken with GETDEL (atomic
and single use across workers), in this worker's memory while Redis is away."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as redis

from secure_auth.stores.base import FLOW_LIFETIME_SECONDS
from secure_auth.stores.memory import MemoryStateStore
from secure_auth.stores.redis_client import Fallback, RedisHealth, close_client


class RedisStateStore(Fallback):
    def __init__(self, client: redis.Redis, prefix: str, health: RedisHealth, *, owns_client: bool = False) -> None:
        super().__init__(health)
        self.client = client
        self.prefix = prefix + "flow:"
        self.memory = MemoryStateStore()
        self.owns_client = owns_client

    def pressure(self) -> str | None:
        return self._pressure(self.memory.pressure())

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
