"""FastAPI dependencies: who the user is, may they do this, and the services a route uses.

Feature routers use these aliases and never touch `app.state` or `request.state`:

    CurrentUser   the signed-in session (signed out: sent to sign in, or 401 JSON)
    MaybeSession  the session or None
    require_roles / require_any_role   Entra app roles (signed in without them: 403)
    access_token_for(*scopes)          the user's access token, refreshed as needed
    ServicesDep, SettingsDep, TokensDep, GraphDep, SessionsDep

The session itself was resolved once by the session middleware; these only read it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from secure_auth.config import Settings
from secure_auth.outbound.graph import GraphClient
from secure_auth.sessions.manager import SessionManager
from secure_auth.sessions.model import Session
from secure_auth.tokens.service import TokenService
from secure_auth.web.context import context_of
from secure_auth.web.services import Services


class SignInRequired(Exception):
    """Raised by require_user; answered with a redirect to sign in (or 401 JSON)."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign-in required")
        self.next_path = next_path


class Forbidden(Exception):
    """Signed in, but not allowed; answered with 403."""


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.services.settings
    return settings


async def current_session(request: Request) -> Session | None:
    context = context_of(request.scope)
    return context.session if context is not None else None


async def require_user(request: Request) -> Session:
    """The one dependency a feature router needs to require sign-in."""
    session = await current_session(request)
    if session is None:
        query = f"?{request.url.query}" if request.url.query else ""
        raise SignInRequired(request.url.path + query)
    return session


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CurrentUser = Annotated[Session, Depends(require_user)]
MaybeSession = Annotated[Session | None, Depends(current_session)]


async def get_tokens(services: ServicesDep) -> TokenService:
    return services.tokens


async def get_graph(services: ServicesDep) -> GraphClient:
    return services.graph


async def get_sessions(services: ServicesDep) -> SessionManager:
    return services.sessions


TokensDep = Annotated[TokenService, Depends(get_tokens)]
GraphDep = Annotated[GraphClient, Depends(get_graph)]
SessionsDep = Annotated[SessionManager, Depends(get_sessions)]


def require_roles(*roles: str) -> Callable[..., Awaitable[Session]]:
    """A dependency that requires every one of `roles` (Entra app roles, the id_token's
    `roles` claim). Signed out: sent to sign in; signed in without them: 403."""
    wanted = frozenset(roles)

    async def dependency(session: CurrentUser) -> Session:
        if not wanted.issubset(session.roles):
            raise Forbidden()
        return session

    return dependency


def require_any_role(*roles: str) -> Callable[..., Awaitable[Session]]:
    """A dependency that requires at least one of `roles`."""
    wanted = frozenset(roles)

    async def dependency(session: CurrentUser) -> Session:
        if wanted.isdisjoint(session.roles):
            raise Forbidden()
        return session

    return dependency


def access_token_for(*scopes: str) -> Callable[..., Awaitable[Any]]:
    """A dependency giving the signed-in user's access token for `scopes`."""

    async def dependency(session: CurrentUser, tokens: TokensDep) -> str:
        return await tokens.access_token(session, scopes)

    return dependency
