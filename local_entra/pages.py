"""HTML rendering for the front channel, with strict security headers.

Pages carry no script and no inline style, so the CSP can be ``default-src 'none'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from fastapi.responses import HTMLResponse

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "static"
STATIC_PATH = "/_local_entra/static"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def security_headers(form_targets: list[str] | None = None) -> dict[str, str]:
    # form-action must also allow where the form's POST redirects to (Chrome checks redirects).
    origins = " ".join(sorted({origin_of(url) for url in form_targets or [] if origin_of(url)}))
    csp = (
        f"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' {origins}".rstrip()
        + "; frame-ancestors 'none'; base-uri 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
    }


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}"


def render(
    template: str,
    status_code: int = 200,
    form_targets: list[str] | None = None,
    **context: Any,
) -> HTMLResponse:
    html = _env.get_template(template).render(static_url=STATIC_PATH, **context)
    return HTMLResponse(html, status_code=status_code, headers=security_headers(form_targets))


def error_page(title: str, message: str, status_code: int = 400, hint: str | None = None) -> HTMLResponse:
    return render("error.html", status_code=status_code, title=title, message=message, hint=hint)
