"""Listening sockets: one for a single process, or one per worker slot on the same port.

Several sockets bound with SO_REUSEPORT each get their own accept queue, and Linux spreads
new connections across them by address hash. With one shared socket, whichever worker
wakes first accepts a whole burst of connections (wrk's 32 at start: one worker served
them all).
"""

from __future__ import annotations

import socket

BACKLOG = 2048


def tcp_listener(host: str, port: int, *, reuse_port: bool = False, listen: bool = True) -> socket.socket:
    """A listening socket created with proto=IPPROTO_TCP: accepted connections inherit it,
    and asyncio turns on TCP_NODELAY only then. uvicorn's own --workers socket leaves
    proto at 0, which costs ~40 ms per keep-alive request on Linux (uvicorn issue #3149).

    `listen=False`: bound only. Linux gives such a socket none of the port's connections
    until it listens, which asyncio does once the app in the worker has started."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets listening on one port (OSError, such as EADDRINUSE, if it is taken).

    The port is first bound once without SO_REUSEPORT: a listener already there, even one
    of this user's with SO_REUSEPORT (an old copy of the app still running), makes that
    bind fail, instead of quietly sharing the port with it. Where SO_REUSEPORT does not
    exist, every slot shares one socket.
    """
    if count == 1 or not hasattr(socket, "SO_REUSEPORT"):
        return [tcp_listener(host, port)] * count
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        port = probe.getsockname()[1]  # port 0: the one the system chose
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(tcp_listener(host, port, reuse_port=True))
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def is_listening(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))


def unlistened_copy(sock: socket.socket) -> socket.socket:
    """A new SO_REUSEPORT socket bound to `sock`'s address, not listening yet."""
    host, port = sock.getsockname()[:2]
    return tcp_listener(host, port, reuse_port=True, listen=False)
