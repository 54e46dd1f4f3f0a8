"""The Redis stores against a real Redis: expiries, single use under concurrency, the
session index, the cross-process lock, and the memory fallback when Redis goes away.

CI has Redis on 127.0.0.1:6379 on this machine kind; the tests use database 15 and a
key prefix of their own, and delete their keys afterwards. The outage tests start and
stop a private redis-server on a free port.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid

import pytest
import redis as sync_redis

from secure_auth.sessions.manager import SessionManager
from secure_auth.stores.redis_backend import RedisHealth, RedisSessionStore, RedisStateStore, connect
from tests.support.servers import free_port

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
pytestmark = pytest.mark.integration


def redis_available(url: str) -> bool:
    try:
        return bool(sync_redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except sync_redis.exceptions.RedisError:
        return False


@pytest.fixture(scope="module")
def redis_url() -> str:
    if not redis_available(REDIS_URL):
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required in CI at {REDIS_URL}")
        pytest.skip(f"no Redis at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture
def prefix(redis_url: str):
    value = f"test-{uuid.uuid4().hex[:12]}:"
    yield value
    client = sync_redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=value + "*"))
    if keys:
        client.delete(*keys)


def run(coro):
    return asyncio.run(coro)


async def _stores(url: str, prefix: str):
    client = connect(url)
    health = RedisHealth()
    return client, RedisSessionStore(client, prefix, health), RedisStateStore(client, prefix, health), health


def test_flows_expire_and_are_taken_once_under_concurrency(redis_url, prefix):
    async def scenario():
        client, _, flows, health = await _stores(redis_url, prefix)
        await flows.put("state-1.binding", {"flow": {"state": "state-1"}, "next": "/x"})
        ttl = await client.ttl(prefix + "flow:state-1.binding")
        assert 590 <= ttl <= 600
        # Twenty callbacks race for one flow (as several workers would): one wins.
        other_clients = [connect(redis_url) for _ in range(4)]
        stores = [RedisStateStore(c, prefix, RedisHealth()) for c in other_clients]
        results = await asyncio.gather(*(stores[i % 4].take("state-1.binding") for i in range(20)))
        assert sum(r is not None for r in results) == 1
        assert next(r for r in results if r)["next"] == "/x"
        assert await flows.take("state-1.binding") is None
        assert not health.degraded
        for c in [client, *other_clients]:
            await c.aclose()

    run(scenario())


def test_flow_backups_are_bounded_evicting_the_oldest(redis_url, prefix):
    """A flood of abandoned sign-ins cannot grow Redis: the backups stay at their bound,
    the oldest go first, and a put is never refused."""

    async def scenario():
        client = connect(redis_url)
        flows = RedisStateStore(client, prefix, RedisHealth(), max_entries=10)
        for n in range(30):
            await flows.put(f"state-{n}.b", {"n": n})
        assert await client.zcard(prefix + "flows") == 10
        assert len([k async for k in client.scan_iter(match=prefix + "flow:*")]) == 10
        assert await flows.take("state-0.b") is None and await flows.take("state-19.b") is None
        assert await flows.take("state-29.b") == {"n": 29} and await flows.take("state-20.b") == {"n": 20}
        assert await client.zcard(prefix + "flows") == 8  # a take removes its index entry too
        assert flows.pressure() is not None and "10 of 10" in flows.pressure()
        await client.aclose()

    run(scenario())


def test_a_flow_is_claimed_once_by_workers_racing_with_copies_of_one_cookie(redis_url, prefix):
    """Two callbacks carrying the same cookie reach two workers at once: the claim leaves its
    marker in the same step that reads, so exactly one of them finds the key unused."""

    async def scenario():
        clients = [connect(redis_url) for _ in range(4)]
        stores = [RedisStateStore(c, prefix, RedisHealth()) for c in clients]
        for attempt in range(20):
            key = f"state-{attempt}.b"
            results = await asyncio.gather(*(stores[i % 4].claim(key) for i in range(8)))
            assert sum(r is None for r in results) == 1, results
            assert all(r == {"used": True} for r in results if r is not None)
        for c in clients:
            await c.aclose()

    run(scenario())


def test_page_views_that_share_a_round_trip_each_get_their_own_answer(redis_url, prefix):
    """Page views that reach Redis together share one script call: each gets its own counts and
    its own session, one with a bad argument fails alone, and a Redis that lost its scripts
    (a restart, SCRIPT FLUSH) is given them again."""

    async def scenario():
        client = connect(redis_url)
        health = RedisHealth()
        store = RedisSessionStore(client, prefix, health)
        await store.set("sid-a", {"user": {"name": "Adele"}}, ttl=60)
        await store.set("sid-b", {"user": {"name": "Ben"}}, ttl=60)

        async def view(n: int):
            session = "sid-a" if n % 2 else "sid-b"
            if n == 7:  # a new counter, so its script calls EXPIRE, with a window Redis refuses
                return await store.count_and_get([("bad", "not-a-number")], session)  # type: ignore[list-item]
            return await store.count_and_get([(f"shared:{n % 3}", 60)], session)

        results = await asyncio.gather(*(view(n) for n in range(30)))
        assert results[7] is None  # its EXPIRE failed: only it takes the fallback path
        for n, result in enumerate(results):
            if n == 7:
                continue
            counts, record = result
            assert record["user"]["name"] == ("Adele" if n % 2 else "Ben")
        for k in range(3):  # each view saw its own count: 1, 2, 3, ... per counter
            seen = sorted(results[n][0][0] for n in range(30) if n != 7 and n % 3 == k)
            assert seen == list(range(1, len(seen) + 1)), (k, seen)
        await client.script_flush()
        counts, record = await store.count_and_get([("after-flush", 60)], "sid-a")
        assert counts == [1] and record["user"]["name"] == "Adele"
        await client.aclose()

    run(scenario())


def test_sessions_expire_with_their_ttl_and_index_members(redis_url, prefix):
    async def scenario():
        client, store, _, _ = await _stores(redis_url, prefix)
        await store.set("sid-1", {"user": {"name": "Ben"}}, ttl=0.3)
        assert (await store.get("sid-1"))["user"]["name"] == "Ben"
        raw = await client.get(prefix + "session:sid-1")
        assert raw.startswith("{")  # JSON, never pickle
        await asyncio.sleep(0.5)
        assert await store.get("sid-1") is None  # Redis expired it by itself

        await store.index_add("user", "tid:oid", "a")
        await store.index_add("user", "tid:oid", "b")
        assert await store.index_members("user", "tid:oid") == ["a", "b"]
        assert await client.ttl(prefix + "index:user:tid:oid") > 0
        await store.index_remove("user", "tid:oid", "a")
        assert await store.index_members("user", "tid:oid") == ["b"]
        await store.set("sid-2", {"x": 1}, ttl=60)
        await store.delete("sid-2")
        assert await store.get("sid-2") is None
        await client.aclose()

    run(scenario())


def test_the_session_lock_works_across_processes(redis_url, prefix):
    """Two managers with their own clients stand for two processes: a read-modify-write
    under the lock never loses an update."""

    async def scenario():
        managers = []
        for _ in range(2):
            client = connect(redis_url)
            store = RedisSessionStore(client, prefix, RedisHealth())
            managers.append(
                (client, SessionManager(store, secret_key="k" * 40, idle_timeout=600, absolute_timeout=3600))
            )
        counter = prefix + "counter"
        writer = connect(redis_url)
        await writer.set(counter, 0)

        async def increment(manager: SessionManager) -> None:
            async with manager.lock("same-session"):
                value = int(await writer.get(counter))
                await asyncio.sleep(0.01)
                await writer.set(counter, value + 1)

        await asyncio.gather(*(increment(managers[i % 2][1]) for i in range(20)))
        assert int(await writer.get(counter)) == 20
        for client, _ in managers:
            await client.aclose()
        await writer.aclose()

    run(scenario())


# ----- Redis going away and coming back -----


class PrivateRedis:
    def __init__(self, *extra_args: str) -> None:
        self.port = free_port()
        self.extra_args = list(extra_args)  # more redis-server options, such as a small maxmemory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI") == "true":
                pytest.fail("redis-server is required in CI")
            pytest.skip("redis-server is not installed")
        options = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [binary, *options, *self.extra_args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not redis_available(self.url):
            if time.monotonic() > deadline:
                raise RuntimeError("private redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis():
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


def test_stores_fall_back_to_memory_and_recover(private_redis, monkeypatch):
    import secure_auth.stores.redis_client as module

    monkeypatch.setattr(module, "RETRY_AFTER_SECONDS", 0.2)

    async def scenario():
        client, store, flows, health = await _stores(private_redis.url, "outage:")
        await store.set("before", {"v": 1}, ttl=60)
        private_redis.stop()
        # Redis is gone: nothing raises, writes and reads work from memory, health says so.
        await store.set("during", {"v": 2}, ttl=60)
        assert (await store.get("during")) == {"v": 2}
        await flows.put("s.b", {"next": "/"})
        assert await flows.take("s.b") == {"next": "/"}
        assert health.degraded
        private_redis.start()
        await asyncio.sleep(0.3)
        await store.set("after", {"v": 3}, ttl=60)
        assert not health.degraded
        assert await client.get("outage:session:after") is not None  # back in Redis
        assert (await store.get("during")) == {"v": 2}  # outage sessions still served here
        await client.aclose()

    run(scenario())


def test_a_sign_out_during_an_outage_is_not_undone_when_redis_returns(private_redis, monkeypatch):
    import secure_auth.stores.redis_client as module

    monkeypatch.setattr(module, "RETRY_AFTER_SECONDS", 0.2)

    async def scenario():
        client, store, _, health = await _stores(private_redis.url, "tomb:")
        await store.set("kept-in-redis", {"v": 1}, ttl=60)
        private_redis.stop()
        await store.delete("kept-in-redis")  # the user signs out while Redis is away
        assert await store.get("kept-in-redis") is None
        private_redis.start()  # (a fresh, empty Redis here; the point is the replay)
        await client.set("tomb:session:kept-in-redis", "{}")  # as if the old data came back
        await asyncio.sleep(0.3)
        assert await store.get("kept-in-redis") is None
        assert await client.get("tomb:session:kept-in-redis") is None  # the delete was replayed
        assert not health.degraded
        # An update never recreates an ended session.
        assert await store.replace("kept-in-redis", {"v": 2}, ttl=60) is False
        assert await client.get("tomb:session:kept-in-redis") is None
        await client.aclose()

    run(scenario())
