"""The API pool's fair use: a cap per person, a fair share under contention, room kept for
newcomers, and refusal at once (not a queue) when the pool is full."""

from __future__ import annotations

from secure_auth.outbound.stream_slots import MAX_STREAMS_PER_USER, StreamSlots


def take(slots: StreamSlots, person: str, times: int) -> int:
    return sum(slots.acquire(person) for _ in range(times))


def test_one_person_is_capped_and_the_cap_comes_back_on_release():
    slots = StreamSlots(pool_size=100)
    assert take(slots, "adele", 20) == MAX_STREAMS_PER_USER
    slots.release("adele")
    assert slots.acquire("adele") and not slots.acquire("adele")


def test_many_greedy_people_leave_room_for_a_newcomers_first_request():
    slots = StreamSlots(pool_size=100)
    held = {f"greedy-{n}": take(slots, f"greedy-{n}", 20) for n in range(30)}
    assert slots.total == 100 and slots.total == sum(held.values())
    # Everyone got something: the first 10 greedy people could not fill the pool between them.
    assert all(count >= 1 for count in held.values()), held
    assert max(held.values()) <= MAX_STREAMS_PER_USER
    assert not slots.acquire("newcomer")  # full: refused at once, never queued
    slots.release("greedy-0")
    assert not slots.acquire("greedy-1")  # holders cannot take the freed slot from newcomers
    assert slots.acquire("newcomer")


def test_the_share_shrinks_as_more_people_hold_streams():
    slots = StreamSlots(limit=8, pool_size=10)
    assert take(slots, "a", 8) == 8  # alone: up to the cap, short of the newcomers' reserve
    assert take(slots, "b", 8) == 1  # a newcomer gets a slot of the reserve, and no more
    assert take(slots, "c", 8) == 1 and not slots.acquire("d")  # the pool is full: refused at once
    slots = StreamSlots(limit=8, pool_size=10)
    assert take(slots, "a", 1) == 1 and take(slots, "b", 1) == 1 and take(slots, "c", 1) == 1
    assert take(slots, "a", 8) == 2  # 10 // 3 people = 3 each


def test_releasing_more_than_was_taken_changes_nothing():
    slots = StreamSlots(pool_size=10)
    slots.release("nobody")
    assert slots.total == 0 and slots.in_use == {}
