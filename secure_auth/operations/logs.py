"""Logging: text or JSON lines (LOG_FORMAT), and redaction of what must never be logged.

- uvicorn's access log writes every request's full path with its query string; on
  /auth/callback that is the authorization code, the state and the IdP's error text.
- MSAL's DEBUG records carry the auth code, the PKCE verifier and token responses.
"""

from __future__ import annotations

import json
import logging
import time

ACCESS_LOGGER = "uvicorn.access"


class AuthQueryRedactor(logging.Filter):
    """Drops the query string of /auth/ paths from uvicorn access-log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = args[2]
            if path.startswith("/auth/") and "?" in path:
                record.args = (*args[:2], path.split("?", 1)[0] + "?[redacted]", *args[3:])
        return True


def install_log_redaction() -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, AuthQueryRedactor) for f in logger.filters):
        logger.addFilter(AuthQueryRedactor())
    logging.getLogger("msal").setLevel(logging.WARNING)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; security events keep their fields as keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("event", "request_id"):
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({k: v for k, v in fields.items() if k not in entry})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class AppLogHandler(logging.StreamHandler):
    """The root handler this app installs (a class of its own, so configuring again replaces it)."""


def configure_logging(level: str, log_format: str) -> None:
    """Root handler for the whole process; called once by the application factory."""
    handler = AppLogHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, AppLogHandler):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    install_log_redaction()
