"""The API proxy's rules as pure functions: which paths may reach API_BASE_URL, which
headers go each way, and how an upstream redirect maps back onto the proxy.

Nothing here does I/O or knows the web framework; routes/api_proxy.py applies the rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from secure_auth.config.origins import normalised_origin
from secure_auth.validators.text import CONTROL_CHARACTERS

# The one place the proxy's URL prefix is written.
PROXY_PREFIX = "/api/proxy/"

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


class ProxyRefused(Exception):
    def __init__(self, status: int, title: str, message: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.title = title
        self.message = message
        self.reason = reason


def bad_path() -> ProxyRefused:
    return ProxyRefused(400, "Bad request", "That API path is not allowed.", "bad_api_path")


def too_large(limit: int) -> ProxyRefused:
    return ProxyRefused(413, "Request too large", f"The request body may be at most {limit} bytes.", "body_too_large")


def check_path(path: str) -> None:
    """Refuse anything that could reach outside API_BASE_URL or be read differently by the
    API: dot segments, empty segments, a scheme, backslashes, control characters, in the
    raw path or after percent-decoding (repeatedly, against double encoding)."""
    if not _RAW_PATH.fullmatch(path) or _BAD_PERCENT.search(path):
        raise bad_path()
    seen = path
    for _ in range(4):
        if (
            seen.startswith("/")
            or "//" in seen
            or "\\" in seen
            or CONTROL_CHARACTERS.search(seen)
            or _SCHEME.match(seen)
            or any(_is_dot_segment(segment) for segment in seen.split("/"))
        ):
            raise bad_path()
        decoded = unquote(seen, errors="strict")
        if decoded == seen:
            return
        seen = decoded
    raise bad_path()  # still encoded after four rounds: nothing legitimate looks like that


def _is_dot_segment(segment: str) -> bool:
    """'.' and '..', also with path parameters ('..;x'), which Tomcat and older Spring
    read as '..'."""
    return segment.split(";", 1)[0] in (".", "..")


def _base(api_base_url: str) -> tuple[str, str]:
    """(origin, path ending in /) of API_BASE_URL, as httpx normalises it."""
    base = httpx.URL(api_base_url.rstrip("/") + "/")
    return normalised_origin(str(base)), base.raw_path.decode("ascii").split("?")[0]


def target_url(api_base_url: str, path: str, query: bytes) -> str:
    """API_BASE_URL/<path>?<query>, or ProxyRefused when it could land anywhere else."""
    try:
        check_path(path)
    except UnicodeDecodeError:
        raise bad_path() from None
    url = api_base_url.rstrip("/") + "/" + path
    if query:
        url += "?" + query.decode("latin-1")
    # Defence in depth: whatever httpx makes of it must still be under API_BASE_URL.
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise bad_path() from None
    origin, base_path = _base(api_base_url)
    if normalised_origin(str(parsed)) != origin or not (parsed.raw_path.decode("ascii").split("?")[0] + "/").startswith(
        base_path
    ):
        raise bad_path()
    return url


def proxy_location(value: str, api_base_url: str, upstream_url: str) -> str | None:
    """An upstream Location as the browser should follow it: resolved against the API URL
    requested, and under API_BASE_URL mapped back onto /api/proxy/; anywhere else dropped."""
    try:
        joined = urljoin(upstream_url, value.strip())
        absolute = urlsplit(joined)
        absolute.port  # noqa: B018 - raises ValueError for a port out of range
        origin, base_path = _base(api_base_url)
    except (ValueError, httpx.InvalidURL):
        return None
    if normalised_origin(joined) != origin or absolute.username or absolute.password:
        return None
    if not (absolute.path + "/").startswith(base_path):
        return None
    rest = absolute.path[len(base_path) :]
    query = f"?{absolute.query}" if absolute.query else ""
    fragment = f"#{absolute.fragment}" if absolute.fragment else ""
    return PROXY_PREFIX + rest + query + fragment


def request_headers(incoming: Mapping[str, str], request_id: str) -> dict[str, str]:
    """The request headers the API receives: the allow-listed ones, and the request id."""
    headers = {name: incoming[name] for name in FORWARDED_REQUEST_HEADERS if name in incoming}
    headers.setdefault("accept-encoding", "identity")
    headers["x-request-id"] = request_id
    return headers


def response_headers(
    upstream: Iterable[tuple[str, str]], status: int, api_base_url: str, upstream_url: str
) -> list[tuple[bytes, bytes]]:
    """The API's response headers the browser may see, Location mapped onto the proxy."""
    raw: list[tuple[bytes, bytes]] = []
    for name, value in upstream:
        name = name.lower()
        if name not in PASSED_RESPONSE_HEADERS:
            continue
        if name == "www-authenticate" and status != 401:
            continue
        if name == "location":
            mapped = proxy_location(value, api_base_url, upstream_url)
            if mapped is None:
                continue
            value = mapped
        try:
            raw.append((name.encode("latin-1"), value.encode("latin-1")))
        except UnicodeEncodeError:
            continue  # not a valid HTTP header value: dropped rather than failing the response
    return raw
