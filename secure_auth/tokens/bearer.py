"""The one "call with the user's token, refresh once on 401, retry" rule, shared by the
Graph client and the API proxy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import httpx

from secure_auth.sessions.model import Session
from secure_auth.tokens.service import TokenService

Send = Callable[[str], Awaitable[httpx.Response]]


async def call_with_token(tokens: TokenService, session: Session, scopes: Sequence[str], send: Send) -> httpx.Response:
    """`send(token)` with the user's access token for `scopes`. A 401 means the token was
    refused (revoked, or the API wants a newer one): one forced refresh and one retry; a
    second 401 is returned as it is. httpx's errors propagate to the caller."""
    token = await tokens.access_token(session, scopes)
    response = await send(token)
    if response.status_code != 401:
        return response
    await response.aclose()
    token = await tokens.access_token(session, scopes, force_refresh=True)
    return await send(token)
