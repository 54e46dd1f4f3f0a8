"""A Redis that answers but refuses writes (full at maxmemory with noeviction, or a
read-only replica after a failover) must never give a 500, must sign nobody out, and must
never lose a sign-out. Each test runs a redis-server of its own, never the shared one."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from tests.conftest import ADELE, BEN
from tests.integration.test_redis_store import PrivateRedis

pytestmark = pytest.mark.integration


@pytest.fixture
def small_redis():
    server = PrivateRedis("--maxmemory", "4mb", "--maxmemory-policy", "noeviction")
    server.start()
    yield server
    server.stop()


def fill(client: redis.Redis) -> None:
    """Write until Redis refuses even a tiny value: it is then full. (Refusing a big value
    leaves it at the edge, where the memory freed with a client's buffers lets small writes
    through again.)"""
    n = 0
    for size in (65_536, 1024, 16):
        while n < 100_000:
            n += 1
            try:
                client.set(f"filler:{n}", "x" * size)
            except redis.exceptions.OutOfMemoryError:
                break
        else:
            raise AssertionError("Redis never filled up")


def test_a_full_redis_signs_nobody_out_and_gives_no_500(extra_app, browsers, small_redis):
    server = extra_app(session_store_url=small_redis.url, redis_key_prefix=f"full-{uuid.uuid4().hex[:6]}:")
    adele = browsers(server.base_url)
    assert adele.sign_in(ADELE.username, ADELE.password).status_code == 303
    client = redis.Redis.from_url(small_redis.url)
    fill(client)

    # Reads still work: Adele stays signed in, page after page.
    for path in ("/", "/calculator", "/me", "/sessions", "/health/ready"):
        response = adele.get(path)
        assert response.status_code == 200, (path, response.status_code)
    assert ADELE.name in adele.get("/").text

    # A new sign-in still works (its writes fall back to this worker's memory).
    ben = browsers(server.base_url)
    assert ben.sign_in(BEN.username, BEN.password).status_code == 303
    assert BEN.name in ben.get("/").text
    time.sleep(1.1)  # readiness answers from a one-second cache
    store = ben.get("/health/ready").json()["checks"]["store"]
    assert store["status"] == "degraded" and "Redis refused writes" in store["detail"], store

    # A sign-out is never lost.
    token = adele.csrf_token()
    assert adele.post("/auth/logout", data={"csrf_token": token}).status_code == 303
    assert adele.get("/me").status_code == 401
    client.close()


def test_a_read_only_replica_signs_nobody_out_and_loses_no_sign_out(extra_app, browsers, small_redis):
    server = extra_app(session_store_url=small_redis.url, redis_key_prefix=f"ro-{uuid.uuid4().hex[:6]}:")
    adele = browsers(server.base_url)
    assert adele.sign_in(ADELE.username, ADELE.password).status_code == 303
    session_cookie = adele.session_cookie
    client = redis.Redis.from_url(small_redis.url)
    client.execute_command("REPLICAOF", "127.0.0.1", "1")  # a failover left it a replica of nothing
    try:
        for path in ("/", "/calculator", "/me"):
            assert adele.get(path).status_code == 200, path
        token = adele.csrf_token()
        assert adele.post("/auth/logout", data={"csrf_token": token}).status_code == 303
        replay = browsers(server.base_url)
        replay.client.cookies.set("session", session_cookie)
        assert replay.get("/me").status_code == 401  # the ended session is not served again
    finally:
        client.execute_command("REPLICAOF", "NO", "ONE")
        client.close()
