"""A minimal ASGI app for tests of the serving processes: every response names the process
that served it. It refuses to start while the file named by PLAIN_APP_BROKEN exists (a
broken deploy), and `?seconds=N` answers only after N seconds (a request in flight)."""

from __future__ import annotations

import asyncio
import os
from urllib.parse import parse_qs

_broken = os.environ.get("PLAIN_APP_BROKEN")
if _broken and os.path.exists(_broken):
    raise RuntimeError("plain_app: this deploy is broken on purpose")


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    seconds = float(parse_qs(scope["query_string"].decode()).get("seconds", ["0"])[0])
    if seconds:
        await asyncio.sleep(seconds)
    body = str(os.getpid()).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
