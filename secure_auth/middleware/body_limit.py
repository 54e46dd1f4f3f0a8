"""Refuses a request body declared (Content-Length) larger than MAX_REQUEST_BODY_BYTES before a
byte of it is read, with the app's own 413 page or JSON. A body without a Content-Length is
counted as it streams in, by FastAPI's per-router limit (`include_router(max_body_size=...)`),
whose 413 reaches the same error page. The API proxy has its own limit and is left alone."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from secure_auth.middleware.request_context import scope_header
from secure_auth.web.rendering import Refuse


class DeclaredBodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limit: int, exempt_prefix: str, refuse: Refuse) -> None:
        if limit <= 0:
            raise ValueError("the body limit must be positive")
        self.app = app
        self.limit = limit
        self.exempt_prefix = exempt_prefix
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt_prefix):
            await self.app(scope, receive, send)
            return
        declared = scope_header(scope, b"content-length").strip()
        if not declared or (declared.isdigit() and int(declared) <= self.limit):
            await self.app(scope, receive, send)
            return
        bad = not declared.isdigit()
        response = await self.refuse(
            scope,
            400 if bad else 413,
            "bad_content_length" if bad else "body_too_large",
            title="Bad request" if bad else "Request too large",
            message="The Content-Length header is not valid."
            if bad
            else f"The request body may be at most {self.limit} bytes.",
        )
        await response(scope, receive, send)
