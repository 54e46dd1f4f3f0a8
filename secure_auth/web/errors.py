"""Exception handlers: every error is a clear page or JSON with the request id, never a
stack trace; the detail goes to the server log under the same request id."""

from __future__ import annotations

import logging
from http import HTTPStatus
from urllib.parse import urlencode

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from secure_auth.identity.errors import TokenError
from secure_auth.middleware.request_context import new_csp_nonce
from secure_auth.middleware.security_headers import SecurityHeaders
from secure_auth.operations.events import security_event
from secure_auth.validators.sign_in_options import SignInOptions
from secure_auth.web.context import SessionResolver, context_of
from secure_auth.web.cookies import clear_session_cookie
from secure_auth.web.dependencies import Forbidden, SignInRequired
from secure_auth.web.reauth import (
    ReauthenticationRequired,
    login_url,
    reauthentication_required,
    return_path,
    sign_in_again,
)
from secure_auth.web.rendering import error_response, request_id, wants_json

logger = logging.getLogger("secure_auth.errors")

_MESSAGES = {
    400: "The request was not understood.",
    401: "You need to sign in first.",
    403: "You are not allowed to do that.",
    404: "There is no page at this address.",
    405: "This address does not accept that kind of request.",
    413: "The request was too large.",
    429: "Too many requests. Wait a moment and try again.",
}


async def _http_exception(request: Request, exc: StarletteHTTPException) -> Response:
    status = exc.status_code
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return error_response(request, status, title, _MESSAGES.get(status, "The request failed."), headers=exc.headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    logger.info("request_id=%s rejected invalid input: %d problem(s)", request_id(request), len(exc.errors()))
    return error_response(
        request, 400, "Bad request", "Some of the input was missing or not valid.", reason="invalid_input"
    )


async def _sign_in_required(request: Request, exc: SignInRequired) -> Response:
    if wants_json(request) or request.method != "GET":
        return JSONResponse(
            {"error": "unauthenticated", "message": "Sign in first.", "request_id": request_id(request)},
            status_code=401,
        )
    return RedirectResponse("/auth/login?" + urlencode({"next": exc.next_path}), status_code=303)


async def _forbidden(request: Request, exc: Forbidden) -> Response:
    return error_response(request, 403, "Forbidden", _MESSAGES[403], reason="forbidden")


async def _token_error(request: Request, exc: TokenError) -> Response:
    """No access token could be had silently. Reauthenticate: the session ends cleanly and
    the user signs in again, back to this page. Consent: through the authorize endpoint
    for the extra scopes (incremental consent), back to this page. A resource's claims
    challenge: through the authorize endpoint with its claims (or, when the sign-in just
    did that, a clear error page: see call_with_token)."""
    if exc.kind in ("claims", "claims_loop"):
        return _claims_challenge(request, exc)
    services = request.app.state.services
    context = context_of(request.scope)
    session = context.session if context is not None else None
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    security_event("token_refresh_failed", request_id(request), kind=exc.kind, detail=exc.detail, aadsts=exc.aadsts)
    if exc.kind == "unavailable":
        return error_response(
            request,
            503,
            "Sign-in service unavailable",
            "Your access could not be renewed right now. Try again in a moment.",
            reason="token_unavailable",
            aadsts=exc.aadsts,  # e.g. the app's own credential refused (invalid_client)
        )
    query = {"next": back}
    if exc.kind == "consent":
        query["scope"] = " ".join(exc.scopes)
        if exc.claims:
            query["claims"] = exc.claims
    login_url = "/auth/login?" + urlencode(query)
    if exc.kind == "reauthenticate" and session is not None:
        await services.sessions.end(session)
    if wants_json(request) or request.method != "GET":
        response: Response = JSONResponse(
            {
                "error": "reauthentication_required" if exc.kind == "reauthenticate" else "consent_required",
                "login_url": login_url,
                "request_id": request_id(request),
            },
            status_code=401,
        )
    else:
        response = RedirectResponse(login_url, status_code=303)
    if exc.kind == "reauthenticate":
        clear_session_cookie(response, services.settings)
    return response


def _claims_challenge(request: Request, exc: TokenError) -> Response:
    if exc.kind == "claims_loop":
        return error_response(
            request,
            403,
            "Access still refused",
            "The service still asks for a newer sign-in after you signed in again, so the request stopped here. "
            "Try again later; if it goes on, ask your administrator.",
            reason="claims_challenge_loop",
            retry_url=return_path(request) if request.method == "GET" else None,
        )
    url = login_url(return_path(request), SignInOptions(claims=exc.claims), exc.scopes)
    return sign_in_again(request, "claims_challenge", url)


def install_error_handlers(app: FastAPI, *, security_headers: SecurityHeaders, resolver: SessionResolver) -> None:
    async def unhandled(request: Request, exc: Exception) -> Response:
        """Starlette runs this outside every middleware, so it adds their headers itself."""
        logger.exception("request_id=%s unhandled error", request_id(request))
        await resolver.resolve(request.scope)  # the page shows who is signed in, if the store can say
        response = error_response(request, 500, "Something went wrong", "The error has been logged. Try again later.")
        context = context_of(request.scope)
        nonce = context.csp_nonce if context is not None else new_csp_nonce()
        security_headers.apply(
            response.headers, path=request.url.path, has_session=True, nonce=nonce, request_id=request_id(request)
        )
        # The server drops the connection after an unhandled error: say so, or a client that
        # reuses it for its next request meets a reset.
        response.headers["connection"] = "close"
        return response

    async def http_exception(request: Request, exc: StarletteHTTPException) -> Response:
        # Routes have the session already; a 404 under /static/ resolves it here, to show it.
        await resolver.resolve(request.scope)
        return await _http_exception(request, exc)

    app.add_exception_handler(StarletteHTTPException, http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(SignInRequired, _sign_in_required)  # type: ignore[arg-type]
    app.add_exception_handler(Forbidden, _forbidden)  # type: ignore[arg-type]
    app.add_exception_handler(TokenError, _token_error)  # type: ignore[arg-type]
    app.add_exception_handler(ReauthenticationRequired, reauthentication_required)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, unhandled)
