"""How many proxied requests one session may have open at once."""

from __future__ import annotations

MAX_STREAMS_PER_SESSION = 8


class StreamSlots:
    """At most MAX_STREAMS_PER_SESSION proxied requests per session at once (in this
    process), so one user's stalled downloads cannot hold the whole connection pool."""

    def __init__(self, limit: int = MAX_STREAMS_PER_SESSION) -> None:
        self.limit = limit
        self.in_use: dict[str, int] = {}

    def acquire(self, key: str) -> bool:
        if self.in_use.get(key, 0) >= self.limit:
            return False
        self.in_use[key] = self.in_use.get(key, 0) + 1
        return True

    def release(self, key: str) -> None:
        count = self.in_use.get(key, 0) - 1
        if count > 0:
            self.in_use[key] = count
        else:
            self.in_use.pop(key, None)
