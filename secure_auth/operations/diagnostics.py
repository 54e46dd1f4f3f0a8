"""What /debug-info shows besides the doctor's verdicts: the effective configuration, the
provider's endpoints and keys, and the signed-in session, with every secret redacted."""

from __future__ import annotations

import time
from typing import Any

import requests

from secure_auth.config import Settings
from secure_auth.identity.client import IdentityClient
from secure_auth.identity.errors import IdentityProviderUnavailable
from secure_auth.sessions.model import Session
from secure_auth.stores.base import TOKEN_CACHE_NOT_READ

REDACTED = "set (redacted)"


def configuration_facts(settings: Settings) -> dict[str, Any]:
    return {
        "Flow": f"authorization code + PKCE (S256), {settings.client_kind}",
        "ENTRA_CLIENT_ID": settings.entra_client_id,
        "ENTRA_TENANT_ID": settings.entra_tenant_id or "(not set)",
        "ENTRA_AUTHORITY_HOST": settings.entra_authority_host,
        "ENTRA_OIDC_AUTHORITY": settings.entra_oidc_authority or "(not set)",
        "Authority given to MSAL": settings.authority,
        "Instance discovery": "on" if settings.instance_discovery else "off",
        "ENTRA_CLIENT_SECRET": REDACTED if settings.entra_client_secret else "(not set)",
        "ENTRA_CLIENT_CERTIFICATE": str(settings.entra_client_certificate or "(not set)"),
        "ENTRA_CLIENT_ASSERTION_FILE": str(settings.entra_client_assertion_file or "(not set)"),
        "AZURE_FEDERATED_TOKEN_FILE": str(settings.azure_federated_token_file or "(not set)")
        + ("" if settings.client_assertion_file == settings.azure_federated_token_file else " (not used)"),
        "ENTRA_CLIENT_CAPABILITIES": " ".join(settings.client_capabilities) or "(none)",
        "ENTRA_SCOPES": " ".join(settings.scopes) or "(none beyond openid profile offline_access)",
        "ENTRA_ALLOWED_TENANTS": ", ".join(sorted(settings.allowed_tenants)) or "(any the issuer allows)",
        "ENTRA_CA_BUNDLE": str(settings.entra_ca_bundle or "(public roots only)"),
        "PUBLIC_BASE_URL": settings.base_url,
        "Redirect URI": settings.redirect_uri,
        "Post-logout redirect URI": settings.post_logout_redirect_uri,
        "APP_ENV": settings.app_env,
        "SESSION_SECRET_KEY": REDACTED if settings.session_secret_key else "(generated per process)",
        "SESSION_IDLE_TIMEOUT": f"{settings.session_idle_timeout} s",
        "SESSION_ABSOLUTE_TIMEOUT": f"{settings.session_absolute_timeout} s",
        "TRUSTED_HOSTS": ", ".join(settings.trusted_host_list),
        "Session cookie": f"{settings.session_cookie_name} (HttpOnly, SameSite=Lax"
        + (", Secure)" if settings.uses_https else ")"),
    }


def provider_facts(identity: IdentityClient) -> dict[str, Any]:
    try:
        metadata = identity.metadata()
    except IdentityProviderUnavailable as exc:
        return {"Discovery": f"unavailable ({exc})"}
    facts: dict[str, Any] = {
        "Discovery document": identity.settings.discovery_url,
        "Issuer": metadata.issuer,
        "Authorization endpoint": metadata.authorization_endpoint,
        "Token endpoint": metadata.token_endpoint,
        "JWKS": metadata.jwks_uri,
        "End-session endpoint": metadata.end_session_endpoint or "(none: sign-out ends the local session only)",
    }
    try:
        identity.keys.warm()
        facts["Signing keys"] = ", ".join(identity.keys.key_ids) or "(none)"
    except IdentityProviderUnavailable as exc:
        facts["Signing keys"] = f"unavailable ({exc})"
    return facts


def idp_probe(identity: IdentityClient) -> dict[str, Any]:
    """A fresh discovery request (for the IdP's clock) and the cached keys."""
    try:
        response = identity.http.get_fresh(identity.settings.discovery_url)
        response.raise_for_status()
        issuer = response.json().get("issuer")
        identity.keys.warm()
        return {
            "idp_issuer": issuer if isinstance(issuer, str) else None,
            "idp_date": response.headers.get("date"),
            "signing_keys": len(identity.keys.key_ids),
        }
    except (requests.RequestException, ValueError, IdentityProviderUnavailable) as exc:
        return {"idp_issuer": None, "idp_error": type(exc).__name__}


def session_facts(session: Session | None) -> dict[str, Any]:
    if session is None:
        return {"Signed in": "no"}
    now = time.time()
    return {
        "Signed in": "yes",
        "Name": session.user.get("name", ""),
        "Username": session.user.get("preferred_username", ""),
        "Object id (oid)": session.user.get("oid", ""),
        "Tenant (tid)": session.user.get("tid", ""),
        "Roles": ", ".join(session.roles) or "(none)",
        "Session age": f"{int(now - session.created_at)} s",
        "Last seen": f"{int(now - session.last_seen)} s ago",
        "Token cache": _token_cache_summary(session.token_cache),
        "CSRF token": REDACTED,
    }


def _token_cache_summary(token_cache: str) -> str:
    if token_cache == TOKEN_CACHE_NOT_READ:
        return "kept in the session store, not read on page views"
    return f"{len(token_cache)} bytes on the server ({REDACTED})" if token_cache else "empty"
