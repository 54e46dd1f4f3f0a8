"""gunicorn with the app's worker class (secure_auth.web.gunicorn_worker), on the plain test
app: a reload (SIGHUP to the master) answers a request that arrives on a connection the
old worker had already accepted, and a stop (SIGTERM) lets a request in flight finish."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.support.processes import ROOT, Served, refused
from tests.support.servers import free_port

WORKER = "secure_auth.web.gunicorn_worker.GracefulUvicornWorker"


def gunicorn(tmp_path: Path, port: int) -> Served:
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        *("--worker-class", WORKER, "--workers", "1", "--bind", f"127.0.0.1:{port}"),
        *("--graceful-timeout", "5", "--no-control-socket", "tests.support.plain_app:app"),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    served = Served(command, env, tmp_path, port)
    served.wait_for(r"Application startup complete")
    return served


def test_a_reload_answers_a_request_sent_on_a_connection_the_old_worker_accepted(tmp_path):
    served = gunicorn(tmp_path, free_port())
    try:
        old_worker = httpx.get(served.url).text
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
            time.sleep(0.3)  # accepted by the worker, no request yet: as nginx's connection is
            served.send(signal.SIGHUP)
            time.sleep(0.15)  # the old worker is stopping (uvicorn_worker's would have closed it)
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            response = b""
            while data := sock.recv(65536):
                response += data
        assert response.startswith(b"HTTP/1.1 200"), response
        assert b"\r\n" + old_worker.encode() + b"\r\n" in response  # answered by the old worker
        served.wait_for(r"Booting worker", count=2)
        served.wait_for(r"Application startup complete", count=2)
        assert httpx.get(served.url).text != old_worker  # the new worker, on the same socket
    finally:
        served.stop()


def test_a_stop_lets_a_request_in_flight_finish_and_exits_zero(tmp_path):
    served = gunicorn(tmp_path, free_port())
    answers: list[httpx.Response] = []
    slow = threading.Thread(target=lambda: answers.append(httpx.get(served.url + "/?seconds=1.5", timeout=10)))
    slow.start()
    time.sleep(0.3)
    served.send(signal.SIGTERM)
    assert refused(served.port, within=3)  # new connections go elsewhere at once
    slow.join(timeout=10)
    assert [a.status_code for a in answers] == [200]
    assert served.process.wait(timeout=10) == 0
