"""Run an ASGI app on a real loopback socket in a background thread (no mocked HTTP)."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from pathlib import Path

import uvicorn


def bind_loopback(reuse: int = socket.SO_REUSEADDR) -> socket.socket:
    """A socket listening on a free loopback port, with the socket option `reuse` set
    (SO_REUSEPORT: another socket may listen on the same port too)."""
    # IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections (uvicorn#3149).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, reuse, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def ephemeral_port_range() -> tuple[int, int]:
    """The ports the kernel picks from for outgoing connections and for binds to port 0."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nothing holds right now, for a server started in another process.

    The port is unguarded until that server binds it. Binding port 0 and closing the socket
    would take it from the ephemeral range, where any outgoing connection (to Redis, to
    local_entra) may take it meanwhile, and where the next such call may be given the same
    port again. So it comes from below that range, is never handed out twice by this
    process, and is one that a plain bind (no SO_REUSEADDR) succeeds on now.
    """
    low, _ = ephemeral_port_range()
    candidates = range(max(1024, low - 16000), low)
    if len(candidates) < 1000:
        raise RuntimeError(f"the ephemeral port range starts at {low}: too low to pick test ports below it")
    for _ in range(len(candidates)):
        port = random.choice(candidates)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free loopback port below the ephemeral range")


class ServerThread:
    """uvicorn serving `app` on an already-bound socket, so the port is known up front."""

    def __init__(self, app, sock: socket.socket | None = None, **config) -> None:
        self.sock = sock or bind_loopback()
        self.port = self.sock.getsockname()[1]
        # proxy_headers off, as run.py serves it: forwarded headers are the app's business
        # (FORWARDED_ALLOW_IPS), not uvicorn's default trust of 127.0.0.1.
        config = {"log_level": "warning", "lifespan": "on", "proxy_headers": False, **config}
        self.server = uvicorn.Server(uvicorn.Config(app, **config))
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
