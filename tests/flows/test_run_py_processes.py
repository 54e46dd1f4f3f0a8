"""run.py's processes without Redis: a busy port stops `--workers 2` with one line, even
when what holds it shares ports (SO_REUSEPORT), and one process (`--workers 1`) lets a
request in flight finish on SIGTERM, as the supervisor's workers do."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.conftest import BEN, PUBLIC_CLIENT_ID
from tests.flows.test_demo_entry_point import start_run_py
from tests.support.browser import Browser
from tests.support.processes import entra_env, form_post_head, refused, run_py, slow_request
from tests.support.servers import bind_loopback, free_port


def reuse_port_listener() -> socket.socket:
    return bind_loopback(socket.SO_REUSEPORT)


@pytest.mark.parametrize("holder", [bind_loopback, reuse_port_listener], ids=["plain", "so_reuseport"])
def test_a_busy_port_stops_several_workers_with_one_line(entra, holder):
    sock = holder()  # an old copy of the app, say, still running
    port = sock.getsockname()[1]
    try:
        # A Redis URL, so that two workers draw no memory-store warning (nothing connects).
        env = entra_env(entra, PUBLIC_CLIENT_ID, SESSION_STORE_URL="redis://127.0.0.1:9/0")
        process = start_run_py(["--port", str(port), "--workers", "2"], env)
        _, stderr = process.communicate(timeout=60)
    finally:
        sock.close()
    assert process.returncode == 2
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"port {port} on 127.0.0.1 is already in use" in lines[0], stderr
    assert "--port" in lines[0]


def test_one_process_lets_a_request_in_flight_finish_on_sigterm(entra, tmp_path: Path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    registration = entra.config.client(PUBLIC_CLIENT_ID)
    registration.redirect_uris.append(url + "/auth/callback")
    env = entra_env(
        entra,
        PUBLIC_CLIENT_ID,
        PUBLIC_BASE_URL=url,
        SHUTDOWN_GRACE_SECONDS="8",
        SESSION_SECRET_KEY="Qw8eR4tY6uI2oP0aS3dF5gH7jK9lZ1xC",
    )
    served = run_py(["--workers", "1"], env, tmp_path, port)
    try:
        served.wait_for("Uvicorn running|Application startup complete")
        browser = Browser(url)
        assert browser.sign_in(BEN.username, BEN.password).status_code == 303
        cookie, token = browser.session_cookie, browser.csrf_token()
        browser.close()
        body = urlencode({"a": "6", "b": "7", "operator": "multiply", "csrf_token": token}).encode()
        assert cookie
        head = form_post_head(port, "/calculator", cookie, body)
        stopped: list[float] = []
        closed: list[bool] = []

        def stop_now() -> None:
            stopped.append(time.monotonic())
            served.send(signal.SIGTERM)
            closed.append(refused(port, within=2))

        response = slow_request(port, head, body, pieces=6, pause=0.5, before_rest=stop_now)
        assert response.startswith(b"HTTP/1.1 200") and b"42" in response, response[:300]
        assert closed == [True]
        assert served.process.wait(timeout=10) == 0
        assert time.monotonic() - stopped[0] < 8
    finally:
        served.stop()
        registration.redirect_uris.remove(url + "/auth/callback")
