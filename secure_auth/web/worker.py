"""One serving process: uvicorn on the listening sockets it is handed, stopped so that no
request is cut.

run.py's single process calls `run`; the supervisor (secure_auth.serving) starts each of
its workers as `python -m secure_auth.web.worker APP --socket-fd N --ready-fd M --grace S`
and learns it is ready when one byte arrives on the ready pipe.

A stop (SIGTERM or SIGINT) goes in three steps:
1. stop accepting: the sockets leave the event loop, then this process's copies close. The
   supervisor keeps the sockets themselves open, so a connection still queued there waits
   for the next worker on that socket instead of being refused;
2. wait a moment, so that a connection accepted just before the stop has its request read:
   uvicorn's shutdown closes a connection with no request yet as idle, and closing one
   whose request bytes are unread resets it;
3. uvicorn's graceful shutdown: idle connections close, requests in flight finish, and
   those still running near the end of the grace are cancelled; then the app's lifespan
   ends, all before the supervisor's deadline (the grace), which kills what is left.
A second SIGINT (Ctrl+C twice) forces the exit, as uvicorn does. A supervised worker
ignores SIGHUP: reloading is the supervisor's job.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn

logger = logging.getLogger("secure_auth.serving")

SETTLE_SECONDS = 0.5
MARGIN_SECONDS = 1.0  # left of the grace for cancelling requests and the lifespan's end
UVICORN_PAUSES = 0.2  # it sees should_exit within 0.1 s, and pauses 0.1 s before waiting
PARENT_CHECK_SECONDS = 1.0


def make_server(app: Callable[..., Any] | str, *, grace: float, log_level: str, access_log: bool) -> uvicorn.Server:
    for_requests = requests_grace(grace)
    # proxy_headers=False: uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1,
    # and any local client could pick its own address; FORWARDED_ALLOW_IPS decides that.
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=access_log,
        proxy_headers=False,
        # uvicorn annotates it int; it is handed to asyncio.wait_for, which takes any number.
        timeout_graceful_shutdown=for_requests,  # type: ignore[arg-type]
    )
    return uvicorn.Server(config)


def settle_seconds(grace: float) -> float:
    return min(SETTLE_SECONDS, grace / 4)


def requests_grace(grace: float) -> float:
    """What is left of `grace` for requests in flight, once the settle, uvicorn's pauses and
    a margin for cancelling and the lifespan's end are taken out."""
    return max(0.0, grace - settle_seconds(grace) - UVICORN_PAUSES - min(MARGIN_SECONDS, grace / 4))


def run(
    app: Callable[..., Any] | str,
    sockets: list[socket.socket],
    *,
    grace: float,
    log_level: str = "info",
    access_log: bool = True,
    on_ready: Callable[[], None] | None = None,
    parent: int | None = None,
) -> None:
    """Serve `app` until stopped, giving requests in flight `grace` seconds. `parent`: stop
    too when that process is gone (the supervisor was killed), so no orphan holds the port."""
    server = make_server(app, grace=grace, log_level=log_level, access_log=access_log)
    stopping = Stopping(settle_seconds(grace), on_ready, parent)
    with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
        runner.run(serve(server, sockets, stopping))


@dataclass(frozen=True)
class Stopping:
    """What `serve` does around uvicorn's own start and stop."""

    settle: float = SETTLE_SECONDS
    on_ready: Callable[[], None] | None = None
    parent: int | None = None


async def serve(server: uvicorn.Server, sockets: list[socket.socket], stopping: Stopping) -> None:
    serving = asyncio.ensure_future(server.serve(sockets=sockets))
    while not server.started:
        if serving.done():
            serving.result()  # start-up failed: uvicorn has said why
            return
        await asyncio.sleep(0.01)
    # uvicorn's serve() catches SIGINT and SIGTERM with handlers that begin its shutdown at
    # once; from here on these signals are ours, so a stop begins by no longer accepting.
    stop = _take_over_signals(server)
    if stopping.on_ready is not None:
        stopping.on_ready()
    watchers: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
    if stopping.parent is not None:
        watchers.append(asyncio.ensure_future(_parent_gone(stopping.parent)))
    await asyncio.wait([serving, *watchers], return_when=asyncio.FIRST_COMPLETED)
    for watcher in watchers:
        watcher.cancel()
    if not serving.done():
        await _stop_accepting(server)
        await asyncio.sleep(stopping.settle)
        server.should_exit = True
    await serving


def _take_over_signals(server: uvicorn.Server) -> asyncio.Event:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_stop(sig: signal.Signals) -> None:
        if stop.is_set() and sig == signal.SIGINT:
            server.force_exit = server.should_exit = True
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_stop, sig)
    return stop


async def _stop_accepting(server: uvicorn.Server) -> None:
    loop = asyncio.get_running_loop()
    for listener in server.servers:
        for sock in listener.sockets:
            loop.remove_reader(sock.fileno())
    # A connection accepted in the last turn of the loop gets its transport in the next
    # one; asyncio refuses it (and resets the connection) once the server is closed.
    await asyncio.sleep(0)
    for listener in server.servers:
        listener.close()


async def _parent_gone(parent: int) -> None:
    while os.getppid() == parent:
        await asyncio.sleep(PARENT_CHECK_SECONDS)
    logger.warning("the supervisor (pid %d) is gone: this worker stops", parent)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="One worker process, started by the supervisor")
    parser.add_argument("app", help="the ASGI app to import, such as app:app")
    parser.add_argument("--socket-fd", type=int, required=True, help="the inherited listening socket")
    parser.add_argument("--ready-fd", type=int, required=True, help="a pipe to write one byte to once serving")
    parser.add_argument("--grace", type=float, default=20.0, help="seconds a stop lets requests finish")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--no-access-log", action="store_true")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sock = socket.socket(fileno=args.socket_fd)

    def ready() -> None:
        os.write(args.ready_fd, b"1")
        os.close(args.ready_fd)

    access_log = not args.no_access_log
    run(args.app, [sock], grace=args.grace, log_level=args.log_level, access_log=access_log, on_ready=ready,
        parent=os.getppid())  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
