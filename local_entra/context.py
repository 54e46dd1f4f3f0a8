"""What every endpoint needs to know: config, state, keys, and the two base URLs."""

from __future__ import annotations

from dataclasses import dataclass

from .config import LocalEntraConfig
from .keys import KeySet
from .store import Store

MULTI_TENANT = ("organizations", "common")
TENANT_PLACEHOLDER = "{tenantid}"


@dataclass(frozen=True)
class TenantRef:
    """A ``{tenant}`` path segment, resolved."""

    segment: str  # as it appeared in the URL
    tenant_id: str | None  # GUID; None for organizations / common

    @property
    def canonical(self) -> str:
        """The segment used in advertised endpoints (aliases become the GUID, as Entra)."""
        return self.tenant_id or self.segment


@dataclass
class Context:
    config: LocalEntraConfig
    store: Store
    keys: KeySet
    authority_host: str  # https://127.0.0.1:<port>  back channel
    front_url: str  # http://127.0.0.1:<port>     front channel

    def resolve_tenant(self, segment: str) -> TenantRef | None:
        lowered = segment.lower()
        if lowered in MULTI_TENANT:
            return TenantRef(segment=lowered, tenant_id=None)
        if lowered in self.config.tenant_ids():
            return TenantRef(segment=segment, tenant_id=lowered)
        alias = self.config.domain_aliases().get(lowered)
        if alias:
            return TenantRef(segment=segment, tenant_id=alias)
        return None

    def issuer(self, tenant_id: str | None) -> str:
        """``{authority_host}/{tid}/v2.0``; the literal ``{tenantid}`` template for multi-tenant."""
        return f"{self.authority_host}/{tenant_id or TENANT_PLACEHOLDER}/v2.0"

    def token_endpoint(self, tenant: TenantRef) -> str:
        return f"{self.authority_host}/{tenant.canonical}/oauth2/v2.0/token"

    def token_audiences(self, tenant: TenantRef) -> list[str]:
        """Values accepted as a client assertion's ``aud`` (Entra accepts these spellings)."""
        names = {tenant.segment, tenant.canonical}
        urls = []
        for name in sorted(names):
            urls.append(f"{self.authority_host}/{name}/oauth2/v2.0/token")
            urls.append(f"{self.authority_host}/{name}/oauth2/token")
        return urls
