"""Rate limits counted in Redis in the same round trip as the session read.

On the Redis session store a page view then costs one round trip: the fixed-window
counters (under the app's REDIS_KEY_PREFIX) and the session record travel in one
pipeline, and the record is handed to the session resolver so it is not read again.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem
from starlette.types import Scope

from secure_auth.middleware.session import SESSIONLESS_PREFIXES
from secure_auth.stores.redis_backend import RedisSessionStore
from secure_auth.web.context import RequestContext, SessionResolver


class PipelinedCounter:
    def __init__(self, store: RedisSessionStore, resolver: SessionResolver) -> None:
        self.store = store
        self.resolver = resolver

    async def retry_after(
        self, scope: Scope, context: RequestContext | None, bucket: str, targets: list[tuple[list[RateLimitItem], str]]
    ) -> int | bool | None:
        """Seconds to wait when a limit is exceeded, None when within them, False when Redis
        could not be asked (the caller then counts in this process)."""
        now = time.time()
        counters = []
        limits = [item for items, _ in targets for item in items]
        for items, key in targets:
            for item in items:
                window = item.get_expiry()
                counters.append((f"{bucket}:{item.amount}/{window}:{int(now // window)}:{key}", window))
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
        waits = [
            (int(now // item.get_expiry()) + 1) * item.get_expiry() - now
            for item, count in zip(limits, counts, strict=True)
            if count > item.amount
        ]
        return max(1, math.ceil(max(waits))) if waits else None
