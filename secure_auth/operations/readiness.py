"""Readiness: is the store answering, and can the identity provider's metadata and keys be had?

Probes are cheap to answer: one check runs at a time and its result is reused for a
moment, so a flood of /health/ready requests costs the store and the IdP nothing.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from anyio import to_thread

from secure_auth.identity.client import IdentityClient
from secure_auth.identity.errors import IdentityProviderUnavailable
from secure_auth.stores.base import SessionStore, StateStore

READY_TIMEOUT_SECONDS = 3.0
READY_CACHE_SECONDS = 1.0


class Readiness:
    def __init__(
        self, store: SessionStore, flows: StateStore, identity: IdentityClient, *, ttl: float = READY_CACHE_SECONDS
    ) -> None:
        self.store = store
        self.flows = flows
        self.identity = identity
        self.ttl = ttl
        self._lock = asyncio.Lock()
        self._expires_at = 0.0
        self._result: tuple[dict[str, Any], int] | None = None

    async def report(self) -> tuple[dict[str, Any], int]:
        """The readiness body and its HTTP status: 200 for ok or degraded, 503 for fail."""
        async with self._lock:
            if self._result is None or time.monotonic() >= self._expires_at:
                checks = {"store": await self._store_check(), "identity_provider": await self._idp_check()}
                statuses = {check["status"] for check in checks.values()}
                overall = "fail" if "fail" in statuses else "degraded" if "degraded" in statuses else "ok"
                self._result = ({"status": overall, "checks": checks}, 503 if overall == "fail" else 200)
                self._expires_at = time.monotonic() + self.ttl
            return self._result

    async def _store_check(self) -> dict[str, Any]:
        """Whether a shared store answers now: it reports, and leaves the stores' own fallback alone."""
        backend = self.store.backend
        if not await self.store.ping():
            return {"status": "degraded", "backend": backend, "detail": "unreachable: serving from process memory"}
        pressure = self.store.pressure() or self.flows.pressure()
        if pressure is not None:
            return {"status": "degraded", "backend": backend, "detail": f"under pressure: {pressure}"}
        return {"status": "ok", "backend": backend}

    async def _idp_check(self) -> dict[str, Any]:
        def check() -> dict[str, Any]:
            metadata = self.identity.metadata()
            self.identity.keys.warm()
            return {"status": "ok", "issuer": metadata.issuer, "signing_keys": len(self.identity.keys.key_ids)}

        try:
            return await asyncio.wait_for(to_thread.run_sync(check), timeout=READY_TIMEOUT_SECONDS)
        except (TimeoutError, IdentityProviderUnavailable) as exc:
            return {"status": "fail", "detail": str(exc) or "timed out"}
