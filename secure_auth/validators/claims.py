"""Claims requests (OpenID Connect's `claims` parameter) and the claims challenges
resources send back (CAE, authentication contexts). Pure functions, no I/O.

A resource that wants a newer or stronger token answers 401 with
`WWW-Authenticate: Bearer error="insufficient_claims", claims="<base64 JSON>"`. Whatever
comes in that header is untrusted input: it is decoded only within bounds, must be a
small JSON object of objects, and anything else is treated as a plain 401.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from typing import Any

from secure_auth.crypto.primitives import sha256_hex

MAX_HEADER_LENGTH = 8192
MAX_ENCODED_CLAIMS_LENGTH = 4096
MAX_CLAIMS_JSON_LENGTH = 3072
MAX_DEPTH = 4  # {"access_token": {"nbf": {"essential": true, "value": "..."}}}
CLAIMS_TARGETS = frozenset({"access_token", "id_token", "userinfo"})
_AUTH_CONTEXT = re.compile(r"^c([1-9]|[1-9][0-9])$")
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
# One piece of a WWW-Authenticate value: a parameter, a scheme name, or a comma.
_PART = re.compile(rf'\s*(?:(?P<key>{_TOKEN})\s*=\s*(?P<value>"(?:[^"\\]|\\.)*"|[^\s,]*)|(?P<scheme>{_TOKEN})|,)')


def is_auth_context_id(value: str) -> bool:
    """Entra's authentication context ids are c1 to c99."""
    return bool(_AUTH_CONTEXT.match(value))


def auth_context_claims(context: str) -> str:
    """The claims request that asks for an authentication context in the id_token."""
    return canonical({"id_token": {"acrs": {"essential": True, "value": context}}})


def canonical(claims: dict[str, Any]) -> str:
    return json.dumps(claims, sort_keys=True, separators=(",", ":"))


def claims_digest(claims: str | None) -> str:
    """A short fingerprint of a claims request, to recognise the same one again."""
    return sha256_hex("claims:" + claims)[:32] if claims else ""


def normalise_claims(text: str | None) -> str | None:
    """A claims request as canonical JSON, or None when it is not a small JSON object
    whose members are objects (`{"access_token": {...}}`)."""
    if not text or len(text) > MAX_CLAIMS_JSON_LENGTH:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or not value or _depth(value) > MAX_DEPTH:
        return None
    if not all(isinstance(k, str) and k in CLAIMS_TARGETS and isinstance(v, dict) for k, v in value.items()):
        return None
    return canonical(value)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def decode_claims(encoded: str) -> str | None:
    """The JSON inside a challenge's `claims` parameter (base64, either alphabet, padded
    or not), normalised; None when it is too long, not base64, not UTF-8 or not a claims
    request."""
    if not encoded or len(encoded) > MAX_ENCODED_CLAIMS_LENGTH:
        return None
    text = encoded.strip().rstrip("=")
    alphabet = {"-": "+", "_": "/"}
    standard = "".join(alphabet.get(c, c) for c in text)
    try:
        raw = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
        decoded = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return normalise_claims(decoded)


def encode_claims(claims: str) -> str:
    return base64.b64encode(claims.encode("utf-8")).decode("ascii")


def parse_challenges(header: str) -> list[tuple[str, dict[str, str]]]:
    """The challenges of one WWW-Authenticate value: [(scheme lower-cased, params)].
    Parameter names are lower-cased; quoted values unquoted. Malformed input stops the parse."""
    challenges: list[tuple[str, dict[str, str]]] = []
    position = 0
    while position < len(header):
        match = _PART.match(header, position)
        if match is None or match.end() == position:
            break
        position = match.end()
        if match.group("scheme"):
            challenges.append((match.group("scheme").lower(), {}))
        elif match.group("key") and challenges:
            value = match.group("value")
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            challenges[-1][1].setdefault(match.group("key").lower(), value)
    return challenges


def claims_challenge(headers: Iterable[str]) -> str | None:
    """The claims a 401's `WWW-Authenticate: Bearer error="insufficient_claims",
    claims="..."` asks for (canonical JSON), or None: no such challenge, or one that is
    oversized or malformed (then the 401 is handled as a plain one)."""
    for header in headers:
        if len(header) > MAX_HEADER_LENGTH:
            continue
        for scheme, params in parse_challenges(header):
            if scheme == "bearer" and params.get("error") == "insufficient_claims" and params.get("claims"):
                return decode_claims(params["claims"])
    return None
