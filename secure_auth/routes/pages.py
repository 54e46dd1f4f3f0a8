"""The pages every deployment has: home, the sign-in page and /me."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from secure_auth.validators.redirects import safe_next_path
from secure_auth.web.dependencies import MaybeSession
from secure_auth.web.rendering import render

router = APIRouter()


@router.get("/")
async def home(request: Request) -> Response:
    return render(request, "index.html")


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    """For clients that ask without reading the page's icon link."""
    return RedirectResponse("/static/favicon.svg", status_code=301)


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
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
