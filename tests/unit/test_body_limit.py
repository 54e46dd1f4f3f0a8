"""The app-wide body limit at the ASGI level: a body read inside a task group, a body read
after the response has started, and the proxy exemption only when a proxy is mounted."""

from __future__ import annotations

import asyncio

import anyio
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from secure_auth.middleware.body_limit import BodyLimitMiddleware

LIMIT = 100


async def _refuse(scope, status, reason, **kwargs):
    return PlainTextResponse(reason, status_code=status)


async def read_all(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


def call(app, path: str = "/upload", chunks: int = 5) -> list[dict]:
    """Sends `chunks` chunks of 50 bytes, streamed (no Content-Length); returns what was sent back."""
    sent: list[dict] = []
    queue = [{"type": "http.request", "body": b"x" * 50, "more_body": i < chunks - 1} for i in range(chunks)]

    async def receive():
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": [(b"transfer-encoding", b"chunked")]}
    asyncio.run(BodyLimitMiddleware(app, limit=LIMIT, exempt_prefix=None, refuse=_refuse)(scope, receive, send))
    return sent


def test_a_body_read_inside_a_task_group_over_the_limit_is_a_413():
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(read_all, receive)
        await PlainTextResponse("read")(scope, receive, send)

    assert call(app)[0]["status"] == 413


def test_a_body_still_streaming_after_the_response_started_just_ends():
    """A response under way (one that listens for the client going away) cannot turn into
    a 413: the body ends as a disconnect, and nothing is raised."""
    seen: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        seen.append(await read_all(receive))
        await send({"type": "http.response.body", "body": b"done"})

    sent = call(app)
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [200]
    assert len(seen[0]) <= LIMIT


def test_without_a_proxy_the_proxy_prefix_is_bounded_too():
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await read_all(receive)
        await PlainTextResponse("read")(scope, receive, send)

    assert call(app, path="/api/proxy/upload")[0]["status"] == 413
