"""validate_id_token against real, locally forged RS256 tokens; safe_next_path."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from secure_auth.validators.id_token import (
    DEFAULT_LEEWAY_SECONDS,
    IssuerPolicy,
    TokenValidationError,
    UnknownSigningKey,
    check_lifetime,
    validate_id_token,
)
from secure_auth.validators.redirects import safe_next_path

CLIENT_ID = "6f1c2a9e-0000-4c1d-9a8b-123456789abc"
OTHER_CLIENT_ID = "0b7e3f10-ffff-4c1d-9a8b-cba987654321"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "11111111-2222-3333-4444-555555555555"
ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"
MULTI_TENANT_ISSUER = "https://login.microsoftonline.com/{tenantid}/v2.0"
KID = "test-kid-1"
NONCE = "n-0S6_WzA2Mj"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64json(value: dict[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def key_for(signing_key):
    """Like the JWKS cache: the public key for KID, UnknownSigningKey for anything else."""
    asked: list[str] = []

    def lookup(kid: str):
        asked.append(kid)
        if kid == KID:
            return signing_key.public_key()
        raise UnknownSigningKey(kid)

    lookup.asked = asked  # type: ignore[attr-defined]
    return lookup


_DROP = object()  # claims_now(name=_DROP) removes a claim


def claims_now(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "oid": "00000000-0000-0000-66f3-3332eca7ea81",
        "tid": TENANT,
        "name": "Adele Vance",
        "preferred_username": "adele@contoso.com",
        "nonce": NONCE,
        "iat": now - 10,
        "nbf": now - 10,
        "exp": now + 3600,
    }
    for name, value in changes.items():
        if value is _DROP:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def sign(claims: dict[str, Any], key, *, alg: str = "RS256", kid: str | None = KID) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def sign_raw(header: dict[str, Any], claims: dict[str, Any], key) -> str:
    """RS256 by hand, for headers and claims PyJWT's encoder refuses to produce."""
    signing_input = _b64json(header) + "." + _b64json(claims)
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + _b64url(signature)


def validate(token: str, key_for, *, policy: IssuerPolicy | None = None, nonce: str = NONCE, **kwargs):
    return validate_id_token(
        token,
        key_for=key_for,
        client_id=CLIENT_ID,
        issuer_policy=policy or IssuerPolicy(ISSUER),
        expected_nonce=nonce,
        **kwargs,
    )


def reason_of(token: str, key_for, **kwargs) -> str:
    with pytest.raises(TokenValidationError) as info:
        validate(token, key_for, **kwargs)
    return info.value.reason


# ----- the baseline -----


def test_valid_token_returns_its_claims(signing_key, key_for):
    claims = claims_now()
    result = validate(sign(claims, signing_key), key_for)
    assert result == claims
    assert key_for.asked == [KID]


def test_error_message_never_contains_the_token(signing_key, key_for):
    token = sign(claims_now(aud=OTHER_CLIENT_ID), signing_key)
    with pytest.raises(TokenValidationError) as info:
        validate(token, key_for)
    assert token not in str(info.value)
    assert token.split(".")[2] not in str(info.value)


# ----- structure and header -----


@pytest.mark.parametrize(
    "token",
    ["garbage", "only.two", "a.b.c.d", "not-base64!.x.y", "", "...", _b64json({"alg": "RS256"}) + ".e30"],
)
def test_malformed_tokens(token, key_for):
    assert reason_of(token, key_for) == "malformed"
    assert key_for.asked == []


@pytest.mark.parametrize("token", [None, b"a.b.c", 42])
def test_non_string_token_is_malformed(token, key_for):
    assert reason_of(token, key_for) == "malformed"


def test_header_that_is_not_a_json_object_is_malformed(key_for):
    token = _b64url(b"[1,2]") + "." + _b64json(claims_now()) + ".sig"
    assert reason_of(token, key_for) == "malformed"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_unsigned_alg_none_token_is_refused(alg, key_for):
    token = _b64json({"alg": alg, "kid": KID, "typ": "JWT"}) + "." + _b64json(claims_now()) + "."
    assert reason_of(token, key_for) == "algorithm_not_allowed"
    assert key_for.asked == []


def test_hs256_signed_with_the_public_key_pem_is_refused(signing_key, key_for):
    """Key confusion: an attacker HMACs the token with the (public) RSA key as secret."""
    public_pem = signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = _b64json({"alg": "HS256", "kid": KID, "typ": "JWT"}) + "." + _b64json(claims_now())
    signature = hmac.new(public_pem, signing_input.encode("ascii"), hashlib.sha256).digest()
    token = signing_input + "." + _b64url(signature)
    assert reason_of(token, key_for) == "algorithm_not_allowed"
    assert key_for.asked == []


def test_rs384_is_not_allowed(signing_key, key_for):
    assert reason_of(sign(claims_now(), signing_key, alg="RS384"), key_for) == "algorithm_not_allowed"


def test_es256_is_not_allowed(key_for):
    ec_key = ec.generate_private_key(ec.SECP256R1())
    assert reason_of(sign(claims_now(), ec_key, alg="ES256"), key_for) == "algorithm_not_allowed"


def test_missing_kid_with_several_published_keys(signing_key, key_for):
    token = sign(claims_now(), signing_key, kid=None)
    assert "kid" not in jwt.get_unverified_header(token)
    assert reason_of(token, key_for) == "kid_missing"
    assert key_for.asked == [None]  # asked for "the only key", and there was none


def test_missing_kid_with_a_single_published_key(signing_key, other_key):
    """OpenID Connect lets a provider with one signing key omit kid: key_for(None) answers."""

    def single_key(kid):
        if kid is None or kid == KID:
            return signing_key.public_key()
        raise UnknownSigningKey(kid)

    claims = claims_now()
    assert validate(sign(claims, signing_key, kid=None), single_key) == claims
    assert reason_of(sign(claims, other_key, kid=None), single_key) == "bad_signature"


# PyJWT itself refuses a non-string kid while reading the header, hence "malformed".
@pytest.mark.parametrize(("kid", "reason"), [("", "kid_missing"), (123, "malformed")])
def test_empty_or_non_string_kid(kid, reason, signing_key, key_for):
    token = sign_raw({"alg": "RS256", "typ": "JWT", "kid": kid}, claims_now(), signing_key)
    assert reason_of(token, key_for) == reason
    assert key_for.asked == []


def test_unknown_kid(signing_key, key_for):
    token = sign(claims_now(), signing_key, kid="rotated-away")
    with pytest.raises(TokenValidationError) as info:
        validate(token, key_for)
    assert info.value.reason == "unknown_kid"
    assert key_for.asked == ["rotated-away"]


# ----- signature -----


def test_signed_by_another_key_with_the_same_kid(other_key, key_for):
    assert reason_of(sign(claims_now(), other_key), key_for) == "bad_signature"


def test_tampered_payload(signing_key, key_for):
    genuine = sign(claims_now(), signing_key)
    forged = sign(claims_now(preferred_username="admin@contoso.com", roles=["Admin"]), signing_key)
    header, _, signature = genuine.split(".")
    tampered = ".".join([header, forged.split(".")[1], signature])
    assert reason_of(tampered, key_for) == "bad_signature"


def test_truncated_signature(signing_key, key_for):
    token = sign(claims_now(), signing_key)
    assert reason_of(token[:-10], key_for) == "bad_signature"


# ----- lifetime (wall clock, via PyJWT) -----


def test_expired_beyond_leeway(signing_key, key_for):
    now = int(time.time())
    token = sign(claims_now(iat=now - 7200, nbf=now - 7200, exp=now - DEFAULT_LEEWAY_SECONDS - 5), signing_key)
    assert reason_of(token, key_for) == "expired"


def test_expired_within_leeway_is_accepted(signing_key, key_for):
    now = int(time.time())
    claims = claims_now(iat=now - 7200, nbf=now - 7200, exp=now - 60)
    assert validate(sign(claims, signing_key), key_for)["exp"] == now - 60


def test_nbf_in_the_future(signing_key, key_for):
    now = int(time.time())
    token = sign(claims_now(nbf=now + 600), signing_key)
    assert reason_of(token, key_for) == "not_yet_valid"


def test_nbf_in_the_future_within_leeway_is_accepted(signing_key, key_for):
    now = int(time.time())
    assert validate(sign(claims_now(nbf=now + 60), signing_key), key_for)["nbf"] == now + 60


def test_iat_in_the_future_is_refused(signing_key, key_for):
    now = int(time.time())
    token = sign(claims_now(iat=now + 600), signing_key)
    assert reason_of(token, key_for) == "not_yet_valid"


def test_iat_in_the_future_gives_the_same_reason_on_both_clock_paths(signing_key, key_for):
    now = int(time.time())
    token = sign(claims_now(iat=now + 600), signing_key)
    assert reason_of(token, key_for, now=now) == reason_of(token, key_for) == "not_yet_valid"


def test_non_numeric_iat(signing_key, key_for):
    token = sign_raw({"alg": "RS256", "kid": KID}, claims_now(iat="yesterday"), signing_key)
    assert reason_of(token, key_for) == "missing_claim"


# ----- required claims -----


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "aud", "iss"])
def test_missing_required_claim(claim, signing_key, key_for):
    token = sign(claims_now(**{claim: _DROP}), signing_key)
    with pytest.raises(TokenValidationError) as info:
        validate(token, key_for)
    assert info.value.reason == "missing_claim"
    assert info.value.detail == claim


@pytest.mark.parametrize("claim", ["exp", "iat"])
def test_missing_time_claim_with_explicit_clock(claim, signing_key, key_for):
    token = sign(claims_now(**{claim: _DROP}), signing_key)
    with pytest.raises(TokenValidationError) as info:
        validate(token, key_for, now=time.time())
    assert (info.value.reason, info.value.detail) == ("missing_claim", claim)


# ----- audience and authorized party -----


def test_wrong_audience(signing_key, key_for):
    assert reason_of(sign(claims_now(aud=OTHER_CLIENT_ID), signing_key), key_for) == "wrong_audience"


def test_audience_list_without_this_client(signing_key, key_for):
    token = sign(claims_now(aud=[OTHER_CLIENT_ID, "api://x"]), signing_key)
    assert reason_of(token, key_for) == "wrong_audience"


def test_single_element_audience_list_is_accepted(signing_key, key_for):
    assert validate(sign(claims_now(aud=[CLIENT_ID]), signing_key), key_for)["aud"] == [CLIENT_ID]


def test_several_audiences_without_azp(signing_key, key_for):
    token = sign(claims_now(aud=[CLIENT_ID, OTHER_CLIENT_ID]), signing_key)
    assert reason_of(token, key_for) == "wrong_authorized_party"


def test_several_audiences_with_mismatched_azp(signing_key, key_for):
    token = sign(claims_now(aud=[CLIENT_ID, OTHER_CLIENT_ID], azp=OTHER_CLIENT_ID), signing_key)
    assert reason_of(token, key_for) == "wrong_authorized_party"


def test_several_audiences_with_this_client_as_azp(signing_key, key_for):
    token = sign(claims_now(aud=[CLIENT_ID, OTHER_CLIENT_ID], azp=CLIENT_ID), signing_key)
    assert validate(token, key_for)["azp"] == CLIENT_ID


# ----- issuer -----


def test_issuer_mismatch_single_tenant(signing_key, key_for):
    token = sign(claims_now(iss=f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0"), signing_key)
    assert reason_of(token, key_for) == "issuer_mismatch"


def test_issuer_with_trailing_slash_is_a_mismatch(signing_key, key_for):
    assert reason_of(sign(claims_now(iss=ISSUER + "/"), signing_key), key_for) == "issuer_mismatch"


def test_non_string_issuer(signing_key, key_for):
    token = sign_raw({"alg": "RS256", "kid": KID}, claims_now(iss=["x"]), signing_key)
    assert reason_of(token, key_for) == "issuer_missing"


def test_hand_signed_token_is_accepted(signing_key, key_for):
    """The sign_raw helper produces tokens the validator accepts, so its rejections above mean something."""
    claims = claims_now()
    assert validate(sign_raw({"alg": "RS256", "kid": KID}, claims, signing_key), key_for) == claims


def test_multi_tenant_accepts_matching_tid(signing_key, key_for):
    iss = f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0"
    claims = validate(
        sign(claims_now(iss=iss, tid=OTHER_TENANT), signing_key), key_for, policy=IssuerPolicy(MULTI_TENANT_ISSUER)
    )
    assert claims["iss"] == iss


def test_multi_tenant_rejects_iss_tenant_different_from_tid(signing_key, key_for):
    token = sign(claims_now(iss=f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0", tid=TENANT), signing_key)
    assert reason_of(token, key_for, policy=IssuerPolicy(MULTI_TENANT_ISSUER)) == "issuer_mismatch"


def test_multi_tenant_rejects_missing_tid(signing_key, key_for):
    token = sign(claims_now(tid=_DROP), signing_key)
    assert reason_of(token, key_for, policy=IssuerPolicy(MULTI_TENANT_ISSUER)) == "tenant_missing"


@pytest.mark.parametrize("tid", ["contoso.onmicrosoft.com", "../evil", "", 42])
def test_multi_tenant_rejects_tid_that_is_not_a_tenant_id(tid, signing_key, key_for):
    token = sign(claims_now(iss=f"https://login.microsoftonline.com/{tid}/v2.0", tid=tid), signing_key)
    assert reason_of(token, key_for, policy=IssuerPolicy(MULTI_TENANT_ISSUER)) == "tenant_missing"


def test_allowed_tenants_accepts_listed_tenant_case_insensitively(signing_key, key_for):
    upper = "ABCDEF01-2345-6789-ABCD-EF0123456789"
    iss = f"https://login.microsoftonline.com/{upper}/v2.0"
    policy = IssuerPolicy(MULTI_TENANT_ISSUER, frozenset({upper.lower()}))
    assert validate(sign(claims_now(iss=iss, tid=upper), signing_key), key_for, policy=policy)["tid"] == upper


def test_allowed_tenants_rejects_unlisted_tenant(signing_key, key_for):
    iss = f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0"
    policy = IssuerPolicy(MULTI_TENANT_ISSUER, frozenset({TENANT}))
    token = sign(claims_now(iss=iss, tid=OTHER_TENANT), signing_key)
    assert reason_of(token, key_for, policy=policy) == "tenant_not_allowed"


def test_allowed_tenants_with_single_tenant_issuer_needs_tid(signing_key, key_for):
    policy = IssuerPolicy(ISSUER, frozenset({TENANT}))
    assert validate(sign(claims_now(), signing_key), key_for, policy=policy)["tid"] == TENANT
    assert reason_of(sign(claims_now(tid=_DROP), signing_key), key_for, policy=policy) == "tenant_not_allowed"


def test_issuer_policy_is_multi_tenant():
    assert IssuerPolicy(MULTI_TENANT_ISSUER).is_multi_tenant is True
    assert IssuerPolicy(ISSUER).is_multi_tenant is False
    assert IssuerPolicy("https://contoso.ciamlogin.com/tenant/v2.0").is_multi_tenant is False


# ----- nonce -----


def test_nonce_mismatch(signing_key, key_for):
    assert reason_of(sign(claims_now(), signing_key), key_for, nonce="another-nonce") == "nonce_mismatch"


def test_missing_nonce(signing_key, key_for):
    assert reason_of(sign(claims_now(nonce=_DROP), signing_key), key_for) == "nonce_mismatch"


def test_non_string_nonce(signing_key, key_for):
    assert reason_of(sign(claims_now(nonce=12345), signing_key), key_for, nonce="12345") == "nonce_mismatch"


# ----- the explicit clock -----


def test_explicit_now_rejects_token_expired_relative_to_it(signing_key, key_for):
    claims = claims_now()
    token = sign(claims, signing_key)
    assert validate(token, key_for, now=claims["exp"] - 10) == claims
    assert reason_of(token, key_for, now=claims["exp"] + DEFAULT_LEEWAY_SECONDS + 1) == "expired"


def test_explicit_now_ignores_the_wall_clock(signing_key, key_for):
    # Expired a day ago by the wall clock, but valid at the supplied instant.
    past = int(time.time()) - 86_400
    claims = claims_now(iat=past, nbf=past, exp=past + 600)
    assert validate(sign(claims, signing_key), key_for, now=past + 300) == claims


def test_explicit_now_nbf_and_iat(signing_key, key_for):
    claims = claims_now()
    token = sign(claims, signing_key)
    assert reason_of(token, key_for, now=claims["nbf"] - DEFAULT_LEEWAY_SECONDS - 1) == "not_yet_valid"
    assert reason_of(sign(claims_now(nbf=_DROP), signing_key), key_for, now=claims["iat"] - 500) == "not_yet_valid"


def test_explicit_now_uses_given_leeway(signing_key, key_for):
    claims = claims_now()
    token = sign(claims, signing_key)
    assert validate(token, key_for, now=claims["exp"] + 5, leeway=10) == claims
    assert reason_of(token, key_for, now=claims["exp"] + 5, leeway=0) == "expired"


def test_check_lifetime_boundaries():
    claims = {"exp": 1000, "iat": 900}
    check_lifetime(claims, now=1000 - 1, leeway=0)
    with pytest.raises(TokenValidationError) as info:
        check_lifetime(claims, now=1000, leeway=0)  # exp is exclusive
    assert info.value.reason == "expired"
    check_lifetime(claims, now=1119, leeway=120)
    with pytest.raises(TokenValidationError):
        check_lifetime(claims, now=1120, leeway=120)
    with pytest.raises(TokenValidationError) as info:
        check_lifetime({"exp": 2000, "iat": 900, "nbf": "soon"}, now=1000, leeway=0)
    assert info.value.reason == "not_yet_valid"


# ----- safe_next_path -----


@pytest.mark.parametrize("path", ["/", "/calculator", "/a?b=c#d", "/%2F%2Fevil.com", "/profile/edit"])
def test_safe_next_path_accepts_same_origin_paths(path):
    assert safe_next_path(path) == path


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "//evil.com",
        "/\\evil.com",
        "\\\\evil",
        "https://evil.com",
        "http:/evil",
        "javascript:alert(1)",
        "/\t/evil.com",
        "/\n/evil",
        "/\r/evil",
        "/" + "a" * 3000,
        "evil.com",
        "/x\x7f",
        "/x\x00",
    ],
)
def test_safe_next_path_refuses(value):
    assert safe_next_path(value) == "/"


def test_safe_next_path_length_limit_is_2048():
    assert safe_next_path("/" + "a" * 2047) == "/" + "a" * 2047
    assert safe_next_path("/" + "a" * 2048) == "/"


def test_a_token_of_another_tenant_is_refused_and_named_so():
    """Same issuer, another organisation's tenant: still refused, with a reason that says so."""
    mine, theirs = "7d1c4c3e-0f6a-4a4b-9c55-3b1f2f0d5a10", "2c9b0f31-1111-4c7a-9e3d-aaaaaaaaaaaa"
    policy = IssuerPolicy(f"https://login.example/{mine}/v2.0")
    try:
        policy.check({"iss": f"https://login.example/{theirs}/v2.0", "tid": theirs})
    except TokenValidationError as exc:
        assert exc.reason == "other_tenant"
    else:
        raise AssertionError("another tenant's token was accepted")
    try:
        policy.check({"iss": "https://evil.example/v2.0", "tid": mine})
    except TokenValidationError as exc:
        assert exc.reason == "issuer_mismatch"
    else:
        raise AssertionError("a foreign issuer was accepted")


# ----- max_age: auth_time, when the sign-in asked for a recent one -----


def test_with_max_age_auth_time_must_be_present_and_recent(signing_key, key_for):
    now = int(time.time())
    assert validate(sign(claims_now(auth_time=now - 60), signing_key), key_for, max_age=900)["auth_time"] == now - 60
    # Within the clock leeway past max_age, still accepted; beyond it, not.
    recent_enough = claims_now(auth_time=now - 900 - DEFAULT_LEEWAY_SECONDS + 5)
    assert validate(sign(recent_enough, signing_key), key_for, max_age=900)
    assert reason_of(sign(claims_now(auth_time=now - 3600), signing_key), key_for, max_age=900) == "sign_in_too_old"
    assert reason_of(sign(claims_now(), signing_key), key_for, max_age=900) == "missing_claim"
    assert reason_of(sign(claims_now(auth_time="recent"), signing_key), key_for, max_age=900) == "missing_claim"
    assert reason_of(sign(claims_now(auth_time=True), signing_key), key_for, max_age=900) == "missing_claim"
    # Without max_age, auth_time is not required.
    assert "auth_time" not in validate(sign(claims_now(), signing_key), key_for)
