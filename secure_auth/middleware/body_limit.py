"""Bounds every request body at MAX_REQUEST_BODY_BYTES, for every route mounted now or later.

A body declared (Content-Length) over the limit is refused before a byte of it is read; a
body without one (chunked) is counted as it streams in, and the read that crosses the
limit fails with a 413, which reaches the app's own error page. The API proxy has its own
limit and is left alone.

One layer for the whole app, rather than FastAPI's per-router limit (which wraps every
route in two more layers even when the request has no body). An HTTP/1 request with
neither Content-Length nor Transfer-Encoding has no body at all (RFC 9112, section 6.3),
so a page view passes through unwrapped. This relies on the server handing over header
names lower-cased, as the ASGI spec requires and h11 and httptools do; a request of any
other protocol, or without `http_version`, is counted.
"""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from secure_auth.web.rendering import Refuse

HTTP_1 = frozenset({"1.0", "1.1"})


def framing_headers(scope: Scope) -> tuple[str | None, bool]:
    """The request's Content-Length (None when it has none) and whether it has a
    Transfer-Encoding header (whatever its value), in one pass over its headers."""
    length = None
    has_transfer_encoding = False
    for key, value in scope["headers"]:
        if key == b"content-length":
            if length is None:
                length = value.decode("latin-1")
        elif key == b"transfer-encoding":
            has_transfer_encoding = True
    return length, has_transfer_encoding


class BodyTooLarge(HTTPException):
    """Raised by a read that crosses the limit; an HTTPException, so the error handlers
    answer it wherever the body is read (a route, a dependency, a form parser)."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="Content Too Large")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limit: int, exempt_prefix: str | None, refuse: Refuse) -> None:
        if limit <= 0:
            raise ValueError("the body limit must be positive")
        self.app = app
        self.limit = limit
        self.exempt_prefix = exempt_prefix
        self.refuse = refuse

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http" or (self.exempt_prefix and scope["path"].startswith(self.exempt_prefix)):
            return self.app(scope, receive, send)
        length, has_transfer_encoding = framing_headers(scope)
        if length is None and not has_transfer_encoding and scope.get("http_version") in HTTP_1:
            return self.app(scope, receive, send)  # no body to count: no layer of ours either
        return self._bounded(scope, receive, send, (length or "").strip())

    async def _bounded(self, scope: Scope, receive: Receive, send: Send, declared: str) -> None:
        if declared and not (declared.isdigit() and int(declared) <= self.limit):
            await self._refuse(scope, receive, send, bad_length=not declared.isdigit())
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    if started:
                        # A response under way (a file or a stream that listens for the
                        # client going away) cannot become a 413: the body ends here.
                        return {"type": "http.disconnect"}
                    raise BodyTooLarge()
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            # Crossed while a layer outside the routes read the body (the CSRF guard reads
            # a form before any route runs, so before any response): answer it here.
            await self._refuse(scope, receive, send, bad_length=False)
        except BaseExceptionGroup as group:  # read inside a task group (anyio) by a route
            crossed, others = group.split(BodyTooLarge)
            if crossed is None or others is not None or started:
                raise
            await self._refuse(scope, receive, send, bad_length=False)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, *, bad_length: bool) -> None:
        response = await self.refuse(
            scope,
            400 if bad_length else 413,
            "bad_content_length" if bad_length else "body_too_large",
            title="Bad request" if bad_length else "Request too large",
            message="The Content-Length header is not valid."
            if bad_length
            else f"The request body may be at most {self.limit} bytes.",
        )
        await response(scope, receive, send)
