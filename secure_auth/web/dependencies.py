"""FastAPI dependencies: who the user is, may they do this, and the services a route uses.

Feature routers use these aliases and never touch `app.state` or `request.state`:

    CurrentUser   the signed-in session (signed out: sent to sign in, or 401 JSON)
    MaybeSession  the session or None
    require_roles / require_any_role   Entra app roles (signed in without them: 403)
    require_auth_context("c1")         step-up to a Conditional Access authentication context
    require_recent_sign_in(seconds)    sign in again first when the last sign-in is older
    access_token_for(*scopes)          the user's access token, refreshed as needed
    ServicesDep, SettingsDep, TokensDep, GraphDep, SessionsDep

The session itself was resolved once by the session middleware; these only read it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from secure_auth.config import Settings
from secure_auth.outbound.graph import GraphClient
from secure_auth.sessions.manager import SessionManager
from secure_auth.sessions.model import Session
from secure_auth.tokens.service import TokenService
from secure_auth.validators.claims import auth_context_claims, is_auth_context_id
from secure_auth.validators.id_token import DEFAULT_LEEWAY_SECONDS
from secure_auth.validators.sign_in_options import SignInOptions
from secure_auth.web.context import context_of
from secure_auth.web.reauth import ReauthenticationRequired
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


def require_auth_context(context: str | Callable[[Settings], str]) -> Callable[..., Awaitable[Session]]:
    """Step-up: the sign-in must have satisfied this Conditional Access authentication
    context (the id_token's `acrs`, kept with the session). Otherwise the user signs in
    again asking for it (`{"id_token":{"acrs":{"essential":true,"value":"c1"}}}`) and comes
    back; JSON clients get 401 with a `login_url`. `context` may be read from the settings
    (a callable); an empty one requires nothing."""
    if isinstance(context, str) and context and not is_auth_context_id(context):
        raise ValueError(f"authentication context ids are c1 to c99, not {context!r}")

    async def dependency(session: CurrentUser, settings: SettingsDep) -> Session:
        wanted = context(settings) if callable(context) else context
        if wanted and wanted not in session.auth_contexts:
            raise ReauthenticationRequired("auth_context", SignInOptions(claims=auth_context_claims(wanted)))
        return session

    return dependency


def require_recent_sign_in(max_age_seconds: int, *, form_page: str | None = None) -> Callable[..., Awaitable[Session]]:
    """For sensitive actions: the user entered their credentials within `max_age_seconds`
    (the id_token's `auth_time`), else they sign in again (the IdP honours `max_age`) and
    come back: to this page, or for a form post to `form_page` (the POST is not replayed)."""

    options = SignInOptions(max_age=max_age_seconds)

    async def dependency(session: CurrentUser) -> Session:
        auth_time = session.auth_time
        # The id_token check allows this much clock skew too: a fresh re-authentication always passes.
        if auth_time is None or time.time() - auth_time > max_age_seconds + DEFAULT_LEEWAY_SECONDS:
            raise ReauthenticationRequired("recent_sign_in", options, form_page=form_page)
        return session

    return dependency


def access_token_for(*scopes: str) -> Callable[..., Awaitable[Any]]:
    """A dependency giving the signed-in user's access token for `scopes`."""

    async def dependency(session: CurrentUser, tokens: TokensDep) -> str:
        return await tokens.access_token(session, scopes)

    return dependency
