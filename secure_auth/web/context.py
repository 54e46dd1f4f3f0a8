"""The request context: what every part of a request needs to know, resolved once.

A pure-ASGI layer (middleware/request_context.py) creates it for each request with the
request id, the CSP nonce, the client address and the session cookie; the session is
resolved from the cookie once (middleware/session.py, or earlier by a refusal page that
wants to show who is signed in). Dependencies, rendering and every error page read it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import Scope

from secure_auth.operations.events import security_event
from secure_auth.sessions.manager import Prefetched, SessionManager
from secure_auth.sessions.model import Session

logger = logging.getLogger("secure_auth.sessions")
CONTEXT_KEY = "secure_auth.context"


@dataclass(slots=True)
class RequestContext:
    request_id: str
    csp_nonce: str
    client_ip: str
    session_cookie: str | None
    session: Session | None = None
    resolved: bool = False
    token_in_form: bool = False  # the CSRF token came in a form body (the guard read it)


def context_of(scope: Scope) -> RequestContext | None:
    """The request's context, or None outside the middleware (a request it never saw)."""
    return scope.get(CONTEXT_KEY)


class SessionResolver:
    """Resolves a request's session from its cookie, once: later calls return the first answer.

    A store that fails (not merely unreachable, which the Redis store survives by itself:
    read-only after a failover, out of memory, a corrupt record) leaves the request signed
    out rather than failing it: the error is logged with the request id."""

    def __init__(self, sessions: SessionManager) -> None:
        self.sessions = sessions

    async def resolve(self, scope: Scope, *, prefetched: Prefetched | None = None) -> Session | None:
        context = context_of(scope)
        if context is None:
            return None
        if not context.resolved:
            context.resolved = True
            if context.session_cookie is not None:
                on_expired: Callable[[], None] = lambda: security_event("session_expired", context.request_id)  # noqa: E731
                try:
                    context.session = await self.sessions.load(
                        context.session_cookie, on_expired=on_expired, prefetched=prefetched
                    )
                except Exception:
                    logger.exception("request_id=%s session store failed: signed out", context.request_id)
        return context.session
