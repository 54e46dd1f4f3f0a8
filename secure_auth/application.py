"""Builds the secure_auth part of an application: services, middleware, handlers, routes.

Feature routers are added by the caller (app.py): secure_auth never imports them.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Iterable

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from secure_auth import redis_store
from secure_auth.config import Settings
from secure_auth.dependencies import csrf_guard
from secure_auth.errors import install_error_handlers
from secure_auth.hosts import HostCheckMiddleware
from secure_auth.identity import IdentityClient, IdentityProviderUnavailable
from secure_auth.outbound import outbound_client
from secure_auth.middleware import (
    RequestIdMiddleware,
    SecurityHeaders,
    SecurityHeadersMiddleware,
)
from secure_auth.ratelimit import RateLimitMiddleware, build_limiter
from secure_auth.routes import api_proxy, auth, debug, health, pages, sessions
from secure_auth.services import Services
from secure_auth.sessions import SessionManager
from secure_auth.tokens import TokenService
from secure_auth.stores import MemorySessionStore, MemoryStateStore, SessionStore, StateStore

logger = logging.getLogger("secure_auth")


def build_services(
    settings: Settings,
    *,
    templates_dir: Path,
    session_store: SessionStore | None = None,
    state_store: StateStore | None = None,
) -> Services:
    identity = IdentityClient(settings)
    redis_client = None
    redis_health = None
    if settings.uses_redis and (session_store is None or state_store is None):
        redis_client = redis_store.connect(settings.session_store_url)
        redis_health = redis_store.RedisHealth()
        session_store = session_store or redis_store.RedisSessionStore(redis_client, settings.redis_key_prefix, redis_health)
        state_store = state_store or redis_store.RedisStateStore(redis_client, settings.redis_key_prefix, redis_health)
    sessions = SessionManager(
        session_store or MemorySessionStore(),
        secret_key=settings.secret_key,
        idle_timeout=settings.session_idle_timeout,
        absolute_timeout=settings.session_absolute_timeout,
    )
    return Services(
        settings=settings,
        identity=identity,
        sessions=sessions,
        state_store=state_store or MemoryStateStore(),
        templates=Jinja2Templates(directory=str(templates_dir)),
        tokens=TokenService(identity, sessions),
        redis=redis_client,
        redis_health=redis_health,
    )


def create_secure_app(
    settings: Settings,
    *,
    templates_dir: Path,
    static_dir: Path,
    feature_routers: Iterable[APIRouter] = (),
    session_store: SessionStore | None = None,
    state_store: StateStore | None = None,
) -> FastAPI:
    services = build_services(settings, templates_dir=templates_dir, session_store=session_store, state_store=state_store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await run_in_threadpool(services.identity.warm_up)
        except IdentityProviderUnavailable as exc:
            logger.warning("identity provider metadata not fetched at start-up (%s); will retry on first sign-in", exc)
        services.http = outbound_client(settings, services.identity.http.verify)
        if settings.api_base_url:
            # Its own pool: slow or stalled API downloads cannot starve calls to Graph.
            services.api_http = outbound_client(settings, services.identity.http.verify)
        try:
            yield
        finally:
            await services.http.aclose()
            if services.api_http is not None:
                await services.api_http.aclose()
            services.identity.http.close()
            if services.redis is not None:
                await services.redis.aclose()

    # csrf_guard is application-wide: every route mounted now or later gets it.
    app = FastAPI(
        docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan, dependencies=[Depends(csrf_guard)]
    )
    app.state.services = services
    app.state.limiter = build_limiter(settings)
    install_error_handlers(app)

    # A form's redirect to the IdP (sign-out goes to its end-session endpoint) must be
    # allowed by form-action, so the policy follows the discovered endpoints.
    security_headers = SecurityHeaders(
        form_action_origins=services.identity.browser_origins,
        session_cookie_name=settings.session_cookie_name,
        hsts=settings.uses_https,
        hsts_include_subdomains=settings.hsts_include_subdomains,
    )
    app.state.security_headers = security_headers
    # Added innermost first. Outermost to innermost: request id, proxy headers, security
    # headers (so every refusal below carries them), host check, CORS, rate limits.
    app.add_middleware(
        RateLimitMiddleware,
        limiter=app.state.limiter,
        default_limits=settings.rate_limit_default,
        auth_limits=settings.rate_limit_auth,
        api_limits=settings.rate_limit_api,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Content-Type", "X-CSRF-Token", "X-Request-ID"],
        )
    app.add_middleware(HostCheckMiddleware, allowed_hosts=settings.trusted_host_list)
    app.add_middleware(SecurityHeadersMiddleware, headers=security_headers)
    if settings.forwarded_allow_list:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_list)
    app.add_middleware(RequestIdMiddleware)

    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")
    app.include_router(health.router)
    app.include_router(pages.router)
    app.include_router(auth.router)
    app.include_router(debug.router)
    app.include_router(sessions.router)
    if settings.api_base_url:
        app.include_router(api_proxy.router)  # the BFF API proxy, only when there is an API
    for router in feature_routers:
        app.include_router(router)
    return app
