"""The one HTTP client for the identity provider (MSAL's `http_client`).

- `trust_env=False`: REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE and proxies from the environment
  would otherwise override the trust store MSAL is given (psf/requests#3829).
- ENTRA_CA_BUNDLE is trusted on top of the public roots.
- A timeout on every call (MSAL ignores its own `timeout` with a custom client).
- Successful discovery GETs are cached, so MSAL applications can be built per request
  (Microsoft's own web pattern) without a metadata request each time.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import certifi
import requests
from requests.adapters import HTTPAdapter

from secure_auth.operations.metrics import IDP_LATENCY

METADATA_TTL_SECONDS = 24 * 3600


class IdpHttpSession(requests.Session):
    """The one HTTP client for the IdP: explicit trust, timeouts, cached metadata GETs."""

    def __init__(self, *, verify: str, timeout: float) -> None:
        super().__init__()
        self.trust_env = False  # REQUESTS_CA_BUNDLE and proxies from the environment must not win
        self.verify = verify
        self.ca_bundle = verify  # `verify` as a path (requests types it `bool | str | None`)
        # Sign-ins run in the threadpool (up to 40 at once): keep that many connections.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=64)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.timeout = (min(5.0, timeout), timeout)
        self._cache: dict[tuple[str, str], tuple[float, requests.Response]] = {}
        self._cache_lock = threading.Lock()

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        with IDP_LATENCY.labels(method.upper()).time():
            return super().request(method, url, *args, **kwargs)

    def get(self, url: str, params: Any = None, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """GETs to the IdP are metadata (discovery, instance discovery): cache the 200s."""
        key = (url, repr(sorted((params or {}).items())) if isinstance(params, dict) else repr(params))
        now = time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit and hit[0] > now:
                return hit[1]
        response = super().get(url, params=params, **kwargs)
        if response.status_code == 200 and _is_json_object(response):
            # Only a usable document is cached: a proxy's or portal's 200 page is not.
            with self._cache_lock:
                self._cache[key] = (now + METADATA_TTL_SECONDS, response)
        return response

    def get_fresh(self, url: str) -> requests.Response:
        return super().get(url)


def _is_json_object(response: requests.Response) -> bool:
    try:
        return isinstance(response.json(), dict)
    except ValueError:
        return False


def trust_bundle(extra_ca: Path | None) -> str:
    """The public roots, plus ENTRA_CA_BUNDLE when set, as one PEM file for requests."""
    if extra_ca is None:
        return certifi.where()
    handle, path = tempfile.mkstemp(prefix="secure_auth-ca-", suffix=".pem")
    with os.fdopen(handle, "w") as out:
        out.write(Path(certifi.where()).read_text())
        out.write("\n")
        out.write(extra_ca.read_text())
    atexit.register(_remove_quietly, path)
    return path


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
