"""Random values, digests and constant-time comparison: pure functions, no I/O."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def random_token(nbytes: int = 32) -> str:
    """A URL-safe random string carrying `nbytes` of entropy."""
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    """MSAL sends the SHA-256 hex digest of its nonce; the id_token echoes that digest."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def constant_time_equals(a: str | None, b: str | None) -> bool:
    """Compare two secrets without leaking where they differ; None never matches."""
    if a is None or b is None:
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
