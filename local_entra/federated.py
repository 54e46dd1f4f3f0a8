"""Federated identity credentials at the token endpoint: a JWT from another issuer (a
Kubernetes service-account token, a CI system's OIDC token) stands in for the app's secret.

As Entra does: the app's federated credentials are looked up by the assertion's issuer,
the signature is checked against that issuer's keys, then the subject and the audience
must match one credential exactly (case-sensitive). The refusals carry Entra's codes:

- AADSTS70021 "No matching federated identity record found for presented assertion":
  no credential trusts the issuer. Microsoft documents this code for federated
  credentials (learn.microsoft.com/entra/workload-id/workload-identity-federation-considerations),
  and the azure-workload-identity troubleshooting guide shows Entra's full text, naming
  the assertion's issuer, subject and audience (as invalid_request). Entra now also
  answers AADSTS700211 for an unknown issuer; the app explains both.
- AADSTS700213 "... for presented assertion subject '<sub>'": the issuer is trusted
  but no credential of it has this subject (what Entra answers a GitHub or Kubernetes
  subject mismatch with, as public reports of its responses show).
- AADSTS700212 "... for presented assertion audience '<aud>'": issuer and subject match,
  the audience does not (api://AzureADTokenExchange is expected).
- AADSTS700024 (not within its valid time range) and AADSTS700027 (signature), as for a
  certificate's assertion (learn.microsoft.com/entra/identity-platform/reference-error-codes).
"""

from __future__ import annotations

from typing import Any

import jwt

from .config import ClientRegistration, FederatedCredential
from .errors import OAuthError, invalid_client

ALGORITHMS = ("RS256", "PS256", "ES256")
_CHECK_HINT = (
    "Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."
)


def uses_federated_credential(claims: dict[str, Any], client: ClientRegistration) -> bool:
    """An assertion the app signed with its own certificate has iss == sub == client id;
    anything else is a token from another issuer, for a federated credential."""
    return claims.get("iss") != client.client_id


def verify_federated_assertion(assertion: str, claims: dict[str, Any], client: ClientRegistration) -> dict[str, Any]:
    """The assertion's verified claims, or the OAuthError Entra would answer."""
    issuer, subject = str(claims.get("iss") or ""), str(claims.get("sub") or "")
    audiences = _audiences(claims)
    trusted = [c for c in client.federated_credentials if c.issuer == issuer]
    if not trusted:
        raise OAuthError(
            "invalid_request",
            70021,
            "No matching federated identity record found for presented assertion. "
            f"Assertion Issuer: '{issuer}'. Assertion Subject: '{subject}'. "
            f"Assertion Audience: '{', '.join(audiences)}'.",
        )
    verified = _verify_signature(assertion, trusted)
    matching = [c for c in trusted if c.subject == subject]
    if not matching:
        raise invalid_client(
            700213,
            f"No matching federated identity record found for presented assertion subject '{subject}'. {_CHECK_HINT}",
        )
    if not any(audience in credential.audiences for credential in matching for audience in audiences):
        raise invalid_client(
            700212,
            "No matching federated identity record found for presented assertion audience "
            f"'{', '.join(audiences)}'. {_CHECK_HINT}",
        )
    return verified


def _audiences(claims: dict[str, Any]) -> list[str]:
    audience = claims.get("aud")
    if isinstance(audience, str):
        return [audience]
    return [str(a) for a in audience] if isinstance(audience, list) else []


def _verify_signature(assertion: str, trusted: list[FederatedCredential]) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.DecodeError:
        raise invalid_client(50027, "JWT token is invalid or malformed.") from None
    key = _issuer_key(trusted, header.get("kid"))
    if key is None or header.get("alg") not in ALGORITHMS:
        raise invalid_client(700027, "Client assertion failed signature validation. [Reason - The key was not found.]")
    try:
        return jwt.decode(
            assertion,
            key,
            algorithms=[str(header["alg"])],
            leeway=300,
            options={"verify_aud": False, "require": ["exp", "iss", "sub", "aud"]},
        )
    except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
        raise invalid_client(700024, "Client assertion is not within its valid time range.") from None
    except jwt.InvalidSignatureError:
        raise invalid_client(700027, "Client assertion failed signature validation.") from None
    except jwt.InvalidTokenError as exc:
        raise invalid_client(50027, f"JWT token is invalid or malformed. {type(exc).__name__}") from None


def _issuer_key(trusted: list[FederatedCredential], kid: object) -> Any:
    """The issuer's published key with this kid (or its only key, when the token names none)."""
    keys = []
    for credential in trusted:
        try:
            keys.extend(jwt.PyJWKSet.from_dict(credential.jwks).keys)
        except jwt.PyJWTError:
            continue
    for key in keys:
        if kid is not None and key.key_id == kid:
            return key.key
    return keys[0].key if kid is None and len(keys) == 1 else None
