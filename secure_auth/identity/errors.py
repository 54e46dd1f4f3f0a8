"""What can go wrong talking to the identity provider, as exceptions with loggable codes."""

from __future__ import annotations

from typing import Any


class SignInError(Exception):
    """A sign-in attempt failed. `reason` is a short code safe to log and show."""

    def __init__(
        self,
        reason: str,
        *,
        status_code: int = 400,
        error: str | None = None,
        description: str | None = None,
        error_codes: list[int] | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.error = error
        self.description = description
        self.error_codes = error_codes or []


class TokenError(Exception):
    """An access token could not be had silently.

    kind: "reauthenticate" (refresh token expired, revoked or missing: sign in again),
    "consent" (more consent or a claims challenge: go through the authorize endpoint for
    these scopes), "unavailable" (the IdP could not be reached: try later), "claims" (a
    resource's claims challenge no silent refresh answered: through the authorize endpoint
    with `claims`), or "claims_loop" (the same challenge again right after signing in with
    it: stop, with an error page).
    """

    def __init__(
        self,
        kind: str,
        detail: str = "",
        *,
        scopes: list[str] | None = None,
        claims: str | None = None,
        aadsts: int | None = None,
    ) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail
        self.scopes = scopes or []
        self.claims = claims
        self.aadsts = aadsts


_CONSENT_CODES = frozenset({65001, 65004})
_CONSENT_SUBERRORS = frozenset({"consent_required"})
# invalid_client is the app's own credential (an expired secret): not the user's fault, so
# it must not end every session; it counts as "unavailable" below.
_REAUTH_ERRORS = frozenset({"invalid_grant", "interaction_required", "login_required"})


def classify_token_error(result: dict[str, Any], scopes: list[str]) -> TokenError:
    codes = [c for c in result.get("error_codes", []) if isinstance(c, int)]
    aadsts = codes[0] if codes else None
    error = str(result.get("error", ""))
    claims = result.get("claims") if isinstance(result.get("claims"), str) else None
    if claims or aadsts in _CONSENT_CODES or result.get("suberror") in _CONSENT_SUBERRORS:
        return TokenError("consent", error, scopes=scopes, claims=claims, aadsts=aadsts)
    if error in _REAUTH_ERRORS:
        return TokenError("reauthenticate", error, aadsts=aadsts)
    return TokenError("unavailable", error, aadsts=aadsts)


class IdentityProviderUnavailable(Exception):
    """The IdP's metadata or keys could not be fetched."""


def first_line(text: Any) -> str | None:
    """Entra's error_description carries trace ids after the first line; keep the message."""
    if not isinstance(text, str):
        return None
    return text.splitlines()[0][:300] if text else None
