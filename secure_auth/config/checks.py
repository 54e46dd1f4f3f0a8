"""The checks pydantic cannot make on its own: contradictions, omissions, unsafe production values.

Every problem is reported as a single `ConfigError` line that names the variable and the
fix, and never echoes a secret value.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from limits import parse_many
from pydantic import ValidationError

from secure_auth.config.credentials import check_client_credential, require_file
from secure_auth.config.errors import ConfigError
from secure_auth.config.serving import serving_problem
from secure_auth.config.settings import LOOPBACK_HOSTS, RESERVED_SCOPES, Settings

logger = logging.getLogger("secure_auth.config")


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
    check_client_credential(s)
    if s.entra_ca_bundle is not None:
        require_file("ENTRA_CA_BUNDLE", s.entra_ca_bundle)
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
    for name, value in (
        ("MAX_REQUEST_BODY_BYTES", s.max_request_body_bytes),
        ("PROXY_MAX_BODY_BYTES", s.proxy_max_body_bytes),
    ):
        if not 0 < value <= 1 << 30:
            raise ConfigError(f"{name} must be between 1 and 1073741824 bytes (1 GiB), such as 1048576")
    if s.token_cache_key is not None and not s.token_cache_keys:
        raise ConfigError(f"TOKEN_CACHE_KEY holds no key: set it to 32+ random bytes, {_KEY_ADVICE}")
    if s.token_cache_key is not None and any(
        len(key.encode("utf-8")) < MIN_SECRET_KEY_BYTES for key in s.token_cache_keys
    ):
        raise ConfigError(
            f"TOKEN_CACHE_KEY holds a key shorter than {MIN_SECRET_KEY_BYTES} bytes: each key (comma separated, "
            f"the new one first) must be random, {_KEY_ADVICE}"
        )
    if not 0 < s.proxy_idle_timeout <= 3600:
        raise ConfigError("PROXY_IDLE_TIMEOUT must be between 0 and 3600 seconds, such as 30")
    if not 2 <= s.proxy_max_connections <= 10_000:
        raise ConfigError("PROXY_MAX_CONNECTIONS must be between 2 and 10000, such as 100")
    if not 0 < s.outbound_timeout <= 300:
        raise ConfigError("OUTBOUND_TIMEOUT must be between 0 and 300 seconds")
    if problem := serving_problem(s):
        raise ConfigError(problem)
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
    elif s.public_host not in LOOPBACK_HOSTS:
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
    if not 1 <= s.rate_limit_network_factor <= 10_000:
        raise ConfigError("RATE_LIMIT_NETWORK_FACTOR must be between 1 and 10000, such as 8")
    if urlsplit(s.session_store_url).scheme not in ("memory", "redis", "rediss"):
        raise ConfigError("SESSION_STORE_URL must be memory:// or a Redis URL such as redis://localhost:6379/0")
    if not s.redis_key_prefix or len(s.redis_key_prefix) > 64:
        raise ConfigError("REDIS_KEY_PREFIX must be 1 to 64 characters, such as myapp:")
    scheme = urlsplit(s.rate_limit_storage).scheme
    if scheme not in ("memory", "redis", "rediss", "redis+sentinel", "redis+cluster", "memcached", "mongodb"):
        raise ConfigError("RATE_LIMIT_STORAGE_URL must be memory:// or a storage URL such as redis://localhost:6379/0")


def _check_proxies_and_origins(s: Settings) -> None:
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
        raise ConfigError(
            f"SESSION_SECRET_KEY is shorter than {MIN_SECRET_KEY_BYTES} bytes: use a longer random value, {_KEY_ADVICE}"
        )
    if _looks_like_an_example(key):
        raise ConfigError(
            f"SESSION_SECRET_KEY looks like an example value: replace it with a random one, {_KEY_ADVICE}"
        )
    if s.uses_redis and s.token_cache_key is None:
        raise ConfigError(
            "TOKEN_CACHE_KEY is required in production with a Redis SESSION_STORE_URL: it seals every token "
            f"cache at rest, so a Redis dump holds no usable token; set it to 32+ random bytes, {_KEY_ADVICE}"
        )
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
    if authority_host in LOOPBACK_HOSTS or authority_host.startswith("127.") or authority_host.endswith(".localhost"):
        raise ConfigError(
            "ENTRA_AUTHORITY_HOST / ENTRA_OIDC_AUTHORITY points at a loopback identity provider in production: "
            "use your real Entra authority"
        )
    if s.debug_info_enabled and not s.debug_info_role:
        raise ConfigError(
            "DEBUG_INFO_ROLE is required when DEBUG_INFO_ENABLED=true in production: name the app role "
            "whose holders may read /debug-info"
        )


def _looks_like_an_example(key: str) -> bool:
    """Few distinct characters, or an example word in text that is not random (a random key
    of 48 bytes now and then contains "test" or "your": its characters are then still spread
    evenly, some 5 bits each, where words give about 4)."""
    if len(set(key)) < 8:
        return True
    if not any(word in key.lower() for word in _EXAMPLE_SECRETS):
        return False
    counts = [key.count(ch) for ch in set(key)]
    return -sum(c / len(key) * math.log2(c / len(key)) for c in counts) < 4.5


def _is_local_stand_in_ca(path: Path) -> bool:
    """The CA local_entra (or any trustme-made test CA) generates: never for production."""
    if ".local_entra" in path.resolve().parts:
        return True
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
