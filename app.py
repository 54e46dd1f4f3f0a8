"""The application: secure_auth plus this project's feature routers.

`create_app()` is the factory; the module-level `app` (for `uvicorn app:app`) is built on
first access, so importing this module reads no configuration.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from app_routes import ROUTERS
from secure_auth.config import ConfigError, Settings, load_settings
from secure_auth.operations.logs import configure_logging
from secure_auth.stores.base import SessionStore, StateStore
from secure_auth.web.app import create_secure_app

ROOT = Path(__file__).resolve().parent


def create_app(
    settings: Settings | None = None,
    *,
    session_store: SessionStore | None = None,
    state_store: StateStore | None = None,
) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_secure_app(
        settings,
        templates_dir=ROOT / "templates",
        static_dir=ROOT / "static",
        feature_routers=ROUTERS,
        session_store=session_store,
        state_store=state_store,
    )


def __getattr__(name: str) -> Any:
    if name == "app":
        try:
            application = create_app()
        except ConfigError as exc:
            # One line naming the variable and the fix, not a traceback (uvicorn app:app).
            print(f"Configuration error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        globals()["app"] = application
        return application
    raise AttributeError(name)
