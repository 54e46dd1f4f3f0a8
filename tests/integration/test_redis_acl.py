"""The app as the Redis user that deploy/redis/secure-auth.conf ships: no default user, and
an ACL user allowed only the app's keys (REDIS_KEY_PREFIX) and no administrative command.
Every command the app sends must pass it, or the user would meet the refused-writes
fallback on every page."""

from __future__ import annotations

import shlex
import time

import pytest
import redis

from tests.conftest import ADELE
from tests.integration.test_redis_store import PrivateRedis
from tests.support.deploy_files import REDIS_FRAGMENT

pytestmark = pytest.mark.integration

PASSWORD = "4c1f0e9b7a2d6e8f3b5a7c9d1e3f5a7b"


def shipped_acl() -> list[str]:
    """The fragment's `user` lines as redis-server options, the password filled in."""
    options = []
    for line in REDIS_FRAGMENT.read_text().splitlines():
        if line.startswith("user "):
            options += ["--user", *shlex.split(line.replace("REPLACE_WITH_REDIS_PASSWORD", PASSWORD))[1:]]
    assert options, "deploy/redis/secure-auth.conf has no user line"
    return options


class AclRedis(PrivateRedis):
    @property
    def url(self) -> str:
        return f"redis://secure-auth:{PASSWORD}@127.0.0.1:{self.port}/0"


@pytest.fixture
def acl_redis():
    server = AclRedis(*shipped_acl())
    server.start()
    yield server
    server.stop()


def test_nobody_gets_in_without_the_password_and_the_user_reaches_only_its_keys(acl_redis):
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(port=acl_redis.port).ping()
    client = redis.Redis.from_url(acl_redis.url)
    client.set("secure_auth:probe", "1")
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.set("another_app:probe", "1")
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.flushall()
    client.close()


def test_the_whole_app_runs_as_the_shipped_redis_user(extra_app, browsers, acl_redis):
    server = extra_app(session_store_url=acl_redis.url)  # REDIS_KEY_PREFIX: the default, secure_auth:
    visitor = browsers(server.base_url)
    assert visitor.get("/").status_code == 200  # signed out: rate-limit counters, no session
    adele = browsers(server.base_url)
    assert adele.sign_in(ADELE.username, ADELE.password).status_code == 303
    for path in ("/", "/calculator", "/me", "/sessions"):
        assert adele.get(path).status_code == 200, path
    time.sleep(1.1)  # readiness answers from a one-second cache
    store = adele.get("/health/ready").json()["checks"]["store"]
    assert store["status"] == "ok", store
    token = adele.csrf_token()
    assert adele.post("/auth/logout", data={"csrf_token": token}).status_code == 303
    assert adele.get("/me").status_code == 401
