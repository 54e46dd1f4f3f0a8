"""Access tokens for the signed-in user, from the per-session MSAL token cache.

Tokens never leave the server. A refresh happens inside a per-session lock, after
re-reading the session, so twenty concurrent requests at expiry make one refresh: the
first refreshes and writes the cache back, the others then find a fresh token in it.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from secure_auth.dependencies import require_user
from secure_auth.identity import IdentityClient, TokenError
from secure_auth.metrics import TOKEN_REFRESHES
from secure_auth.sessions import Session, SessionManager


class TokenService:
    def __init__(self, identity: IdentityClient, sessions: SessionManager) -> None:
        self.identity = identity
        self.sessions = sessions

    async def access_token(self, session: Session, scopes: Sequence[str], *, force_refresh: bool = False) -> str:
        async with self.sessions.lock(session.id):
            current = await self.sessions.get(session.id)
            if current is None:
                raise TokenError("reauthenticate", "the session has ended")
            token, new_cache = await run_in_threadpool(
                self.identity.acquire_token, current.token_cache, list(scopes), force_refresh=force_refresh
            )
            if new_cache is not None:
                TOKEN_REFRESHES.inc()
                current.token_cache = new_cache
                await self.sessions.save(current)
                session.token_cache = new_cache
            return token


def access_token_for(*scopes: str) -> Callable[..., Any]:
    """A dependency giving the signed-in user's access token for `scopes`."""

    async def dependency(request: Request, session: Session = Depends(require_user)) -> str:
        return await request.app.state.services.tokens.access_token(session, scopes)

    return dependency
