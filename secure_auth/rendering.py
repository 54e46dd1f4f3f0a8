"""Rendering pages and errors: HTML for people, JSON for JSON clients."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from secure_auth.aadsts import explain


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    if "text/html" in accept:
        return False
    return "application/json" in accept or request.url.path in ("/me", "/health")


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", "-")


def render(request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    services = request.app.state.services
    session = getattr(request.state, "session", None)
    page_context: dict[str, Any] = {
        "session": session,
        "user": session.user if session else None,
        "csrf_token": session.csrf_token if session else "",
        "request_id": request_id(request),
        "csp_nonce": getattr(request.state, "csp_nonce", ""),
        "show_debug_link": services.settings.show_debug_info,
    }
    page_context.update(context or {})
    return services.templates.TemplateResponse(request, template, page_context, status_code=status_code)


def error_response(
    request: Request,
    status_code: int,
    title: str,
    message: str,
    *,
    reason: str | None = None,
    aadsts: int | None = None,
    idp_message: str | None = None,
    headers: dict[str, str] | None = None,
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
        },
        status_code=status_code,
    )
    if headers:
        response.headers.update(headers)
    return response
