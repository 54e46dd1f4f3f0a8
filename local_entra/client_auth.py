"""Client authentication at the token endpoint.

Public clients must present nothing; confidential clients present a secret
(``client_secret_post`` / ``client_secret_basic``) or a JWT (``private_key_jwt``). A JWT
the app signed itself (iss == sub == client id) is checked against the registered
certificate, matched by thumbprint; any other issuer's JWT against the app's federated
credentials (federated.py).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from starlette.datastructures import FormData, Headers

from .config import ClientRegistration, LocalEntraConfig
from .errors import OAuthError, invalid_client
from .federated import uses_federated_credential, verify_federated_assertion
from .keys import b64url

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ("RS256", "PS256")


@dataclass(frozen=True)
class AuthenticatedClient:
    registration: ClientRegistration
    method: str  # "none", "client_secret", "private_key_jwt", "federated_credential"
    assertion_claims: dict[str, Any] | None = None  # a federated credential's verified token

    @property
    def azpacr(self) -> str:
        """Entra's ``azpacr``: 0 public, 1 secret, 2 certificate or other assertion."""
        return {"none": "0", "client_secret": "1"}.get(self.method, "2")


def _basic_credentials(headers: Headers) -> tuple[str, str] | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_client(50012, "Invalid Authorization header.") from None
    user, sep, password = decoded.partition(":")
    if not sep:
        raise invalid_client(50012, "Invalid Authorization header.")
    return unquote_plus(user), unquote_plus(password)


def authenticate_client(
    form: FormData,
    headers: Headers,
    config: LocalEntraConfig,
    tenant_label: str,
    audiences: list[str],
) -> AuthenticatedClient:
    basic = _basic_credentials(headers)
    client_id = str(form.get("client_id") or "") or (basic[0] if basic else "")
    if not client_id:
        raise OAuthError(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        )
    if basic and basic[0] != client_id:
        raise invalid_client(700021, "Client id in the Authorization header doesn't match 'client_id' parameter.")
    client = config.client(client_id)
    if client is None:
        raise OAuthError(
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory "
            f"'{tenant_label}'. This can happen if the application has not been installed by the "
            "administrator of the tenant or consented to by any user in the tenant. You may have "
            "sent your authentication request to the wrong tenant.",
        )

    secret = str(form.get("client_secret") or "") or (basic[1] if basic else "")
    assertion = str(form.get("client_assertion") or "")
    assertion_type = str(form.get("client_assertion_type") or "")

    if client.public_client:
        if secret or assertion:
            raise invalid_client(
                700025,
                "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
            )
        return AuthenticatedClient(client, "none")

    if assertion or assertion_type:
        if assertion_type != JWT_BEARER or not assertion:
            raise OAuthError(
                "invalid_request",
                90014,
                f"The request body must contain the following parameter: 'client_assertion' "
                f"with client_assertion_type '{JWT_BEARER}'.",
            )
        claims = _unverified_claims(assertion)
        if uses_federated_credential(claims, client):
            verified = verify_federated_assertion(assertion, claims, client)
            return AuthenticatedClient(client, "federated_credential", verified)
        _verify_assertion(assertion, client, audiences)
        return AuthenticatedClient(client, "private_key_jwt")
    if secret:
        expected = client.client_secret or ""
        if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
            raise invalid_client(
                7000215,
                f"Invalid client secret provided. Ensure the secret being sent in the request is "
                f"the client secret value, not the client secret ID, for a secret added to app "
                f"'{client_id}'.",
            )
        return AuthenticatedClient(client, "client_secret")
    raise invalid_client(
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    )


def _unverified_claims(assertion: str) -> dict[str, Any]:
    """Only to choose the path (certificate or federated); each path verifies the signature."""
    try:
        return jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise invalid_client(50027, "JWT token is invalid or malformed.") from None


def _verify_assertion(assertion: str, client: ClientRegistration, audiences: list[str]) -> None:
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.DecodeError:
        raise invalid_client(50027, "JWT token is invalid or malformed.") from None
    alg = header.get("alg")
    if alg not in ASSERTION_ALGORITHMS:
        raise invalid_client(5002738, f"Invalid JWT token. '{alg}' is not a supported signature algorithm.")
    certificate = _matching_certificate(client, header)
    if certificate is None:
        shown = header.get("x5t#S256") or header.get("x5t") or "(none)"
        raise invalid_client(
            700027,
            "Client assertion failed signature validation. [Reason - The key was not found., "
            f"Thumbprint of key used by client: '{shown}']",
        )
    try:
        claims = jwt.decode(
            assertion,
            certificate.public_key(),  # type: ignore[arg-type]
            algorithms=[alg],
            audience=audiences,
            leeway=300,
            options={"require": ["exp", "iss", "sub", "aud", "jti"]},
        )
    except jwt.InvalidSignatureError:
        raise invalid_client(700027, "Client assertion failed signature validation.") from None
    except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
        raise invalid_client(700024, "Client assertion is not within its valid time range.") from None
    except jwt.InvalidAudienceError:
        raise invalid_client(700023, "Client assertion audience claim does not match Realm issuer.") from None
    except jwt.MissingRequiredClaimError as exc:
        raise invalid_client(50027, f"JWT token is invalid or malformed. {exc}") from None
    except jwt.InvalidTokenError:
        raise invalid_client(50027, "JWT token is invalid or malformed.") from None
    if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
        raise invalid_client(700021, "Client assertion application identifier doesn't match 'client_id' parameter.")


def _matching_certificate(client: ClientRegistration, header: dict) -> x509.Certificate | None:
    if not client.certificate_pem:
        return None
    try:
        certificates = x509.load_pem_x509_certificates(client.certificate_pem)
    except ValueError:
        return None
    # Thumbprints arrive base64url-encoded, with or without "=" padding (MSAL pads).
    sent_s256 = str(header.get("x5t#S256") or "").rstrip("=")
    sent_sha1 = str(header.get("x5t") or "").rstrip("=")
    for certificate in certificates:
        if sent_s256 and sent_s256 == b64url(certificate.fingerprint(hashes.SHA256())):
            return certificate
        if sent_sha1 and sent_sha1 == b64url(certificate.fingerprint(hashes.SHA1())):
            return certificate
    return None
