"""How many proxied requests one person may have open at once."""

from __future__ import annotations

MAX_STREAMS_PER_USER = 8


class StreamSlots:
    """At most MAX_STREAMS_PER_USER proxied requests per person (all their sessions) at once,
    in this process, so one user's downloads cannot hold the whole connection pool; a client
    that stops reading is cut after PROXY_IDLE_TIMEOUT (routes/api_proxy.py) and frees its slot."""

    def __init__(self, limit: int = MAX_STREAMS_PER_USER) -> None:
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
