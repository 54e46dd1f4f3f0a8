"""Security events: one log line each, with the request id. Never a token, code,
verifier, secret or cookie value: callers pass short codes and identifiers only."""

from __future__ import annotations

import logging
import re

from secure_auth.operations.metrics import record_event

security_logger = logging.getLogger("secure_auth.security")
_UNSAFE = re.compile(r"[^A-Za-z0-9._:@/+-]")


def _clean(value: object) -> str:
    return _UNSAFE.sub("_", str(value))[:120]


def security_event(event: str, request_id: str | None, **fields: object) -> None:
    record_event(event, fields)
    details = " ".join(f"{name}={_clean(value)}" for name, value in fields.items() if value is not None)
    security_logger.info(
        "event=%s request_id=%s %s",
        event,
        request_id or "-",
        details,
        extra={"event": event, "request_id": request_id, "fields": {k: _clean(v) for k, v in fields.items()}},
    )
