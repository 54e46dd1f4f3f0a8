"""How many proxied requests one person may have open at once, and their share of the pool."""

from __future__ import annotations

MAX_STREAMS_PER_USER = 8
# Of the API pool, this share is kept for people who hold no stream yet: a newcomer's first
# request is served even while others hold every other connection.
NEWCOMER_SHARE = 0.2


class StreamSlots:
    """Proxied requests in flight in this process, counted per person (all their sessions).

    A person may hold at most MAX_STREAMS_PER_USER, and never more than a fair share of the
    pool (its size over the number of people holding streams). Someone who already holds a
    stream cannot take the last NEWCOMER_SHARE of the pool, which stays for first requests;
    when the pool is full a request is refused at once instead of queueing for a connection
    until it times out. A client that stops reading is cut after PROXY_IDLE_TIMEOUT
    (routes/api_proxy.py) and frees its slot.
    """

    def __init__(self, limit: int = MAX_STREAMS_PER_USER, pool_size: int = 100) -> None:
        self.limit = limit
        self.pool_size = pool_size
        self.reserved = max(1, int(pool_size * NEWCOMER_SHARE))
        self.in_use: dict[str, int] = {}
        self.total = 0

    def acquire(self, key: str) -> bool:
        held = self.in_use.get(key, 0)
        people = len(self.in_use) + (0 if held else 1)
        share = min(self.limit, max(1, self.pool_size // people))
        room = self.pool_size - (self.reserved if held else 0)
        if held >= share or self.total >= room:
            return False
        self.in_use[key] = held + 1
        self.total += 1
        return True

    def release(self, key: str) -> None:
        count = self.in_use.get(key, 0)
        if count == 0:
            return
        self.total -= 1
        if count > 1:
            self.in_use[key] = count - 1
        else:
            del self.in_use[key]
