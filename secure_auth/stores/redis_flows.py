"""Backups of pending sign-ins in Redis, bounded: each put records its key in a sorted set by
time and trims the set (and the entries it names) to the newest MAX_FLOW_BACKUPS, in one
script, so a flood of abandoned sign-ins cannot grow Redis. Taken with GETDEL (atomic and
single use across workers); in this worker's memory while Redis is away."""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio as redis

from secure_auth.stores.base import FLOW_LIFETIME_SECONDS, MAX_FLOW_BACKUPS, pressure_of
from secure_auth.stores.memory import USED, MemoryStateStore
from secure_auth.stores.redis_client import Fallback, RedisHealth, close_client

# KEYS: the entry, the index. ARGV: the value, its lifetime (s), the bound, "claim" to read
# the entry's previous value in the same step, and the time (the caller's clock: a script
# that calls TIME needs more than the shipped Redis ACL user is granted). Returns {the
# index's size, previous}.
PUT_BOUNDED = """
local previous = false
if ARGV[4] == 'claim' then previous = redis.call('GET', KEYS[1]) end
local score = tonumber(ARGV[5])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], score, KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', score - tonumber(ARGV[2]))
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if over > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #oldest, 2 do redis.call('DEL', oldest[i]) end
end
redis.call('EXPIRE', KEYS[2], ARGV[2])
return {redis.call('ZCARD', KEYS[2]), previous}
"""

TAKE = """
local value = redis.call('GETDEL', KEYS[1])
redis.call('ZREM', KEYS[2], KEYS[1])
return value
"""


class RedisStateStore(Fallback):
    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        health: RedisHealth,
        *,
        owns_client: bool = False,
        max_entries: int = MAX_FLOW_BACKUPS,
    ) -> None:
        super().__init__(health)
        self.client = client
        self.prefix = prefix + "flow:"
        self.index = prefix + "flows"
        self.max_entries = max_entries
        self.memory = MemoryStateStore()
        self.owns_client = owns_client
        self._put = client.register_script(PUT_BOUNDED)
        self._take = client.register_script(TAKE)
        self._size = 0  # as the last put found it: pressure() must not wait for Redis

    def pressure(self) -> str | None:
        in_redis = pressure_of("pending sign-ins (backups) in Redis", self._size, self.max_entries)
        return self._pressure(in_redis or self.memory.pressure())

    async def close(self) -> None:
        if self.owns_client:
            await close_client(self.client)

    async def put(self, key: str, flow: dict[str, Any]) -> None:
        await self._try(lambda: self._write(key, flow, claim=False), lambda: self.memory.put(key, flow))

    async def claim(self, key: str) -> dict[str, Any] | None:
        async def in_redis() -> dict[str, Any] | None:
            previous = await self._write(key, USED, claim=True)
            return previous if previous is not None else await self.memory.claim(key)

        return await self._try(in_redis, lambda: self.memory.claim(key))

    async def _write(self, key: str, flow: dict[str, Any], *, claim: bool) -> dict[str, Any] | None:
        args: list[str | int | float] = [
            json.dumps(flow),
            FLOW_LIFETIME_SECONDS,
            self.max_entries,
            "claim" if claim else "",
            time.time(),
        ]
        size, previous = await self._put(keys=[self.prefix + key, self.index], args=args)
        self._size = int(size)
        return json.loads(previous) if previous else None

    async def take(self, key: str) -> dict[str, Any] | None:
        async def from_redis() -> dict[str, Any] | None:
            raw = await self._take(keys=[self.prefix + key, self.index])
            if raw is None:
                return await self.memory.take(key)  # begun during an outage on this worker
            return json.loads(raw)

        return await self._try(from_redis, lambda: self.memory.take(key))
