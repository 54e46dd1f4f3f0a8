"""Rendering pages and errors: HTML for people, JSON for JSON clients.

Every page reads the request context, so every page (error pages included) knows who is
signed in. `Refusals` is what the middleware is given to answer by itself (a wrong host,
too many requests): the same error page, showing the signed-in user too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Scope

from secure_auth.identity.aadsts import explain
from secure_auth.web.context import SessionResolver, context_of

JSON_PATHS = frozenset({"/me", "/health"})


class Renderer:
    """The templates, and what every page shows besides its own content."""

    def __init__(self, templates: Jinja2Templates, *, show_debug_link: bool) -> None:
        self.templates = templates
        self.show_debug_link = show_debug_link


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    if "text/html" in accept:
        return False
    return "application/json" in accept or request.url.path in JSON_PATHS


def request_id(request: Request) -> str:
    context = context_of(request.scope)
    return context.request_id if context is not None else "-"


def sign_in_return_path(path: str) -> str:
    """This page's path for the "Sign in" link to come back to, escaped as Starlette's
    `request.url.path` escapes it (a decoded "?", "#" or "\\" stays part of the path), without
    building a URL from the Host header on every page."""
    return path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    renderer: Renderer = request.app.state.renderer
    request_context = context_of(request.scope)
    session = request_context.session if request_context is not None else None
    page_context: dict[str, Any] = {
        "session": session,
        "user": session.user if session else None,
        "csrf_token": session.csrf_token if session else "",
        "request_id": request_context.request_id if request_context is not None else "-",
        "csp_nonce": request_context.csp_nonce if request_context is not None else "",
        "show_debug_link": renderer.show_debug_link,
        "current_path": sign_in_return_path(request.scope["path"]),
    }
    page_context.update(context or {})
    return renderer.templates.TemplateResponse(request, template, page_context, status_code=status_code)


def error_response(
    request: Request,
    status_code: int,
    title: str,
    message: str,
    *,
    reason: str | None = None,
    aadsts: int | None = None,
    idp_message: str | None = None,
    headers: Mapping[str, str] | None = None,
    retry_url: str | None = None,
) -> Response:
    """A clear error with the request id; never an exception text or stack trace."""
    rid = request_id(request)
    if wants_json(request):
        body: dict[str, Any] = {"error": reason or title, "message": message, "request_id": rid}
        if aadsts is not None:
            body["aadsts"] = aadsts
        return JSONResponse(body, status_code=status_code, headers=headers)
    response = render(
        request,
        "error.html",
        {
            "status_code": status_code,
            "title": title,
            "message": message,
            "reason": reason,
            "aadsts": aadsts,
            "help": explain(aadsts),
            "idp_message": idp_message,
            "retry_url": retry_url,
        },
        status_code=status_code,
    )
    if headers:
        response.headers.update(headers)
    return response


class Refuse(Protocol):
    """How a middleware answers by itself: `await refuse(scope, status, reason, ...)` gives
    the response to send."""

    async def __call__(
        self,
        scope: Scope,
        status: int,
        reason: str,
        *,
        title: str,
        message: str,
        headers: dict[str, str] | None = None,
        show_user: bool = True,
    ) -> Response: ...


class Refusals:
    """The `Refuse` the app gives its middleware: the error page, with the session resolved
    first so the page shows who is signed in (`show_user=False`: a refusal that must not
    touch the store, such as a host this app does not serve)."""

    def __init__(self, resolver: SessionResolver) -> None:
        self.resolver = resolver

    async def __call__(
        self,
        scope: Scope,
        status: int,
        reason: str,
        *,
        title: str,
        message: str,
        headers: dict[str, str] | None = None,
        show_user: bool = True,
    ) -> Response:
        if show_user:
            await self.resolver.resolve(scope)
        return error_response(Request(scope), status, title, message, reason=reason, headers=headers)
