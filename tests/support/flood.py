"""A flood of abandoned sign-ins, as an attacker with many addresses would send it through a
trusted proxy: `GET /auth/login` with X-Forwarded-For naming each address in turn, over
keep-alive connections, never following the redirect. Run as a process of its own
(`python -m tests.support.flood HOST PORT REQUESTS ADDRESSES`) so that the server under test
keeps its interpreter to itself; it prints the count of each status as JSON.

Addresses are spread so that each IPv4 address sits in a /24 of its own and each IPv6
address in a /64 of its own (one in ten is IPv6): per-network limits do not merge them.
Three connections in four send back the flow cookie they were given, as a browser that
keeps starting sign-ins would: once its cookie holds three flows, every further one is
written to the StateStore's bounded backup, so the flood reaches that bound.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter

CONNECTIONS = 32
FLOW_COOKIE = b"auth_flow="


def addresses(count: int) -> list[str]:
    found = []
    for n in range(count):
        if n % 10 == 9:
            found.append(f"2001:db8:{n >> 8:x}:{n & 0xFF:x}::{n % 200 + 1:x}")
        else:
            found.append(f"10.{n >> 8 & 0xFF}.{n & 0xFF}.{n % 200 + 1}")
    return found


def request(host: str, port: int, address: str, cookie: bytes) -> bytes:
    head = f"GET /auth/login HTTP/1.1\r\nHost: {host}:{port}\r\nX-Forwarded-For: {address}\r\nUser-Agent: flood\r\n"
    return head.encode("ascii") + (b"Cookie: " + cookie + b"\r\n" if cookie else b"") + b"\r\n"


async def connection(host: str, port: int, sources: list[str], keep_cookie: bool, counts: Counter[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    cookie = b""
    for address in sources:
        writer.write(request(host, port, address, cookie))
        head = await reader.readuntil(b"\r\n\r\n")
        counts[int(head[9:12])] += 1
        length = 0
        close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"connection" and value.strip().lower() == b"close":
                close = True
            elif keep_cookie and name.lower() == b"set-cookie" and value.strip().startswith(FLOW_COOKIE):
                cookie = value.strip().split(b";")[0]
        await reader.readexactly(length)
        if close:
            writer.close()
            reader, writer = await asyncio.open_connection(host, port)
    writer.close()


async def flood(host: str, port: int, total: int, address_count: int) -> Counter[int]:
    pool = addresses(address_count)
    sources = [pool[n % address_count] for n in range(total)]
    counts: Counter[int] = Counter()
    await asyncio.gather(
        *(connection(host, port, sources[i::CONNECTIONS], i % 4 != 0, counts) for i in range(CONNECTIONS))
    )
    return counts


if __name__ == "__main__":
    host, port, total, address_count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(asyncio.run(flood(host, port, total, address_count))))
