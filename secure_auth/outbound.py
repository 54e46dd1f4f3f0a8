"""The one shared async HTTP client for calls made on the user's behalf (Graph, the API):
created at start-up, closed at shut-down, with timeouts and the app's own trust store."""

from __future__ import annotations

import ssl

import httpx

from secure_auth.config import Settings


def outbound_client(settings: Settings, ca_bundle_path: str) -> httpx.AsyncClient:
    context = ssl.create_default_context(cafile=ca_bundle_path)
    timeout = httpx.Timeout(settings.outbound_timeout, connect=min(5.0, settings.outbound_timeout))
    return httpx.AsyncClient(
        verify=context,
        timeout=timeout,
        trust_env=False,  # no proxy or CA from the environment: the same rule as the IdP client
        follow_redirects=False,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )
