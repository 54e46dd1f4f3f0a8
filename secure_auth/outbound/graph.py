"""Microsoft Graph on the user's behalf: /me for the profile page, and the groups an
id_token could not carry (the groups overage)."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from secure_auth.config.settings import GRAPH_GROUPS_SCOPE, GRAPH_PROFILE_SCOPE
from secure_auth.identity.errors import TokenError
from secure_auth.operations.events import security_event
from secure_auth.outbound.clients import OutboundClients
from secure_auth.sessions.manager import SessionManager
from secure_auth.sessions.model import Session
from secure_auth.tokens.bearer import call_with_token
from secure_auth.tokens.service import TokenService

logger = logging.getLogger("secure_auth.graph")
MAX_GROUPS = 2000


class GraphError(Exception):
    """Graph answered with an error or could not be reached; `status` is its HTTP status."""

    def __init__(self, status: int, code: str = "") -> None:
        super().__init__(f"graph {status} {code}")
        self.status = status
        self.code = code


def has_groups_overage(claims: dict[str, Any]) -> bool:
    names = claims.get("_claim_names")
    return isinstance(names, dict) and "groups" in names


def _error_code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", {}).get("code", ""))[:80]
    except (ValueError, AttributeError):
        return ""


class GraphClient:
    def __init__(self, base_url: str, clients: OutboundClients, tokens: TokenService, sessions: SessionManager) -> None:
        self.base_url = base_url.rstrip("/")
        self.clients = clients
        self.tokens = tokens
        self.sessions = sessions

    async def call(
        self,
        session: Session,
        method: str,
        path: str,
        scopes: list[str],
        json: Any = None,
        *,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """One Graph call with the user's token (refreshed once on a 401, or asked for with the
        claims of a CAE challenge); a JSON object back."""
        url = self.base_url + path

        async def send(token: str) -> httpx.Response:
            return await self.clients.graph.request(
                method, url, json=json, headers={"authorization": f"Bearer {token}"}
            )

        try:
            response = await call_with_token(
                self.tokens, session, scopes, send, request_id=request_id, resource="graph"
            )
        except httpx.HTTPError as exc:
            raise GraphError(502, type(exc).__name__) from None
        if response.status_code == 401:
            raise GraphError(401, "unauthorized")
        if response.status_code >= 400:
            raise GraphError(response.status_code, _error_code(response))
        try:
            body = response.json()
        except ValueError:
            raise GraphError(502, "not_json") from None
        if not isinstance(body, dict):
            raise GraphError(502, "not_an_object")
        return body

    async def my_profile(self, session: Session, request_id: str | None = None) -> dict[str, Any]:
        return await self.call(session, "GET", "/v1.0/me", [GRAPH_PROFILE_SCOPE], request_id=request_id)

    async def load_overage_groups(self, session: Session, request_id: str | None) -> None:
        """Too many groups for the id_token: fetch them from Graph with the user's token and
        keep them with the session. A failure leaves the session without groups (and logs)."""
        try:
            body = await self.call(
                session,
                "POST",
                "/v1.0/me/getMemberObjects",
                [GRAPH_GROUPS_SCOPE],
                json={"securityEnabledOnly": False},
                request_id=request_id,
            )
        except (GraphError, TokenError) as exc:
            security_event("groups_overage_failed", request_id, reason=type(exc).__name__)
            return
        groups = [g for g in body.get("value", []) if isinstance(g, str)][:MAX_GROUPS]
        async with self.sessions.lock(session.id):
            current = await self.sessions.get(session.id)
            if current is None:
                return
            current.user["groups"] = groups
            await self.sessions.save(current)
        session.user["groups"] = groups
