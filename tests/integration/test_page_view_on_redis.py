"""On the Redis store a signed-in page view is one command: the rate-limit counters and the
session read travel together in one script, under the app's key prefix."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from tests.conftest import ADELE
from tests.integration.test_redis_store import redis_url  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


class Monitor:
    """Redis's MONITOR, in a thread: every command, with `lua` marking those run by a script."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, decode_responses=True)
        self.stopper = redis.Redis.from_url(url, decode_responses=True, single_connection_client=True)
        self.stopper.ping()  # connected before the monitor starts: only its ECHO is seen
        self.commands: list[dict] = []
        self.stop_word = f"stop-{uuid.uuid4().hex}"
        self.monitor = self.client.monitor()
        self.monitor.__enter__()
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()

    def _listen(self) -> None:
        for command in self.monitor.listen():
            if self.stop_word in command["command"]:
                return
            self.commands.append(command)

    def stop(self) -> list[dict]:
        self.stopper.echo(self.stop_word)
        self.thread.join(timeout=5)
        self.stopper.close()
        self.monitor.__exit__(None, None, None)
        self.client.close()
        return self.commands


@dataclass
class SignedInOnRedis:
    prefix: str
    browser: Any
    client: redis.Redis


@pytest.fixture
def signed_in_on_redis(extra_app, browsers, redis_url):  # noqa: F811
    """`start(**settings)`: an app on Redis under a prefix of its own, Adele signed in to it,
    and a Redis client; every key under the prefix is deleted afterwards."""
    started: list[SignedInOnRedis] = []

    def start(**overrides) -> SignedInOnRedis:
        prefix = f"test-{uuid.uuid4().hex[:8]}:"
        server = extra_app(session_store_url=redis_url, redis_key_prefix=prefix, **overrides)
        browser = browsers(server.base_url)
        assert browser.sign_in(ADELE.username, ADELE.password).status_code == 303
        started.append(SignedInOnRedis(prefix, browser, redis.Redis.from_url(redis_url, decode_responses=True)))
        return started[-1]

    yield start
    for each in started:
        for key in each.client.scan_iter(match=f"{each.prefix}*"):
            each.client.delete(key)
        each.client.close()


def test_a_signed_in_page_view_is_one_command_to_redis(signed_in_on_redis, redis_url):  # noqa: F811
    app = signed_in_on_redis()
    assert app.browser.get("/").status_code == 200  # the first view may record "last seen"
    monitor = Monitor(redis_url)
    page = app.browser.get("/")
    commands = monitor.stop()
    assert page.status_code == 200 and ADELE.name in page.text
    sent = [c["command"].split()[0].upper() for c in commands if c["client_type"] != "lua"]
    in_script = [c["command"].split()[0].upper() for c in commands if c["client_type"] == "lua"]
    assert sent == ["EVALSHA"], f"the page view sent {sent}"
    assert "GET" in in_script and "INCR" in in_script, in_script
    counters = list(app.client.scan_iter(match=f"{app.prefix}rl:*"))
    assert counters, "no rate-limit counter under the app's prefix"
    touched = [c["command"] for c in commands if c["client_type"] == "lua"]
    assert all(app.prefix in command for command in touched), f"a key outside REDIS_KEY_PREFIX: {touched}"


def test_a_page_view_reads_the_session_without_its_token_cache(signed_in_on_redis, redis_url):  # noqa: F811
    """The token cache (several kilobytes, sealed) is kept beside the session record, not
    in it: a page view reads a record of under a kilobyte and no sealed token, while the
    tokens are still there for the pages that use them."""
    app = signed_in_on_redis(token_cache_key="t" * 48)
    assert app.browser.get("/").status_code == 200
    monitor = Monitor(redis_url)
    assert app.browser.get("/").status_code == 200
    commands = monitor.stop()
    reads = [c["command"].split()[1] for c in commands if c["command"].startswith("GET ")]
    assert len(reads) == 1, commands
    record = app.client.get(reads[0])
    assert record is not None and json.loads(record)["user"]["name"] == ADELE.name
    assert len(record) < 1024, f"a page view read {len(record)} bytes"
    assert "sealed.v1." not in record
    assert app.browser.get("/profile").status_code == 200  # Graph, with a token from the cache


@pytest.mark.parametrize("corrupt", ["{corrupt", "[]", '"a string"'])
def test_a_corrupt_session_record_leaves_the_user_signed_out_never_a_500(signed_in_on_redis, corrupt):
    app = signed_in_on_redis()
    (key,) = app.client.scan_iter(match=f"{app.prefix}session:*")
    app.client.set(key, corrupt)
    page = app.browser.get("/")
    assert page.status_code == 200
    assert ADELE.name not in page.text


def test_a_hundred_locks_at_once_never_look_like_an_outage(redis_url):  # noqa: F811
    from secure_auth.stores.redis_backend import RedisSessionStore
    from secure_auth.stores.redis_client import RedisHealth, close_client, connect

    prefix = f"test-{uuid.uuid4().hex[:8]}:"

    async def scenario() -> bool:
        client = connect(redis_url)
        health = RedisHealth()
        store = RedisSessionStore(client, prefix, health)

        async def hold(n: int) -> None:
            async with store.lock(f"session:{n}"):
                await asyncio.sleep(0.01)

        try:
            await asyncio.gather(*(hold(n) for n in range(100)))
            return health.degraded
        finally:
            await close_client(client)

    assert asyncio.run(scenario()) is False


def test_a_redis_dump_holds_no_usable_token_or_cookie(signed_in_on_redis):
    app = signed_in_on_redis(token_cache_key="t" * 48)
    client = app.client
    assert app.browser.get("/profile").status_code == 200  # Graph with a token from the sealed cache
    (key,) = client.scan_iter(match=f"{app.prefix}tokens:*")
    stored = client.get(key)
    assert stored is not None and stored.startswith("sealed.v1.")
    (record,) = client.scan_iter(match=f"{app.prefix}session:*")
    for value in (stored, client.get(record)):
        for marker in ("RefreshToken", "AccessToken", "IdToken", "secret"):
            assert marker not in value, marker
    # Sessions are kept under a hash of the cookie's secret: no key, record or index
    # member holds it, so the dump gives nobody a session cookie.
    cookie_secret = app.browser.session_cookie.split(".")[0]
    dump = []
    for key in client.scan_iter(match=f"{app.prefix}*"):
        kind = client.type(key)
        value = {"string": client.get, "set": client.smembers, "zset": lambda k: client.zrange(k, 0, -1)}
        dump.append(f"{key} {value[kind](key) if kind in value else kind}")
    assert any("index:user" in line for line in dump), dump
    assert not [line for line in dump if cookie_secret in line]


def test_a_page_view_that_records_last_seen_keeps_the_sealed_tokens_intact(signed_in_on_redis):
    """Page views leave the token cache alone; when one writes the session back ("last
    seen"), the sealed cache stays as it was, its expiry follows the record's, and tokens
    still come from it."""
    app = signed_in_on_redis(token_cache_key="t" * 48)
    (key,) = app.client.scan_iter(match=f"{app.prefix}session:*")
    (tokens_key,) = app.client.scan_iter(match=f"{app.prefix}tokens:*")
    sealed = app.client.get(tokens_key)
    record = json.loads(app.client.get(key))
    record["last_seen"] -= 120  # due for a "last seen" write at the next page view
    app.client.set(key, json.dumps(record), keepttl=True)
    app.client.pexpire(tokens_key, 60_000)
    assert app.browser.get("/").status_code == 200
    written = json.loads(app.client.get(key))
    assert written["last_seen"] > record["last_seen"], "the page view did not write the session back"
    assert "token_cache" not in written
    assert app.client.get(tokens_key) == sealed  # not read, not opened, not sealed twice
    assert abs(app.client.pttl(tokens_key) - app.client.pttl(key)) < 5_000
    assert app.browser.get("/profile").status_code == 200  # a token from that cache


def test_a_session_stored_with_its_token_cache_inside_still_works_and_moves_it_out(signed_in_on_redis):
    """Sessions written before token caches had a key of their own hold the cache in the
    record: they still sign nobody out, and the next write moves the cache beside it."""
    app = signed_in_on_redis(token_cache_key="t" * 48)
    (key,) = app.client.scan_iter(match=f"{app.prefix}session:*")
    (tokens_key,) = app.client.scan_iter(match=f"{app.prefix}tokens:*")
    record = json.loads(app.client.get(key))
    record["token_cache"] = app.client.get(tokens_key)
    record["last_seen"] -= 120
    app.client.set(key, json.dumps(record), keepttl=True)
    app.client.delete(tokens_key)
    page = app.browser.get("/")
    assert page.status_code == 200 and ADELE.name in page.text
    assert "token_cache" not in json.loads(app.client.get(key))
    assert app.client.get(tokens_key) == record["token_cache"]
    assert app.browser.get("/profile").status_code == 200


def test_a_record_written_back_by_older_code_during_a_rolling_reload_keeps_the_tokens(signed_in_on_redis):
    """Code from before token caches had a key of their own, still serving during a rolling
    reload, writes records with the cache inside: an empty one when it never saw the cache
    beside the record (its "last seen"), a full one after it refreshed tokens. Neither
    loses the user's tokens: an empty one is no cache, a full one is the newest and moves
    out at the next write."""
    app = signed_in_on_redis(token_cache_key="t" * 48)
    (key,) = app.client.scan_iter(match=f"{app.prefix}session:*")
    (tokens_key,) = app.client.scan_iter(match=f"{app.prefix}tokens:*")

    record = json.loads(app.client.get(key))
    record.update(token_cache="")  # the older code's "last seen"
    app.client.set(key, json.dumps(record), keepttl=True)
    assert app.browser.get("/profile").status_code == 200  # tokens from beside the record
    record = json.loads(app.client.get(key))
    record.update(token_cache="", last_seen=record["last_seen"] - 120)
    app.client.set(key, json.dumps(record), keepttl=True)
    assert app.browser.get("/").status_code == 200  # this code's "last seen"
    assert app.client.get(tokens_key) is not None
    assert app.browser.get("/profile").status_code == 200

    newest = app.client.get(tokens_key)  # /profile may have refreshed them
    record = json.loads(app.client.get(key))
    record.update(token_cache=newest, last_seen=record["last_seen"] - 120)  # its refresh, newer
    app.client.set(key, json.dumps(record), keepttl=True)
    app.client.set(tokens_key, "sealed.v1.an-older-cache", keepttl=True)
    assert app.browser.get("/").status_code == 200
    assert "token_cache" not in json.loads(app.client.get(key))
    assert app.client.get(tokens_key) == newest
    assert app.browser.get("/profile").status_code == 200


def test_signing_out_deletes_the_session_and_its_token_cache(signed_in_on_redis):
    app = signed_in_on_redis(token_cache_key="t" * 48)
    assert list(app.client.scan_iter(match=f"{app.prefix}tokens:*"))
    app.browser.post("/auth/logout", data={"csrf_token": app.browser.csrf_token()})
    assert app.browser.get("/me", headers={"accept": "application/json"}).status_code == 401
    assert not list(app.client.scan_iter(match=f"{app.prefix}session:*"))
    assert not list(app.client.scan_iter(match=f"{app.prefix}tokens:*"))


def test_a_separate_rate_limit_storage_keeps_its_counters_under_the_prefix(extra_app, browsers, redis_url):  # noqa: F811
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    server = extra_app(rate_limit_storage_url=redis_url, redis_key_prefix=prefix)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        outside = set(client.scan_iter(match="LIMITS*"))  # left by anything else on this Redis
        assert browsers(server.base_url).get("/").status_code == 200
        assert list(client.scan_iter(match=f"{prefix}rl*")), "no counter under REDIS_KEY_PREFIX"
        assert set(client.scan_iter(match="LIMITS*")) <= outside, "a counter outside REDIS_KEY_PREFIX"
    finally:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()


def test_the_limits_counted_in_the_page_view_script_refuse_past_the_limit(signed_in_on_redis):
    """The counters that ride in the session read's round trip hold the limit: past it a
    page gets 429 with Retry-After, and the counters sit under the app's prefix."""
    app = signed_in_on_redis(rate_limit_default="4/minute")
    codes = [app.browser.get("/").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429], codes
    refused = app.browser.get("/me", headers={"accept": "application/json"})
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
    counters = list(app.client.scan_iter(match=f"{app.prefix}rl:*"))
    assert any("/addr/" in key for key in counters) and any("/net/" in key for key in counters), counters
