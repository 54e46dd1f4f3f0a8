"""Serving processes started as operators start them (`python run.py ...`, or the supervisor
with the plain test app), their output in a log file the tests read."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from local_entra import LocalEntra

ROOT = Path(__file__).resolve().parents[2]
# The developer's own app settings, kept from every app process a test or benchmark starts.
DEVELOPER_SETTINGS = ("ENTRA_", "SESSION_", "RATE_LIMIT", "APP_ENV", "PUBLIC_BASE_URL")


class Served:
    """A process tree serving on `port`, its stdout and stderr in `log_path`."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, port: int) -> None:
        self.port = port
        self.cwd = cwd
        self.log_path = cwd / f"served-{port}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def lines(self, pattern: str) -> list[str]:
        return [line for line in self.log().splitlines() if re.search(pattern, line)]

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 60) -> list[str]:
        """The log's lines matching `pattern`, once there are `count` of them."""
        deadline = time.monotonic() + timeout
        while len(found := self.lines(pattern)) < count:
            if self.process.poll() is not None:
                raise AssertionError(f"exited with {self.process.returncode} waiting for {pattern!r}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {count} lines matching {pattern!r} within {timeout} s:\n{self.log()}")
            time.sleep(0.05)
        return found

    def worker_pids(self) -> list[int]:
        """The pids the supervisor last said were serving, in slot order."""
        line = self.lines(r"workers serving")[-1]
        match = re.search(r"\(pids ([\d, ]+)\)", line)
        assert match, line
        return [int(pid) for pid in match.group(1).split(",")]

    def send(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.send(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run_py(args: list[str], env: dict[str, str], cwd: Path, port: int) -> Served:
    """`python run.py ...` from another directory (so no developer's .env is read, and a
    test may write its own)."""
    return Served([sys.executable, str(ROOT / "run.py"), "--port", str(port), *args], env, cwd, port)


def refused(port: int, within: float) -> bool:
    """Whether a new connection to the port is refused within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except ConnectionRefusedError:
            return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def slow_request(port: int, head: str, body: bytes, pieces: int, pause: float, before_rest=None) -> bytes:
    """Send a request whose body trickles in `pieces` with `pause` seconds between them;
    `before_rest()` runs once the head and the first piece are sent. The whole response."""
    size = -(-len(body) // pieces)
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode() + chunks[0])
        time.sleep(pause)
        if before_rest is not None:
            before_rest()
        for chunk in chunks[1:]:
            sock.sendall(chunk)
            time.sleep(pause)
        response = b""
        while data := sock.recv(65536):
            response += data
    return response


def form_post_head(port: int, path: str, cookie: str, body: bytes) -> str:
    """The head of a form POST with a session cookie, the connection closed after it."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: session={cookie}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without the developer's app settings, and `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(DEVELOPER_SETTINGS)}
    return {**env, **settings}


def entra_env(entra: LocalEntra, client_id: str, **settings: str) -> dict[str, str]:
    """The environment of an app process that signs in at `entra` (and reads Graph from its
    stand-in) as `client_id`, with `settings`."""
    idp = {
        "ENTRA_CLIENT_ID": client_id,
        "ENTRA_TENANT_ID": entra.tenant_id,
        "ENTRA_AUTHORITY_HOST": entra.authority_host,
        "ENTRA_CA_BUNDLE": str(entra.ca_bundle_path),
        "GRAPH_BASE_URL": entra.authority_host,
    }
    return clean_env(**{**idp, **settings})
