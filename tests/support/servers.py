"""Run an ASGI app on a real loopback socket in a background thread (no mocked HTTP)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

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


def free_port() -> int:
    """A port nothing listens on right now (for a server started in another process)."""
    sock = bind_loopback()
    port = sock.getsockname()[1]
    sock.close()
    return port


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
