"""Server-side sessions behind an opaque, signed session id.

The browser's cookie holds only `<random secret>.<signature>` (under 100 bytes): no token,
no claim. Everything else lives in the SessionStore, under the secret's SHA-256: a copy of
the store (a Redis dump, its key names, the session indexes) holds no cookie anyone can use.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from itsdangerous import BadSignature, Signer

from secure_auth.crypto.primitives import random_token, sha256_hex
from secure_auth.sessions.model import Session, browser_family, kept_claims
from secure_auth.stores.base import TOKEN_CACHE_NOT_READ, SessionStore

logger = logging.getLogger("secure_auth.sessions")

# last_seen is written back at most this often, so an ordinary page view does not write;
# the idle timeout may therefore end a session up to this much early, never late.
TOUCH_INTERVAL_SECONDS = 60
MAX_COOKIE_VALUE_LENGTH = 200
# Cookies whose signature was checked, remembered by their SHA-256 (never the cookie
# itself), so a page view skips the HMAC: about 8 us of the 10 it took.
MAX_VERIFIED_COOKIES = 10_000
# A session record read ahead of time, with the id it was read for.
Prefetched = tuple[str, dict[str, Any] | None]


def stored_id(cookie_secret: str) -> str:
    return sha256_hex("session:" + cookie_secret)


class SessionManager:
    """Creates, loads, touches and ends sessions; enforces idle and absolute timeouts."""

    def __init__(
        self,
        store: SessionStore,
        *,
        secret_key: str,
        idle_timeout: int,
        absolute_timeout: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._signer = Signer(secret_key, salt="secure_auth.session-id")
        self._verified: dict[str, str] = {}  # sha256 of a signed cookie -> its session id
        self.idle_timeout = idle_timeout
        self.absolute_timeout = absolute_timeout
        self._clock = clock
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # ----- cookie <-> id -----

    def cookie_value(self, session: Session) -> str:
        """The cookie for a session just created (only then is its secret known)."""
        if not session.cookie_secret:
            raise ValueError("only a session just created has a cookie value")
        return self._signer.sign(session.cookie_secret).decode("ascii")

    def session_id_from_cookie(self, value: str | None) -> str | None:
        """The id the store keeps this cookie's session under, or None for a cookie this
        server did not sign."""
        if not value or len(value) > MAX_COOKIE_VALUE_LENGTH:
            return None
        fingerprint = sha256_hex(value)
        known = self._verified.get(fingerprint)
        if known is not None:
            return known
        try:
            secret = self._signer.unsign(value).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            return None  # not remembered: only cookies this server signed are
        session_id = stored_id(secret)
        if len(self._verified) >= MAX_VERIFIED_COOKIES:
            del self._verified[next(iter(self._verified))]  # the oldest
        self._verified[fingerprint] = session_id
        return session_id

    # ----- lifecycle -----

    async def create(
        self,
        *,
        claims: dict[str, Any],
        token_cache: str = "",
        client_ip: str = "",
        user_agent: str = "",
        previous: Session | None = None,
        asked: dict[str, Any] | None = None,
    ) -> Session:
        """A brand-new session id at every sign-in (never reuse one from before). `previous`,
        the browser's session until now, ends; when the same person signed in again (a
        step-up, a re-authentication) what the app kept in it (`extra`) carries over, while
        the claims, tokens, CSRF token and timeouts are the new sign-in's."""
        now = self._clock()
        secret = random_token(32)
        session = Session(
            id=stored_id(secret),
            user=kept_claims(claims),
            csrf_token=random_token(32),
            created_at=now,
            last_seen=now,
            token_cache=token_cache,
            client_ip=client_ip[:64],
            browser=browser_family(user_agent),
            cookie_secret=secret,
            asked=dict(asked or {}),
        )
        if previous is not None and previous.user_key == session.user_key:
            session.extra = dict(previous.extra)
        await self.save(session, create=True)
        await self.store.index_add("user", session.user_key, session.id)
        if isinstance(session.user.get("sid"), str):
            await self.store.index_add("sid", session.user["sid"], session.id)
        if previous is not None:
            await self.end(previous)
        return session

    async def _read(self, session_id: str, prefetched: Prefetched | None = None) -> Session | None:
        if prefetched is not None:
            record = prefetched[1]
        else:
            record = await self.store.get(session_id)
        if record is None:
            return None
        try:
            return Session.from_record(session_id, record)
        except TypeError:
            logger.warning("discarding a session record of an unknown shape")
            await self.store.delete(session_id)
            return None

    async def get(self, session_id: str) -> Session | None:
        """The stored session by id, without touching it (None when ended or expired)."""
        session = await self._read(session_id)
        return None if session is None or self.expired(session, self._clock()) else session

    async def end(self, session: Session) -> None:
        """End a session and drop it from the indexes."""
        await self.store.delete(session.id)
        await self.store.index_remove("user", session.user_key, session.id)
        if isinstance(session.user.get("sid"), str):
            await self.store.index_remove("sid", session.user["sid"], session.id)

    async def sessions_in(self, index: str, key: str) -> list[Session]:
        """Live sessions in an index; members whose session is gone are dropped."""
        sessions = []
        for session_id in await self.store.index_members(index, key):
            session = await self.get(session_id)
            if session is None:
                await self.store.index_remove(index, key, session_id)
            else:
                sessions.append(session)
        return sessions

    async def load(
        self,
        cookie_value: str | None,
        on_expired: Callable[[], None] | None = None,
        *,
        prefetched: Prefetched | None = None,
    ) -> Session | None:
        """The live session for this cookie, or None (unsigned, unknown, ended or expired).
        `on_expired` is called when an existing session has just timed out. `prefetched`:
        (session id, record), the id already taken from this cookie and the record read with
        the rate limits in one round trip: neither is done again here."""
        session_id = prefetched[0] if prefetched is not None else self.session_id_from_cookie(cookie_value)
        if session_id is None:
            return None
        session = await self._read(session_id, prefetched)
        if session is None:
            return None
        now = self._clock()
        if self.expired(session, now):
            await self.store.delete(session_id)
            if on_expired is not None:
                on_expired()
            return None
        if now - session.last_seen >= TOUCH_INTERVAL_SECONDS:
            session.last_seen = now
            try:
                await self.save(session)
            except Exception as exc:  # a store that reads but cannot write (read-only, full)
                logger.warning("could not record last seen (%s): the session goes on", type(exc).__name__)
        return session

    def expired(self, session: Session, now: float) -> bool:
        return now >= session.created_at + self.absolute_timeout or now >= session.last_seen + self.idle_timeout

    async def save(self, session: Session, *, create: bool = False, tokens: bool = False) -> None:
        """Write the session back. Only `create` may bring a record into existence: an
        update (a touch, a refreshed token cache) never revives a session that was ended
        while the request was under way, say by a sign-out during a token refresh. Only
        `create` and `tokens` (the token service, under the session's lock) write the
        token cache: any other write keeps the stored one, so a page view that read an
        older cache never puts it back over a refresh made meanwhile."""
        remaining = session.created_at + self.absolute_timeout - self._clock()
        ttl = min(session.last_seen + self.idle_timeout - self._clock(), remaining)
        if ttl <= 0:
            await self.store.delete(session.id)
            return
        record = session.to_record()
        if create:
            await self.store.set(session.id, record, ttl)
            return
        if not tokens:
            record["token_cache"] = TOKEN_CACHE_NOT_READ
        await self.store.replace(session.id, record, ttl)

    async def store_size(self) -> int:
        """How many sessions the store holds (for the active-sessions gauge)."""
        return await self.store.count()

    @asynccontextmanager
    async def lock(self, session_id: str) -> AsyncIterator[None]:
        """Serialise read-modify-write sequences on one session: within this process, and
        across processes when the store's lock spans them (Redis)."""
        lock = self._locks.get(session_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[session_id] = lock
        async with lock, self.store.lock(f"session:{session_id}"):
            yield
