"""id_token validation: signature against the JWKS, issuer, audience, lifetime, nonce. No I/O.

MSAL does not validate the id_token it hands back (no signature, issuer, audience or
lifetime check), so the app does it here, before a session exists.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.types import Options

from secure_auth.crypto.primitives import constant_time_equals

ALLOWED_ALGORITHMS = ("RS256",)
DEFAULT_LEEWAY_SECONDS = 120
TENANT_TEMPLATE = "{tenantid}"
_TENANT_ID = re.compile(r"^[0-9a-fA-F-]{1,64}$")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class TokenValidationError(Exception):
    """The id_token was refused; `reason` is a short, loggable code (never the token)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class UnknownSigningKey(Exception):
    """No published key has this kid, even after the allowed JWKS refetch."""


@dataclass(frozen=True)
class IssuerPolicy:
    """What `iss` may be: the discovery document's issuer, which may hold `{tenantid}`."""

    issuer: str
    allowed_tenants: frozenset[str] = frozenset()

    @property
    def is_multi_tenant(self) -> bool:
        return TENANT_TEMPLATE in self.issuer

    def check(self, claims: dict[str, Any]) -> None:
        iss = claims.get("iss")
        tid = claims.get("tid")
        if not isinstance(iss, str):
            raise TokenValidationError("issuer_missing")
        if self.is_multi_tenant:
            if not isinstance(tid, str) or not _TENANT_ID.match(tid):
                raise TokenValidationError("tenant_missing", "a multi-tenant issuer needs a tid claim")
            expected = self.issuer.replace(TENANT_TEMPLATE, tid)
        else:
            expected = self.issuer
        if iss != expected:
            if isinstance(tid, str) and _TENANT_ID.match(tid) and _GUID.sub(tid, expected, count=1) == iss:
                # The same issuer but another tenant's: a real account of another organisation.
                raise TokenValidationError("other_tenant", f"tenant {tid!r} is not this app's")
            raise TokenValidationError("issuer_mismatch", f"iss {iss!r} is not {expected!r}")
        if self.allowed_tenants and (not isinstance(tid, str) or tid.lower() not in self.allowed_tenants):
            raise TokenValidationError("tenant_not_allowed", f"tenant {tid!r} is not in ENTRA_ALLOWED_TENANTS")


def validate_id_token(
    id_token: str,
    *,
    key_for: Callable[[str | None], Any],
    client_id: str,
    issuer_policy: IssuerPolicy,
    expected_nonce: str,
    now: float | None = None,
    leeway: int = DEFAULT_LEEWAY_SECONDS,
    max_age: int | None = None,
) -> dict[str, Any]:
    """Return the id_token's claims, or raise TokenValidationError naming the first failed check.

    `key_for(kid)` returns the verification key for a kid, or for None the only key
    of a single-key JWKS (raising UnknownSigningKey otherwise);
    `expected_nonce` is the value the id_token's `nonce` claim must equal;
    `max_age`, when the sign-in asked for one: `auth_time` must be that recent.
    """
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        raise TokenValidationError("malformed", "not a compact JWS")
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError as exc:
        raise TokenValidationError("malformed", type(exc).__name__) from None
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise TokenValidationError("algorithm_not_allowed", f"alg {alg!r}")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid):
        raise TokenValidationError("kid_missing", "kid is not a string")
    try:
        # OpenID Connect lets a provider with a single key omit kid; key_for(None)
        # answers only when the JWKS holds exactly one signing key.
        key = key_for(kid)
    except UnknownSigningKey:
        if kid is None:
            raise TokenValidationError("kid_missing", "no kid and the JWKS has several keys") from None
        raise TokenValidationError("unknown_kid", f"kid {kid!r} is not in the JWKS") from None

    options: Options = {"require": ["exp", "iat", "iss", "aud", "sub"], "verify_iss": False}
    if now is not None:
        # PyJWT reads the clock itself; shifting the leeway is not enough, so check times below.
        options.update({"verify_exp": False, "verify_nbf": False, "verify_iat": False})
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key,
            algorithms=list(ALLOWED_ALGORITHMS),
            audience=client_id,
            leeway=leeway,
            options=options,
        )
    except jwt.InvalidSignatureError:
        raise TokenValidationError("bad_signature") from None
    except jwt.ExpiredSignatureError:
        raise TokenValidationError("expired") from None
    except jwt.ImmatureSignatureError:
        raise TokenValidationError("not_yet_valid") from None
    except jwt.InvalidAudienceError:
        raise TokenValidationError("wrong_audience") from None
    except jwt.MissingRequiredClaimError as exc:
        raise TokenValidationError("missing_claim", exc.claim) from None
    except jwt.InvalidIssuedAtError:
        raise TokenValidationError("missing_claim", "iat is not a number") from None
    except jwt.PyJWTError as exc:
        raise TokenValidationError("invalid", type(exc).__name__) from None

    if now is not None:
        check_lifetime(claims, now=now, leeway=leeway)
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != client_id:
        raise TokenValidationError("wrong_authorized_party", "several audiences and azp is not this client")
    issuer_policy.check(claims)
    if not constant_time_equals(claims.get("nonce") if isinstance(claims.get("nonce"), str) else None, expected_nonce):
        raise TokenValidationError("nonce_mismatch")
    if max_age is not None:
        check_auth_time(claims, max_age=max_age, now=time.time() if now is None else now, leeway=leeway)
    return claims


def check_auth_time(claims: dict[str, Any], *, max_age: int, now: float, leeway: int) -> None:
    """OpenID Connect: with max_age, auth_time is required and must be within it."""
    auth_time = claims.get("auth_time")
    if not isinstance(auth_time, (int, float)) or isinstance(auth_time, bool):
        raise TokenValidationError("missing_claim", "auth_time")
    if now - auth_time > max_age + leeway:
        raise TokenValidationError("sign_in_too_old", f"auth_time is {int(now - auth_time)} s old, max_age {max_age}")


def check_lifetime(claims: dict[str, Any], *, now: float, leeway: int) -> None:
    """exp / nbf / iat against an explicit clock (PyJWT uses the wall clock)."""
    for name in ("exp", "iat"):
        if not isinstance(claims.get(name), (int, float)):
            raise TokenValidationError("missing_claim", name)
    if claims["exp"] <= now - leeway:
        raise TokenValidationError("expired")
    if "nbf" in claims and (not isinstance(claims["nbf"], (int, float)) or claims["nbf"] > now + leeway):
        raise TokenValidationError("not_yet_valid")
    if claims["iat"] > now + leeway:
        raise TokenValidationError("not_yet_valid", "iat is in the future")
