"""The CSRF layer at the ASGI level: what a cut-off form body becomes."""

from __future__ import annotations

import asyncio
from typing import Any

from secure_auth.middleware.csrf import CsrfMiddleware
from secure_auth.sessions.model import Session
from secure_auth.web.context import CONTEXT_KEY, RequestContext

TOKEN = "t" * 43


def scope_with_session() -> dict[str, Any]:
    session = Session(id="s", user={}, csrf_token=TOKEN, created_at=0.0, last_seen=0.0)
    context = RequestContext(request_id="r", csp_nonce="n", client_ip="127.0.0.1", session_cookie="c", session=session)
    context.resolved = True
    headers = [(b"content-type", b"application/x-www-form-urlencoded"), (b"host", b"app.example")]
    return {"type": "http", "method": "POST", "path": "/pay", "headers": headers, CONTEXT_KEY: context}


def test_a_form_cut_off_by_a_disconnect_never_reaches_the_route():
    reached: list[bytes] = []

    async def route(scope, receive, send) -> None:
        reached.append((await receive())["body"])

    messages = [
        {"type": "http.request", "body": f"csrf_token={TOKEN}&".encode(), "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message) -> None:
        raise AssertionError("nothing is sent to a client that has gone")

    async def refuse(*args, **kwargs):
        raise AssertionError("no refusal page for a client that has gone")

    guard = CsrfMiddleware(route, base_url="https://app.example", cors_origins=[], max_form_bytes=1024, refuse=refuse)
    asyncio.run(guard(scope_with_session(), receive, send))
    assert reached == []


def test_a_whole_form_with_its_token_is_replayed_to_the_route():
    reached: list[bytes] = []

    async def route(scope, receive, send) -> None:
        reached.append((await receive())["body"])

    body = f"csrf_token={TOKEN}&amount=100".encode()
    messages = [
        {"type": "http.request", "body": body[:20], "more_body": True},
        {"type": "http.request", "body": body[20:], "more_body": False},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    guard = CsrfMiddleware(route, base_url="https://app.example", cors_origins=[], max_form_bytes=1024, refuse=None)  # type: ignore[arg-type]
    asyncio.run(guard(scope_with_session(), receive, None))  # type: ignore[arg-type]
    assert reached == [body]
