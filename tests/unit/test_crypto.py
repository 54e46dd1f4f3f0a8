"""secure_auth.crypto: digests, comparisons, random tokens, certificate credentials."""

from __future__ import annotations

import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from local_entra.token_endpoint import s256
from secure_auth.crypto.certificates import certificate_credential
from secure_auth.crypto.primitives import constant_time_equals, random_token, sha256_hex
from tests.support.certs import self_signed


def test_the_stand_ins_pkce_check_matches_rfc7636_appendix_b():
    # MSAL makes the challenge; local_entra checks it the way Entra does (RFC 7636 S256).
    assert s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    challenge = s256(random_token(32))
    assert len(challenge) == 43
    assert re.fullmatch(r"[A-Za-z0-9_-]+", challenge)


@pytest.mark.parametrize(
    ("value", "digest"),
    [
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("é", "4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c"),  # UTF-8 encoded
    ],
)
def test_sha256_hex(value, digest):
    assert sha256_hex(value) == digest


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("secret", "secret", True),
        ("secret", "secreT", False),
        ("secret", "secret-longer", False),
        ("", "x", False),
        ("", "", True),
        ("ünïcode", "ünïcode", True),
        (None, "secret", False),
        ("secret", None, False),
        (None, None, False),
    ],
)
def test_constant_time_equals(a, b, expected):
    assert constant_time_equals(a, b) is expected


def test_random_token_length_and_alphabet():
    assert len(random_token()) == 43  # 32 bytes -> 43 base64url characters
    assert len(random_token(16)) == 22
    assert re.fullmatch(r"[A-Za-z0-9_-]+", random_token())


def test_random_token_is_unique():
    tokens = {random_token() for _ in range(200)}
    assert len(tokens) == 200


# ----- certificate_credential -----


def _self_signed(key: rsa.RSAPrivateKey) -> x509.Certificate:
    return self_signed(key, "unit-test-client")


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def another_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def certificate(key) -> x509.Certificate:
    return _self_signed(key)


def _key_pem(key, fmt=serialization.PrivateFormat.PKCS8) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def _cert_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize("key_first", [True, False], ids=["key-then-cert", "cert-then-key"])
@pytest.mark.parametrize(
    "key_format",
    [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL],
    ids=["pkcs8", "pkcs1"],
)
def test_certificate_credential_returns_key_and_certificate(key, certificate, key_first, key_format):
    parts = [_key_pem(key, key_format), _cert_pem(certificate)]
    pem = b"".join(parts if key_first else reversed(parts))

    credential = certificate_credential(pem)

    assert set(credential) == {"private_key", "public_certificate"}
    assert credential["private_key"].startswith("-----BEGIN PRIVATE KEY-----")  # always PKCS#8
    loaded_key = serialization.load_pem_private_key(credential["private_key"].encode(), password=None)
    assert loaded_key.private_numbers() == key.private_numbers()
    assert credential["public_certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY" not in credential["public_certificate"]
    assert x509.load_pem_x509_certificate(credential["public_certificate"].encode()) == certificate


def test_certificate_credential_refuses_a_certificate_of_another_key(another_key, certificate):
    pem = _key_pem(another_key) + _cert_pem(certificate)
    with pytest.raises(ValueError, match="does not belong"):
        certificate_credential(pem)


def test_certificate_credential_needs_both_parts(key, certificate):
    with pytest.raises(ValueError):
        certificate_credential(_cert_pem(certificate))
    with pytest.raises(ValueError):
        certificate_credential(_key_pem(key))
