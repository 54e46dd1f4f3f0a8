"""The pages every deployment has: home, the sign-in page and /me."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from secure_auth.dependencies import current_session
from secure_auth.rendering import render
from secure_auth.sessions import Session
from secure_auth.validators import safe_next_path

router = APIRouter()
MaybeSession = Annotated[Session | None, Depends(current_session)]


@router.get("/")
async def home(request: Request, session: MaybeSession) -> Response:
    return render(request, "index.html")


@router.get("/login")
async def login_page(request: Request, session: MaybeSession, next: str | None = None) -> Response:
    return render(request, "login.html", {"next": safe_next_path(next)})


@router.get("/me")
async def me(session: MaybeSession) -> Response:
    if session is None:
        return JSONResponse({"error": "unauthenticated", "message": "Sign in first."}, status_code=401)
    user = session.user
    return JSONResponse(
        {
            "name": user.get("name"),
            "username": user.get("preferred_username"),
            "oid": user.get("oid"),
            "tid": user.get("tid"),
            "roles": session.roles,
        }
    )
