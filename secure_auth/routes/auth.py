"""Sign-in and sign-out: /auth/login, /auth/callback, /auth/logout, /auth/signed-out.

A pending sign-in travels sealed in the flow cookie, tied to this browser by a random
binding; one the cookie has no room for goes to the bounded StateStore under the same
binding (identity/pending.py). The callback needs no session, so a lost or rotated
session, another worker or a restart with a shared store does not break sign-in; a code
and state replayed in another browser fail, so neither place reopens login CSRF; and
abandoned sign-ins cost the server no room another person needs.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from secure_auth.config.origins import host_and_port
from secure_auth.identity.aadsts import aadsts_code, explain
from secure_auth.identity.errors import SignInError, first_line
from secure_auth.identity.pending import PendingSignIn
from secure_auth.operations.events import security_event
from secure_auth.outbound.graph import has_groups_overage
from secure_auth.sessions.model import Session
from secure_auth.validators.redirects import safe_next_path
from secure_auth.validators.sign_in_options import sign_in_options
from secure_auth.web.cookies import clear_session_cookie, set_flow_cookie, set_session_cookie
from secure_auth.web.dependencies import MaybeSession, ServicesDep
from secure_auth.web.rendering import error_response, render, request_id
from secure_auth.web.services import Services

router = APIRouter(prefix="/auth", tags=["auth"])

MAX_CALLBACK_PARAM_LENGTH = 8192
ALLOWED_PROMPTS = frozenset({"login", "select_account", "consent", "none"})
RETRY_URL = "/auth/login"
TENANT_REFUSALS = frozenset({"other_tenant", "tenant_not_allowed"})

_NOT_THIS_BROWSER = (
    "This sign-in cannot be finished here: it has expired, was already used, or was started in "
    "another browser. Start again from the sign-in button."
)


@router.get("/login")
async def login(
    request: Request,
    services: ServicesDep,
    next: str | None = None,
    prompt: str | None = None,
    moved: str | None = None,
    scope: str | None = None,
    claims: str | None = None,
    max_age: str | None = None,
) -> Response:
    """Starts a sign-in. `scope` asks for extra delegated scopes (incremental consent),
    limited to the ones this app uses; `claims` carries a claims request (a resource's
    challenge, a step-up); `max_age` asks to re-authenticate an older sign-in."""
    settings = services.settings
    next_path = safe_next_path(next)
    extra_scopes = [s for s in (scope or "").split() if s in settings.consentable_scopes]
    options = sign_in_options(claims, max_age)
    # The flow cookie belongs to the public host; starting elsewhere (127.0.0.1 instead
    # of localhost, say) would lose it at the callback, so move to the public origin
    # first, once: a proxy that rewrites Host must not cause a redirect loop.
    if not same_origin(request, settings.base_url) and moved is None:
        carried = {"scope": " ".join(extra_scopes)} if extra_scopes else {}
        carried.update(options.query())
        query = urlencode({"next": next_path, "moved": "1", **carried})
        return RedirectResponse(f"{settings.base_url}/auth/login?{query}", status_code=303)

    try:
        flow = await run_in_threadpool(
            services.identity.begin_sign_in,
            prompt=prompt if prompt in ALLOWED_PROMPTS else None,
            extra_scopes=extra_scopes,
            claims_challenge=options.claims,
            max_age=options.max_age,
        )
    except SignInError as exc:
        security_event("login_failed", request_id(request), reason=exc.reason)
        return error_response(
            request,
            exc.status_code,
            "The identity provider cannot be reached",
            "Signing in is not possible right now. Try again in a moment.",
            reason=exc.reason,
        )

    cookie = await services.pending.begin(request.cookies.get(settings.flow_cookie_name), flow, next_path)
    security_event("login_started", request_id(request))
    response = RedirectResponse(flow["auth_uri"], status_code=303)
    set_flow_cookie(response, settings, cookie)
    return response


def same_origin(request: Request, base_url: str) -> bool:
    """Whether the request arrived under PUBLIC_BASE_URL's host and port (the flow cookie's)."""
    return host_and_port(f"{request.url.scheme}://{request.url.netloc}") == host_and_port(base_url)


@router.get("/callback")
async def callback(request: Request, services: ServicesDep, session: MaybeSession) -> Response:
    settings = services.settings
    params = {k: v for k, v in request.query_params.items()}
    if any(len(v) > MAX_CALLBACK_PARAM_LENGTH for v in params.values()):
        return _failed(request, 400, "bad_callback", "The sign-in response was malformed.")
    state = params.get("state")
    if not state:
        return _failed(request, 400, "missing_state", "The sign-in response did not say which sign-in it belongs to.")

    bundle = services.pending.read(request.cookies.get(settings.flow_cookie_name))
    if bundle is None:
        return _failed(request, 400, "browser_mismatch", _NOT_THIS_BROWSER)
    # Single use: taken even when what follows fails.
    pending, cookie = await services.pending.finish(bundle, state)
    if pending is None:
        response = _failed(request, 400, "unknown_state", _NOT_THIS_BROWSER)
    else:
        response = await _complete(request, services, session, pending, params)
    set_flow_cookie(response, settings, cookie)
    return response


async def _complete(
    request: Request,
    services: Services,
    session: Session | None,
    pending: PendingSignIn,
    params: dict[str, str],
) -> Response:
    """Redeem the code for this browser's pending sign-in and start the session."""
    settings = services.settings
    rid = request_id(request)

    if "error" in params:
        description = params.get("error_description")
        code = aadsts_code(description)
        security_event("login_failed", rid, reason="idp_error", error=params["error"], aadsts=code)
        return error_response(
            request,
            400,
            "Sign-in did not complete",
            _idp_message(code),
            reason="idp_error",
            aadsts=code,
            idp_message=first_line(description),
            retry_url=RETRY_URL,
        )
    if not params.get("code"):
        return _failed(request, 400, "missing_code", "The sign-in response carried no authorization code.")

    try:
        result = await run_in_threadpool(services.identity.complete_sign_in, pending.flow, params)
    except SignInError as exc:
        code = aadsts_code(exc.description, exc.error_codes)
        security_event(
            "token_validation_failed" if exc.reason == "token_validation_failed" else "login_failed",
            rid,
            reason=exc.reason,
            detail=exc.description if exc.reason != "idp_error" else exc.error,
            aadsts=code,
        )
        return error_response(
            request,
            exc.status_code,
            "Sign-in did not complete",
            _sign_in_error_message(exc, code),
            reason=exc.reason,
            aadsts=code,
            idp_message=exc.description if exc.reason == "idp_error" else None,
            retry_url=RETRY_URL,
        )

    new_session = await services.sessions.create(
        claims=result.claims,
        token_cache=result.token_cache,
        client_ip=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
        previous=session,  # ended: a new id at every sign-in (the same person's state carries over)
        asked=result.asked,
    )
    if has_groups_overage(result.claims):
        await services.graph.load_overage_groups(new_session, rid)
    security_event("login_succeeded", rid, oid=result.claims.get("oid"), tid=result.claims.get("tid"))
    response = RedirectResponse(safe_next_path(pending.next_path), status_code=303)
    set_session_cookie(response, settings, services.sessions.cookie_value(new_session))
    return response


@router.get("/logout")
async def logout_confirm(request: Request, session: MaybeSession) -> Response:
    """Shows a confirmation form; a GET never signs anyone out."""
    if session is None:
        return RedirectResponse("/auth/signed-out", status_code=303)
    return render(request, "logout.html", {"signed_out": False})


@router.post("/logout")
async def logout(request: Request, services: ServicesDep, session: MaybeSession) -> Response:
    """Ends the session here and at the IdP. With the session already expired there is no
    CSRF token to check, but the IdP session may live on (a shared computer): still send
    the browser to the end-session endpoint (the CSRF guard has checked the origin)."""
    if session is not None:
        await services.sessions.end(session)
        security_event("logout", request_id(request), oid=session.user.get("oid"))
    else:
        security_event("logout", request_id(request), reason="no_session")
    login_hint = session.user.get("login_hint") if session else None
    target = await run_in_threadpool(services.identity.end_session_url, login_hint=login_hint)
    response = RedirectResponse(target or "/auth/signed-out", status_code=303)
    clear_session_cookie(response, services.settings)
    return response


@router.get("/signed-out")
async def signed_out(request: Request, session: MaybeSession) -> Response:
    response = render(request, "logout.html", {"signed_out": session is None})
    return response


def _failed(request: Request, status_code: int, reason: str, message: str) -> Response:
    security_event("login_failed", request_id(request), reason=reason)
    return error_response(request, status_code, "Sign-in did not complete", message, reason=reason, retry_url=RETRY_URL)


def _idp_message(code: int | None) -> str:
    # With an explanation the page gives its title and fix below: not the same words twice.
    return "The identity provider stopped the sign-in." if explain(code) else "The identity provider reported an error."


def _sign_in_error_message(exc: SignInError, code: int | None) -> str:
    if exc.reason == "idp_error":
        return _idp_message(code)
    if exc.reason == "idp_unavailable":
        return "The identity provider could not be reached. Try again in a moment."
    if exc.reason == "client_assertion_unavailable":
        return (
            "This app could not read its own credential for the identity provider (its federated token "
            "file), so you were not signed in. The problem has been logged; try again in a moment."
        )
    if exc.reason == "token_validation_failed" and exc.description in TENANT_REFUSALS:
        return "Your account belongs to an organisation (tenant) this app does not accept, so you were not signed in."
    if exc.reason == "token_validation_failed":
        return "The identity provider's answer failed this app's security checks, so you were not signed in."
    return "The sign-in could not be completed. Start again from the sign-in button."


@router.get("/front-channel-logout")
async def front_channel_logout(
    request: Request, services: ServicesDep, sid: str | None = None, iss: str | None = None
) -> Response:
    """Entra loads this in a hidden iframe when the user signs out elsewhere: end every
    session whose id_token carried this `sid` (and this issuer, when given). Register it as
    the app's front-channel logout URL; request the optional `sid` claim."""
    ended = 0
    # Both sid and iss: Entra sends them, and an sid alone is shared with every other app
    # the user signed in to in that browser session.
    if sid and iss and len(sid) <= 256:
        for session in await services.sessions.sessions_in("sid", sid):
            if session.user.get("iss") != iss:
                continue
            await services.sessions.end(session)
            ended += 1
    security_event("front_channel_logout", request_id(request), ended=ended)
    # The page shows no one: the session this browser sent may be among those just ended.
    signed_out = {"session": None, "user": None, "csrf_token": ""}
    return render(request, "logout.html", {"signed_out": True, "front_channel": True, **signed_out})
