"""A signed-in session as the server keeps it: who, since when, and the token cache."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from secure_auth.validators.claims import claims_digest

# Claims kept from the id_token: enough to show who is signed in and to authorize,
# small enough that a record stays a few kilobytes.
KEPT_CLAIMS = (
    "name",
    "preferred_username",
    "email",
    "oid",
    "sub",
    "tid",
    "iss",
    "roles",
    "groups",
    "login_hint",
    "sid",
    "acrs",  # the authentication contexts the sign-in satisfied (step-up)
    "auth_time",  # when the user last entered their credentials (recent sign-in)
)


@dataclass
class Session:
    id: str  # what the store keeps it under: a hash of the cookie's secret (manager.py)
    user: dict[str, Any]
    csrf_token: str
    created_at: float
    last_seen: float
    # MSAL's cache, serialised. On a page view from the Redis store it may still be sealed
    # (stores/redis_backend.py): read tokens through TokenService, which re-reads it opened.
    token_cache: str = ""
    client_ip: str = ""
    browser: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # What the sign-in that made this session asked the IdP for: {"claims": digest of
    # its claims request, "max_age": seconds}. The same request is not sent round again.
    asked: dict[str, Any] = field(default_factory=dict)
    # The random secret the cookie carries, known only while the session is being created;
    # never stored, so neither a store dump nor a record read back holds a usable cookie.
    cookie_secret: str = field(default="", repr=False, compare=False)

    @property
    def user_key(self) -> str:
        return user_key(self.user)

    @property
    def auth_contexts(self) -> list[str]:
        acrs = self.user.get("acrs") or []
        return [a for a in acrs if isinstance(a, str)] if isinstance(acrs, list) else []

    @property
    def auth_time(self) -> float | None:
        value = self.user.get("auth_time")
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def signed_in_asking_for(self, claims: str) -> bool:
        """Whether this session's sign-in already asked the IdP for this claims request."""
        return bool(claims) and self.asked.get("claims") == claims_digest(claims)

    @property
    def roles(self) -> list[str]:
        roles = self.user.get("roles") or []
        return [r for r in roles if isinstance(r, str)]

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        del record["id"], record["cookie_secret"]
        return record

    @classmethod
    def from_record(cls, session_id: str, record: dict[str, Any]) -> Session:
        return cls(id=session_id, **record)


def kept_claims(claims: dict[str, Any]) -> dict[str, Any]:
    return {name: claims[name] for name in KEPT_CLAIMS if name in claims}


def user_key(user: dict[str, Any]) -> str:
    """One person across sessions: tenant and object id (or issuer and subject)."""
    if user.get("oid"):
        return f"{user.get('tid', '')}:{user['oid']}"
    return f"{user.get('iss', '')}|{user.get('sub', '')}"


def browser_family(user_agent: str) -> str:
    """A coarse, non-identifying label for the sessions page."""
    ua = user_agent or ""
    for marker, name in (
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
        ("python-httpx", "httpx"),
        ("curl/", "curl"),
    ):
        if marker in ua:
            return name
    return "Other"
