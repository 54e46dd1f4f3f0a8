"""Access-token validation as a resource server (Microsoft Graph) performs it.

Keys come straight from the ``KeySet`` (what the JWKS publishes, by ``kid``), so
a rotation with ``keep_old=False`` invalidates outstanding tokens, as at Entra.
Messages follow Graph's ``InvalidAuthenticationToken`` wording where it has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from .context import Context

#: Resource servers allow some clock skew; kept small so short-lived test tokens expire.
LEEWAY_SECONDS = 1
ALGORITHMS = ("RS256",)
REQUIRED_CLAIMS = ("exp", "nbf", "iss", "aud", "tid", "oid")


class BearerError(Exception):
    """The token was refused; ``message`` goes in Graph's error body."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class BearerToken:
    claims: dict[str, Any]

    @property
    def scopes(self) -> set[str]:
        """Delegated scopes from ``scp``, lower-cased (scope names are case-insensitive)."""
        return {scope.lower() for scope in str(self.claims.get("scp") or "").split()}

    @property
    def tid(self) -> str:
        return str(self.claims["tid"]).lower()

    @property
    def oid(self) -> str:
        return str(self.claims["oid"]).lower()


def bearer_value(authorization: str | None) -> str:
    """The token from ``Authorization: Bearer <token>``; empty if absent or another scheme."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def verify_access_token(token: str, ctx: Context, audiences: list[str]) -> BearerToken:
    if not token:
        raise BearerError("Access token is empty.")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise BearerError("IDX14100: JWT is not well formed.") from None
    if header.get("alg") not in ALGORITHMS:
        raise BearerError("Access token validation failure. Signing algorithm not allowed.")
    key = ctx.keys.public_key(str(header.get("kid") or ""))
    if key is None:
        raise BearerError("Signature validation failed: no published key matches the token's kid.")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=list(ALGORITHMS),
            audience=audiences,
            leeway=LEEWAY_SECONDS,
            options={"require": list(REQUIRED_CLAIMS), "verify_iss": False},
        )
    except jwt.ExpiredSignatureError:
        raise BearerError("Lifetime validation failed, the token is expired.") from None
    except jwt.ImmatureSignatureError:
        raise BearerError("Lifetime validation failed, the token is not yet valid.") from None
    except jwt.InvalidSignatureError:
        raise BearerError("Signature validation failed.") from None
    except jwt.InvalidAudienceError:
        raise BearerError("Access token validation failure. Invalid audience.") from None
    except jwt.MissingRequiredClaimError as exc:
        raise BearerError(f"Access token validation failure. Missing claim '{exc.claim}'.") from None
    except jwt.InvalidTokenError:
        raise BearerError("Access token validation failure.") from None
    tid = str(claims["tid"]).lower()
    # The issuer must be ours *for the token's own tenant*; tid alone proves nothing.
    if tid not in ctx.config.tenant_ids() or claims["iss"] != ctx.issuer(tid):
        raise BearerError("Access token validation failure. Invalid issuer.")
    return BearerToken(claims)
