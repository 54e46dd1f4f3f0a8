"""The host check remembers its answers per Host header; the table stays bounded and the
answers stay right however many different Host headers arrive."""

from __future__ import annotations

import asyncio

from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from secure_auth.middleware.host_check import MAX_CHECKED_HOSTS, HostCheckMiddleware


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("ok")(scope, receive, send)


async def _refuse(scope, status, reason, **kwargs):
    return PlainTextResponse(reason, status_code=status)


def status_for(middleware: HostCheckMiddleware, host: str) -> int:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"host", host.encode())]}
    asyncio.run(middleware(scope, receive, send))
    return sent[0]["status"]


def test_answers_stay_right_and_the_table_bounded_under_many_host_headers():
    middleware = HostCheckMiddleware(_ok, allowed_hosts=["app.example", "*.contoso.example"], refuse=_refuse)
    for i in range(MAX_CHECKED_HOSTS * 3):
        assert status_for(middleware, f"evil{i}.example") == 400
        assert status_for(middleware, "app.example:443") == 200
        assert status_for(middleware, f"tenant{i}.contoso.example") == 200
        assert len(middleware._checked) <= MAX_CHECKED_HOSTS  # the table itself
    assert status_for(middleware, "evil0.example") == 400  # forgotten, checked again: still refused
