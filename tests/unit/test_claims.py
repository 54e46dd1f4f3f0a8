"""Claims challenges from a resource's WWW-Authenticate header, and claims requests."""

from __future__ import annotations

import base64
import json

import pytest

from secure_auth.validators.claims import (
    MAX_ENCODED_CLAIMS_LENGTH,
    MAX_HEADER_LENGTH,
    auth_context_claims,
    claims_challenge,
    claims_digest,
    decode_claims,
    is_auth_context_id,
    normalise_claims,
    parse_challenges,
)
from secure_auth.validators.sign_in_options import MAX_CLAIMS_LENGTH, MAX_MAX_AGE, SignInOptions, sign_in_options

CAE = {"access_token": {"nbf": {"essential": True, "value": "1604106651"}}}
CAE_TEXT = json.dumps(CAE)
CAE_B64 = base64.b64encode(CAE_TEXT.encode()).decode()
# Microsoft Graph's own header, as its CAE documentation shows it.
GRAPH_HEADER = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
    f'client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="{CAE_B64}"'
)


def challenge(raw: bytes) -> str:
    return f'Bearer error="insufficient_claims", claims="{base64.b64encode(raw).decode()}"'


def canonical(value: dict) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def test_graphs_challenge_is_read_as_canonical_json():
    assert claims_challenge([GRAPH_HEADER]) == canonical(CAE)


def test_either_base64_alphabet_with_or_without_padding():
    claims = {"access_token": {"acrs": {"essential": True, "value": "c1"}}, "id_token": {"x": {"values": ["?>"]}}}
    raw = json.dumps(claims).encode()
    for encoded in (
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ):
        assert decode_claims(encoded) == canonical(claims), encoded


def test_the_challenge_may_sit_among_other_schemes_and_headers():
    headers = ['Basic realm="x"', f'PoP nonce="n", Bearer error="insufficient_claims", claims="{CAE_B64}"']
    assert claims_challenge(headers) == canonical(CAE)
    assert parse_challenges('Bearer realm="a\\"b", error=invalid_token') == [
        ("bearer", {"realm": 'a"b', "error": "invalid_token"})
    ]


@pytest.mark.parametrize(
    "header",
    [
        'Bearer error="invalid_token"',  # a plain 401
        'Bearer error="insufficient_claims"',  # no claims
        'Bearer error="insufficient_claims", claims=""',
        f'Basic error="insufficient_claims", claims="{CAE_B64}"',  # not Bearer
        f'Bearer error="invalid_token", claims="{CAE_B64}"',  # not insufficient_claims
        'Bearer error="insufficient_claims", claims="not base64!"',
        challenge(b"\xff\xfe"),  # not UTF-8
        challenge(b"not json"),
        challenge(b'["a list"]'),
        challenge(b'{"access_token": "x"}'),
        challenge(b'{"other": {}}'),
        challenge(b"{}"),
        # Nesting deeper than Python's recursion limit, and merely deeper than a claims request.
        challenge(b"[" * 1500 + b"]" * 1500),
        challenge(json.dumps({"id_token": {"a": {"b": {"c": {"d": 1}}}}}).encode()),
        "Bearer ,,, =",
        "",
    ],
)
def test_anything_else_is_a_plain_401(header):
    assert claims_challenge([header]) is None


def test_oversized_challenges_are_a_plain_401():
    big = {"access_token": {"nbf": {"essential": True, "value": "x" * 4000}}}
    encoded = base64.b64encode(json.dumps(big).encode()).decode()
    assert len(encoded) > MAX_ENCODED_CLAIMS_LENGTH
    assert claims_challenge([f'Bearer error="insufficient_claims", claims="{encoded}"']) is None
    padded = GRAPH_HEADER + ", x=" + "y" * MAX_HEADER_LENGTH
    assert claims_challenge([padded]) is None


def test_claims_requests_are_normalised_and_recognised_again():
    assert normalise_claims('{"id_token": {"acrs": {"value": "c1", "essential": true}}}') == auth_context_claims("c1")
    assert normalise_claims("not json") is None
    assert normalise_claims("") is None and normalise_claims(None) is None
    assert claims_digest(auth_context_claims("c1")) == claims_digest(auth_context_claims("c1"))
    assert claims_digest(auth_context_claims("c1")) != claims_digest(auth_context_claims("c2"))
    assert claims_digest(None) == ""


@pytest.mark.parametrize("value,ok", [("c1", True), ("c99", True), ("c0", False), ("c100", False), ("C1", False)])
def test_authentication_context_ids(value, ok):
    assert is_auth_context_id(value) is ok


def test_sign_in_options_pass_on_only_what_is_well_formed():
    step_up = '{"id_token": {"acrs": {"essential": true, "value": "c1"}}}'
    options = sign_in_options(step_up, "900")
    assert options == SignInOptions(auth_context_claims("c1"), 900)
    assert options.query() == {"claims": auth_context_claims("c1"), "max_age": "900"}
    assert sign_in_options("not json", "-5") == SignInOptions(None, None)
    assert sign_in_options('{"access_token": {}}' + " " * MAX_CLAIMS_LENGTH, "9" * 20) == SignInOptions(None, None)
    assert sign_in_options(None, "0") == SignInOptions(None, 0)
    assert sign_in_options(None, "99999999").max_age == MAX_MAX_AGE
    assert SignInOptions().query() == {}
