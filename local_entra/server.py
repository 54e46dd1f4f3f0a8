"""The ASGI app: discovery, keys and logout here; authorize, token and Graph in their own modules.

One app serves both listeners. Discovery points browsers at the plain-http
front channel and back-channel calls (token, keys) at the https listener.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from . import authorize, graph, pages, revocation, sign_in, token_endpoint
from .config import ClientRegistration
from .context import Context, TenantRef
from .errors import error_response, tenant_not_found
from .redirects import add_query, redirect

DISCOVERY_CACHE = {"Cache-Control": "public, max-age=86400"}


def create_app(ctx: Context) -> FastAPI:
    app = FastAPI(
        title="local_entra",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.local_entra = ctx
    app.mount(pages.STATIC_PATH, StaticFiles(directory=pages.STATIC_DIR), name="local_entra_static")
    app.include_router(authorize.router(ctx))
    app.include_router(sign_in.router(ctx))
    app.include_router(revocation.router(ctx))
    app.include_router(token_endpoint.router(ctx))
    app.include_router(graph.router(ctx))

    @app.middleware("http")
    async def baseline_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return RedirectResponse(pages.STATIC_PATH + "/favicon.svg", status_code=301)

    @app.get("/{tenant}/v2.0/.well-known/openid-configuration", response_model=None)
    async def discovery(tenant: str) -> JSONResponse:
        ctx.store.count("discovery")
        ref = ctx.resolve_tenant(tenant)
        if ref is None:
            return error_response(tenant_not_found(tenant))
        return JSONResponse(openid_configuration(ctx, ref), headers=DISCOVERY_CACHE)

    @app.get("/{tenant}/discovery/v2.0/keys", response_model=None)
    async def keys(tenant: str) -> JSONResponse:
        ctx.store.count("keys")
        ref = ctx.resolve_tenant(tenant)
        if ref is None:
            return error_response(tenant_not_found(tenant))
        return JSONResponse(ctx.keys.jwks(ctx.issuer(ref.tenant_id)), headers=DISCOVERY_CACHE)

    @app.api_route("/{tenant}/oauth2/v2.0/logout", methods=["GET", "POST"], response_model=None)
    async def logout(tenant: str, request: Request) -> Response:
        ctx.store.count("logout")
        ref = ctx.resolve_tenant(tenant)
        if ref is None:
            return error_response(tenant_not_found(tenant))
        params = dict(request.query_params)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.form()).items()})
        # The browser's sign-in here ends too: the next sign-in asks for the password.
        ctx.store.end_browser_sessions(request.cookies.get(sign_in.SSO_COOKIE))
        target = params.get("post_logout_redirect_uri")
        response: Response = pages.render("signed_out.html")
        if target and allowed_post_logout(ctx, target, params.get("client_id")):
            state = params.get("state")
            response = redirect(add_query(target, {"state": state}) if state else target)
        response.delete_cookie(sign_in.SSO_COOKIE, path="/")
        return response

    return app


def openid_configuration(ctx: Context, ref: TenantRef) -> dict:
    back = f"{ctx.authority_host}/{ref.canonical}"
    front = f"{ctx.front_url}/{ref.canonical}"
    return {
        "token_endpoint": f"{back}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{back}/discovery/v2.0/keys",
        "response_modes_supported": ["query"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": ctx.issuer(ref.tenant_id),
        "request_uri_parameter_supported": False,
        "authorization_endpoint": f"{front}/oauth2/v2.0/authorize",
        "http_logout_supported": True,
        "frontchannel_logout_supported": False,
        "end_session_endpoint": f"{front}/oauth2/v2.0/logout",
        "claims_supported": [
            "sub",
            "iss",
            "cloud_instance_name",
            "cloud_instance_host_name",
            "cloud_graph_host_name",
            "msgraph_host",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "nonce",
            "preferred_username",
            "name",
            "tid",
            "ver",
            "at_hash",
            "c_hash",
            "email",
            "oid",
            "roles",
            "sid",
            "login_hint",
        ],
        "code_challenge_methods_supported": ["S256"],
        "tenant_region_scope": "NA" if ref.tenant_id else None,
        "cloud_instance_name": "local.entra",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def allowed_post_logout(ctx: Context, target: str, client_id: str | None) -> bool:
    """Registered post-logout URIs, matched exactly or on origin + path (query ignored)."""
    clients: list[ClientRegistration] = ctx.config.clients
    if client_id:
        clients = [c for c in clients if c.client_id == client_id]
    if urlsplit(target).fragment:
        return False
    candidates = {target, _without_query(target)}
    return any(candidates & set(client.post_logout_redirect_uris) for client in clients)
