"""The app factory: builds the core services, then wraps them in the web layer (middleware,
error pages, routes). Feature routers are added by the caller (app.py at the project
root): secure_auth never imports them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import jinja2
from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from secure_auth.config import Settings
from secure_auth.crypto.sealing import Sealer
from secure_auth.identity.client import IdentityClient
from secure_auth.identity.errors import IdentityProviderUnavailable
from secure_auth.identity.pending import PURPOSE as PENDING_PURPOSE
from secure_auth.identity.pending import PendingSignIns
from secure_auth.middleware.body_limit import BodyLimitMiddleware
from secure_auth.middleware.csrf import CsrfMiddleware
from secure_auth.middleware.host_check import HostCheckMiddleware
from secure_auth.middleware.pipelined_limits import PipelinedCounter
from secure_auth.middleware.rate_limit import RateLimitMiddleware, build_limiter
from secure_auth.middleware.request_context import RequestContextMiddleware
from secure_auth.middleware.security_headers import SecurityHeaders
from secure_auth.middleware.session import SessionMiddleware
from secure_auth.operations.readiness import Readiness
from secure_auth.outbound.clients import OutboundClients
from secure_auth.outbound.graph import GraphClient
from secure_auth.outbound.proxy_rules import PROXY_PREFIX
from secure_auth.outbound.stream_slots import StreamSlots
from secure_auth.routes import api_proxy, auth, debug, health, pages, sessions
from secure_auth.sessions.manager import SessionManager
from secure_auth.stores.base import SessionStore, StateStore
from secure_auth.stores.factory import open_stores
from secure_auth.stores.redis_backend import RedisSessionStore
from secure_auth.tokens.service import TokenService
from secure_auth.web.context import SessionResolver
from secure_auth.web.errors import install_error_handlers
from secure_auth.web.rendering import Refusals, Renderer
from secure_auth.web.services import Services

logger = logging.getLogger("secure_auth")
OWN_ROUTERS = (pages.router, health.router, auth.router, debug.router, sessions.router)


def build_services(
    settings: Settings, *, session_store: SessionStore | None = None, state_store: StateStore | None = None
) -> Services:
    """The core, which knows nothing of the web: identity, stores, sessions, tokens, Graph."""
    identity = IdentityClient(settings)
    stores = open_stores(settings, sessions=session_store, flows=state_store)
    session_manager = SessionManager(
        stores.sessions,
        secret_key=settings.secret_key,
        idle_timeout=settings.session_idle_timeout,
        absolute_timeout=settings.session_absolute_timeout,
    )
    tokens = TokenService(identity, session_manager)
    outbound = OutboundClients(settings, identity.http.ca_bundle)
    return Services(
        settings=settings,
        identity=identity,
        stores=stores,
        sessions=session_manager,
        state_store=stores.flows,
        pending=PendingSignIns(
            Sealer([settings.secret_key], purpose=PENDING_PURPOSE),
            stores.flows,
            context=f"{settings.entra_client_id} {settings.base_url}",
        ),
        tokens=tokens,
        outbound=outbound,
        graph=GraphClient(settings.graph_base_url, outbound, tokens, session_manager),
        readiness=Readiness(stores.sessions, stores.flows, identity),
        proxy_slots=StreamSlots(pool_size=settings.proxy_max_connections),
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
    services = build_services(settings, session_store=session_store, state_store=state_store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await run_in_threadpool(services.identity.warm_up)
        except IdentityProviderUnavailable as exc:
            logger.warning(
                "identity provider metadata not fetched at start-up from %s (%s); will retry on first sign-in",
                settings.discovery_url,
                exc,
            )
        services.outbound.open()
        try:
            yield
        finally:
            await services.outbound.close()
            services.identity.http.close()
            await services.stores.close()

    # The app's own routes sit directly in its router, the pages people open most first:
    # an included router costs every request a second matching pass and two more layers.
    # (Their APIRouters have no include-time options to lose.)
    own_routes = [route for router in OWN_ROUTERS for route in router.routes]
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan, routes=own_routes)
    app.state.services = services
    # Templates are part of the deployed code: loaded once, never stat()ed again per render.
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)), autoescape=jinja2.select_autoescape(), auto_reload=False
    )
    app.state.renderer = Renderer(Jinja2Templates(env=environment), show_debug_link=settings.show_debug_info)
    resolver = SessionResolver(services.sessions)
    refuse = Refusals(resolver)
    # A form's redirect to the IdP (sign-out goes to its end-session endpoint) must be
    # allowed by form-action, so the policy follows the discovered endpoints.
    security_headers = SecurityHeaders(
        form_action_origins=services.identity.browser_origins,
        hsts=settings.uses_https,
        hsts_include_subdomains=settings.hsts_include_subdomains,
    )
    install_error_handlers(app, security_headers=security_headers, resolver=resolver)

    # Added innermost first. Outermost to innermost: trusted proxy headers, the request
    # context with the security headers (so every refusal below carries them), host check,
    # CORS, rate limits, the body limit, the session (resolved once for the route and its
    # error pages), and the CSRF guard, which wraps every route mounted now or later.
    app.add_middleware(
        CsrfMiddleware,
        base_url=settings.base_url,
        cors_origins=settings.cors_origins,
        max_form_bytes=settings.max_request_body_bytes,
        refuse=refuse,
    )
    app.add_middleware(SessionMiddleware, resolver=resolver)
    # The API proxy streams bodies under its own limit; without a proxy nothing is exempt.
    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.max_request_body_bytes,
        exempt_prefix=PROXY_PREFIX if settings.api_base_url else None,
        refuse=refuse,
    )
    # On the Redis session store, rate limits ride in the session read's round trip.
    pipelined = None
    if isinstance(services.stores.sessions, RedisSessionStore) and not settings.rate_limit_storage_url:
        pipelined = PipelinedCounter(services.stores.sessions, resolver)
    app.add_middleware(
        RateLimitMiddleware,
        limiter=build_limiter(settings, in_process=pipelined is not None),
        pipelined=pipelined,
        default_limits=settings.rate_limit_default,
        auth_limits=settings.rate_limit_auth,
        api_limits=settings.rate_limit_api,
        network_factor=settings.rate_limit_network_factor,
        refuse=refuse,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Content-Type", "X-CSRF-Token", "X-Request-ID"],
        )
    app.add_middleware(HostCheckMiddleware, allowed_hosts=settings.trusted_host_list, refuse=refuse)
    app.add_middleware(
        RequestContextMiddleware, session_cookie_name=settings.session_cookie_name, headers=security_headers
    )
    if settings.forwarded_allow_list:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_list)

    # Routes are matched in order: the app's own first, static files last. Bodies are
    # bounded by BodyLimitMiddleware, for every route mounted now or later.
    if settings.api_base_url:  # the BFF API proxy, only when there is an API; it has its own limit
        app.include_router(api_proxy.router)
    for router in feature_routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")
    return app
