"""Configuration dataclasses and the built-in demo tenant.

Everything here is plain data: the server reads it, nothing mutates it.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

#: The demo "Contoso" tenant. Fixed so that an app's .env keeps working across runs.
DEMO_TENANT_ID = "7d1c4c3e-0f6a-4a4b-9c55-3b1f2f0d5a10"
#: A second tenant ("Fabrikam") so multi-tenant allow-lists can be exercised.
FABRIKAM_TENANT_ID = "b3c5e8a2-6d1f-4f0e-8a7c-2e9d4b6f1c37"
#: The demo app registration (a public client, like a desktop/dev registration).
DEMO_CLIENT_ID = "5f3a9b2e-8c41-4d7a-b6e0-1a2c3d4e5f60"

#: Microsoft Graph's application id; the audience of Graph-scoped access tokens.
GRAPH_RESOURCE_ID = "00000003-0000-0000-c000-000000000000"


@dataclass
class DemoUser:
    """A user that can sign in. Passwords are demo values shown on the sign-in page."""

    username: str
    password: str
    name: str
    oid: str
    tid: str
    roles: list[str] = field(default_factory=list)
    email: str | None = None
    #: Object ids (GUIDs) of the user's groups: the ``groups`` claim, or an overage.
    groups: list[str] = field(default_factory=list)
    # Profile fields served by the Graph stand-in's ``/v1.0/me``; None means "not set",
    # as Graph returns null. Given name and surname default to the halves of ``name``.
    given_name: str | None = None
    surname: str | None = None
    job_title: str | None = None
    office_location: str | None = None
    business_phones: list[str] = field(default_factory=list)
    mobile_phone: str | None = None
    preferred_language: str | None = "en-US"

    def copy(self) -> DemoUser:
        """A copy whose lists can be changed without touching this user."""
        return replace(
            self,
            roles=list(self.roles),
            groups=list(self.groups),
            business_phones=list(self.business_phones),
        )


#: The audience Entra requires of a federated credential's token (the public cloud's).
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"


@dataclass
class FederatedCredential:
    """A federated identity credential: tokens from ``issuer`` about ``subject`` for one of
    ``audiences`` stand in for the app's secret. Entra fetches the issuer's keys from its
    OIDC discovery document; here they are given as a JWKS (``{"keys": [...]}``)."""

    issuer: str
    subject: str
    jwks: dict[str, Any]
    audiences: list[str] = field(default_factory=lambda: [TOKEN_EXCHANGE_AUDIENCE])
    name: str = "federated-credential"


@dataclass
class ClientRegistration:
    """An app registration, with the settings Entra checks at runtime."""

    client_id: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    public_client: bool = True
    client_secret: str | None = None
    certificate_pem: bytes | None = None
    federated_credentials: list[FederatedCredential] = field(default_factory=list)

    @property
    def is_confidential(self) -> bool:
        return not self.public_client


@dataclass
class LocalEntraConfig:
    """Everything LocalEntra needs; see :func:`demo_config` for sensible defaults."""

    clients: list[ClientRegistration]
    users: list[DemoUser]
    tenant_id: str = DEMO_TENANT_ID
    state_dir: Path = Path(".local_entra")
    access_token_lifetime: int = 3600
    id_token_lifetime: int = 3600
    code_lifetime: int = 120
    host: str = "127.0.0.1"
    refresh_token_lifetime: int = 24 * 3600
    #: Above this many groups the id token carries an overage indicator instead of
    #: ``groups`` (Entra's limit for JWTs is 200).
    groups_overage_limit: int = 200

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir)
        require_loopback(self.host)

    def client(self, client_id: str | None) -> ClientRegistration | None:
        for registration in self.clients:
            if registration.client_id == client_id:
                return registration
        return None

    def user(self, username: str | None) -> DemoUser | None:
        wanted = (username or "").strip().lower()
        for user in self.users:
            if user.username.lower() == wanted:
                return user
        return None

    def tenant_ids(self) -> set[str]:
        """Tenants that exist: the configured one plus every user's home tenant."""
        return {self.tenant_id.lower()} | {user.tid.lower() for user in self.users}

    def domain_aliases(self) -> dict[str, str]:
        """Verified-domain style aliases (``contoso.example``) mapped to tenant ids."""
        aliases = {"contoso.example": self.tenant_id.lower()}
        for user in self.users:
            _, _, domain = user.username.lower().rpartition("@")
            if domain:
                aliases.setdefault(domain, user.tid.lower())
        return aliases


def require_loopback(host: str) -> None:
    """Refuse any bind address other than loopback: this is a demo identity provider."""
    if host == "localhost":
        raise ValueError("local_entra: use host='127.0.0.1' rather than 'localhost'")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"local_entra only binds to loopback addresses, not {host!r}")


GROUP_NAMESPACE = uuid.UUID("6a0e2f4c-94d7-4b51-a3c8-5d2e1f0b7c44")


def demo_group_ids(label: str, count: int) -> list[str]:
    """Deterministic group object ids, stable across runs (so apps can map them to roles)."""
    return [str(uuid.uuid5(GROUP_NAMESPACE, f"{label}/{index}")) for index in range(count)]


#: Adele's groups: "Contoso Admins" and "Contoso Finance".
CONTOSO_ADMINS_GROUP_ID = "a1f0c3d2-7b6e-4e5f-9a8b-0c1d2e3f4a51"
CONTOSO_FINANCE_GROUP_ID = "a1f0c3d2-7b6e-4e5f-9a8b-0c1d2e3f4a52"

DEMO_USERS: list[DemoUser] = [
    DemoUser(
        username="adele@contoso.example",
        password="demo-adele",
        name="Adele Vance",
        oid="0c8f4a52-3c1e-4b8e-9d2a-6f7e1a2b3c01",
        tid=DEMO_TENANT_ID,
        roles=["Admin"],
        email="adele@contoso.example",
        groups=[CONTOSO_ADMINS_GROUP_ID, CONTOSO_FINANCE_GROUP_ID],
        job_title="Retail Manager",
        office_location="18/2111",
        business_phones=["+1 425 555 0109"],
        mobile_phone="+1 425 555 0190",
    ),
    DemoUser(
        username="ben@contoso.example",
        password="demo-ben",
        name="Ben Walters",
        oid="1d9a5b63-4d2f-4c9f-8e3b-7a8f2b3c4d02",
        tid=DEMO_TENANT_ID,
        email="ben@contoso.example",
        job_title="Marketing Assistant",
        office_location="131/1104",
        business_phones=["+1 858 555 0110"],
    ),
    DemoUser(
        username="guest@fabrikam.example",
        password="demo-guest",
        name="Farah Guest",
        oid="2eab6c74-5e3a-4dab-9f4c-8b9a3c4d5e03",
        tid=FABRIKAM_TENANT_ID,
        email="guest@fabrikam.example",
        preferred_language="fr-FR",
    ),
    DemoUser(
        username="many@contoso.example",
        password="demo-many",
        name="Morgan Many",
        oid="3fbc7d85-6f4b-4ebc-8a5d-9cab4d5e6f04",
        tid=DEMO_TENANT_ID,
        email="many@contoso.example",
        # More than the overage limit: id tokens carry _claim_names instead of groups.
        groups=demo_group_ids("many", 250),
        job_title="Program Manager",
    ),
]


def demo_config(
    redirect_uri: str,
    post_logout_redirect_uri: str,
    state_dir: Path = Path(".local_entra"),
) -> LocalEntraConfig:
    """One public client (``DEMO_CLIENT_ID``) and the default demo users."""
    client = ClientRegistration(
        client_id=DEMO_CLIENT_ID,
        redirect_uris=[redirect_uri],
        post_logout_redirect_uris=[post_logout_redirect_uri],
        public_client=True,
    )
    users = [user.copy() for user in DEMO_USERS]
    return LocalEntraConfig(clients=[client], users=users, state_dir=Path(state_dir))
