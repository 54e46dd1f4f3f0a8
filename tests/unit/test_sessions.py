"""SessionManager over the in-memory store, with a fake clock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from secure_auth.sessions.manager import MAX_COOKIE_VALUE_LENGTH, TOUCH_INTERVAL_SECONDS, SessionManager, stored_id
from secure_auth.sessions.model import KEPT_CLAIMS, Session
from secure_auth.stores.base import TOKEN_CACHE_NOT_READ
from secure_auth.stores.memory import MemorySessionStore

SECRET = "unit-test-session-secret-" + "k" * 32
IDLE = 300
ABSOLUTE = 900

CLAIMS = {
    "name": "Adele Vance",
    "preferred_username": "adele@contoso.com",
    "email": "adele@contoso.com",
    "oid": "00000000-0000-0000-66f3-3332eca7ea81",
    "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
    "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "iss": "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
    "roles": ["Calculator.User"],
    "login_hint": "O.CiQ-hint",
    "sid": "session-id-at-idp",
    # Not kept:
    "access_token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.secret-access-token.sig",
    "nonce": "n-123",
    "aud": "client",
    "exp": 1,
    "iat": 0,
}


@pytest.fixture
def store(clock) -> MemorySessionStore:
    return MemorySessionStore(clock=clock)


@pytest.fixture
def manager(store, clock) -> SessionManager:
    return SessionManager(store, secret_key=SECRET, idle_timeout=IDLE, absolute_timeout=ABSOLUTE, clock=clock)


def create(manager: SessionManager, claims: dict[str, Any] = CLAIMS, **kwargs) -> Session:
    return asyncio.run(manager.create(claims=claims, **kwargs))


def load(manager: SessionManager, cookie: str | None) -> Session | None:
    return asyncio.run(manager.load(cookie))


# ----- create -----


def test_create_gives_a_new_random_id_each_time(manager):
    first, second = create(manager), create(manager)
    assert first.id != second.id
    assert first.csrf_token != second.csrf_token
    assert len(first.id) >= 43
    assert manager.cookie_value(first) != manager.cookie_value(second)


def test_create_keeps_only_the_listed_claims(manager, clock):
    session = create(manager, token_cache='{"AccessToken": {}}')
    assert session.user == {name: CLAIMS[name] for name in KEPT_CLAIMS if name in CLAIMS}
    assert "access_token" not in session.user
    assert "nonce" not in session.user
    assert session.created_at == session.last_seen == clock()
    assert session.token_cache == '{"AccessToken": {}}'
    assert session.roles == ["Calculator.User"]


def test_create_stores_the_session(manager, store):
    session = create(manager)
    record = asyncio.run(store.get(session.id))
    assert record is not None
    assert record["user"] == session.user
    assert "id" not in record


def test_roles_ignores_non_strings(manager):
    session = create(manager, claims={"sub": "x", "roles": ["A", 3, None, "B"]})
    assert session.roles == ["A", "B"]
    assert create(manager, claims={"sub": "y"}).roles == []


# ----- the cookie -----


def test_cookie_value_round_trips_through_load(manager):
    session = create(manager)
    loaded = load(manager, manager.cookie_value(session))
    assert loaded == session


def test_cookie_value_is_small_and_holds_no_claims(manager):
    session = create(manager)
    cookie = manager.cookie_value(session)
    assert len(cookie.encode()) < 200
    assert cookie.startswith(session.cookie_secret + ".") and session.id not in cookie
    for value in ("Adele", "adele@contoso.com", CLAIMS["oid"], CLAIMS["sub"], CLAIMS["tid"], "secret-access-token"):
        assert value not in cookie


def _flip(ch: str) -> str:
    return "A" if ch != "A" else "B"


def test_tampered_cookie_is_refused(manager):
    session = create(manager)
    cookie = manager.cookie_value(session)
    # (not the last character: its low bits are base64 padding and may decode to the same bytes)
    assert load(manager, cookie[:-5] + _flip(cookie[-5]) + cookie[-4:]) is None  # signature changed
    assert load(manager, _flip(cookie[0]) + cookie[1:]) is None  # id changed


def test_unsigned_id_is_refused(manager):
    session = create(manager)
    assert load(manager, session.id) is None
    assert load(manager, session.id + ".") is None


def test_cookie_signed_with_another_secret_is_refused(manager, store, clock):
    session = create(manager)
    other = SessionManager(
        store, secret_key="another-" + SECRET, idle_timeout=IDLE, absolute_timeout=ABSOLUTE, clock=clock
    )
    forged = other.cookie_value(session)
    assert forged != manager.cookie_value(session)
    assert load(manager, forged) is None
    assert load(other, forged) is not None  # same store, so only the signature made the difference


def test_a_remembered_cookie_lets_no_tampered_or_foreign_copy_through(manager, store, clock):
    """Checked signatures are remembered (page views skip the HMAC): a cookie that was
    accepted must not vouch for a tampered copy, nor for the same secret signed elsewhere."""
    session = create(manager)
    cookie = manager.cookie_value(session)
    assert load(manager, cookie) is not None and load(manager, cookie) is not None  # now remembered
    assert load(manager, cookie[:-5] + _flip(cookie[-5]) + cookie[-4:]) is None
    assert load(manager, cookie + "A") is None
    other = SessionManager(
        store, secret_key="another-" + SECRET, idle_timeout=IDLE, absolute_timeout=ABSOLUTE, clock=clock
    )
    assert load(manager, other.cookie_value(session)) is None


def test_remembered_cookies_are_bounded_and_kept_only_as_hashes(manager, monkeypatch):
    monkeypatch.setattr("secure_auth.sessions.manager.MAX_VERIFIED_COOKIES", 3)
    cookies = [manager.cookie_value(create(manager)) for _ in range(5)]
    for cookie in cookies:
        assert load(manager, cookie) is not None
    remembered = manager._verified  # the cache itself: its size and what it holds
    assert len(remembered) == 3
    held = " ".join([*remembered, *remembered.values()])
    assert not any(cookie.split(".")[0] in held for cookie in cookies)
    assert load(manager, cookies[0]) is not None  # forgotten, so checked again


@pytest.mark.parametrize("cookie", [None, "", "x" * (MAX_COOKIE_VALUE_LENGTH + 1), "a.b.c", "\u00e9\u00ff.sig"])
def test_junk_cookies_are_refused(manager, cookie):
    create(manager)
    assert load(manager, cookie) is None


def test_overlong_cookie_is_refused_even_if_signed(manager):
    long_session = Session(id="x", user={}, csrf_token="t", created_at=0, last_seen=0, cookie_secret="i" * 190)
    cookie = manager.cookie_value(long_session)
    assert len(cookie) > MAX_COOKIE_VALUE_LENGTH
    assert manager.session_id_from_cookie(cookie) is None
    short = Session("x", {}, "t", 0, 0, cookie_secret="short")
    assert manager.session_id_from_cookie(manager.cookie_value(short)) == stored_id("short")


def test_the_store_holds_no_usable_cookie(manager):
    """Sessions are kept under a hash of the cookie's secret: the store's keys, its records
    and its indexes never hold the secret, and a record read back cannot make a cookie."""
    session = create(manager)
    cookie = manager.cookie_value(session)
    secret = cookie.split(".")[0]
    assert session.id == stored_id(secret) and secret not in session.id
    read_back = asyncio.run(manager.get(session.id))
    assert read_back is not None and read_back.cookie_secret == ""
    with pytest.raises(ValueError):
        manager.cookie_value(read_back)


# ----- timeouts -----


def test_idle_timeout_ends_the_session_and_deletes_the_record(manager, store, clock):
    session = create(manager)
    cookie = manager.cookie_value(session)
    clock.advance(IDLE + 1)
    assert load(manager, cookie) is None
    assert asyncio.run(store.get(session.id)) is None
    assert len(store) == 0


class _TtlIgnoringStore(MemorySessionStore):
    """A store that never expires anything (say, a shared store with a skewed clock):
    the manager must enforce the timeouts itself."""

    async def set(self, session_id, record, ttl):  # type: ignore[override]
        await super().set(session_id, record, 10**9)


def test_manager_enforces_idle_timeout_itself_and_deletes_the_record(clock):
    store = _TtlIgnoringStore(clock=clock)
    manager = SessionManager(store, secret_key=SECRET, idle_timeout=IDLE, absolute_timeout=ABSOLUTE, clock=clock)
    session = create(manager)
    clock.advance(IDLE)
    assert asyncio.run(store.get(session.id)) is not None  # the store still has it
    assert load(manager, manager.cookie_value(session)) is None
    assert asyncio.run(store.get(session.id)) is None  # ...and the manager deleted it


def test_manager_enforces_absolute_timeout_itself(clock):
    store = _TtlIgnoringStore(clock=clock)
    manager = SessionManager(store, secret_key=SECRET, idle_timeout=IDLE, absolute_timeout=ABSOLUTE, clock=clock)
    session = create(manager)
    cookie = manager.cookie_value(session)
    for _ in range(ABSOLUTE // 100 - 1):
        clock.advance(100)
        assert load(manager, cookie) is not None
    clock.advance(100)
    assert load(manager, cookie) is None
    assert asyncio.run(store.get(session.id)) is None


def test_touch_extends_the_idle_timeout(manager, clock):
    session = create(manager)
    cookie = manager.cookie_value(session)
    clock.advance(IDLE - 50)  # less than idle, more than the touch interval
    assert IDLE - 50 > TOUCH_INTERVAL_SECONDS
    touched = load(manager, cookie)
    assert touched is not None and touched.last_seen == clock()
    clock.advance(IDLE - 50)  # past the original idle deadline
    assert load(manager, cookie) is not None


def test_load_within_touch_interval_does_not_write(manager, store, clock):
    session = create(manager)
    cookie = manager.cookie_value(session)
    clock.advance(TOUCH_INTERVAL_SECONDS - 1)
    assert load(manager, cookie).last_seen == session.created_at
    assert asyncio.run(store.get(session.id))["last_seen"] == session.created_at
    clock.advance(1)
    assert load(manager, cookie).last_seen == clock()
    assert asyncio.run(store.get(session.id))["last_seen"] == clock()


def test_absolute_timeout_ends_even_an_active_session(manager, clock):
    session = create(manager)
    cookie = manager.cookie_value(session)
    for _ in range(ABSOLUTE // 100 - 1):
        clock.advance(100)
        assert load(manager, cookie) is not None
    clock.advance(100)  # exactly the absolute timeout after creation
    assert load(manager, cookie) is None


def test_expired_is_inclusive_at_both_deadlines(manager):
    session = Session(id="x", user={}, csrf_token="t", created_at=1000.0, last_seen=1000.0)
    assert manager.expired(session, 1000.0 + IDLE - 0.001) is False
    assert manager.expired(session, 1000.0 + IDLE) is True
    session.last_seen = 1000.0 + ABSOLUTE - 1
    assert manager.expired(session, 1000.0 + ABSOLUTE - 0.001) is False
    assert manager.expired(session, 1000.0 + ABSOLUTE) is True


def test_save_of_an_expired_session_deletes_it(manager, store, clock):
    session = create(manager)
    clock.advance(ABSOLUTE)
    asyncio.run(manager.save(session))
    assert len(store) == 0


def test_record_of_unknown_shape_is_discarded(manager, store):
    session = create(manager)
    record = asyncio.run(store.get(session.id))
    record["unexpected_field"] = 1
    asyncio.run(store.set(session.id, record, 60))
    assert load(manager, manager.cookie_value(session)) is None
    assert asyncio.run(store.get(session.id)) is None


# ----- sign-out -----


def test_end_makes_the_cookie_useless(manager):
    session = create(manager)
    cookie = manager.cookie_value(session)
    assert load(manager, cookie) is not None
    asyncio.run(manager.end(session))
    assert load(manager, cookie) is None  # replaying the cookie after sign-out


def test_end_ends_only_that_session(manager):
    first, second = create(manager), create(manager)
    asyncio.run(manager.end(first))
    assert load(manager, manager.cookie_value(second)) == second


# ----- concurrency -----


def test_concurrent_loads_return_equal_independent_sessions(manager, clock):
    session = create(manager)
    cookie = manager.cookie_value(session)
    clock.advance(TOUCH_INTERVAL_SECONDS + 1)  # both loads touch the session

    async def both():
        return await asyncio.gather(manager.load(cookie), manager.load(cookie))

    first, second = asyncio.run(both())
    assert first is not None and second is not None
    assert first == second
    assert first is not second
    first.extra["mine"] = True
    first.user["name"] = "changed"
    assert second.extra == {}
    assert second.user["name"] == "Adele Vance"


async def _increment(manager: SessionManager, cookie: str, *, locked: bool) -> None:
    async def step() -> None:
        session = await manager.load(cookie)
        assert session is not None
        count = session.extra.get("count", 0)
        await asyncio.sleep(0)  # let the other task run between read and write
        session.extra["count"] = count + 1
        await manager.save(session)

    if locked:
        async with manager.lock(session_id_of(manager, cookie)):
            await step()
    else:
        await step()


def session_id_of(manager: SessionManager, cookie: str) -> str:
    session_id = manager.session_id_from_cookie(cookie)
    assert session_id is not None
    return session_id


@pytest.mark.parametrize(("locked", "expected"), [(True, 2), (False, 1)], ids=["locked", "unlocked-loses-an-update"])
def test_lock_serialises_read_modify_write(manager, locked, expected):
    session = create(manager)
    cookie = manager.cookie_value(session)

    async def two_tasks():
        await asyncio.gather(_increment(manager, cookie, locked=locked), _increment(manager, cookie, locked=locked))

    asyncio.run(two_tasks())
    assert load(manager, cookie).extra["count"] == expected


def test_locks_of_different_sessions_are_independent(manager):
    async def scenario():
        async with manager.lock("a"):
            await asyncio.wait_for(_acquire_and_release(manager, "b"), timeout=1)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(_acquire_and_release(manager, "a"), timeout=0.05)

    asyncio.run(scenario())


async def _acquire_and_release(manager: SessionManager, session_id: str) -> None:
    async with manager.lock(session_id):
        pass


# ----- signing in again in the same browser: a step-up, a re-authentication -----


def test_signing_in_again_rotates_the_id_and_carries_the_same_persons_state(manager, clock):
    first = create(manager, claims={**CLAIMS, "auth_time": 100})
    first.extra["basket"] = ["tea"]
    asyncio.run(manager.save(first))
    old_cookie = manager.cookie_value(first)
    clock.advance(120)

    again = create(
        manager,
        claims={**CLAIMS, "acrs": ["c1"], "auth_time": 220},
        previous=first,
        asked={"claims": "digest", "max_age": None},
    )
    assert again.id != first.id  # session fixation: never the old id
    assert load(manager, old_cookie) is None  # the old one is over
    assert again.extra == {"basket": ["tea"]}
    assert again.auth_contexts == ["c1"] and again.auth_time == 220
    assert again.csrf_token != first.csrf_token and again.created_at == first.created_at + 120
    assert again.asked == {"claims": "digest", "max_age": None}
    assert [s.id for s in asyncio.run(manager.sessions_in("user", again.user_key))] == [again.id]


def test_another_person_signing_in_in_that_browser_gets_nothing_of_the_previous_session(manager):
    first = create(manager)
    first.extra["basket"] = ["tea"]
    other = create(manager, claims={**CLAIMS, "oid": "11111111-0000-0000-0000-000000000000"}, previous=first)
    assert other.extra == {}
    assert load(manager, manager.cookie_value(first)) is None


def test_auth_contexts_and_auth_time_are_read_defensively(manager):
    odd = create(manager, claims={**CLAIMS, "acrs": "c1", "auth_time": True})
    assert odd.auth_contexts == [] and odd.auth_time is None
    assert create(manager).auth_time is None


def test_only_the_token_service_writes_the_token_cache(manager, store, clock):
    """A page view that read the session before a refresh, and then records "last seen",
    never puts the older cache back over the refreshed one."""
    session = create(manager, token_cache="cache-1")

    async def scenario() -> dict[str, Any] | None:
        viewed = await manager.get(session.id)  # a page view reads cache-1
        refreshing = await manager.get(session.id)
        refreshing.token_cache = "cache-2"
        await manager.save(refreshing, tokens=True)  # the token service, meanwhile
        clock.advance(TOUCH_INTERVAL_SECONDS)
        viewed.last_seen = clock()
        await manager.save(viewed)  # the page view's "last seen"
        return await store.get(session.id)

    stored = asyncio.run(scenario())
    assert stored is not None
    assert stored["token_cache"] == "cache-2" and stored["last_seen"] == clock()


def test_the_memory_store_never_hands_out_the_not_read_marker(store):
    async def scenario() -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        await store.set("kept", {"user": {}, "token_cache": "cache-1"}, 60)
        await store.set("kept", {"user": {"x": 1}, "token_cache": TOKEN_CACHE_NOT_READ}, 60)
        await store.set("new", {"user": {}, "token_cache": TOKEN_CACHE_NOT_READ}, 60)
        return await store.get("kept"), await store.get("new")

    kept, new = asyncio.run(scenario())
    assert kept is not None and kept["token_cache"] == "cache-1" and kept["user"] == {"x": 1}
    assert new is not None and new.get("token_cache", "") == ""
