"""Monitoring: /health (liveness), /health/ready (readiness), /metrics (Prometheus).

/health touches nothing. /health/ready checks the store and the identity provider's
metadata and keys (cached; short timeout) and answers 200 (ok or degraded) or 503, with
each check's status and nothing secret. /metrics exists only with METRICS_ENABLED=true
and answers only METRICS_ALLOW_IPS (everyone else gets a 404).
"""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from secure_auth.operations.metrics import ACTIVE_SESSIONS
from secure_auth.web.dependencies import ServicesDep

router = APIRouter()


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness only: cheap, touches no store and no identity provider."""
    return {"status": "ok"}


@router.get("/health/ready")
async def ready(services: ServicesDep) -> JSONResponse:
    body, status = await services.readiness.report()
    return JSONResponse(body, status_code=status)


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
