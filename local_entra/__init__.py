"""A small local stand-in for Microsoft Entra ID's v2.0 endpoints, for demos and tests.

MSAL talks to it exactly as to Entra (``authority=le.authority()``,
``instance_discovery=False``). A small Microsoft Graph stand-in (``/v1.0/me`` and
group membership) is served on the same https listener. It never runs when
``APP_ENV=production``.
"""

from .config import (
    DEMO_CLIENT_ID,
    DEMO_TENANT_ID,
    DEMO_USERS,
    FABRIKAM_TENANT_ID,
    GRAPH_RESOURCE_ID,
    ClientRegistration,
    DemoUser,
    FederatedCredential,
    LocalEntraConfig,
    demo_config,
)
from .runner import LocalEntra

__all__ = [
    "DEMO_CLIENT_ID",
    "DEMO_TENANT_ID",
    "DEMO_USERS",
    "FABRIKAM_TENANT_ID",
    "GRAPH_RESOURCE_ID",
    "ClientRegistration",
    "DemoUser",
    "FederatedCredential",
    "LocalEntra",
    "LocalEntraConfig",
    "demo_config",
]
