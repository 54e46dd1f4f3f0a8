"""`python run.py --workers 2` as operators run it, on a Redis of its own, signed in at
local_entra: reloads (kill -HUP) under a steady stream of new connections lose nothing, a
stop (kill -TERM) lets a request in flight finish, a killed worker is replaced, and a
reload reads .env again but refuses a bad one."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from tests.conftest import BEN, PUBLIC_CLIENT_ID
from tests.integration.test_redis_store import PrivateRedis
from tests.support.browser import Browser
from tests.support.processes import Served, entra_env, form_post_head, refused, run_py, slow_request
from tests.support.servers import free_port

pytestmark = pytest.mark.integration
CLOSE = {"connection": "close"}
SUM = {"a": "6", "b": "7", "operator": "multiply"}  # the calculator answers 42


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    server = PrivateRedis()
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def workers(entra, redis_url: str, tmp_path: Path) -> Iterator:
    """Start `run.py --workers 2` from tmp_path (its own .env, if the test writes one)."""
    registration = entra.config.client(PUBLIC_CLIENT_ID)
    started: list[Served] = []

    def start(**settings: str) -> Served:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        registration.redirect_uris.append(url + "/auth/callback")
        env = entra_env(
            entra,
            PUBLIC_CLIENT_ID,
            PUBLIC_BASE_URL=url,
            SESSION_STORE_URL=redis_url,
            REDIS_KEY_PREFIX=f"workers-{uuid.uuid4().hex[:8]}:",
            SESSION_SECRET_KEY="Vb7rQ2xL9mK4pT8wZ3nC6yF1hJ5dG0sA",
            RATE_LIMIT_DEFAULT="1000000/minute",
            RATE_LIMIT_AUTH="1000000/minute",
            LOG_LEVEL="INFO",
            **settings,
        )
        served = run_py(["--workers", "2"], env, tmp_path, port)
        started.append(served)
        served.wait_for("workers serving")
        return served

    yield start
    for served in started:
        served.stop()
        registration.redirect_uris.remove(served.url + "/auth/callback")


def signed_in(served: Served) -> tuple[str, str]:
    """A session cookie (in Redis, so every worker knows it) and its CSRF token."""
    browser = Browser(served.url)
    assert browser.sign_in(BEN.username, BEN.password).status_code == 303
    cookie, token = browser.session_cookie, browser.csrf_token()
    browser.close()
    assert cookie
    return cookie, token


def test_reloads_under_a_stream_of_new_connections_answer_every_request(workers):
    served = workers()
    cookie, token = signed_in(served)
    first = served.worker_pids()
    answers: list[tuple[str, int, bool]] = []
    failures: list[str] = []
    stop = threading.Event()

    def client() -> None:
        # A new connection for every request, closed after it (no keep-alive to lean on).
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(limits=limits, headers=CLOSE, cookies={"session": cookie}, timeout=15) as http:
            while not stop.is_set():
                try:
                    page = http.get(served.url + "/")
                    answers.append(("GET /", page.status_code, "Sign out" in page.text))
                    health = http.get(served.url + "/health")
                    answers.append(("GET /health", health.status_code, health.json() == {"status": "ok"}))
                    result = http.post(served.url + "/calculator", data={**SUM, "csrf_token": token})
                    answers.append(("POST /calculator", result.status_code, "42" in result.text))
                except httpx.TransportError as exc:
                    failures.append(repr(exc))

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    try:
        time.sleep(1)
        for reloads in range(1, 4):
            served.send(signal.SIGHUP)
            served.wait_for("reloaded: 2 workers serving", count=reloads)
            time.sleep(1)  # the old workers finish their requests and leave meanwhile
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=30)

    assert failures == []
    assert len(answers) > 300, len(answers)
    assert [answer for answer in answers if answer[1:] != (200, True)] == []
    assert {method for method, _, _ in answers} == {"GET /", "GET /health", "POST /calculator"}
    assert not set(served.worker_pids()) & set(first)
    assert not served.lines("reload failed|reload refused|exited|killed|Error on transport")


def test_a_stop_lets_a_request_in_flight_finish_refuses_new_connections_and_exits_0(workers):
    served = workers(SHUTDOWN_GRACE_SECONDS="8")
    cookie, token = signed_in(served)
    body = urlencode({**SUM, "csrf_token": token}).encode()
    head = form_post_head(served.port, "/calculator", cookie, body)
    stopped: list[float] = []
    closed: list[bool] = []

    def stop_now() -> None:  # the head and the first bytes of the body have arrived
        stopped.append(time.monotonic())
        served.send(signal.SIGTERM)
        closed.append(refused(served.port, within=2))

    # The body trickles in over ~3 s after the stop: the app waits for it, then answers.
    response = slow_request(served.port, head, body, pieces=6, pause=0.5, before_rest=stop_now)
    assert response.startswith(b"HTTP/1.1 200"), response[:200]
    assert b"42" in response
    assert closed == [True]  # a new connection was refused while the request was in flight
    assert served.process.wait(timeout=10) == 0
    assert time.monotonic() - stopped[0] < 8
    assert not served.lines("killed|Cancel")


def test_a_killed_worker_is_replaced_and_the_port_keeps_serving(workers):
    served = workers()
    victim, other = served.worker_pids()
    os.kill(victim, signal.SIGKILL)
    # New connections meanwhile: the kernel queues those for the dead worker's socket, and
    # its replacement serves them.
    statuses = [httpx.get(served.url + "/health", headers=CLOSE, timeout=30).status_code for _ in range(20)]
    assert statuses == [200] * 20
    assert served.lines(f"worker 0 \\(pid {victim}\\) was killed by SIGKILL: starting another")
    ready = served.wait_for("worker 0 ready", count=2)
    assert str(victim) not in ready[-1] and str(other) not in ready[-1]
    assert [httpx.get(served.url + "/health", headers=CLOSE).status_code for _ in range(20)] == [200] * 20
    assert served.process.poll() is None


def test_a_reload_reads_dot_env_again_and_refuses_a_bad_one_in_one_line(workers, tmp_path: Path):
    served = workers()
    before = served.worker_pids()
    assert httpx.get(served.url + "/metrics").status_code == 404  # METRICS_ENABLED is off

    (tmp_path / ".env").write_text("METRICS_ENABLED=true\nSHUTDOWN_GRACE_SECONDS=soon\n")
    served.send(signal.SIGHUP)
    refusal = served.wait_for("reload refused")
    assert len(refusal) == 1 and "SHUTDOWN_GRACE_SECONDS is invalid" in refusal[0], refusal
    assert served.lines("Configuration error|Traceback") == []
    time.sleep(0.5)
    assert served.worker_pids() == before and not served.lines("reloading")
    assert httpx.get(served.url + "/metrics").status_code == 404

    (tmp_path / ".env").write_text("METRICS_ENABLED=true\nSHUTDOWN_GRACE_SECONDS=5\n")
    served.send(signal.SIGHUP)
    served.wait_for("reloaded: 2 workers serving")
    assert not set(served.worker_pids()) & set(before)
    deadline = time.monotonic() + 10
    while httpx.get(served.url + "/metrics", headers=CLOSE).status_code != 200:  # the old workers leave
        assert time.monotonic() < deadline
    assert [httpx.get(served.url + "/metrics", headers=CLOSE).status_code for _ in range(10)] == [200] * 10
