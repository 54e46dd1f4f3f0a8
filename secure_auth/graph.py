"""Microsoft Graph on the user's behalf: /me for the profile page, and the groups an
id_token could not carry (the groups overage)."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from secure_auth.config import GRAPH_GROUPS_SCOPE, GRAPH_PROFILE_SCOPE
from secure_auth.events import security_event
from secure_auth.identity import TokenError
from secure_auth.services import Services
from secure_auth.sessions import Session

logger = logging.getLogger("secure_auth.graph")
MAX_GROUPS = 2000


class GraphError(Exception):
    """Graph answered with an error or could not be reached; `status` is its HTTP status."""

    def __init__(self, status: int, code: str = "") -> None:
        super().__init__(f"graph {status} {code}")
        self.status = status
        self.code = code


async def call_graph(
    services: Services, session: Session, method: str, path: str, scopes: list[str], json: Any = None
) -> dict[str, Any]:
    """One Graph call with the user's token; a 401 gets one forced refresh and one retry."""
    assert services.http is not None, "the outbound client starts with the application"
    url = services.settings.graph_base_url.rstrip("/") + path
    for attempt in (1, 2):
        token = await services.tokens.access_token(session, scopes, force_refresh=attempt == 2)
        try:
            response = await services.http.request(method, url, json=json, headers={"authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise GraphError(502, type(exc).__name__) from None
        if response.status_code == 401 and attempt == 1:
            continue
        if response.status_code >= 400:
            raise GraphError(response.status_code, _error_code(response))
        try:
            body = response.json()
        except ValueError:
            raise GraphError(502, "not_json") from None
        if not isinstance(body, dict):
            raise GraphError(502, "not_an_object")
        return body
    raise GraphError(401, "unauthorized")


def _error_code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", {}).get("code", ""))[:80]
    except (ValueError, AttributeError):
        return ""


async def my_profile(services: Services, session: Session) -> dict[str, Any]:
    return await call_graph(services, session, "GET", "/v1.0/me", [GRAPH_PROFILE_SCOPE])


def has_groups_overage(claims: dict[str, Any]) -> bool:
    names = claims.get("_claim_names")
    return isinstance(names, dict) and "groups" in names


async def load_overage_groups(services: Services, session: Session, request_id: str | None) -> None:
    """Too many groups for the id_token: fetch them from Graph with the user's token and
    keep them with the session. A failure leaves the session without groups (and logs)."""
    try:
        body = await call_graph(
            services, session, "POST", "/v1.0/me/getMemberObjects", [GRAPH_GROUPS_SCOPE],
            json={"securityEnabledOnly": False},
        )
    except (GraphError, TokenError) as exc:
        security_event("groups_overage_failed", request_id, reason=type(exc).__name__)
        return
    groups = [g for g in body.get("value", []) if isinstance(g, str)][:MAX_GROUPS]
    async with services.sessions.lock(session.id):
        current = await services.sessions.get(session.id)
        if current is None:
            return
        current.user["groups"] = groups
        await services.sessions.save(current)
    session.user["groups"] = groups
