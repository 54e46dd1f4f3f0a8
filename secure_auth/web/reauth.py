"""Signing in again while signed in: a step-up (an authentication context), a recent
sign-in (max_age) or a resource's claims challenge. The user goes through the authorize
endpoint with what is asked for and comes back where they were; JSON and API-proxy
clients get 401 with a `login_url` to send the browser to.

Never a loop: a session remembers what its sign-in asked for, and when that same request
is due again right after it, the answer is a clear error page instead.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from secure_auth.operations.events import security_event
from secure_auth.outbound.proxy_rules import PROXY_PREFIX
from secure_auth.sessions.model import Session
from secure_auth.validators.redirects import safe_next_path
from secure_auth.validators.sign_in_options import SignInOptions
from secure_auth.web.context import context_of
from secure_auth.web.rendering import error_response, request_id, wants_json

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# A re-authentication this recent that still does not satisfy a max_age is the IdP
# ignoring it: a loop, not a reason to ask again.
JUST_SIGNED_IN_SECONDS = 60


class ReauthenticationRequired(Exception):
    """Raised by require_auth_context / require_recent_sign_in. `form_page`: where a
    form posted to the guarded route lives, to come back to (the POST is not replayed)."""

    def __init__(self, reason: str, options: SignInOptions, *, form_page: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.options = options
        self.form_page = form_page


def login_url(next_path: str, options: SignInOptions, scopes: list[str] | None = None) -> str:
    query = {"next": next_path}
    if scopes:
        query["scope"] = " ".join(scopes)
    query.update(options.query())
    return "/auth/login?" + urlencode(query)


def return_path(request: Request, form_page: str | None = None) -> str:
    """Where to come back to after signing in: this page for a page request; for a form
    post, the page with the form (never a replay of the POST); for an API call, the page
    that made it (its same-origin Referer), else home."""
    if request.method == "GET" and not request.url.path.startswith(PROXY_PREFIX):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if form_page:
        return form_page
    referer = urlsplit(request.headers.get("referer", ""))
    if f"{referer.scheme}://{referer.netloc}" == f"{request.url.scheme}://{request.url.netloc}":
        return safe_next_path(referer.path + (f"?{referer.query}" if referer.query else ""))
    return "/"


def answers_with_json(request: Request) -> bool:
    """JSON clients and API-proxy calls get 401 + login_url; pages and forms a redirect."""
    if wants_json(request) or request.url.path.startswith(PROXY_PREFIX):
        return True
    if request.method == "GET":
        return False
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type not in FORM_TYPES


def sign_in_again(request: Request, error: str, url: str) -> Response:
    if answers_with_json(request):
        return JSONResponse({"error": error, "login_url": url, "request_id": request_id(request)}, status_code=401)
    return RedirectResponse(url, status_code=303)


def is_loop(session: Session | None, options: SignInOptions, now: float) -> bool:
    """This session's own sign-in already asked for exactly this, and it did not help."""
    if session is None:
        return False
    if options.claims and session.signed_in_asking_for(options.claims):
        return True
    asked_age = session.asked.get("max_age")
    return (
        options.max_age is not None
        and isinstance(asked_age, int)
        and asked_age <= options.max_age
        and now - session.created_at < JUST_SIGNED_IN_SECONDS
    )


async def reauthentication_required(request: Request, exc: ReauthenticationRequired) -> Response:
    context = context_of(request.scope)
    session = context.session if context is not None else None
    rid = request_id(request)
    next_path = return_path(request, exc.form_page)
    url = login_url(next_path, exc.options)
    if is_loop(session, exc.options, time.time()):
        security_event("step_up_failed", rid, reason=exc.reason, oid=session.user.get("oid") if session else None)
        return error_response(
            request,
            403,
            "Additional sign-in did not complete",
            "This page needs a stronger or more recent sign-in, and the identity provider did not provide it. "
            "Try again; if it happens again, ask your administrator.",
            reason=f"{exc.reason}_not_satisfied",
            retry_url=url,
        )
    security_event("step_up_required", rid, reason=exc.reason, max_age=exc.options.max_age)
    return sign_in_again(request, f"{exc.reason}_required", url)
