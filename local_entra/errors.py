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

    def __init__(self, error: str, code: int, text: str, status: int = 400, suberror: str | None = None) -> None:
        super().__init__(f"AADSTS{code}: {text}")
        self.error = error
        self.code = code
        self.text = text
        self.status = status
        self.suberror = suberror


def error_body(
    error: str,
    code: int,
    text: str,
    correlation_id: str | None = None,
    suberror: str | None = None,
) -> dict:
    now = dt.datetime.now(dt.UTC)
    timestamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
    trace_id = str(uuid.uuid4())
    correlation_id = correlation_id or str(uuid.uuid4())
    description = (
        f"AADSTS{code}: {text}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
    )
    body = {
        "error": error,
        "error_description": description,
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    if suberror:
        # MSAL surfaces it as-is; apps branch on it (consent_required, basic_action, ...).
        body["suberror"] = suberror
    return body


def error_response(exc: OAuthError, correlation_id: str | None = None) -> JSONResponse:
    return JSONResponse(
        error_body(exc.error, exc.code, exc.text, correlation_id, exc.suberror),
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


#: Entra's wording for the AADSTS codes a refresh typically fails with.
REFRESH_FAILURE_TEXTS = {
    700082: "The refresh token has expired due to inactivity. The token was issued and was "
    "inactive for the configured lifetime.",
    50076: "Due to a configuration change made by your administrator, or because you moved to "
    "a new location, you must use multi-factor authentication to access the resource.",
    50079: "Due to a configuration change made by your administrator, or because you moved to "
    "a new location, you must enroll in multi-factor authentication to access the resource.",
    65001: "The user or administrator has not consented to use the application. Send an "
    "interactive authorization request for this user and resource.",
    50173: "The provided grant has expired due to it being revoked, a fresh auth token is "
    "needed. The user might have changed or reset their password.",
    53003: "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
}


def injected_refresh_failure(error: str, code: int, suberror: str | None) -> OAuthError:
    """The error a test asked for via ``fail_next_refresh_with``."""
    text = REFRESH_FAILURE_TEXTS.get(code, "The refresh token cannot be redeemed.")
    return OAuthError(error, code, text, suberror=suberror)
