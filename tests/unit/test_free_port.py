"""The tests' own port picker: a port handed to a server in another process stays unguarded
until that server binds it, so nothing else on this machine may be given it meanwhile.

CI once failed with "address already in use": a private Redis was handed the port an app
worker had been handed a moment before, because both came from binding port 0 and closing.
"""

from __future__ import annotations

import socket

from tests.support.servers import ephemeral_port_range, free_port


def test_no_port_is_handed_out_twice():
    ports = [free_port() for _ in range(500)]
    assert len(set(ports)) == len(ports)


def test_ports_come_from_outside_the_range_outgoing_connections_use():
    """The kernel gives every outgoing connection (and every bind to port 0) a port from its
    ephemeral range: one of those could take a handed-out port before its server binds it."""
    low, high = ephemeral_port_range()
    ports = [free_port() for _ in range(100)]
    assert [port for port in ports if low <= port <= high] == []


def test_a_port_something_listens_on_is_never_handed_out():
    """Listening sockets held open below the ephemeral range: free_port walks past them."""
    low, _ = ephemeral_port_range()
    held = []
    for port in range(low - 1, low - 400, -1):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        sock.listen(1)
        held.append(sock)
    try:
        taken = {sock.getsockname()[1] for sock in held}
        assert taken, "no port below the ephemeral range could be held for the test"
        assert taken.isdisjoint(free_port() for _ in range(300))
    finally:
        for sock in held:
            sock.close()
