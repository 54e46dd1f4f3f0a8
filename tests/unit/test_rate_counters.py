"""The in-process rate-limit counters, through limits' and slowapi's public interfaces."""

from __future__ import annotations

import sys
import threading
import time

from limits import parse
from limits.strategies import FixedWindowRateLimiter
from slowapi import Limiter

from secure_auth.stores import rate_counters
from secure_auth.stores.rate_counters import InProcessCounters


def test_slowapi_finds_the_storage_by_its_scheme():
    limiter = Limiter(key_func=lambda request: "k", storage_uri="secure-auth-memory://", strategy="fixed-window")
    assert isinstance(limiter.limiter.storage, InProcessCounters)


def test_counts_within_a_window_and_refuses_past_the_limit():
    strategy = FixedWindowRateLimiter(InProcessCounters())
    item = parse("3/minute")
    assert [strategy.hit(item, "default", "10.0.0.1") for _ in range(4)] == [True, True, True, False]
    assert strategy.hit(item, "default", "10.0.0.2")  # another client, its own count
    stats = strategy.get_window_stats(item, "default", "10.0.0.1")
    assert stats.remaining == 0 and 0 < stats.reset_time - time.time() <= 60


def test_a_new_window_starts_from_zero(monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(rate_counters.time, "time", lambda: now[0])
    storage = InProcessCounters()
    assert [storage.incr("k", 10) for _ in range(3)] == [1, 2, 3]
    now[0] += 10
    assert storage.get("k") == 0
    assert storage.incr("k", 10) == 1


def test_expired_keys_are_swept_as_new_ones_arrive(monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(rate_counters.time, "time", lambda: now[0])
    monkeypatch.setattr(rate_counters, "SWEEP_EVERY", 100)
    storage = InProcessCounters()
    for n in range(99):
        storage.incr(f"old-{n}", 10)
    now[0] += 11
    storage.incr("new", 10)  # the hundredth new key: the 99 expired ones go
    assert len(storage) == 1


def test_it_starts_no_thread():
    before = threading.active_count()
    storage = InProcessCounters()
    for n in range(1000):
        storage.incr(f"k{n}", 60)
    assert threading.active_count() == before


def test_threads_counting_and_sweeping_at_once_never_fail(monkeypatch):
    """A networked storage's fallback counts in the threadpool."""
    monkeypatch.setattr(rate_counters, "SWEEP_EVERY", 50)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    storage = InProcessCounters()
    errors: list[BaseException] = []

    def count(worker: int) -> None:
        try:
            for n in range(3000):
                storage.incr(f"{worker}-{n}", 0.0001)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=count, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sys.setswitchinterval(interval)
    assert errors == []


def test_the_network_of_an_address():
    from secure_auth.middleware.rate_limit import network_of

    assert network_of("203.0.113.77") == "203.0.113.0/24"
    assert network_of("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64"
    assert network_of("::ffff:203.0.113.7") == "203.0.113.0/24"  # IPv4 seen by a dual-stack socket
    assert network_of("unknown") == "unknown"
