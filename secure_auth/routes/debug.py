"""/debug-info: a doctor for the deployment (each check a verdict and its fix) and the
effective, non-secret configuration.

On by default in development; in production it answers 404 unless DEBUG_INFO_ENABLED=true,
and then only to users holding DEBUG_INFO_ROLE. Secrets and tokens are shown redacted.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from secure_auth.identity.credential import assertion_status
from secure_auth.operations.diagnostics import configuration_facts, idp_probe, provider_facts, session_facts
from secure_auth.operations.doctor import Facts, run_checks
from secure_auth.web.dependencies import MaybeSession, ServicesDep
from secure_auth.web.rendering import render

router = APIRouter()


@router.get("/debug-info")
async def debug_info(request: Request, services: ServicesDep, session: MaybeSession) -> Response:
    settings = services.settings
    if not settings.show_debug_info:
        raise HTTPException(status_code=404)
    if settings.debug_info_role and (session is None or settings.debug_info_role not in session.roles):
        raise HTTPException(status_code=404)
    provider = await run_in_threadpool(provider_facts, services.identity)
    idp = await run_in_threadpool(idp_probe, services.identity)
    forwarded_proto = request.headers.get("x-forwarded-proto")
    session_cookie = request.cookies.get(settings.session_cookie_name, "")
    arrived = f"{request.url.scheme}://{request.url.netloc}"
    assertion_file = settings.client_assertion_file
    assertion = await run_in_threadpool(assertion_status, assertion_file) if assertion_file else None
    facts = Facts(
        request_origin=arrived,
        peer_is_trusted_proxy=forwarded_proto is not None and request.url.scheme == forwarded_proto,
        forwarded_proto=forwarded_proto,
        cookie_header_bytes=len(request.headers.get("cookie", "")),
        session_cookie_bytes=len(settings.session_cookie_name) + 1 + len(session_cookie) if session_cookie else 0,
        now=time.time(),
        client_assertion=assertion,
        **idp,
    )
    return render(
        request,
        "debug_info.html",
        {
            "checks": run_checks(settings, facts),
            "config": configuration_facts(settings),
            "provider": provider,
            "session_facts": session_facts(session),
            "request_facts": {
                "Arrived as": arrived,
                "Redirect URI sent to the IdP": settings.redirect_uri,
                "Client address": request.client.host if request.client else "unknown",
            },
        },
    )
