"""The OpenID Connect ``claims`` request parameter, as local_entra honours it.

Entra reads two things from it that matter here: ``acrs`` (Conditional Access
authentication contexts, asked for by an app's step-up or by a resource's claims
challenge) and ``access_token.nbf`` (a CAE challenge: "a token issued after this
moment"). Anything else in it, such as ``xms_cc`` (client capabilities), is left to
whoever reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MAX_CLAIMS_LENGTH = 4096
INVALID_CLAIMS = "AADSTS70011: The provided value for the input parameter 'claims' is not valid."


class ClaimsError(ValueError):
    """The ``claims`` parameter is not a small JSON object."""


@dataclass(frozen=True)
class ClaimsRequest:
    value: dict[str, Any] = field(default_factory=dict)

    def acrs(self) -> list[str]:
        """Authentication contexts asked for, in the id token or the access token."""
        wanted: dict[str, None] = {}
        for target in ("id_token", "access_token"):
            entry = _member(self.value, target).get("acrs")
            if not isinstance(entry, dict):
                continue
            listed = entry.get("values")
            values: list[Any] = listed if isinstance(listed, list) else [entry.get("value")]
            for value in values:
                if isinstance(value, str) and value:
                    wanted.setdefault(value, None)
        return list(wanted)

    def nbf(self) -> int | None:
        """The moment a CAE challenge wants the access token issued after (epoch seconds)."""
        entry = _member(self.value, "access_token").get("nbf")
        if not isinstance(entry, dict):
            return None
        try:
            return int(str(entry.get("value")))
        except ValueError:
            return None


def _member(value: dict[str, Any], name: str) -> dict[str, Any]:
    member = value.get(name)
    return member if isinstance(member, dict) else {}


def parse_claims(text: str | None) -> ClaimsRequest:
    """An empty request for no parameter; ClaimsError for one that is not a JSON object."""
    if not text:
        return ClaimsRequest()
    if len(text) > MAX_CLAIMS_LENGTH:
        raise ClaimsError(INVALID_CLAIMS)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise ClaimsError(INVALID_CLAIMS) from None
    if not isinstance(value, dict):
        raise ClaimsError(INVALID_CLAIMS)
    return ClaimsRequest(value)
