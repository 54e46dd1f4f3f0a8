"""A demo page, ``/_local_entra/sessions``: "revoke this user's sessions", as an admin
would in the Entra admin center (Users > the user > Revoke sessions).

Revoking ends the user's refresh tokens and their sign-ins at every browser here, and
raises a CAE event: the Graph stand-in refuses their access tokens at once with a claims
challenge, so an app sees what Microsoft Graph would send it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from . import pages
from .context import Context
from .store import Store

PAGE = "/_local_entra/sessions"


def revoke_sessions(store: Store, username: str) -> None:
    store.revoke_refresh(username)
    store.end_browser_sessions(username=username)
    store.cae.event(username)


def _same_origin(request: Request) -> bool:
    """The page's own form only: a loopback demo page, still no cross-site POST."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin in (None, "null", own)


def router(ctx: Context) -> APIRouter:
    api = APIRouter()

    @api.get(PAGE, response_model=None)
    async def sessions_page(revoked: str | None = None) -> Response:
        user = ctx.config.user(revoked)
        return pages.render("revocation.html", users=ctx.config.users, revoked=user.name if user else None)

    @api.post(PAGE + "/revoke", response_model=None)
    async def revoke(request: Request) -> Response:
        if not _same_origin(request):
            return pages.error_page("Request refused", "This form must be sent from its own page.", status_code=403)
        form = await request.form()
        user = ctx.config.user(str(form.get("username") or ""))
        if user is None:
            return pages.error_page("Unknown user", "There is no such demo user.", status_code=404)
        revoke_sessions(ctx.store, user.username)
        return RedirectResponse(f"{PAGE}?revoked={user.username}", status_code=303)

    return api
