"""Origins as browsers write them: the one place URLs are reduced to scheme://host[:port].

Host and Origin checks, the redirect URI, CSP form-action and the API proxy's confinement
all compare origins; they all go through `normalised_origin` so the comparisons agree.
"""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalised_origin(url: str) -> str:
    """scheme://host[:port] in lower case, without the scheme's default port, for any URL
    (an origin or a full URL with a path). An IPv6 literal keeps its brackets."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None or port == DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def host_and_port(url: str) -> str:
    """The origin without its scheme: what a Host header names."""
    return normalised_origin(url).split("://", 1)[1]
