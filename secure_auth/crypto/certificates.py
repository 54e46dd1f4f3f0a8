"""MSAL's client credential from a PEM certificate file."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization


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
