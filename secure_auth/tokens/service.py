"""Access tokens for the signed-in user, from the per-session MSAL token cache.

Tokens never leave the server. A refresh happens inside a per-session lock, after
re-reading the session, so twenty concurrent requests at expiry make one refresh: the
first refreshes and writes the cache back, the others then find a fresh token in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from anyio import to_thread

from secure_auth.identity.client import IdentityClient
from secure_auth.identity.errors import TokenError
from secure_auth.operations.metrics import TOKEN_REFRESHES
from secure_auth.sessions.manager import SessionManager
from secure_auth.sessions.model import Session


class TokenService:
    def __init__(self, identity: IdentityClient, sessions: SessionManager) -> None:
        self.identity = identity
        self.sessions = sessions

    async def access_token(
        self,
        session: Session,
        scopes: Sequence[str],
        *,
        force_refresh: bool = False,
        claims_challenge: str | None = None,
    ) -> str:
        """`claims_challenge`: a resource's claims challenge; MSAL then skips the cached token
        and asks for one carrying those claims."""
        async with self.sessions.lock(session.id):
            current = await self.sessions.get(session.id)
            if current is None:
                raise TokenError("reauthenticate", "the session has ended")
            # MSAL is synchronous: it runs in the threadpool, never on the event loop.
            acquire = partial(
                self.identity.acquire_token,
                current.token_cache,
                list(scopes),
                force_refresh=force_refresh,
                claims_challenge=claims_challenge,
            )
            token, new_cache = await to_thread.run_sync(acquire)
            if new_cache is not None:
                TOKEN_REFRESHES.inc()
                current.token_cache = new_cache
                await self.sessions.save(current, tokens=True)
                session.token_cache = new_cache
            return token
