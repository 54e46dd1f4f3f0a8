"""Settings for the doctor's unit tests: the fewest a valid configuration needs, and what a
test changes."""

from __future__ import annotations

from secure_auth.config import Settings

BASE = {"entra_client_id": "cid", "entra_tenant_id": "contoso.onmicrosoft.com", "trusted_hosts": "*"}


def settings(**overrides) -> Settings:
    return Settings(**{**BASE, **overrides})
