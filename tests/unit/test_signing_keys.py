"""SigningKeys: JWKS caching, one refetch for an unknown kid, rate limiting, and keeping
known keys when a refresh fails. The fetch function is the only seam (no HTTP here)."""

from __future__ import annotations

import json

import jwt
import pytest

from secure_auth.identity import keys as identity
from secure_auth.identity.errors import IdentityProviderUnavailable
from secure_auth.identity.keys import SigningKeys
from secure_auth.validators.id_token import UnknownSigningKey
from tests.support.certs import new_rsa_key


def jwk(kid: str | None) -> dict:
    data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(new_rsa_key().public_key()))
    if kid is not None:
        data["kid"] = kid
    data["use"] = "sig"
    return data


class FakeJwks:
    def __init__(self, *kids: str | None) -> None:
        self.keys = [jwk(k) for k in kids]
        self.fetches = 0
        self.failing = False

    def __call__(self) -> dict:
        self.fetches += 1
        if self.failing:
            raise IdentityProviderUnavailable("down")
        return {"keys": self.keys}


def test_keys_are_fetched_once_and_cached():
    source = FakeJwks("a", "b")
    keys = SigningKeys(source)
    assert keys.key_for("a") is keys.key_for("a")
    keys.key_for("b")
    assert source.fetches == 1


def test_unknown_kid_refetches_once_then_is_rate_limited():
    source = FakeJwks("a")
    keys = SigningKeys(source, refetch_interval=60)
    keys.key_for("a")
    source.keys.append(jwk("rotated"))
    assert keys.key_for("rotated") is not None
    assert source.fetches == 2
    with pytest.raises(UnknownSigningKey):
        keys.key_for("forged")
    assert source.fetches == 2  # within the interval: no request amplification


def test_missing_kid_uses_the_only_key_and_refuses_with_several():
    assert SigningKeys(FakeJwks(None)).key_for(None) is not None
    with pytest.raises(UnknownSigningKey):
        SigningKeys(FakeJwks("a", "b")).key_for(None)


def test_non_rsa_and_encryption_keys_are_ignored():
    source = FakeJwks("a")
    source.keys.append({"kty": "EC", "kid": "ec", "crv": "P-256", "x": "x", "y": "y"})
    source.keys.append({**jwk("enc"), "use": "enc"})
    keys = SigningKeys(source)
    keys.key_for("a")
    assert keys.key_ids == ["a"]


def test_a_failed_refresh_keeps_the_known_keys(monkeypatch):
    source = FakeJwks("a")
    keys = SigningKeys(source)
    known = keys.key_for("a")
    now = [identity.time.monotonic()]
    monkeypatch.setattr(identity.time, "monotonic", lambda: now[0])
    now[0] += identity.JWKS_TTL_SECONDS + 1
    source.failing = True
    assert keys.key_for("a") is known  # the IdP is down: keep going with what we know
    fetches = source.fetches
    keys.key_for("a")
    assert source.fetches == fetches  # backed off, not retried on every call
    now[0] += identity.JWKS_RETRY_SECONDS + 1
    keys.key_for("a")
    assert source.fetches == fetches + 1


def test_with_no_known_keys_a_failure_is_reported():
    source = FakeJwks("a")
    source.failing = True
    with pytest.raises(IdentityProviderUnavailable):
        SigningKeys(source).key_for("a")
