"""Small cryptographic helpers: pure functions, no framework, no I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import serialization


def random_token(nbytes: int = 32) -> str:
    """A URL-safe random string carrying `nbytes` of entropy."""
    return secrets.token_urlsafe(nbytes)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of RFC 7636 section 4.2: BASE64URL(SHA256(ASCII(verifier)))."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def sha256_hex(value: str) -> str:
    """MSAL sends the SHA-256 hex digest of its nonce; the id_token echoes that digest."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def constant_time_equals(a: str | None, b: str | None) -> bool:
    """Compare two secrets without leaking where they differ; None never matches."""
    if a is None or b is None:
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def certificate_credential(pem: bytes) -> dict[str, str]:
    """MSAL's client_credential for a PEM holding a private key and its certificate.

    With `public_certificate` MSAL signs the client assertion with PS256 and an
    `x5t#S256` (SHA-256) thumbprint instead of the deprecated SHA-1 one.
    """
    key = serialization.load_pem_private_key(pem, password=None)
    certificate = x509.load_pem_x509_certificate(pem)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    if certificate.public_key().public_numbers() != key.public_key().public_numbers():  # type: ignore[union-attr]
        raise ValueError("the certificate does not belong to the private key")
    return {
        "private_key": key_pem.decode("ascii"),
        "public_certificate": certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    }
