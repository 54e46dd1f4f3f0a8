"""Monitoring: /health (liveness), /health/ready (readiness), /metrics (Prometheus).

/health touches nothing. /health/ready checks the store and the identity provider's
metadata and keys (cached; short timeout) and answers 200 (ok or degraded) or 503, with
each check's status and nothing secret. /metrics exists only with METRICS_ENABLED=true
and answers only METRICS_ALLOW_IPS (everyone else gets a 404).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from secure_auth.dependencies import get_services
from secure_auth.identity import IdentityProviderUnavailable
from secure_auth.metrics import ACTIVE_SESSIONS
from secure_auth.services import Services

router = APIRouter()
ServicesDep = Annotated[Services, Depends(get_services)]
READY_TIMEOUT_SECONDS = 3.0
READY_CACHE_SECONDS = 1.0


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness only: cheap, touches no store and no identity provider."""
    return {"status": "ok"}


class ReadinessCache:
    """Probes are cheap to answer: one check at a time, its result reused for a moment,
    so a flood of /health/ready requests costs the store and the IdP nothing."""

    def __init__(self, ttl: float = READY_CACHE_SECONDS) -> None:
        self.ttl = ttl
        self.lock = asyncio.Lock()
        self.expires_at = 0.0
        self.result: tuple[dict[str, Any], int] | None = None


@router.get("/health/ready")
async def ready(request: Request, services: ServicesDep) -> JSONResponse:
    cache: ReadinessCache = request.app.state.__dict__.setdefault("readiness", ReadinessCache())
    async with cache.lock:
        if cache.result is None or time.monotonic() >= cache.expires_at:
            checks = {"store": await _store_check(services), "identity_provider": await _idp_check(services)}
            statuses = {check["status"] for check in checks.values()}
            overall = "fail" if "fail" in statuses else "degraded" if "degraded" in statuses else "ok"
            cache.result = ({"status": overall, "checks": checks}, 503 if overall == "fail" else 200)
            cache.expires_at = time.monotonic() + cache.ttl
        body, status = cache.result
    return JSONResponse(body, status_code=status)


async def _store_check(services: Services) -> dict[str, Any]:
    """Whether Redis answers now. It reports, and leaves the stores' own fallback alone."""
    if services.redis is None:
        return {"status": "ok", "backend": "memory"}
    try:
        await asyncio.wait_for(services.redis.ping(), timeout=READY_TIMEOUT_SECONDS)
    except Exception:  # unreachable, refused, timed out: all mean "not Redis right now"
        return {"status": "degraded", "backend": "redis", "detail": "unreachable: serving from process memory"}
    return {"status": "ok", "backend": "redis"}


async def _idp_check(services: Services) -> dict[str, Any]:
    def check() -> dict[str, Any]:
        metadata = services.identity.metadata()
        services.identity.keys.warm()
        return {"status": "ok", "issuer": metadata.issuer, "signing_keys": len(services.identity.keys.key_ids)}

    try:
        return await asyncio.wait_for(run_in_threadpool(check), timeout=READY_TIMEOUT_SECONDS)
    except (IdentityProviderUnavailable, asyncio.TimeoutError) as exc:
        return {"status": "fail", "detail": str(exc) or "timed out"}


@router.get("/metrics")
async def metrics(request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    if not settings.metrics_enabled or not _allowed(request, settings.metrics_allow_list):
        raise HTTPException(status_code=404)
    ACTIVE_SESSIONS.set(await services.sessions.store_size())
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _allowed(request: Request, allowed: list[str]) -> bool:
    if request.client is None:
        return False
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in allowed)
