"""Fixed-window rate-limit counters in this process, as a `limits` storage backend.

Registered with limits under the scheme `secure-auth-memory://` (limits' own extension
point: subclassing `limits.storage.Storage`), so slowapi's Limiter uses it through its
public interface. limits' bundled MemoryStorage expires keys from a timer thread that it
starts again every 10 ms; under load that thread competes with every request for the
interpreter (measured: about a tenth of a page view). Here expiry is lazy: a key is reset
when it is read after its window, and expired keys are swept when the table grows.

The middleware counts on the event loop; a networked storage's fallback counts in the
threadpool, so a lock guards the table (uncontended on the loop: a fraction of a microsecond).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from limits.storage import Storage

SWEEP_EVERY = 4096  # new keys between sweeps of expired ones
# One limit, ready to count: (requests allowed, window in seconds, key prefix naming the
# bucket, whose limit it is and the limit itself). Built once, at start-up.
Window = tuple[int, int, str]


class InProcessCounters(Storage):
    STORAGE_SCHEME = ["secure-auth-memory"]  # noqa: RUF012 - limits declares it a list

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._counters: dict[str, list[float]] = {}  # key -> [count, window end]
        self._new_keys = 0
        self._lock = threading.Lock()

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        with self._lock:
            return int(self._incr(key, expiry, amount, time.time())[0])

    def count(self, key: str, expiry: float, now: float) -> tuple[int, float]:
        """Counts one hit on `key`: the count in its window, and when the window ends. The
        rate-limit middleware's own path, without `limits`' key building and strategy."""
        with self._lock:
            entry = self._incr(key, expiry, 1, now)
            return int(entry[0]), entry[1]

    def _incr(self, key: str, expiry: float, amount: int, now: float) -> list[float]:
        entry = self._counters.get(key)
        if entry is None or entry[1] <= now:
            if entry is None:
                self._new_keys += 1
                if self._new_keys >= SWEEP_EVERY:
                    self._sweep(now)
            entry = [0, now + expiry]
            self._counters[key] = entry
        entry[0] += amount
        return entry

    def get(self, key: str) -> int:
        entry = self._counters.get(key)
        return int(entry[0]) if entry is not None and entry[1] > time.time() else 0

    def get_expiry(self, key: str) -> float:
        entry = self._counters.get(key)
        return entry[1] if entry is not None else time.time()

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock:
            count = len(self._counters)
            self._counters.clear()
            return count

    def clear(self, key: str) -> None:
        with self._lock:
            self._counters.pop(key, None)

    def __len__(self) -> int:
        return len(self._counters)

    def _sweep(self, now: float) -> None:
        self._new_keys = 0
        for key in [k for k, (_, ends) in self._counters.items() if ends <= now]:
            del self._counters[key]
