"""Several app processes sharing one Redis: a sign-in started on one finishes on another,
pages and sign-out work across them, sessions survive a restart, and a Redis outage
degrades readiness without a single 500.

Each "worker" is a separate uvicorn process (`python -m uvicorn app:app`) configured only
through the environment, as a real deployment is.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from local_entra import ClientRegistration
from tests.conftest import ADELE, BEN, PUBLIC_CLIENT_ID
from tests.integration.test_redis_store import PrivateRedis, redis_available
from tests.support.processes import entra_env
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


class Worker:
    """One app process; `public_url` is what users and the IdP know (the load balancer)."""

    def __init__(self, env: dict[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.env = env
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Worker:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-proxy-headers",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=self.env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("worker did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=15)
            self.process = None


@pytest.fixture
def short_lived_entra(work_dir):
    """A local_entra of this test's own whose access tokens MSAL treats as expired ~8 s in: long
    enough that twenty requests on a loaded machine finish before the refreshed one expires too."""
    from local_entra import DEMO_USERS, LocalEntra, LocalEntraConfig

    config = LocalEntraConfig([], list(DEMO_USERS), state_dir=work_dir / "local_entra", access_token_lifetime=308)
    config.clients.append(ClientRegistration(PUBLIC_CLIENT_ID, [], []))
    private = LocalEntra(config).start()
    yield private
    private.stop()


@pytest.fixture
def cluster(entra):
    yield from _cluster(entra)


@pytest.fixture
def short_lived_cluster(short_lived_entra):
    yield from _cluster(short_lived_entra)


def _cluster(entra):
    """Workers sharing a Redis; the IdP knows the first worker's URL as the public one."""
    started: list[Worker] = []
    public_port = free_port()
    public_url = f"http://127.0.0.1:{public_port}"
    registration = entra.config.client(PUBLIC_CLIENT_ID)
    registration.redirect_uris.append(public_url + "/auth/callback")
    prefix = f"cluster-{uuid.uuid4().hex[:8]}:"

    def make(redis_url: str, port: int | None = None) -> Worker:
        env = entra_env(
            entra,
            PUBLIC_CLIENT_ID,
            PUBLIC_BASE_URL=public_url,
            SESSION_STORE_URL=redis_url,
            REDIS_KEY_PREFIX=prefix,
            SESSION_SECRET_KEY="Kq3vX9pL2mN7rT4wY8zB1cF6hJ0dG5sA",
            RATE_LIMIT_DEFAULT="100000/minute",
            RATE_LIMIT_AUTH="100000/minute",
            LOG_LEVEL="WARNING",
        )
        worker = Worker(env, port)
        started.append(worker)
        return worker.start()

    try:
        yield make, public_port
    finally:
        for worker in started:
            worker.stop()
        registration.redirect_uris.remove(public_url + "/auth/callback")


@pytest.fixture
def shared_redis_url():
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    if not redis_available(url):
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required in CI at {url}")
        pytest.skip(f"no Redis at {url}")
    return url


class Client:
    """A browser whose requests can be sent to any worker (a load balancer's choice)."""

    def __init__(self) -> None:
        self.http = httpx.Client(follow_redirects=False, timeout=20)

    def get(self, worker: Worker, path: str, **kwargs) -> httpx.Response:
        return self.http.get(worker.url + path, **kwargs)

    def post(self, worker: Worker, path: str, **kwargs) -> httpx.Response:
        return self.http.post(worker.url + path, **kwargs)

    def sign_in_across(self, start: Worker, finish: Worker, user) -> httpx.Response:
        from tests.support.browser import hidden_inputs

        login = self.http.get(
            start.url + "/auth/login", params={"next": "/me"}, headers={"host": f"127.0.0.1:{start.public_port}"}
        )
        authorize = login.headers["location"]
        page = self.http.get(authorize)
        fields = {**hidden_inputs(page.text), "username": user.username, "password": user.password}
        callback = self.http.post(authorize.split("?")[0], data=fields).headers["location"]
        return self.http.get(finish.url + "/auth/callback?" + callback.split("?", 1)[1])

    def csrf(self, worker: Worker) -> str:
        from tests.support.browser import hidden_inputs

        return hidden_inputs(self.get(worker, "/calculator").text)["csrf_token"]


def test_sign_in_pages_and_sign_out_across_workers_and_a_restart(cluster, shared_redis_url):
    make, public_port = cluster
    first = make(shared_redis_url, port=public_port)
    second = make(shared_redis_url)
    for worker in (first, second):
        worker.public_port = public_port

    user = Client()
    landed = user.sign_in_across(first, second, BEN)  # the callback lands on the other worker
    assert landed.status_code == 303, landed.text
    assert user.get(first, "/me").json()["username"] == BEN.username
    assert user.get(second, "/me").json()["username"] == BEN.username

    # Every app process restarts: sessions live on in Redis.
    second.stop()
    first.stop()
    first = make(shared_redis_url, port=public_port)
    second = make(shared_redis_url)
    assert user.get(first, "/me").json()["username"] == BEN.username
    assert user.get(second, "/me").status_code == 200

    # Signing out on one ends the session on all.
    assert user.post(second, "/auth/logout", data={"csrf_token": user.csrf(first)}).status_code == 303
    assert user.get(first, "/me").status_code == 401
    assert user.get(second, "/me").status_code == 401


def test_redis_outage_degrades_without_500_and_recovers(cluster, shared_redis_url):
    make, public_port = cluster
    redis_server = PrivateRedis()
    redis_server.start()
    try:
        worker = make(redis_server.url, port=public_port)
        worker.public_port = public_port
        user = Client()
        assert user.sign_in_across(worker, worker, BEN).status_code == 303
        assert httpx.get(worker.url + "/health/ready").json()["checks"]["store"]["status"] == "ok"

        redis_server.stop()
        deadline = time.monotonic() + 10  # readiness results are reused for a second
        while (ready := httpx.get(worker.url + "/health/ready")).json()["checks"]["store"]["status"] != "degraded":
            assert time.monotonic() < deadline, "readiness did not report the outage"
            time.sleep(0.3)
        assert ready.status_code == 200
        other = Client()
        during = other.sign_in_across(worker, worker, ADELE)  # new sign-ins work from memory
        assert during.status_code == 303
        for client in (user, other):
            for path in ("/", "/me", "/calculator", "/sessions"):
                assert client.get(worker, path).status_code < 500
        assert other.get(worker, "/me").json()["username"] == ADELE.username

        redis_server.start()
        deadline = time.monotonic() + 15
        while httpx.get(worker.url + "/health/ready").json()["checks"]["store"]["status"] != "ok":
            assert time.monotonic() < deadline, "readiness did not recover"
            time.sleep(0.5)
        third = Client()
        assert third.sign_in_across(worker, worker, BEN).status_code == 303
        assert third.get(worker, "/me").status_code == 200
    finally:
        redis_server.stop()


def test_one_refresh_for_concurrent_requests_across_workers(short_lived_cluster, short_lived_entra, shared_redis_url):
    """The per-session refresh lock lives in Redis: twenty requests at expiry, spread over
    two worker processes, make one refresh between them."""
    import concurrent.futures

    make, public_port = short_lived_cluster
    first = make(shared_redis_url, port=public_port)
    second = make(shared_redis_url)
    for worker in (first, second):
        worker.public_port = public_port
    user = Client()
    assert user.sign_in_across(first, second, BEN).status_code == 303
    assert user.get(first, "/profile").status_code == 200
    time.sleep(8.5)  # the cached Graph token now has under 5 minutes left: MSAL refreshes
    refreshes = short_lived_entra.counters["token_refresh_token"]
    cookies = dict(user.http.cookies)

    def fetch(i: int) -> int:
        worker = (first, second)[i % 2]
        with httpx.Client(cookies=cookies, timeout=30) as client:
            return client.get(worker.url + "/profile").status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(fetch, range(20)))
    assert statuses == [200] * 20
    assert short_lived_entra.counters["token_refresh_token"] == refreshes + 1
