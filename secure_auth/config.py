"""Settings: read once at start-up from the environment and `.env`, then passed in.

Every problem is reported as a single `ConfigError` line that names the variable and
the fix, and never echoes a secret value.
"""

from __future__ import annotations

import logging
import secrets
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})


class ConfigError(Exception):
    """A configuration problem, phrased as one line: the variable, what is wrong, the fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    entra_client_id: str = ""
    entra_tenant_id: str = ""
    entra_authority_host: str = "https://login.microsoftonline.com"
    entra_oidc_authority: str = ""
    entra_client_secret: SecretStr | None = None
    entra_client_certificate: Path | None = None
    entra_scopes: str = ""
    entra_allowed_tenants: str = ""
    entra_ca_bundle: Path | None = None
    entra_http_timeout: float = 10.0

    public_base_url: str = "http://localhost:8000"
    app_env: Literal["development", "production"] = "development"
    session_secret_key: SecretStr | None = None
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

    @field_validator(
        "entra_client_secret", "entra_client_certificate", "entra_ca_bundle", "session_secret_key",
        "debug_info_enabled", mode="before",
    )
    @classmethod
    def _empty_means_unset(cls, value: Any) -> Any:
        # An empty variable in .env means "not set", not "the current directory" or "".
        return None if isinstance(value, str) and not value.strip() else value

    # ----- derived values (computed once) -----

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def is_confidential(self) -> bool:
        return bool(self.entra_client_secret) or self.entra_client_certificate is not None

    @property
    def client_kind(self) -> str:
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

    @cached_property
    def secret_key(self) -> str:
        if self.session_secret_key is not None:
            return self.session_secret_key.get_secret_value()
        return _generated_secret_key()


_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalised_origin(url: str) -> str:
    """scheme://host[:port] in lower case, without the scheme's default port."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


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


def load_settings(**overrides: Any) -> Settings:
    """Read and check the settings; raise ConfigError with one line on any problem."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc)) from None
    check_settings(settings)
    return settings


def _describe_validation_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    name = str(error["loc"][0]).upper() if error.get("loc") else "configuration"
    return f"{name} is invalid ({error['msg']}): fix its value in the environment or .env"


def check_settings(s: Settings) -> None:
    """The contradictions and omissions pydantic cannot see on its own."""
    if not s.entra_client_id.strip():
        raise ConfigError(
            "ENTRA_CLIENT_ID is not set: set it to your app registration's Application (client) ID, "
            "or run `python run.py --demo` to try the app against the local Entra stand-in"
        )
    if s.entra_oidc_authority and s.entra_tenant_id:
        raise ConfigError(
            "ENTRA_OIDC_AUTHORITY and ENTRA_TENANT_ID are both set: keep ENTRA_OIDC_AUTHORITY for an "
            "External ID or other OpenID Connect issuer, or ENTRA_TENANT_ID for a workforce tenant, not both"
        )
    if not s.entra_oidc_authority and not s.entra_tenant_id.strip():
        raise ConfigError(
            "ENTRA_TENANT_ID is not set: set it to your tenant ID or domain, or to 'organizations' / "
            "'common' for a multi-tenant app (or set ENTRA_OIDC_AUTHORITY instead)"
        )
    if s.entra_oidc_authority:
        _require_https_url("ENTRA_OIDC_AUTHORITY", s.entra_oidc_authority, needs_path=True)
    else:
        _require_https_url("ENTRA_AUTHORITY_HOST", s.entra_authority_host, needs_path=False)
        if "/" in s.entra_tenant_id.strip("/"):
            raise ConfigError("ENTRA_TENANT_ID must be a tenant ID or domain without slashes")
    if s.entra_client_secret and s.entra_client_certificate is not None:
        raise ConfigError(
            "ENTRA_CLIENT_SECRET and ENTRA_CLIENT_CERTIFICATE are both set: keep one credential "
            "(a certificate is the stronger choice) and remove the other"
        )
    if s.entra_client_certificate is not None:
        _require_file("ENTRA_CLIENT_CERTIFICATE", s.entra_client_certificate)
        text = s.entra_client_certificate.read_text(errors="replace")
        if "PRIVATE KEY-----" not in text or "BEGIN CERTIFICATE-----" not in text:
            raise ConfigError(
                "ENTRA_CLIENT_CERTIFICATE must be a PEM file holding both the private key and the "
                "certificate: concatenate them into one file"
            )
    if s.entra_ca_bundle is not None:
        _require_file("ENTRA_CA_BUNDLE", s.entra_ca_bundle)
        if "BEGIN CERTIFICATE-----" not in s.entra_ca_bundle.read_text(errors="replace"):
            raise ConfigError("ENTRA_CA_BUNDLE must be a PEM file of CA certificates")
    reserved = RESERVED_SCOPES.intersection(s.scopes)
    if reserved:
        raise ConfigError(
            f"ENTRA_SCOPES must not list {', '.join(sorted(reserved))}: MSAL adds openid, profile and "
            "offline_access itself; list only extra delegated scopes such as User.Read"
        )
    if s.entra_http_timeout <= 0 or s.entra_http_timeout > 120:
        raise ConfigError("ENTRA_HTTP_TIMEOUT must be between 0 and 120 seconds")
    _check_public_base_url(s)
    if s.session_idle_timeout < 60:
        raise ConfigError("SESSION_IDLE_TIMEOUT must be at least 60 seconds")
    if s.session_absolute_timeout < s.session_idle_timeout:
        raise ConfigError(
            "SESSION_ABSOLUTE_TIMEOUT must be at least SESSION_IDLE_TIMEOUT: raise it or lower the idle timeout"
        )
    if not s.trusted_host_list:
        raise ConfigError("TRUSTED_HOSTS is empty: list the host names this app is served under, comma separated")
    if "*" not in s.trusted_host_list and s.public_host not in [h.lower() for h in s.trusted_host_list]:
        raise ConfigError(
            f"TRUSTED_HOSTS does not include {s.public_host}, the host of PUBLIC_BASE_URL: add it, "
            "or every request would be refused with 400"
        )
    _require_https_url("GRAPH_BASE_URL", s.graph_base_url, needs_path=False)
    if s.api_base_url:
        _require_https_url("API_BASE_URL", s.api_base_url, needs_path=False)
        if not s.api_scope_list:
            raise ConfigError(
                "API_SCOPES is empty but API_BASE_URL is set: name the delegated scope(s) the API expects, "
                "such as api://<api-client-id>/access_as_user"
            )
    if not 0 < s.outbound_timeout <= 300:
        raise ConfigError("OUTBOUND_TIMEOUT must be between 0 and 300 seconds")
    _check_rate_limits(s)
    _check_proxies_and_origins(s)
    if s.web_concurrency > 1 and not s.uses_redis:
        logger.warning(
            "WEB_CONCURRENCY is %d but SESSION_STORE_URL is memory://: each worker keeps its own sessions "
            "and pending sign-ins, so users meet 'state mismatch' and lost sessions. Set SESSION_STORE_URL "
            "to a Redis URL",
            s.web_concurrency,
        )
    if s.is_production:
        _check_production(s)
    elif s.public_host not in _LOOPBACK_HOSTS:
        logger.warning(
            "APP_ENV is development but PUBLIC_BASE_URL is %s: set APP_ENV=production for a real "
            "deployment (__Host- cookies, a required secret key, /debug-info off)",
            s.base_url,
        )


def _check_public_base_url(s: Settings) -> None:
    parts = urlsplit(s.public_base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("PUBLIC_BASE_URL must be an absolute URL such as https://app.example.com")
    if parts.query or parts.fragment:
        raise ConfigError("PUBLIC_BASE_URL must not carry a query or fragment")
    if parts.path not in ("", "/"):
        raise ConfigError("PUBLIC_BASE_URL must be the site's origin without a path, such as https://app.example.com")


_KEY_ADVICE = 'e.g. the output of `python -c "import secrets; print(secrets.token_urlsafe(48))"`'
_EXAMPLE_SECRETS = ("change", "example", "secret", "replace", "your", "xxxx", "test", "demo", "default", "password")
MIN_SECRET_KEY_BYTES = 32


def _check_rate_limits(s: Settings) -> None:
    from limits import parse_many

    for name, value in (
        ("RATE_LIMIT_DEFAULT", s.rate_limit_default),
        ("RATE_LIMIT_AUTH", s.rate_limit_auth),
        ("RATE_LIMIT_API", s.rate_limit_api),
    ):
        try:
            if not parse_many(value):
                raise ValueError
        except ValueError:
            raise ConfigError(
                f"{name} is not a rate limit: write it like '200/day;50/hour' (count/period, ';' between)"
            ) from None
    if urlsplit(s.session_store_url).scheme not in ("memory", "redis", "rediss"):
        raise ConfigError("SESSION_STORE_URL must be memory:// or a Redis URL such as redis://localhost:6379/0")
    if not s.redis_key_prefix or len(s.redis_key_prefix) > 64:
        raise ConfigError("REDIS_KEY_PREFIX must be 1 to 64 characters, such as myapp:")
    scheme = urlsplit(s.rate_limit_storage).scheme
    if scheme not in ("memory", "redis", "rediss", "redis+sentinel", "redis+cluster", "memcached", "mongodb"):
        raise ConfigError(
            "RATE_LIMIT_STORAGE_URL must be memory:// or a storage URL such as redis://localhost:6379/0"
        )


def _check_proxies_and_origins(s: Settings) -> None:
    import ipaddress

    for entry in s.forwarded_allow_list:
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(
                f"FORWARDED_ALLOW_IPS has {entry!r}, which is not an IP address or network: list your "
                "reverse proxies' addresses, such as 10.0.0.5 or 10.0.0.0/24"
            ) from None
    for entry in s.metrics_allow_list:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(
                f"METRICS_ALLOW_IPS has {entry!r}, which is not an IP address or network: list your "
                "Prometheus server's address"
            ) from None
    for origin in s.cors_allowed_origins.split(","):
        origin = origin.strip()
        if not origin:
            continue
        parts = urlsplit(origin)
        if origin == "*" or "*" in origin or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                "CORS_ALLOWED_ORIGINS must list exact origins such as https://portal.example.com "
                "(credentials are allowed, so '*' never is)"
            )
        if parts.path not in ("", "/"):
            raise ConfigError(f"CORS_ALLOWED_ORIGINS entry {origin!r} must be an origin without a path")


def _check_production(s: Settings) -> None:
    if not s.uses_https:
        raise ConfigError("PUBLIC_BASE_URL must be https in production (APP_ENV=production): serve the app over TLS")
    if s.session_secret_key is None:
        raise ConfigError(
            f"SESSION_SECRET_KEY is required in production: set it to a random value of 32 bytes or more, {_KEY_ADVICE}"
        )
    key = s.session_secret_key.get_secret_value()
    if len(key.encode("utf-8")) < MIN_SECRET_KEY_BYTES:
        raise ConfigError(f"SESSION_SECRET_KEY is shorter than {MIN_SECRET_KEY_BYTES} bytes: use a longer random value, {_KEY_ADVICE}")
    lowered = key.lower()
    if any(word in lowered for word in _EXAMPLE_SECRETS) or len(set(key)) < 8:
        raise ConfigError(f"SESSION_SECRET_KEY looks like an example value: replace it with a random one, {_KEY_ADVICE}")
    if "*" in s.trusted_host_list:
        raise ConfigError("TRUSTED_HOSTS must not be '*' in production: list the host names the app is served under")
    if "*" in s.forwarded_allow_list:
        raise ConfigError(
            "FORWARDED_ALLOW_IPS must not be '*' in production: anyone could then choose their own address "
            "(dodging rate limits, reaching /metrics); list your reverse proxies' addresses"
        )
    if s.entra_ca_bundle is not None and _is_local_stand_in_ca(s.entra_ca_bundle):
        raise ConfigError(
            "ENTRA_CA_BUNDLE points at the local Entra stand-in's CA, which must never be trusted in production: "
            "remove it (Entra's certificates chain to public roots)"
        )
    authority_host = urlsplit(s.entra_oidc_authority or s.entra_authority_host).hostname or ""
    if authority_host in _LOOPBACK_HOSTS or authority_host.startswith("127."):
        raise ConfigError(
            "ENTRA_AUTHORITY_HOST / ENTRA_OIDC_AUTHORITY points at a loopback identity provider in production: "
            "use your real Entra authority"
        )
    if s.debug_info_enabled and not s.debug_info_role:
        raise ConfigError(
            "DEBUG_INFO_ROLE is required when DEBUG_INFO_ENABLED=true in production: name the app role "
            "whose holders may read /debug-info"
        )


def _is_local_stand_in_ca(path: Path) -> bool:
    """The CA local_entra (or any trustme-made test CA) generates: never for production."""
    if ".local_entra" in path.resolve().parts:
        return True
    from cryptography import x509

    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except ValueError:
        return False
    markers = ("trustme", "local_entra", "testing ca")
    return any(m in cert.subject.rfc4514_string().lower() for cert in certificates for m in markers)


def _require_https_url(name: str, value: str, *, needs_path: bool) -> None:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(f"{name} must be an https URL (MSAL talks to identity providers over TLS only)")
    if needs_path and parts.path.strip("/") == "":
        raise ConfigError(f"{name} must include a path, such as https://contoso.ciamlogin.com/contoso.onmicrosoft.com")
    if parts.query or parts.fragment:
        raise ConfigError(f"{name} must not carry a query or fragment")


def _require_file(name: str, path: Path) -> None:
    if not path.is_file():
        raise ConfigError(f"{name} points at '{path}', which is not a readable file: fix the path")
