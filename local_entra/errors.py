"""Entra-shaped OAuth errors.

Entra's JSON errors carry the AADSTS code twice (in ``error_description`` and
``error_codes``) plus trace/correlation ids; apps log and sometimes branch on
them, so the shape matters more than the wording.
"""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi.responses import JSONResponse


class OAuthError(Exception):
    """Raised inside the token endpoint; rendered as Entra's JSON error body."""

    def __init__(self, error: str, code: int, text: str, status: int = 400) -> None:
        super().__init__(f"AADSTS{code}: {text}")
        self.error = error
        self.code = code
        self.text = text
        self.status = status


def error_body(error: str, code: int, text: str, correlation_id: str | None = None) -> dict:
    now = dt.datetime.now(dt.timezone.utc)
    timestamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
    trace_id = str(uuid.uuid4())
    correlation_id = correlation_id or str(uuid.uuid4())
    description = (
        f"AADSTS{code}: {text}\r\nTrace ID: {trace_id}\r\n"
        f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}"
    )
    return {
        "error": error,
        "error_description": description,
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }


def error_response(exc: OAuthError, correlation_id: str | None = None) -> JSONResponse:
    return JSONResponse(
        error_body(exc.error, exc.code, exc.text, correlation_id),
        status_code=exc.status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def invalid_grant(code: int, text: str) -> OAuthError:
    return OAuthError("invalid_grant", code, text)


def invalid_client(code: int, text: str) -> OAuthError:
    return OAuthError("invalid_client", code, text, status=401)


def tenant_not_found(tenant: str) -> OAuthError:
    return OAuthError(
        "invalid_tenant",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
        "and are signing into the correct cloud.",
    )


def injected_failure(status: int) -> OAuthError:
    """The error a test asked for via ``fail_token_requests``."""
    if status in (429, 500, 502, 503, 504):
        return OAuthError(
            "temporarily_unavailable",
            90033,
            "A transient error has occurred. Please try again.",
            status=status,
        )
    if status == 401:
        return OAuthError("invalid_client", 7000215, "Invalid client secret provided.", status=401)
    return OAuthError("invalid_request", 90014, "The request could not be processed.", status=status)
