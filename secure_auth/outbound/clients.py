"""The async HTTP clients for calls made on the user's behalf (Graph, the API): opened
at start-up, closed at shut-down, with timeouts and the app's own trust store."""

from __future__ import annotations

import ssl

import httpx

from secure_auth.config import Settings


def outbound_client(settings: Settings, ca_bundle_path: str, max_connections: int = 100) -> httpx.AsyncClient:
    context = ssl.create_default_context(cafile=ca_bundle_path)
    timeout = httpx.Timeout(settings.outbound_timeout, connect=min(5.0, settings.outbound_timeout))
    return httpx.AsyncClient(
        verify=context,
        timeout=timeout,
        trust_env=False,  # no proxy or CA from the environment: the same rule as the IdP client
        follow_redirects=False,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=min(20, max_connections)),
    )


class OutboundClients:
    """Graph's client, and the API proxy's own pool (when API_BASE_URL is set), so slow or
    stalled API downloads cannot starve calls to Graph."""

    def __init__(self, settings: Settings, ca_bundle_path: str) -> None:
        self.settings = settings
        self.ca_bundle_path = ca_bundle_path
        self._graph: httpx.AsyncClient | None = None
        self._api: httpx.AsyncClient | None = None

    def open(self) -> None:
        self._graph = outbound_client(self.settings, self.ca_bundle_path)
        if self.settings.api_base_url:
            self._api = outbound_client(self.settings, self.ca_bundle_path, self.settings.proxy_max_connections)

    async def close(self) -> None:
        for client in (self._graph, self._api):
            if client is not None:
                await client.aclose()
        self._graph = self._api = None

    @property
    def graph(self) -> httpx.AsyncClient:
        if self._graph is None:
            raise RuntimeError("the outbound clients open with the application (lifespan)")
        return self._graph

    @property
    def api(self) -> httpx.AsyncClient:
        return self._api or self.graph
