"""Scope parsing and the claims of id tokens and access tokens.

Claim names and shapes follow Entra's v2.0 tokens, so an app's validation code
is exercised as it would be against the real service.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from .config import GRAPH_RESOURCE_ID, DemoUser, LocalEntraConfig
from .keys import b64url

OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
GRAPH_PREFIXES = ("https://graph.microsoft.com/", "00000003-0000-0000-c000-000000000000/")


def parse_scopes(text: str | None) -> list[str]:
    """Split a space-separated scope string, dropping duplicates but keeping order."""
    seen: dict[str, None] = {}
    for scope in (text or "").split():
        seen.setdefault(scope, None)
    return list(seen)


@dataclass(frozen=True)
class ScopeGrant:
    """The outcome of a scope request: which resource, and what goes in ``scp``."""

    oidc: list[str]  # subset of OIDC_SCOPES, lower-case
    resource: str | None  # audience of the access token; None means "no resource scopes"
    resource_scopes: list[str]  # as echoed back in the response's ``scope``
    scp: list[str]  # short names for the access token's ``scp`` claim

    @property
    def offline_access(self) -> bool:
        return "offline_access" in self.oidc

    def response_scope(self) -> str:
        granted = ["openid", "profile", "email"]
        if self.offline_access:
            granted.append("offline_access")
        return " ".join([*self.resource_scopes, *granted])


class ScopeError(ValueError):
    pass


def grant_scopes(scopes: list[str], config: LocalEntraConfig) -> ScopeGrant:
    """Work out the single resource a set of scopes targets (Entra allows only one)."""
    oidc = [s.lower() for s in scopes if s.lower() in OIDC_SCOPES]
    resources: dict[str, None] = {}
    echoed: list[str] = []
    scp: list[str] = []
    for scope in scopes:
        if scope.lower() in OIDC_SCOPES:
            continue
        scope_resource, short = _split_resource_scope(scope, config)
        resources.setdefault(scope_resource, None)
        echoed.append(short if scope_resource == GRAPH_RESOURCE_ID else scope)
        scp.append(short)
    if len(resources) > 1:
        raise ScopeError(
            "AADSTS28000: Provided value for the input parameter scope is not valid because "
            "it contains more than one resource."
        )
    resource = next(iter(resources), None)
    if resource == GRAPH_RESOURCE_ID:
        scp = [*scp, "openid", "profile", "email"]
    elif resource is None:
        scp = [s for s in oidc if s != "offline_access"]
    return ScopeGrant(oidc=oidc, resource=resource, resource_scopes=echoed, scp=scp)


def _split_resource_scope(scope: str, config: LocalEntraConfig) -> tuple[str, str]:
    for prefix in GRAPH_PREFIXES:
        if scope.lower().startswith(prefix):
            short = scope[len(prefix) :]
            return GRAPH_RESOURCE_ID, "User.Read" if short == ".default" else short
    if "/" not in scope and ":" not in scope:
        return GRAPH_RESOURCE_ID, scope  # bare names such as User.Read are Graph's
    resource, _, short = scope.rpartition("/")
    # An app's own API (api://<client_id> or <client_id>) gets v2 tokens with aud = client id.
    bare = resource[len("api://") :] if resource.startswith("api://") else resource
    for client in config.clients:
        if bare.lower() == client.client_id.lower():
            return client.client_id, short
    return resource, short


def pairwise_sub(oid: str, client_id: str) -> str:
    """Entra's ``sub`` is pairwise: stable per user *and* application."""
    digest = hashlib.sha256(f"{oid.lower()}|{client_id.lower()}".encode()).digest()
    return b64url(digest)[:43]


def login_hint(user: DemoUser) -> str:
    """An opaque but stable hint, usable as ``logout_hint``."""
    payload = json.dumps({"oid": user.oid, "tid": user.tid, "upn": user.username}).encode()
    return b64url(payload)


def client_info(user: DemoUser) -> str:
    return b64url(json.dumps({"uid": user.oid, "utid": user.tid}).encode())


def _opaque(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(24)


def group_claims(user: DemoUser, limit: int) -> dict[str, Any]:
    """``groups``, or past ``limit`` Entra's overage indicator pointing at Graph."""
    if not user.groups:
        return {}
    if len(user.groups) > limit:
        endpoint = f"https://graph.windows.net/{user.tid}/users/{user.oid}/getMemberObjects"
        return {
            "_claim_names": {"groups": "src1"},
            "_claim_sources": {"src1": {"endpoint": endpoint}},
        }
    return {"groups": list(user.groups)}


def id_token_claims(
    user: DemoUser,
    *,
    client_id: str,
    issuer: str,
    nonce: str | None,
    sid: str,
    now: int,
    lifetime: int,
    groups_limit: int = 200,
    auth_time: int | None = None,
    acrs: list[str] | None = None,
) -> dict[str, Any]:
    """``auth_time`` is always there (Entra's optional claim, configured); ``acrs`` lists the
    authentication contexts this sign-in satisfied, when a claims request asked for one."""
    claims: dict[str, Any] = {
        "aud": client_id,
        "iss": issuer,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "aio": _opaque(),
        "login_hint": login_hint(user),
        "name": user.name,
        "oid": user.oid,
        "preferred_username": user.username,
        "rh": f"0.{_opaque()}.",
        "sid": sid,
        "sub": pairwise_sub(user.oid, client_id),
        "tid": user.tid,
        "uti": _opaque()[:22],
        "ver": "2.0",
    }
    if user.email:
        claims["email"] = user.email
    if nonce is not None:
        claims["nonce"] = nonce
    if user.roles:
        claims["roles"] = list(user.roles)
    if auth_time is not None:
        claims["auth_time"] = auth_time
    if acrs:
        claims["acrs"] = list(acrs)
    claims.update(group_claims(user, groups_limit))
    return dict(sorted(claims.items()))


def access_token_claims(
    user: DemoUser,
    *,
    client_id: str,
    client_auth: str,
    grant: ScopeGrant,
    issuer: str,
    sid: str,
    now: int,
    lifetime: int,
    own_api: bool,
    capabilities: list[str] | None = None,
    acrs: list[str] | None = None,
) -> dict[str, Any]:
    audience = grant.resource or client_id
    claims: dict[str, Any] = {
        "aud": audience,
        "iss": issuer,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "aio": _opaque(),
        "azp": client_id,
        "azpacr": client_auth,
        "name": user.name,
        "oid": user.oid,
        "preferred_username": user.username,
        "rh": f"0.{_opaque()}.",
        "scp": " ".join(grant.scp),
        "sid": sid,
        "sub": pairwise_sub(user.oid, audience),
        "tid": user.tid,
        "uti": _opaque()[:22],
        "ver": "2.0",
    }
    if own_api and user.roles:
        claims["roles"] = list(user.roles)
    if capabilities:
        claims["xms_cc"] = list(capabilities)  # what the client said it can do (cp1: CAE)
    if acrs:
        claims["acrs"] = list(acrs)
    return dict(sorted(claims.items()))
