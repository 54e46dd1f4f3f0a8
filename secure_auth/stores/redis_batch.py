"""Page views that ask Redis in the same turn of the event loop share one command.

Each page view runs one Lua function (its rate-limit counters and its session read). Under
load many page views reach that point together; sending them one by one costs each a
connection checkout, a write, a wake-up for the reply and a context switch to Redis and
back, and a command for redis-py to pack and Redis to parse and dispatch. Here they are
queued, and the first one schedules a flush for the next turn of the loop: one script call
runs the function for each of them in turn, and each caller gets its own reply or its own
error (a call that fails fails alone). A page view alone waits for nothing more than a turn
of the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis
from redis.exceptions import NoScriptError, ResponseError

from secure_auth.stores.redis_client import RedisHealth

Call = tuple[Sequence[str], Sequence[Any], "asyncio.Future[Any]"]
MAX_BATCH = 256  # calls in one script: a burst beyond goes in the next
# Runs `call` (defined above it) for each queued call. KEYS: every call's keys in turn;
# ARGV: the number of calls, then for each its key count, its argument count and its
# arguments. A call that raises gives its own error reply; the others go on.
BATCH = """
local replies = {}
local k, a = 1, 2
for c = 1, tonumber(ARGV[1]) do
  local nkeys, nargs = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  a = a + 2
  local keys, argv = {}, {}
  for i = 1, nkeys do keys[i] = KEYS[k]; k = k + 1 end
  for i = 1, nargs do argv[i] = ARGV[a]; a = a + 1 end
  local ok, reply = pcall(call, keys, argv)
  if ok then replies[c] = reply or false
  elseif type(reply) == 'table' and reply.err then replies[c] = reply
  else replies[c] = {err = tostring(reply)} end
end
return replies
"""


class ScriptBatcher:
    """`function`: Lua source defining `local function call(keys, argv)`, which returns one
    call's reply."""

    def __init__(self, client: redis.Redis, health: RedisHealth, function: str) -> None:
        self.client = client
        self.health = health
        self.script = function + BATCH
        self.sha = client.register_script(self.script).sha
        self._queue: list[Call] = []
        self._flushing: set[asyncio.Task[None]] = set()

    async def run(self, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """The script's reply for these keys and arguments; raises what Redis or the
        connection raised (a timeout past the operation deadline included)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((keys, args, future))
        if len(self._queue) == 1:
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        if self._queue:
            asyncio.get_running_loop().call_soon(self._flush)
        task = asyncio.create_task(self._send(batch))
        self._flushing.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._flushing.discard)

    async def _send(self, batch: list[Call]) -> None:
        try:
            async with self.health.bounded():
                replies = await self._execute(batch)
            if len(replies) != len(batch):
                raise ResponseError(f"{len(replies)} replies to {len(batch)} calls")
        except BaseException as exc:  # every caller learns of it; none is left waiting
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(_fresh(exc))
            if not isinstance(exc, Exception):
                raise
            return
        for (_, _, future), reply in zip(batch, replies, strict=True):
            if future.done():  # its page view was cancelled (the browser went away)
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _execute(self, batch: list[Call]) -> list[Any]:
        keys = [key for call_keys, _, _ in batch for key in call_keys]
        args: list[Any] = [len(batch)]
        for call_keys, call_args, _ in batch:
            args += [len(call_keys), len(call_args), *call_args]
        try:
            replies = await self.client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            # Redis restarted (or flushed its scripts) since we last used it: load, once more.
            await self.client.script_load(self.script)
            replies = await self.client.evalsha(self.sha, len(keys), *keys, *args)
        return list(replies)


def _fresh(exc: BaseException) -> BaseException:
    """An exception instance per caller: one object raised in many tasks would share (and
    grow) one traceback."""
    try:
        return type(exc)(*exc.args)
    except Exception:
        return exc
