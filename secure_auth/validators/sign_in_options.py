"""What a sign-in may ask the identity provider for besides scopes, from /auth/login's
query: a claims request (a resource's claims challenge, a step-up's authentication
context) and a max_age (re-authenticate a sign-in older than that). Pure."""

from __future__ import annotations

from dataclasses import dataclass

from secure_auth.validators.claims import normalise_claims

MAX_CLAIMS_LENGTH = 4096
MAX_MAX_AGE = 366 * 86_400


@dataclass(frozen=True)
class SignInOptions:
    claims: str | None = None
    max_age: int | None = None

    def query(self) -> dict[str, str]:
        """The same options as query parameters, to carry them across a redirect."""
        query = {"claims": self.claims} if self.claims else {}
        if self.max_age is not None:
            query["max_age"] = str(self.max_age)
        return query


def sign_in_options(claims: str | None, max_age: str | None) -> SignInOptions:
    """A claims request is passed on only as a small JSON object (normalised): MSAL would
    fail on anything else when it merges the client capabilities in. A max_age only as a
    whole number of seconds. Anything else is dropped, not an error."""
    wanted = normalise_claims(claims) if claims and len(claims) <= MAX_CLAIMS_LENGTH else None
    seconds = None
    if max_age is not None and max_age.isdigit() and len(max_age) <= len(str(MAX_MAX_AGE)):
        seconds = min(int(max_age), MAX_MAX_AGE)
    return SignInOptions(wanted, seconds)
