"""The identity provider's discovery document, reduced to what the app uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from secure_auth.identity.errors import IdentityProviderUnavailable


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> ProviderMetadata:
        try:
            return cls(
                issuer=str(doc["issuer"]),
                authorization_endpoint=str(doc["authorization_endpoint"]),
                token_endpoint=str(doc["token_endpoint"]),
                jwks_uri=str(doc["jwks_uri"]),
                end_session_endpoint=str(doc["end_session_endpoint"]) if doc.get("end_session_endpoint") else None,
            )
        except KeyError as exc:
            raise IdentityProviderUnavailable(f"discovery document lacks {exc.args[0]}") from None
