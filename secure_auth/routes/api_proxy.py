"""The BFF API proxy: `/api/proxy/<path>` → `API_BASE_URL/<path>` with the signed-in
user's access token for API_SCOPES. The browser never sees a token; the API never sees
the browser's cookies, CSRF token or origin.

Mounted only when API_BASE_URL is set. CSRF is checked by the application-wide guard
before this runs. The rules (paths, headers, redirects) are pure functions in
outbound/proxy_rules.py; this module applies them. Request bodies are read into memory,
bounded by PROXY_MAX_BODY_BYTES, so that a 401 from the API can be retried once with a
freshly refreshed token; response bodies stream through as they arrive, never held whole.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

import anyio
import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Scope, Send

from secure_auth.identity.errors import TokenError
from secure_auth.outbound.proxy_rules import (
    PROXY_PREFIX,
    ProxyRefused,
    bad_path,
    request_headers,
    response_headers,
    target_url,
    too_large,
)
from secure_auth.outbound.stream_slots import StreamSlots
from secure_auth.sessions.model import Session
from secure_auth.tokens.bearer import call_with_token
from secure_auth.web.context import context_of
from secure_auth.web.dependencies import CurrentUser
from secure_auth.web.rendering import error_response, request_id
from secure_auth.web.services import Services

logger = logging.getLogger("secure_auth.api_proxy")

router = APIRouter(prefix=PROXY_PREFIX.rstrip("/"))
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
SEND_PIECE_BYTES = 16_384


def _raw_proxy_path(request: Request) -> str:
    """The part of the request target after /api/proxy/, still percent-encoded, so that
    what the API receives is exactly what the browser sent (an encoded slash stays one)."""
    raw = request.scope.get("raw_path")
    if raw:
        text = raw.decode("latin-1")
        root = request.scope.get("root_path", "")
        if root and text.startswith(root):
            text = text[len(root) :]
    else:
        text = quote(request.scope["path"], safe="/:@!$&'()*+,;=-._~")
    if not text.startswith(PROXY_PREFIX):
        raise bad_path()  # e.g. an encoded letter in the prefix itself
    return text[len(PROXY_PREFIX) :]


async def _read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it is known to be over `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ProxyRefused(400, "Bad request", "The Content-Length header is not valid.", "bad_content_length")
        if int(declared) > limit:
            raise too_large(limit)  # before reading a byte of it
    context = context_of(request.scope)
    if context is not None and context.token_in_form:
        # The CSRF token came in the form body: forwarding it would hand it to the API.
        raise ProxyRefused(
            400, "Bad request", "Send the CSRF token in the X-CSRF-Token header to call the API.", "form_body"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class UpstreamStreamingResponse(StreamingResponse):
    """The API's body, chunk by chunk as it arrives (raw: still content-encoded). The
    upstream response is closed when the stream ends, fails, or the browser goes away
    (Starlette skips the background task on a disconnect, so __call__ closes it too)."""

    def __init__(
        self,
        upstream: httpx.Response,
        headers: Headers,
        rid: str,
        release: Callable[[], None],
        idle_timeout: float,
    ) -> None:
        self.upstream = upstream
        self.rid = rid
        self.release = release
        self.idle_timeout = idle_timeout
        super().__init__(
            self._chunks(),
            status_code=upstream.status_code,
            headers=headers,
            background=BackgroundTask(upstream.aclose),
        )

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.upstream.aiter_raw():
                # In pieces no bigger than the server's low-water mark, so the idle timeout on each
                # send means "not even 16 KiB read in PROXY_IDLE_TIMEOUT", not a minimum rate.
                for start in range(0, len(chunk), SEND_PIECE_BYTES):
                    yield chunk[start : start + SEND_PIECE_BYTES]
        except httpx.HTTPError as exc:
            # Headers are gone already: the connection is cut so the truncation shows.
            logger.warning("request_id=%s API response broke off mid-body (%s)", self.rid, type(exc).__name__)
            raise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_or_give_up(message: Message) -> None:
            # A client that stops reading holds a pooled upstream connection: within the idle
            # timeout each piece must be taken, or the response is cut and its slot freed.
            async with asyncio.timeout(self.idle_timeout):
                await send(message)

        try:
            await super().__call__(scope, receive, send_or_give_up)
        except* (TimeoutError, ClientDisconnect):
            logger.info("request_id=%s API response cut: the client stopped reading", self.rid)
        finally:
            self.release()
            with anyio.CancelScope(shield=True):
                await self.upstream.aclose()


@router.api_route("/{path:path}", methods=METHODS, include_in_schema=False)
async def proxy(path: str, request: Request, session: CurrentUser) -> Response:
    services: Services = request.app.state.services
    settings = services.settings
    rid = request_id(request)
    try:
        url = target_url(settings.api_base_url, _raw_proxy_path(request), request.scope.get("query_string", b""))
        body = await _read_body(request, settings.proxy_max_body_bytes)
    except ProxyRefused as refused:
        return error_response(request, refused.status, refused.title, refused.message, reason=refused.reason)
    except ClientDisconnect:
        return Response(status_code=400)  # nobody is listening any more
    headers = request_headers(request.headers, rid)

    slots: StreamSlots = services.proxy_slots
    if not slots.acquire(session.user_key):
        return error_response(
            request,
            429,
            "Too many requests",
            "Too many API requests are open at once. Try again in a moment.",
            reason="too_many_streams",
            headers={"retry-after": "1"},
        )
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            slots.release(session.user_key)

    try:
        return await _forward(request, services, session, url, body, headers, rid, release)
    except BaseException:
        release()
        raise


async def _forward(
    request: Request,
    services: Services,
    session: Session,
    url: str,
    body: bytes,
    headers: dict[str, str],
    rid: str,
    release: Callable[[], None],
) -> Response:
    settings = services.settings
    client = services.outbound.api

    async def send(token: str) -> httpx.Response:
        outbound = client.build_request(
            request.method, url, headers={**headers, "authorization": f"Bearer {token}"}, content=body or None
        )
        return await client.send(outbound, stream=True)

    try:
        upstream = await call_with_token(
            services.tokens, session, settings.api_scope_list, send, request_id=rid, resource="api"
        )
    except TokenError:
        release()
        raise  # sign in again, or consent: the application's handler answers
    except httpx.TimeoutException as exc:
        logger.warning("request_id=%s API timed out (%s)", rid, type(exc).__name__)
        release()
        return _upstream_failed(request, 504, "upstream_timeout")
    except httpx.InvalidURL:
        # httpx reads a redirect's Location even when it follows none: `javascript:` and the like.
        logger.warning("request_id=%s API redirected to a URL that cannot be read", rid)
        release()
        return _upstream_failed(request, 502, "upstream_redirect")
    except Exception as exc:  # httpx's transport errors, and anything else on the way: never a 500
        logger.warning("request_id=%s API unreachable (%s)", rid, type(exc).__name__)
        release()
        return _upstream_failed(request, 502, "upstream_unavailable")

    try:
        raw = response_headers(
            upstream.headers.multi_items(), upstream.status_code, settings.api_base_url, str(upstream.request.url)
        )
        status = upstream.status_code
        if 300 <= status < 400 and status != 304 and not any(name == b"location" for name, _ in raw):
            # A redirect out of the API (or to nowhere) is never handed to the browser.
            logger.warning("request_id=%s API redirected outside API_BASE_URL (%d)", rid, status)
            await upstream.aclose()
            release()
            return _upstream_failed(request, 502, "upstream_redirect")
        if status in (204, 304) or status < 200:
            await upstream.aclose()
            release()
            return Response(status_code=status, headers=Headers(raw=raw))
        return UpstreamStreamingResponse(upstream, Headers(raw=raw), rid, release, settings.proxy_idle_timeout)
    except Exception as exc:
        logger.warning("request_id=%s API response could not be passed on (%s)", rid, type(exc).__name__)
        await upstream.aclose()  # never leave a pooled connection behind
        release()
        return _upstream_failed(request, 502, "upstream_unavailable")
    except BaseException:
        await upstream.aclose()
        release()
        raise


_UPSTREAM_FAILURES = {
    "upstream_timeout": ("The API did not answer", "The API did not answer in time. Try again later."),
    "upstream_unavailable": ("The API could not be reached", "The API could not be reached. Try again later."),
    "upstream_redirect": ("The API answered oddly", "The API sent a redirect this app does not follow."),
}


def _upstream_failed(request: Request, status: int, reason: str) -> Response:
    title, message = _UPSTREAM_FAILURES[reason]
    return error_response(request, status, title, message, reason=reason)
