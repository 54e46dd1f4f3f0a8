"""Keep codes and state out of access logs.

uvicorn's access log writes every request's full path with its query string; on
/auth/callback that is the authorization code, the state and the IdP's error text.
"""

from __future__ import annotations

import logging

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
