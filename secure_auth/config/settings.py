"""The settings object: every variable the app reads, typed, with the values derived from them.

Read once at start-up (`load_settings` in checks.py) and passed in; nothing else reads
os.environ.
"""

from __future__ import annotations

import logging
import secrets
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from secure_auth.config.origins import normalised_origin
from secure_auth.validators.claims import is_auth_context_id

logger = logging.getLogger("secure_auth.config")

# Entra's own sign-in hosts: MSAL may run instance discovery only against these.
MICROSOFT_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "sts.windows.net",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
    }
)
# Delegated Graph scopes the app itself uses: /profile and the groups overage.
GRAPH_PROFILE_SCOPE = "User.Read"
GRAPH_GROUPS_SCOPE = "GroupMember.Read.All"
GRAPH_SCOPES = (GRAPH_PROFILE_SCOPE, GRAPH_GROUPS_SCOPE)
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False)

    entra_client_id: str = ""
    entra_tenant_id: str = ""
    entra_authority_host: str = "https://login.microsoftonline.com"
    entra_oidc_authority: str = ""
    entra_client_secret: SecretStr | None = None
    entra_client_certificate: Path | None = None
    entra_client_assertion_file: Path | None = None  # a signed JWT, read at each token request (it rotates)
    azure_federated_token_file: Path | None = None  # Kubernetes workload identity's token, when nothing else is set
    entra_client_capabilities: str = "cp1"  # MSAL's client_capabilities: Entra sees them as xms_cc
    entra_scopes: str = ""
    entra_allowed_tenants: str = ""
    entra_ca_bundle: Path | None = None
    entra_http_timeout: float = 10.0

    public_base_url: str = "http://localhost:8000"
    app_env: Literal["development", "production"] = "development"
    session_secret_key: SecretStr | None = None
    token_cache_key: SecretStr | None = None  # comma separated: the first seals, all open
    session_idle_timeout: int = 3600
    session_absolute_timeout: int = 28800
    trusted_hosts: str = "localhost,127.0.0.1"
    debug_info_enabled: bool | None = None
    debug_info_role: str = ""
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    rate_limit_default: str = "200/day;50/hour"
    rate_limit_auth: str = "10/minute;40/hour"
    rate_limit_api: str = "120/minute;3000/hour"
    rate_limit_network_factor: int = 8  # an IPv4 /24 or IPv6 /64 may make this many times an address's
    rate_limit_storage_url: str = ""  # empty: the same place as SESSION_STORE_URL
    session_store_url: str = "memory://"
    web_concurrency: int = 1  # WEB_CONCURRENCY, as uvicorn and gunicorn read it
    metrics_enabled: bool = False
    metrics_allow_ips: str = "127.0.0.1,::1"
    redis_key_prefix: str = "secure_auth:"
    forwarded_allow_ips: str = ""
    cors_allowed_origins: str = ""
    hsts_include_subdomains: bool = False

    graph_base_url: str = "https://graph.microsoft.com"
    api_base_url: str = ""
    api_scopes: str = ""
    outbound_timeout: float = 15.0
    proxy_max_body_bytes: int = 1_048_576
    max_request_body_bytes: int = 1_048_576  # every route but the API proxy
    proxy_idle_timeout: float = 30.0  # a client that stops reading a proxied response is cut
    proxy_max_connections: int = 100  # the API proxy's connection pool, shared fairly between people
    shutdown_grace_seconds: float = 20.0  # a stop or reload lets requests in flight finish this long

    # The Conditional Access authentication context the example admin page steps up to (c1..c99).
    admin_auth_context: str = ""

    @field_validator(
        "entra_client_secret",
        "entra_client_certificate",
        "entra_client_assertion_file",
        "azure_federated_token_file",
        "entra_ca_bundle",
        "session_secret_key",
        "token_cache_key",
        "debug_info_enabled",
        mode="before",
    )
    @classmethod
    def _empty_means_unset(cls, value: Any) -> Any:
        # An empty variable in .env means "not set", not "the current directory" or "".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("admin_auth_context")
    @classmethod
    def _auth_context_id(cls, value: str) -> str:
        value = value.strip()
        if value and not is_auth_context_id(value):
            raise ValueError(
                "an authentication context id is c1 to c99 (Entra admin center: Protection > Conditional "
                "Access > Authentication context); leave it empty for none"
            )
        return value

    # ----- derived values (computed once) -----

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def client_assertion_file(self) -> Path | None:
        """ENTRA_CLIENT_ASSERTION_FILE; with no credential set at all, AZURE_FEDERATED_TOKEN_FILE
        (the token Kubernetes workload identity projects into the pod)."""
        if self.entra_client_assertion_file is not None:
            return self.entra_client_assertion_file
        if self.entra_client_secret or self.entra_client_certificate is not None:
            return None
        return self.azure_federated_token_file

    @property
    def client_capabilities(self) -> list[str]:
        return [c for c in self.entra_client_capabilities.replace(",", " ").split() if c]

    @property
    def is_confidential(self) -> bool:
        credentials = (self.entra_client_certificate, self.client_assertion_file)
        return bool(self.entra_client_secret) or any(c is not None for c in credentials)

    @property
    def client_kind(self) -> str:
        if self.client_assertion_file is not None:
            return "confidential client (federated credential)"
        if self.entra_client_certificate is not None:
            return "confidential client (certificate)"
        if self.entra_client_secret:
            return "confidential client (secret)"
        return "public client (no secret)"

    @cached_property
    def base_url(self) -> str:
        """PUBLIC_BASE_URL as browsers write origins: lower-case scheme and host, no
        default port, no trailing slash (so Host and Origin comparisons are exact)."""
        return normalised_origin(self.public_base_url)

    @property
    def public_host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    @property
    def redirect_uri(self) -> str:
        return self.base_url + "/auth/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return self.base_url + "/auth/signed-out"

    @property
    def uses_https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def authority(self) -> str:
        """The authority MSAL is given (`oidc_authority` when that is set)."""
        if self.entra_oidc_authority:
            return self.entra_oidc_authority.rstrip("/")
        return f"{self.entra_authority_host.rstrip('/')}/{self.entra_tenant_id}"

    @property
    def uses_oidc_authority(self) -> bool:
        return bool(self.entra_oidc_authority)

    @property
    def discovery_url(self) -> str:
        if self.uses_oidc_authority:
            return self.authority + "/.well-known/openid-configuration"
        return self.authority + "/v2.0/.well-known/openid-configuration"

    @property
    def instance_discovery(self) -> bool:
        host = urlsplit(self.entra_authority_host).hostname or ""
        return not self.uses_oidc_authority and host in MICROSOFT_AUTHORITY_HOSTS

    @property
    def scopes(self) -> list[str]:
        return self.entra_scopes.split()

    @property
    def allowed_tenants(self) -> frozenset[str]:
        return frozenset(t.strip().lower() for t in self.entra_allowed_tenants.split(",") if t.strip())

    @property
    def uses_redis(self) -> bool:
        return urlsplit(self.session_store_url).scheme in ("redis", "rediss")

    @property
    def rate_limit_storage(self) -> str:
        if self.rate_limit_storage_url:
            return self.rate_limit_storage_url
        return self.session_store_url if self.uses_redis else "memory://"

    @property
    def metrics_allow_list(self) -> list[str]:
        return [h.strip() for h in self.metrics_allow_ips.split(",") if h.strip()]

    @property
    def api_scope_list(self) -> list[str]:
        return self.api_scopes.split()

    @property
    def consentable_scopes(self) -> frozenset[str]:
        """Scopes a sign-in may ask for on top of ENTRA_SCOPES (incremental consent)."""
        return frozenset([*self.scopes, *self.api_scope_list, *GRAPH_SCOPES])

    @property
    def forwarded_allow_list(self) -> list[str]:
        return [h.strip() for h in self.forwarded_allow_ips.split(",") if h.strip()]

    @property
    def cors_origins(self) -> list[str]:
        return [normalised_origin(o) for o in self.cors_allowed_origins.split(",") if o.strip()]

    @property
    def trusted_host_list(self) -> list[str]:
        return [h.strip() for h in self.trusted_hosts.split(",") if h.strip()]

    @property
    def show_debug_info(self) -> bool:
        if self.debug_info_enabled is None:
            return not self.is_production
        return self.debug_info_enabled

    @property
    def session_cookie_name(self) -> str:
        return "__Host-session" if self.is_production else "session"

    @property
    def flow_cookie_name(self) -> str:
        # __Host-: no sibling subdomain can plant a binding value of its choosing.
        return "__Host-auth_flow" if self.is_production else "auth_flow"

    @property
    def token_cache_keys(self) -> list[str]:
        """The keys that seal token caches at rest; without TOKEN_CACHE_KEY (development),
        one derived from the session secret key."""
        if self.token_cache_key is None:
            return [self.secret_key]
        return [key.strip() for key in self.token_cache_key.get_secret_value().split(",") if key.strip()]

    @cached_property
    def secret_key(self) -> str:
        if self.session_secret_key is not None:
            return self.session_secret_key.get_secret_value()
        return _generated_secret_key()


_GENERATED_KEY: list[str] = []


def _generated_secret_key() -> str:
    """One random key per process, so development works with no configuration."""
    if not _GENERATED_KEY:
        _GENERATED_KEY.append(secrets.token_urlsafe(48))
        logger.warning(
            "SESSION_SECRET_KEY is not set: using a random key for this process; "
            "sessions end when it restarts and cannot be shared between workers"
        )
    return _GENERATED_KEY[0]
