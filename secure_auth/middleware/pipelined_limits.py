"""Rate limits counted in Redis in the same round trip as the session read.

On the Redis session store a page view then costs one round trip: the fixed-window
counters (under the app's REDIS_KEY_PREFIX) and the session record travel in one script
call (shared with the page views of the same turn of the event loop), and the record is
handed to the session resolver so it is not read again.
"""

from __future__ import annotations

import math
import time

from starlette.types import Scope

from secure_auth.middleware.session import SESSIONLESS_PREFIXES
from secure_auth.stores.rate_counters import Window
from secure_auth.stores.redis_backend import RedisSessionStore
from secure_auth.web.context import RequestContext, SessionResolver


class PipelinedCounter:
    def __init__(self, store: RedisSessionStore, resolver: SessionResolver) -> None:
        self.store = store
        self.resolver = resolver

    async def retry_after(
        self, scope: Scope, context: RequestContext | None, targets: list[tuple[list[Window], str]]
    ) -> int | bool | None:
        """Seconds to wait when a limit is exceeded, None when within them, False when Redis
        could not be asked (the caller then counts in this process). `targets`: each list of
        limits with the key it counts (the address, its network)."""
        now = time.time()
        counters = []
        limits = []
        for windows, key in targets:
            for amount, seconds, prefix in windows:
                period = int(now // seconds)  # fixed windows, aligned on the clock
                counters.append((f"{prefix}{period}:{key}", seconds))
                limits.append((amount, (period + 1) * seconds))
        session_id = None
        wants_session = not scope["path"].startswith(SESSIONLESS_PREFIXES)
        if wants_session and context is not None and not context.resolved and context.session_cookie is not None:
            session_id = self.resolver.sessions.session_id_from_cookie(context.session_cookie)
        result = await self.store.count_and_get(counters, session_id)
        if result is None:
            return False
        counts, record = result
        if session_id is not None:
            await self.resolver.resolve(scope, prefetched=(session_id, record))
        waits = [ends - now for (amount, ends), count in zip(limits, counts, strict=True) if count > amount]
        return max(1, math.ceil(max(waits))) if waits else None
