"""The front channel: ``GET /{tenant}/oauth2/v2.0/authorize`` checks the request and shows
the sign-in form (its answers are in ``sign_in``).

Errors about the client or the redirect URI are shown as a page, never
redirected, so an unregistered URI can't receive anything (as Entra).
"""

from __future__ import annotations

import re
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from . import pages
from .claims import ClaimsError, parse_claims
from .context import Context, TenantRef
from .errors import error_response, tenant_not_found
from .redirects import error_redirect
from .sign_in import SSO_COOKIE, sign_in_page
from .store import PendingSignIn
from .tokens import ScopeError, grant_scopes, parse_scopes

PKCE_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def _missing(name: str) -> Response:
    return pages.error_page(
        "Sorry, but we're having trouble signing you in.",
        f"AADSTS900144: The request body must contain the following parameter: '{name}'.",
    )


def router(ctx: Context) -> APIRouter:
    api = APIRouter()

    def tenant_or_error(tenant: str) -> TenantRef | JSONResponse:
        ref = ctx.resolve_tenant(tenant)
        return ref if ref is not None else error_response(tenant_not_found(tenant))

    @api.get("/{tenant}/oauth2/v2.0/authorize", response_model=None)
    async def authorize(tenant: str, request: Request) -> Response:
        ctx.store.count("authorize")
        ref = tenant_or_error(tenant)
        if isinstance(ref, JSONResponse):
            return ref
        q = request.query_params
        client_id = q.get("client_id")
        if not client_id:
            return _missing("client_id")
        client = ctx.config.client(client_id)
        if client is None:
            return pages.error_page(
                "Sorry, but we're having trouble signing you in.",
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the "
                f"directory '{ref.canonical}'. This can happen if the application has not been "
                "installed by the administrator of the tenant or consented to by any user in the "
                "tenant. You may have sent your authentication request to the wrong tenant.",
                hint="Check the client id the app is configured with.",
            )
        redirect_uri = q.get("redirect_uri")
        if not redirect_uri:
            return _missing("redirect_uri")
        if redirect_uri not in client.redirect_uris:
            return pages.error_page(
                "Sorry, but we're having trouble signing you in.",
                f"AADSTS50011: The redirect URI '{redirect_uri}' specified in the request does not "
                f"match the redirect URIs configured for the application '{client_id}'. Make sure "
                "the redirect URI sent in the request matches one added to your application in the "
                "Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more "
                "about how to fix this.",
                hint="local_entra compares redirect URIs exactly, as Entra does.",
            )

        state = q.get("state")

        def fail(error: str, description: str) -> Response:
            return error_redirect(redirect_uri, error, description, state)

        response_mode = q.get("response_mode") or "query"
        if response_mode != "query":
            return fail(
                "invalid_request",
                f"AADSTS90100: response_mode '{response_mode}' is not supported by local_entra; use 'query'.",
            )
        response_type = q.get("response_type")
        if response_type != "code":
            return fail(
                "unsupported_response_type",
                f"AADSTS70005: response_type '{response_type or ''}' is not supported. "
                "local_entra supports only 'code'.",
            )
        scopes = parse_scopes(q.get("scope"))
        if "openid" not in [s.lower() for s in scopes]:
            return fail(
                "invalid_scope",
                "AADSTS70011: The provided value for the input parameter 'scope' is not valid. "
                "The request must include the 'openid' scope.",
            )
        try:
            grant_scopes(scopes, ctx.config)
        except ScopeError as exc:
            return fail("invalid_scope", str(exc))
        challenge = q.get("code_challenge")
        method = q.get("code_challenge_method")
        if not challenge or method != "S256":
            return fail(
                "invalid_request",
                "AADSTS9002325: Proof Key for Code Exchange is required. Send code_challenge "
                "with code_challenge_method=S256.",
            )
        if not PKCE_CHALLENGE.match(challenge):
            return fail("invalid_request", "AADSTS501491: Invalid size of Code_Challenge parameter.")
        prompt = (q.get("prompt") or "").lower()
        if prompt == "none":
            return fail(
                "login_required",
                "AADSTS50058: A silent sign-in request was sent but no user is signed in.",
            )
        try:
            claims = parse_claims(q.get("claims"))
        except ClaimsError as exc:
            return fail("invalid_request", str(exc))
        max_age = q.get("max_age")
        if max_age is not None and not (max_age.isdigit() and len(max_age) <= 9):
            return fail("invalid_request", "AADSTS90018: The max_age parameter must be a number of seconds.")
        if claims.value:
            ctx.store.cae.record("authorize", q.get("login_hint") or "", q.get("claims") or "")

        pending = PendingSignIn(
            tenant=ref.segment,
            tenant_id=ref.tenant_id,
            client_id=client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=state,
            nonce=q.get("nonce"),
            code_challenge=challenge,
            login_hint=q.get("login_hint"),
            client_info=q.get("client_info") == "1",
            expires_at=time.time() + ctx.config.code_lifetime * 5,
            claims=q.get("claims") or "",
            max_age=int(max_age) if max_age is not None else None,
            prompt=prompt,
        )
        request_id = ctx.store.add_pending(pending)
        cookie = request.cookies.get(SSO_COOKIE)
        return sign_in_page(ctx, pending, request_id, request.url.path, cookie, username=pending.login_hint or "")

    return api
