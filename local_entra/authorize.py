"""The front channel: ``/{tenant}/oauth2/v2.0/authorize`` (GET shows the form, POST signs in).

Errors about the client or the redirect URI are shown as a page, never
redirected, so an unregistered URI can't receive anything (as Entra).
"""

from __future__ import annotations

import hmac
import re
import time
import uuid
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from . import pages
from .context import Context, TenantRef
from .errors import error_response, tenant_not_found
from .store import AuthCode, PendingSignIn
from .tokens import ScopeError, client_info, grant_scopes, parse_scopes

PKCE_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def add_query(url: str, params: dict[str, str]) -> str:
    """Append parameters to a redirect URI, keeping any query it already has."""
    parts = urlsplit(url)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


def error_redirect(redirect_uri: str, error: str, description: str, state: str | None) -> RedirectResponse:
    params = {"error": error, "error_description": description}
    if state is not None:
        params["state"] = state
    return redirect(add_query(redirect_uri, params))


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

    def sign_in_page(
        pending: PendingSignIn,
        request_id: str,
        action: str,
        *,
        username: str = "",
        error: str | None = None,
    ) -> Response:
        return pages.render(
            "signin.html",
            form_targets=[pending.redirect_uri],
            client_id=pending.client_id,
            request_id=request_id,
            action=action,
            username=username,
            error=error,
            users=ctx.config.users,
        )

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
        )
        request_id = ctx.store.add_pending(pending)
        return sign_in_page(pending, request_id, request.url.path, username=pending.login_hint or "")

    @api.post("/{tenant}/oauth2/v2.0/authorize", response_model=None)
    async def sign_in(tenant: str, request: Request) -> Response:
        ctx.store.count("login")
        ref = tenant_or_error(tenant)
        if isinstance(ref, JSONResponse):
            return ref
        form = await request.form()
        request_id = str(form.get("request_id") or "")
        pending = ctx.store.get_pending(request_id) if request_id else None
        if pending is None:
            return pages.error_page(
                "Your sign-in request has expired",
                "AADSTS50089: Authentication failed due to flow token expired. "
                "Go back to the application and sign in again.",
            )
        if form.get("action") == "cancel":
            ctx.store.drop_pending(request_id)
            return error_redirect(
                pending.redirect_uri,
                "access_denied",
                "AADSTS65004: User declined to consent to access the app.",
                pending.state,
            )

        username = str(form.get("username") or "").strip()
        password = str(form.get("password") or "")
        user = ctx.config.user(username)
        action = request.url.path
        if user is None:
            return sign_in_page(
                pending,
                request_id,
                action,
                username=username,
                error=f"AADSTS50034: The user account {username or '(empty)'} does not exist in "
                "this directory. Pick one of the demo accounts below.",
            )
        if not hmac.compare_digest(password.encode(), user.password.encode()):
            return sign_in_page(
                pending,
                request_id,
                action,
                username=username,
                error="AADSTS50126: Error validating credentials due to invalid username or password.",
            )
        # Any demo user may sign in, whatever tenant the authority names: tokens carry the
        # user's home tenant (tid, iss), and checking that is the app's job.
        if ctx.store.drop_pending(request_id) is None:  # a double submit lost the race
            return pages.error_page(
                "Your sign-in request has expired",
                "AADSTS50089: Authentication failed due to flow token expired.",
            )

        now = time.time()
        sid = str(uuid.uuid4())
        code = ctx.store.add_code(
            AuthCode(
                client_id=pending.client_id,
                redirect_uri=pending.redirect_uri,
                scopes=pending.scopes,
                nonce=pending.nonce,
                code_challenge=pending.code_challenge,
                username=user.username,
                sid=sid,
                issued_at=now,
                expires_at=now + ctx.config.code_lifetime,
            )
        )
        params = {"code": code}
        if pending.client_info:
            params["client_info"] = client_info(user)
        if pending.state is not None:
            params["state"] = pending.state
        params["session_state"] = sid
        return redirect(add_query(pending.redirect_uri, params))

    return api
