"""Prometheus metrics (prometheus-client), fed by the security events and the IdP client.

Served at /metrics only when METRICS_ENABLED=true, and only to METRICS_ALLOW_IPS. With
several worker processes, each counts its own (see prometheus-client's multiprocess mode).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SIGN_INS_STARTED = Counter("secure_auth_sign_ins_started_total", "Sign-ins started (redirects to the IdP)")
SIGN_INS_SUCCEEDED = Counter("secure_auth_sign_ins_succeeded_total", "Sign-ins that created a session")
SIGN_INS_FAILED = Counter("secure_auth_sign_ins_failed_total", "Sign-ins that failed, by reason", ["reason"])
TOKEN_REFRESHES = Counter("secure_auth_token_refreshes_total", "Access tokens obtained with a refresh token")
SIGN_OUTS = Counter("secure_auth_sign_outs_total", "Sign-outs")
CSRF_REJECTIONS = Counter("secure_auth_csrf_rejections_total", "Unsafe requests refused by the CSRF guard")
RATE_LIMITED = Counter("secure_auth_rate_limited_total", "Requests answered 429", ["bucket"])
ACTIVE_SESSIONS = Gauge("secure_auth_active_sessions", "Sessions in the store (this process's view)")
IDP_LATENCY = Histogram(
    "secure_auth_idp_request_seconds",
    "Latency of requests to the identity provider",
    ["method"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

_KNOWN_REASONS = frozenset(
    {
        "missing_state",
        "unknown_state",
        "browser_mismatch",
        "bad_callback",
        "missing_code",
        "idp_error",
        "idp_unavailable",
        "state_mismatch",
        "nonce_mismatch",
        "token_validation_failed",
    }
)


def record_event(event: str, fields: dict[str, object]) -> None:
    """Count a security event (called by secure_auth.events for every event)."""
    if event == "login_started":
        SIGN_INS_STARTED.inc()
    elif event == "login_succeeded":
        SIGN_INS_SUCCEEDED.inc()
    elif event in ("login_failed", "token_validation_failed"):
        reason = str(fields.get("reason", "other"))
        SIGN_INS_FAILED.labels(reason if reason in _KNOWN_REASONS else "other").inc()
    elif event == "logout":
        SIGN_OUTS.inc()
    elif event == "csrf_rejected":
        CSRF_REJECTIONS.inc()
    elif event == "rate_limited":
        RATE_LIMITED.labels(str(fields.get("bucket", "default"))).inc()
