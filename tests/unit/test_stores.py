"""In-memory state and session stores, driven by a fake clock."""

from __future__ import annotations

import asyncio

from secure_auth.stores.memory import MemorySessionStore, MemoryStateStore

FLOW = {"state": "s1", "code_verifier": "v" * 43, "nonce": "n1", "next": "/calculator"}


# ----- MemoryStateStore -----


def test_state_put_take_round_trip(clock):
    store = MemoryStateStore(ttl=600, clock=clock)
    asyncio.run(store.put("s1", FLOW))
    assert asyncio.run(store.take("s1")) == FLOW


def test_state_take_unknown_is_none(clock):
    store = MemoryStateStore(ttl=600, clock=clock)
    asyncio.run(store.put("s1", FLOW))
    assert asyncio.run(store.take("s2")) is None
    assert len(store) == 1


def test_state_take_is_single_use(clock):
    store = MemoryStateStore(ttl=600, clock=clock)
    asyncio.run(store.put("s1", FLOW))
    assert asyncio.run(store.take("s1")) == FLOW
    assert asyncio.run(store.take("s1")) is None
    assert len(store) == 0


def test_state_expires_at_ttl(clock):
    store = MemoryStateStore(ttl=600, clock=clock)
    asyncio.run(store.put("early", FLOW))
    asyncio.run(store.put("late", FLOW))
    clock.advance(599.9)
    assert asyncio.run(store.take("early")) == FLOW
    clock.advance(0.1)  # exactly ttl after the put
    assert asyncio.run(store.take("late")) is None


def test_state_put_purges_expired_entries_from_the_front(clock):
    store = MemoryStateStore(ttl=600, clock=clock)
    asyncio.run(store.put("a", FLOW))
    asyncio.run(store.put("b", FLOW))
    clock.advance(300)
    asyncio.run(store.put("c", FLOW))
    assert len(store) == 3
    clock.advance(300)  # a and b are now expired, c is not
    asyncio.run(store.put("d", FLOW))
    assert len(store) == 2
    assert asyncio.run(store.take("c")) == FLOW
    assert asyncio.run(store.take("d")) == FLOW


def test_state_take_also_purges(clock):
    store = MemoryStateStore(ttl=600, clock=clock)
    for state in ("a", "b", "c"):
        asyncio.run(store.put(state, FLOW))
    clock.advance(600)
    assert asyncio.run(store.take("unknown")) is None
    assert len(store) == 0


def test_state_store_is_bounded_evicting_the_oldest_and_never_refusing(clock):
    """The store backs up flows the browser carries itself: when full, the oldest backup
    goes, so a flood of abandoned sign-ins never refuses the next one."""
    store = MemoryStateStore(ttl=600, max_entries=3, clock=clock)
    for i in range(5):
        asyncio.run(store.put(f"s{i}", {"i": i}))
        clock.advance(1)
    assert len(store) == 3
    assert asyncio.run(store.take("s0")) is None and asyncio.run(store.take("s1")) is None
    assert asyncio.run(store.take("s4")) == {"i": 4}
    assert asyncio.run(store.take("s2")) == {"i": 2}
    clock.advance(600)
    asyncio.run(store.put("s5", {"i": 5}))  # expired ones go first
    assert len(store) == 1


def test_state_put_same_state_replaces_it(clock):
    store = MemoryStateStore(ttl=600, clock=clock)
    asyncio.run(store.put("s1", {"v": 1}))
    asyncio.run(store.put("s1", {"v": 2}))
    assert len(store) == 1
    assert asyncio.run(store.take("s1")) == {"v": 2}


def test_state_values_are_copies(clock):
    store = MemoryStateStore(ttl=600, clock=clock)
    flow = {"nested": {"scopes": ["User.Read"]}, "nonce": "n"}
    asyncio.run(store.put("s1", flow))
    flow["nonce"] = "changed-after-put"
    flow["nested"]["scopes"].append("Mail.Read")
    assert asyncio.run(store.take("s1")) == {"nested": {"scopes": ["User.Read"]}, "nonce": "n"}


# ----- MemorySessionStore -----

RECORD = {"user": {"name": "Adele"}, "csrf_token": "t", "extra": {"n": 0}}


def test_session_get_set_delete(clock):
    store = MemorySessionStore(clock=clock)
    assert asyncio.run(store.get("id1")) is None
    asyncio.run(store.set("id1", RECORD, 60))
    assert asyncio.run(store.get("id1")) == RECORD
    asyncio.run(store.delete("id1"))
    assert asyncio.run(store.get("id1")) is None
    assert len(store) == 0
    asyncio.run(store.delete("id1"))  # deleting twice is harmless
    assert len(store) == 0


def test_session_set_overwrites(clock):
    store = MemorySessionStore(clock=clock)
    asyncio.run(store.set("id1", {"v": 1}, 60))
    asyncio.run(store.set("id1", {"v": 2}, 60))
    assert asyncio.run(store.get("id1")) == {"v": 2}
    assert len(store) == 1


def test_session_expires_after_ttl(clock):
    store = MemorySessionStore(clock=clock)
    asyncio.run(store.set("id1", RECORD, 60))
    clock.advance(59)
    assert asyncio.run(store.get("id1")) == RECORD
    clock.advance(1)
    assert asyncio.run(store.get("id1")) is None
    assert len(store) == 0


def test_session_rewrite_extends_ttl(clock):
    store = MemorySessionStore(clock=clock)
    asyncio.run(store.set("id1", RECORD, 60))
    clock.advance(50)
    asyncio.run(store.set("id1", RECORD, 60))
    clock.advance(50)
    assert asyncio.run(store.get("id1")) == RECORD


def test_session_expiry_checked_on_read_even_behind_a_live_entry(clock):
    """Purging stops at the first live entry; reads still refuse an expired one behind it."""
    store = MemorySessionStore(clock=clock)
    asyncio.run(store.set("long", RECORD, 1000))
    asyncio.run(store.set("short", RECORD, 10))
    clock.advance(10)
    assert asyncio.run(store.get("short")) is None
    assert asyncio.run(store.get("long")) == RECORD


def test_session_store_evicts_least_recently_written(clock):
    store = MemorySessionStore(max_entries=3, clock=clock)
    for session_id in ("a", "b", "c"):
        asyncio.run(store.set(session_id, {"id": session_id}, 600))
    asyncio.run(store.set("a", {"id": "a", "rewritten": True}, 600))  # a is now the most recent
    asyncio.run(store.set("d", {"id": "d"}, 600))
    assert len(store) == 3
    assert asyncio.run(store.get("b")) is None
    assert asyncio.run(store.get("a")) == {"id": "a", "rewritten": True}
    assert asyncio.run(store.get("c")) == {"id": "c"}
    assert asyncio.run(store.get("d")) == {"id": "d"}


def test_session_store_reads_do_not_count_as_writes_for_eviction(clock):
    store = MemorySessionStore(max_entries=2, clock=clock)
    asyncio.run(store.set("a", {"id": "a"}, 600))
    asyncio.run(store.set("b", {"id": "b"}, 600))
    assert asyncio.run(store.get("a")) == {"id": "a"}
    asyncio.run(store.set("c", {"id": "c"}, 600))
    assert asyncio.run(store.get("a")) is None
    assert asyncio.run(store.get("b")) == {"id": "b"}


def test_session_values_are_copies(clock):
    store = MemorySessionStore(clock=clock)
    record = {"user": {"roles": ["Reader"]}, "extra": {}}
    asyncio.run(store.set("id1", record, 60))
    record["user"]["roles"].append("Admin")
    first = asyncio.run(store.get("id1"))
    first["extra"]["mutated"] = True
    second = asyncio.run(store.get("id1"))
    assert second == {"user": {"roles": ["Reader"]}, "extra": {}}
    assert first is not second


def test_expired_sessions_leave_no_index_members_behind(clock):
    store = MemorySessionStore(clock=clock)
    asyncio.run(store.set("a", {"v": 1}, ttl=10))
    asyncio.run(store.set("b", {"v": 2}, ttl=100))
    for sid in ("a", "b"):
        asyncio.run(store.index_add("user", "u1", sid))
    asyncio.run(store.index_add("sid", "s1", "a"))
    clock.advance(50)
    asyncio.run(store.set("c", {"v": 3}, ttl=100))  # any write purges the expired front
    assert asyncio.run(store.index_members("user", "u1")) == ["b"]
    assert asyncio.run(store.index_members("sid", "s1")) == []
    asyncio.run(store.delete("b"))
    assert asyncio.run(store.index_members("user", "u1")) == []
    assert store._indexes == {} and store._memberships == {}
