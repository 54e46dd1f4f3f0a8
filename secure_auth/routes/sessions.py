"""/sessions: the signed-in user's active sessions, each of which they can end.

Session ids are bearer secrets and are never shown: each session is named on the page by
a short one-way handle of its id.
"""

from __future__ import annotations

import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from secure_auth.crypto.primitives import sha256_hex
from secure_auth.operations.events import security_event
from secure_auth.sessions.model import Session
from secure_auth.web.cookies import clear_session_cookie
from secure_auth.web.dependencies import CurrentUser, ServicesDep, require_recent_sign_in
from secure_auth.web.rendering import error_response, render, request_id

router = APIRouter(prefix="/sessions")
# Signing out every other session is sensitive: whoever does it entered the password lately.
RECENT_SIGN_IN_SECONDS = 15 * 60


def handle_of(session: Session) -> str:
    return sha256_hex("session-handle:" + session.id)[:20]


def _when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _confirmation(ended: str | None) -> str | None:
    """What the last action did, said back (the count comes from the redirect, never free text)."""
    if ended is None or not ended.isdigit():
        return None
    count = int(ended)
    if count == 0:
        return "There was no other session to end."
    return f"Signed out {count} other session{'s' if count != 1 else ''}."


@router.get("")
async def list_sessions(
    request: Request, services: ServicesDep, current: CurrentUser, ended: str | None = None, one: str | None = None
) -> Response:
    sessions = await services.sessions.sessions_in("user", current.user_key)
    rows = [
        {
            "handle": handle_of(s),
            "current": s.id == current.id,
            "created": _when(s.created_at),
            "last_seen": _when(s.last_seen),
            "client_ip": s.client_ip or "unknown",
            "browser": s.browser or "Other",
        }
        for s in sorted(sessions, key=lambda s: s.created_at, reverse=True)
    ]
    confirmation = "Ended that session." if one == "1" else _confirmation(ended)
    return render(request, "sessions.html", {"rows": rows, "confirmation": confirmation})


@router.post("/end")
async def end_session(
    request: Request, services: ServicesDep, current: CurrentUser, handle: Annotated[str, Form(max_length=64)]
) -> Response:
    for session in await services.sessions.sessions_in("user", current.user_key):
        if handle_of(session) == handle:
            await services.sessions.end(session)
            security_event("session_ended_by_user", request_id(request), oid=current.user.get("oid"))
            if session.id == current.id:
                response = RedirectResponse("/auth/signed-out", status_code=303)
                clear_session_cookie(response, services.settings)
                return response
            return RedirectResponse("/sessions?one=1", status_code=303)
    return error_response(request, 404, "Not found", "That session has already ended.", reason="unknown_session")


@router.post(
    "/end-others", dependencies=[Depends(require_recent_sign_in(RECENT_SIGN_IN_SECONDS, form_page="/sessions"))]
)
async def end_other_sessions(request: Request, services: ServicesDep, current: CurrentUser) -> Response:
    ended = 0
    for session in await services.sessions.sessions_in("user", current.user_key):
        if session.id != current.id:
            await services.sessions.end(session)
            ended += 1
    security_event("other_sessions_ended", request_id(request), oid=current.user.get("oid"), count=ended)
    return RedirectResponse(f"/sessions?ended={ended}", status_code=303)
