"""Redirects back to an app's redirect URI, with Entra's parameters and errors."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi.responses import RedirectResponse


def add_query(url: str, params: dict[str, str]) -> str:
    """Append parameters to a redirect URI, keeping any query it already has."""
    parts = urlsplit(url)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


def error_redirect(redirect_uri: str, error: str, description: str, state: str | None) -> RedirectResponse:
    params = {"error": error, "error_description": description}
    if state is not None:
        params["state"] = state
    return redirect(add_query(redirect_uri, params))
