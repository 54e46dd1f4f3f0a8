"""Builds the secure_auth part of an application: services, middleware, handlers, routes.

Feature routers are added by the caller (app.py): secure_auth never imports them.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Iterable

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware

from secure_auth.config import Settings
from secure_auth.errors import install_error_handlers
from secure_auth.identity import IdentityClient, IdentityProviderUnavailable
from secure_auth.logging_filters import install_log_redaction
from secure_auth.middleware import (
    RequestIdMiddleware,
    SecurityHeaders,
    SecurityHeadersMiddleware,
    content_security_policy,
)
from secure_auth.routes import auth, debug, pages
from secure_auth.services import Services
from secure_auth.sessions import SessionManager
from secure_auth.stores import MemorySessionStore, MemoryStateStore, SessionStore, StateStore

logger = logging.getLogger("secure_auth")


def build_services(
    settings: Settings,
    *,
    templates_dir: Path,
    session_store: SessionStore | None = None,
    state_store: StateStore | None = None,
) -> Services:
    return Services(
        settings=settings,
        identity=IdentityClient(settings),
        sessions=SessionManager(
            session_store or MemorySessionStore(),
            secret_key=settings.secret_key,
            idle_timeout=settings.session_idle_timeout,
            absolute_timeout=settings.session_absolute_timeout,
        ),
        state_store=state_store or MemoryStateStore(),
        templates=Jinja2Templates(directory=str(templates_dir)),
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
    install_log_redaction()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await run_in_threadpool(services.identity.warm_up)
        except IdentityProviderUnavailable as exc:
            logger.warning("identity provider metadata not fetched at start-up (%s); will retry on first sign-in", exc)
        yield
        services.identity.http.close()

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.services = services
    install_error_handlers(app)

    # A form's redirect to the IdP (sign-out goes to its end-session endpoint) must be
    # allowed by form-action, so the policy follows the discovered endpoints.
    security_headers = SecurityHeaders(
        csp=lambda: content_security_policy(services.identity.browser_origins()),
        session_cookie_name=settings.session_cookie_name,
        hsts=settings.uses_https,
    )
    app.state.security_headers = security_headers
    app.add_middleware(SecurityHeadersMiddleware, headers=security_headers)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.trusted_host_list)
    app.add_middleware(RequestIdMiddleware)

    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")
    app.include_router(pages.router)
    app.include_router(auth.router)
    app.include_router(debug.router)
    for router in feature_routers:
        app.include_router(router)
    return app
