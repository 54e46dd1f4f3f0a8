"""The baseline for bench_pages.py: a bare FastAPI route rendering the same template with
the same context, and nothing else (no middleware, no session lookup)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

ROOT = Path(__file__).resolve().parents[1]
templates = Jinja2Templates(directory=str(ROOT / "templates"))
app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
app.mount("/static", StaticFiles(directory=str(ROOT / "static")), name="static")

USER = {
    "name": "Ben Walters",
    "preferred_username": "ben@contoso.example",
    "tid": "7d1c4c3e-0f6a-4a4b-9c55-3b1f2f0d5a10",
}


class _Session:
    roles: ClassVar[list[str]] = []
    user = USER


@app.get("/")
async def home(request: Request):
    context = {"session": _Session(), "user": USER, "csrf_token": "x" * 43, "request_id": "-", "show_debug_link": True}
    return templates.TemplateResponse(request, "index.html", context)


@app.get("/ping")
async def ping() -> PlainTextResponse:
    """Next to nothing, to check that the load generator outruns the routes it measures."""
    return PlainTextResponse("ok")
