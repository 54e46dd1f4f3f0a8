"""The sign-in form's answers (``POST /{tenant}/oauth2/v2.0/authorize``): a password, a
"continue" with the browser's existing sign-in, a step-up approval, or a cancel.

As at Entra, the browser keeps a session here (an HttpOnly cookie): a later sign-in may
continue with it instead of the password unless the app asks for ``prompt=login`` or a
``max_age`` its last password entry is older than. A claims request for ``acrs`` (a
Conditional Access authentication context) adds a step-up page the user approves; the
tokens then carry ``acrs``.
"""

from __future__ import annotations

import hmac
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from . import pages
from .claims import parse_claims
from .config import DemoUser
from .context import Context
from .errors import error_response, tenant_not_found
from .redirects import add_query, error_redirect, redirect
from .store import AuthCode, BrowserSession, PendingSignIn
from .tokens import client_info

SSO_COOKIE = "local_entra_sso"


def usable_session(ctx: Context, pending: PendingSignIn, cookie: str | None) -> BrowserSession | None:
    """The browser's sign-in, when this request may continue with it."""
    session = ctx.store.browser_session(cookie)
    if session is None or pending.prompt == "login":
        return None
    if pending.max_age is not None and time.time() - session.auth_time > pending.max_age:
        return None
    if pending.login_hint and pending.login_hint.lower() != session.username.lower():
        return None
    return session


def wanted_contexts(pending: PendingSignIn) -> list[str]:
    return parse_claims(pending.claims).acrs()  # checked when the authorize request came in


def sign_in_page(
    ctx: Context,
    pending: PendingSignIn,
    request_id: str,
    action: str,
    cookie: str | None,
    *,
    username: str = "",
    error: str | None = None,
) -> Response:
    session = usable_session(ctx, pending, cookie)
    if session is not None and pending.username is None and wanted_contexts(pending) and error is None:
        # Signed in here already: only the approval is asked for.
        pending.username, pending.auth_time, pending.sid = session.username, session.auth_time, session.sid
        return step_up_page(ctx, pending, request_id, action, session_user(ctx, session))
    notice = None
    if session is None and ctx.store.browser_session(cookie) is not None and pending.max_age is not None:
        notice = "The application asks you to sign in again: your last sign-in here is too old for it."
    continuing = session_user(ctx, session) if session is not None else None
    return pending_form(
        "signin.html",
        pending,
        request_id,
        action,
        username=username,
        error=error,
        notice=notice,
        continuing=continuing,
        users=ctx.config.users,
    )


def session_user(ctx: Context, session: BrowserSession) -> DemoUser | None:
    return ctx.config.user(session.username)


def step_up_page(ctx: Context, pending: PendingSignIn, request_id: str, action: str, user: DemoUser | None) -> Response:
    return pending_form(
        "step_up.html",
        pending,
        request_id,
        action,
        name=user.name if user else pending.username,
        contexts=wanted_contexts(pending),
    )


def pending_form(template: str, pending: PendingSignIn, request_id: str, action: str, **context: Any) -> Response:
    """A page whose form answers the pending sign-in at `action`. The answer redirects to the
    app's redirect URI, so the page's form-action allows that too (Chrome checks redirects)."""
    return pages.render(
        template,
        form_targets=[pending.redirect_uri],
        client_id=pending.client_id,
        request_id=request_id,
        action=action,
        **context,
    )


def router(ctx: Context) -> APIRouter:
    api = APIRouter()

    @api.post("/{tenant}/oauth2/v2.0/authorize", response_model=None)
    async def sign_in(tenant: str, request: Request) -> Response:
        ctx.store.count("login")
        if ctx.resolve_tenant(tenant) is None:
            return error_response(tenant_not_found(tenant))
        form = await request.form()
        request_id = str(form.get("request_id") or "")
        pending = ctx.store.get_pending(request_id) if request_id else None
        if pending is None:
            return pages.error_page(
                "Your sign-in request has expired",
                "AADSTS50089: Authentication failed due to flow token expired. "
                "Go back to the application and sign in again.",
            )
        action = str(form.get("action") or "")
        path = request.url.path
        cookie = request.cookies.get(SSO_COOKIE)
        if action == "cancel":
            return denied(pending, request_id, "AADSTS65004: User declined to consent to access the app.")
        if action in ("approve", "decline"):
            return answer_step_up(pending, request_id, approved=action == "approve")

        new_cookie = None
        if action == "continue":
            session = usable_session(ctx, pending, cookie)
            user = ctx.config.user(session.username) if session else None
            if session is None or user is None:
                return sign_in_page(
                    ctx, pending, request_id, path, cookie, error="Sign in again: that sign-in has ended here."
                )
            pending.username, pending.auth_time, pending.sid = user.username, session.auth_time, session.sid
        else:
            username = str(form.get("username") or "").strip()
            password = str(form.get("password") or "")
            user = ctx.config.user(username)
            if user is None or not hmac.compare_digest(password.encode(), user.password.encode()):
                error = (
                    f"AADSTS50034: The user account {username or '(empty)'} does not exist in "
                    "this directory. Pick one of the demo accounts below."
                    if user is None
                    else "AADSTS50126: Error validating credentials due to invalid username or password."
                )
                return sign_in_page(ctx, pending, request_id, path, cookie, username=username, error=error)
            # Any demo user may sign in, whatever tenant the authority names: tokens carry the
            # user's home tenant (tid, iss), and checking that is the app's job.
            now = time.time()
            pending.username, pending.auth_time, pending.sid = user.username, now, str(uuid.uuid4())
            new_cookie = ctx.store.add_browser_session(BrowserSession(user.username, now, pending.sid))
            ctx.store.end_browser_sessions(cookie)  # this browser's previous sign-in is replaced

        if wanted_contexts(pending):
            response = step_up_page(ctx, pending, request_id, path, user)
        else:
            response = finish(pending, request_id, acrs=[])
        if new_cookie is not None:
            response.set_cookie(SSO_COOKIE, new_cookie, httponly=True, samesite="lax", path="/")
        return response

    def answer_step_up(pending: PendingSignIn, request_id: str, *, approved: bool) -> Response:
        if pending.username is None:  # approval before anyone signed in
            return pages.error_page("Sign in first", "AADSTS50058: No user is signed in for this request.")
        if not approved:
            return denied(
                pending, request_id, "AADSTS500121: Authentication failed during strong authentication request."
            )
        return finish(pending, request_id, acrs=wanted_contexts(pending))

    def denied(pending: PendingSignIn, request_id: str, description: str) -> Response:
        """The user said no: the request is over, and the app hears access_denied."""
        ctx.store.drop_pending(request_id)
        return error_redirect(pending.redirect_uri, "access_denied", description, pending.state)

    def finish(pending: PendingSignIn, request_id: str, *, acrs: list[str]) -> Response:
        user = ctx.config.user(pending.username)
        if ctx.store.drop_pending(request_id) is None or user is None:  # a double submit lost the race
            return pages.error_page(
                "Your sign-in request has expired",
                "AADSTS50089: Authentication failed due to flow token expired.",
            )
        now = time.time()
        sid = pending.sid or str(uuid.uuid4())
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
                auth_time=pending.auth_time or now,
                acrs=acrs,
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
