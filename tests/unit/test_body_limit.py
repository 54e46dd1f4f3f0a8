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


def call(
    app,
    path: str = "/upload",
    chunks: int = 5,
    *,
    method: str = "POST",
    headers: list[tuple[bytes, bytes]] | None = None,
    http_version: str | None = None,
) -> list[dict]:
    """Sends `chunks` chunks of 50 bytes, streamed (no Content-Length); returns what was sent back."""
    sent: list[dict] = []
    queue = [{"type": "http.request", "body": b"x" * 50, "more_body": i < chunks - 1} for i in range(chunks)]

    async def receive():
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": headers if headers is not None else [(b"transfer-encoding", b"chunked")],
    }
    if http_version is not None:
        scope["http_version"] = http_version
    asyncio.run(BodyLimitMiddleware(app, limit=LIMIT, exempt_prefix=None, refuse=_refuse)(scope, receive, send))
    return sent


async def read_then_answer(scope: Scope, receive: Receive, send: Send) -> None:
    await read_all(receive)
    await PlainTextResponse("read")(scope, receive, send)


def test_a_chunked_get_over_the_limit_is_a_413():
    """Page views skip the count only when HTTP/1 says there is no body: a GET may still
    send one, chunked."""
    sent = call(read_then_answer, method="GET", http_version="1.1")
    assert sent[0]["status"] == 413


def test_a_request_without_framing_headers_is_counted_unless_it_is_http_1():
    """Without Content-Length or Transfer-Encoding, an HTTP/1 request has no body (what it
    streams is never delivered as one); any other protocol may still stream one."""
    for version in ("2", None):
        assert call(read_then_answer, headers=[(b"host", b"x")], http_version=version)[0]["status"] == 413
    for version in ("1.0", "1.1"):  # what such a body would be is never counted (nor delivered)
        assert call(read_then_answer, headers=[(b"host", b"x")], http_version=version)[0]["status"] == 200


def test_an_http_1_request_without_a_body_reaches_the_app_with_its_own_channels():
    seen = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((receive, send))

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        return None

    middleware = BodyLimitMiddleware(app, limit=LIMIT, exempt_prefix=None, refuse=_refuse)
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"host", b"x")], "http_version": "1.1"}
    asyncio.run(middleware(scope, receive, send))
    assert seen == [(receive, send)]


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
    assert call(read_then_answer, path="/api/proxy/upload")[0]["status"] == 413
