"""The BFF API proxy: `/api/proxy/<path>` → `API_BASE_URL/<path>` with the signed-in
user's access token for API_SCOPES. The browser never sees a token; the API never sees
the browser's cookies, CSRF token or origin.

Mounted only when API_BASE_URL is set (application.py). CSRF is checked by the
application-wide guard before this runs. Request bodies are read into memory, bounded by
PROXY_MAX_BODY_BYTES, so that a 401 from the API can be retried once with a freshly
refreshed token; response bodies stream through as they arrive, never held whole.
"""

from __future__ import annotations

import logging
import re
from typing import Any, AsyncIterator, Callable
from urllib.parse import quote, unquote, urljoin, urlsplit

import anyio
import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from secure_auth.dependencies import CurrentUser
from secure_auth.rendering import error_response, request_id
from secure_auth.services import Services

logger = logging.getLogger("secure_auth.api_proxy")

PREFIX = "/api/proxy/"
router = APIRouter(prefix=PREFIX.rstrip("/"))

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# Request headers the API may see, and nothing else: no cookie, authorization (ours
# replaces it), x-csrf-token, host, origin, referer, hop-by-hop or x-forwarded-* header.
# accept-encoding goes too: the body comes back as raw bytes with its content-encoding,
# so it must be an encoding this client said it accepts (identity when it said nothing).
FORWARDED_REQUEST_HEADERS = (
    "accept",
    "accept-encoding",
    "accept-language",
    "content-type",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "prefer",
)
# Response headers the browser may see. Not set-cookie, not hop-by-hop, not content-length
# or transfer-encoding (the server frames the streamed body itself).
PASSED_RESPONSE_HEADERS = frozenset(
    {
        "content-type",
        "content-encoding",
        "content-language",
        "content-disposition",
        "cache-control",
        "expires",
        "etag",
        "last-modified",
        "vary",
        "retry-after",
        "location",
        "www-authenticate",
    }
)

# RFC 3986 path characters, as the raw request target must carry them.
_RAW_PATH = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _Refused(Exception):
    def __init__(self, status: int, title: str, message: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.title = title
        self.message = message
        self.reason = reason


def _bad_path() -> _Refused:
    return _Refused(400, "Bad request", "That API path is not allowed.", "bad_api_path")


def _too_large(limit: int) -> _Refused:
    return _Refused(413, "Request too large", f"The request body may be at most {limit} bytes.", "body_too_large")


def _raw_proxy_path(request: Request) -> str:
    """The part of the request target after /api/proxy/, still percent-encoded, so that
    what the API receives is exactly what the browser sent (an encoded slash stays one)."""
    raw = request.scope.get("raw_path")
    if raw:
        text = raw.decode("latin-1")
        root = request.scope.get("root_path", "")
        if root and text.startswith(root):
            text = text[len(root):]
    else:
        text = quote(request.scope["path"], safe="/:@!$&'()*+,;=-._~")
    if not text.startswith(PREFIX):
        raise _bad_path()  # e.g. an encoded letter in the prefix itself
    return text[len(PREFIX):]


def check_path(path: str) -> None:
    """Refuse anything that could reach outside API_BASE_URL or be read differently by the
    API: dot segments, empty segments, a scheme, backslashes, control characters, in the
    raw path or after percent-decoding (repeatedly, against double encoding)."""
    if not _RAW_PATH.fullmatch(path) or _BAD_PERCENT.search(path):
        raise _bad_path()
    seen = path
    for _ in range(4):
        if (
            seen.startswith("/")
            or "//" in seen
            or "\\" in seen
            or _CONTROL.search(seen)
            or _SCHEME.match(seen)
            or any(_is_dot_segment(segment) for segment in seen.split("/"))
        ):
            raise _bad_path()
        decoded = unquote(seen, errors="strict")
        if decoded == seen:
            return
        seen = decoded
    raise _bad_path()  # still encoded after four rounds: nothing legitimate looks like that


def _is_dot_segment(segment: str) -> bool:
    """'.' and '..', also with path parameters ('..;x'), which Tomcat and older Spring
    read as '..'."""
    return segment.split(";", 1)[0] in (".", "..")


def _base_parts(api_base_url: str) -> tuple[str, str, str]:
    """(scheme, host:port, path ending in /) of API_BASE_URL, as httpx normalises them."""
    base = httpx.URL(api_base_url.rstrip("/") + "/")
    return base.scheme, base.netloc.decode("ascii").lower(), base.raw_path.decode("ascii").split("?")[0]


def target_url(api_base_url: str, path: str, query: bytes) -> str:
    try:
        check_path(path)
    except UnicodeDecodeError:
        raise _bad_path() from None
    url = api_base_url.rstrip("/") + "/" + path
    if query:
        url += "?" + query.decode("latin-1")
    # Defence in depth: whatever httpx makes of it must still be under API_BASE_URL.
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise _bad_path() from None
    scheme, netloc, base_path = _base_parts(api_base_url)
    if (
        parsed.scheme != scheme
        or parsed.netloc.decode("ascii").lower() != netloc
        or not (parsed.raw_path.decode("ascii").split("?")[0] + "/").startswith(base_path)
    ):
        raise _bad_path()
    return url


def _request_headers(request: Request) -> dict[str, str]:
    headers = {name: request.headers[name] for name in FORWARDED_REQUEST_HEADERS if name in request.headers}
    headers.setdefault("accept-encoding", "identity")
    headers["x-request-id"] = request_id(request)
    return headers


async def _read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it is known to be over `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise _Refused(400, "Bad request", "The Content-Length header is not valid.", "bad_content_length")
        if int(declared) > limit:
            raise _too_large(limit)  # before reading a byte of it
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except RuntimeError:
        # The CSRF guard consumed a form body looking for csrf_token: it cannot be forwarded.
        raise _Refused(
            400, "Bad request", "Send the CSRF token in the X-CSRF-Token header to call the API.", "form_body"
        ) from None
    return b"".join(chunks)


def proxy_location(value: str, api_base_url: str, upstream_url: str) -> str | None:
    """An upstream Location as the browser should follow it: resolved against the API URL
    requested, and under API_BASE_URL mapped back onto /api/proxy/; anywhere else dropped."""
    try:
        absolute = urlsplit(urljoin(upstream_url, value.strip()))
        scheme, netloc, base_path = _base_parts(api_base_url)
        port = absolute.port
    except (ValueError, httpx.InvalidURL):
        return None
    host = (absolute.hostname or "").lower()
    default_port = {"http": 80, "https": 443}.get(absolute.scheme)
    location_netloc = host if port in (None, default_port) else f"{host}:{port}"
    if absolute.scheme != scheme or location_netloc != netloc or absolute.username or absolute.password:
        return None
    if not (absolute.path + "/").startswith(base_path):
        return None
    rest = absolute.path[len(base_path):]
    return PREFIX + rest + (f"?{absolute.query}" if absolute.query else "") + (
        f"#{absolute.fragment}" if absolute.fragment else ""
    )


def _response_headers(upstream: httpx.Response, api_base_url: str) -> Headers:
    raw: list[tuple[bytes, bytes]] = []
    for name, value in upstream.headers.multi_items():
        name = name.lower()
        if name not in PASSED_RESPONSE_HEADERS:
            continue
        if name == "www-authenticate" and upstream.status_code != 401:
            continue
        if name == "location":
            mapped = proxy_location(value, api_base_url, str(upstream.request.url))
            if mapped is None:
                continue
            value = mapped
        try:
            raw.append((name.encode("latin-1"), value.encode("latin-1")))
        except UnicodeEncodeError:
            continue  # not a valid HTTP header value: dropped rather than failing the response
    return Headers(raw=raw)


class UpstreamStreamingResponse(StreamingResponse):
    """The API's body, chunk by chunk as it arrives (raw: still content-encoded). The
    upstream response is closed when the stream ends, fails, or the browser goes away
    (Starlette skips the background task on a disconnect, so __call__ closes it too)."""

    def __init__(self, upstream: httpx.Response, headers: Headers, rid: str, release: Callable[[], None]) -> None:
        self.upstream = upstream
        self.rid = rid
        self.release = release
        super().__init__(
            self._chunks(),
            status_code=upstream.status_code,
            headers=headers,
            background=BackgroundTask(upstream.aclose),
        )

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.upstream.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:
            # Headers are gone already: the connection is cut so the truncation shows.
            logger.warning("request_id=%s API response broke off mid-body (%s)", self.rid, type(exc).__name__)
            raise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.release()
            with anyio.CancelScope(shield=True):
                await self.upstream.aclose()


MAX_STREAMS_PER_SESSION = 8


class StreamSlots:
    """At most MAX_STREAMS_PER_SESSION proxied requests per session at once (in this
    process), so one user's stalled downloads cannot hold the whole connection pool."""

    def __init__(self, limit: int = MAX_STREAMS_PER_SESSION) -> None:
        self.limit = limit
        self.in_use: dict[str, int] = {}

    def acquire(self, key: str) -> bool:
        if self.in_use.get(key, 0) >= self.limit:
            return False
        self.in_use[key] = self.in_use.get(key, 0) + 1
        return True

    def release(self, key: str) -> None:
        count = self.in_use.get(key, 0) - 1
        if count > 0:
            self.in_use[key] = count
        else:
            self.in_use.pop(key, None)


@router.api_route("/{path:path}", methods=METHODS, include_in_schema=False)
async def proxy(path: str, request: Request, session: CurrentUser) -> Response:
    services: Services = request.app.state.services
    settings = services.settings
    assert services.http is not None, "the outbound client starts with the application"
    rid = request_id(request)
    try:
        url = target_url(settings.api_base_url, _raw_proxy_path(request), request.scope.get("query_string", b""))
        body = await _read_body(request, settings.proxy_max_body_bytes)
    except _Refused as refused:
        return error_response(request, refused.status, refused.title, refused.message, reason=refused.reason)
    except ClientDisconnect:
        return Response(status_code=400)  # nobody is listening any more
    headers = _request_headers(request)

    slots: StreamSlots = request.app.state.__dict__.setdefault("proxy_slots", StreamSlots())
    if not slots.acquire(session.id):
        return error_response(
            request, 429, "Too many requests", "Too many API requests are open at once. Try again in a moment.",
            reason="too_many_streams", headers={"retry-after": "1"},
        )
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            slots.release(session.id)

    try:
        return await _forward(request, services, session, url, body, headers, rid, release)
    except BaseException:
        release()
        raise


async def _forward(
    request: Request, services: Services, session: Any, url: str, body: bytes, headers: dict[str, str], rid: str,
    release: Callable[[], None],
) -> Response:
    settings = services.settings
    client = services.api_http or services.http
    assert client is not None
    upstream: httpx.Response | None = None
    for attempt in (1, 2):
        # A 401 from the API: one forced refresh, one retry; a second 401 goes back as is.
        token = await services.tokens.access_token(session, settings.api_scope_list, force_refresh=attempt == 2)
        outbound = client.build_request(
            request.method, url, headers={**headers, "authorization": f"Bearer {token}"}, content=body or None
        )
        try:
            upstream = await client.send(outbound, stream=True)
        except httpx.TimeoutException as exc:
            logger.warning("request_id=%s API timed out (%s)", rid, type(exc).__name__)
            release()
            return error_response(
                request, 504, "The API did not answer", "The API did not answer in time. Try again later.",
                reason="upstream_timeout",
            )
        except httpx.HTTPError as exc:
            logger.warning("request_id=%s API unreachable (%s)", rid, type(exc).__name__)
            release()
            return error_response(
                request, 502, "The API could not be reached", "The API could not be reached. Try again later.",
                reason="upstream_unavailable",
            )
        if upstream.status_code == 401 and attempt == 1:
            await upstream.aclose()
            continue
        break
    assert upstream is not None

    try:
        response_headers = _response_headers(upstream, settings.api_base_url)
        if upstream.status_code in (204, 304) or upstream.status_code < 200:
            await upstream.aclose()
            release()
            return Response(status_code=upstream.status_code, headers=response_headers)
        return UpstreamStreamingResponse(upstream, response_headers, rid, release)
    except BaseException:
        await upstream.aclose()  # never leave a pooled connection behind
        release()
        raise
