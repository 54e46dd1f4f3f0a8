"""The one "call with the user's token, refresh once on 401, retry" rule, shared by the
Graph client and the API proxy.

A 401 that carries a claims challenge (CAE: `WWW-Authenticate: Bearer
error="insufficient_claims", claims="<base64 JSON>"`) is answered the same way, once:
a token asked for with those claims, then one retry. When no silent refresh can answer
it, the user must sign in with the claims (TokenError "claims"); when their sign-in just
did exactly that, asking again would loop (TokenError "claims_loop").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import httpx

from secure_auth.identity.errors import TokenError
from secure_auth.operations.events import security_event
from secure_auth.sessions.model import Session
from secure_auth.tokens.service import TokenService
from secure_auth.validators.claims import claims_challenge

Send = Callable[[str], Awaitable[httpx.Response]]


async def call_with_token(
    tokens: TokenService,
    session: Session,
    scopes: Sequence[str],
    send: Send,
    *,
    request_id: str | None = None,
    resource: str = "api",
) -> httpx.Response:
    """`send(token)` with the user's access token for `scopes`. A 401 means the token was
    refused (revoked, or the API wants a newer one): one forced refresh, or one token with
    the challenge's claims, and one retry; a second plain 401 is returned as it is.
    httpx's errors propagate to the caller."""
    token = await tokens.access_token(session, scopes)
    response = await send(token)
    if response.status_code != 401:
        return response
    challenge = claims_challenge(response.headers.get_list("www-authenticate"))
    await response.aclose()
    if challenge is None:
        token = await tokens.access_token(session, scopes, force_refresh=True)
        return await send(token)

    def event(outcome: str) -> None:
        security_event("claims_challenge", request_id, resource=resource, outcome=outcome, oid=session.user.get("oid"))

    try:
        token = await tokens.access_token(session, scopes, claims_challenge=challenge)
    except TokenError as exc:
        if exc.kind == "unavailable":
            event("unavailable")
            raise
        raise _interactive(session, scopes, challenge, event) from None
    response = await send(token)
    again = claims_challenge(response.headers.get_list("www-authenticate")) if response.status_code == 401 else None
    if again is None:
        event("answered")
        return response
    await response.aclose()
    raise _interactive(session, scopes, again, event)


def _interactive(session: Session, scopes: Sequence[str], claims: str, event: Callable[[str], None]) -> TokenError:
    """Sign in with the claims, unless this session's own sign-in asked for exactly these."""
    if session.signed_in_asking_for(claims):
        event("loop")
        return TokenError("claims_loop", "the challenge persists after signing in with it", claims=claims)
    event("interactive")
    return TokenError("claims", "insufficient_claims", scopes=list(scopes), claims=claims)
