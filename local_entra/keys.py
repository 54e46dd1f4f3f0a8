"""RSA token-signing keys, rotation and the published JWKS.

Like Entra, each key is published with a self-signed certificate (``x5c``) and
its ``kid`` equals ``x5t``, the base64url SHA-1 thumbprint of that certificate.
Keys live in memory only: a restart is a key rotation, which apps must survive.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64url(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class SigningKey:
    private_key: rsa.RSAPrivateKey
    cert_der: bytes

    @property
    def kid(self) -> str:
        return self.x5t

    @property
    def x5t(self) -> str:
        return b64url(x509.load_der_x509_certificate(self.cert_der).fingerprint(hashes.SHA1()))

    def jwk(self, issuer: str) -> dict[str, Any]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.x5t,
            "n": _int_b64url(numbers.n),
            "e": _int_b64url(numbers.e),
            "x5c": [base64.b64encode(self.cert_der).decode("ascii")],
            "issuer": issuer,
        }


def generate_signing_key() -> SigningKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "local_entra token signing")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return SigningKey(private_key=key, cert_der=cert.public_bytes(serialization.Encoding.DER))


class KeySet:
    """The current signer plus older keys that stay published after a rotation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current = generate_signing_key()
        self._published: list[SigningKey] = [self._current]

    @property
    def current(self) -> SigningKey:
        with self._lock:
            return self._current

    def rotate(self, keep_old: bool = True) -> str:
        new = generate_signing_key()
        with self._lock:
            self._published = [new, *self._published] if keep_old else [new]
            self._current = new
        return new.kid

    def public_key(self, kid: str) -> rsa.RSAPublicKey | None:
        """The published key with this ``kid`` (what a resource server finds in the JWKS)."""
        with self._lock:
            published = list(self._published)
        for key in published:
            if key.kid == kid:
                return key.private_key.public_key()
        return None

    def jwks(self, issuer: str) -> dict[str, Any]:
        with self._lock:
            published = list(self._published)
        return {"keys": [key.jwk(issuer) for key in published]}

    def sign(self, claims: Mapping[str, Any], headers: Mapping[str, Any] | None = None) -> str:
        """Sign with the current key: RS256, ``typ`` JWT and ``kid`` unless ``headers`` override.

        ``headers={"alg": "none"}`` produces an unsigned token and ``{"kid": None}``
        drops the kid, for negative tests.
        """
        key = self.current
        merged: dict[str, Any] = {"typ": "JWT", "alg": "RS256", "kid": key.kid}
        merged.update(headers or {})
        merged = {name: value for name, value in merged.items() if value is not None}
        alg = str(merged.pop("alg"))
        if alg.lower() == "none":
            return unsigned_jwt(dict(claims), {**merged, "alg": "none"})
        return jwt.encode(dict(claims), key.private_key, algorithm=alg, headers=merged)


def unsigned_jwt(claims: dict[str, Any], headers: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return b64url(json.dumps(value, separators=(",", ":")).encode())

    return f"{part(headers)}.{part(claims)}."
