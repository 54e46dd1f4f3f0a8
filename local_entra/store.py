"""In-memory server state: pending sign-ins, auth codes, refresh tokens, test hooks.

Requests run on the server thread while tests poke the same objects from the
test thread, so every read-modify-write happens under one ``threading.Lock``.
"""

from __future__ import annotations

import collections
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .cae import CaeState

IdTokenTransform = Callable[..., str]
MAX_BROWSER_SESSIONS = 10_000


@dataclass
class PendingSignIn:
    """An authorize request that passed validation and now waits for the form post."""

    tenant: str  # path segment as requested: GUID, "organizations", "common", alias
    tenant_id: str | None  # resolved GUID, None for organizations/common
    client_id: str
    redirect_uri: str
    scopes: list[str]
    state: str | None
    nonce: str | None
    code_challenge: str
    login_hint: str | None
    client_info: bool
    expires_at: float
    claims: str = ""  # the claims request parameter, as sent
    max_age: int | None = None
    prompt: str = ""
    # Set once the user is known (a password, or the browser's session): the step-up
    # page then only asks for approval.
    username: str | None = None
    auth_time: float | None = None
    sid: str | None = None


@dataclass
class BrowserSession:
    """The user signed in at this browser (Entra's SSO session): who, and when they last
    entered their password (the ``auth_time`` that ``max_age`` is checked against)."""

    username: str
    auth_time: float
    sid: str


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    scopes: list[str]
    nonce: str | None
    code_challenge: str
    username: str
    sid: str
    issued_at: float
    expires_at: float
    redeemed: bool = False
    auth_time: float = 0.0
    acrs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RefreshFailure:
    """A one-shot error for the next refresh_token grant (``fail_next_refresh_with``)."""

    error: str
    aadsts: int
    suberror: str | None = None


@dataclass
class RefreshGrant:
    client_id: str
    username: str
    scopes: list[str]
    sid: str
    expires_at: float
    auth_time: float = 0.0
    acrs: list[str] = field(default_factory=list)


class Store:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counters: collections.Counter[str] = collections.Counter()
        self._pending: dict[str, PendingSignIn] = {}
        self._codes: dict[str, AuthCode] = {}
        self._refresh: dict[str, RefreshGrant] = {}
        self._failures: list[int] = []
        self.token_delay = 0.0  # seconds every token request waits (LocalEntra.slow_token_endpoint)
        self._id_token_transform: IdTokenTransform | None = None
        self._refresh_failure: RefreshFailure | None = None
        self.client_assertions: list[dict] = []  # verified federated-credential tokens, oldest first
        self.capabilities_seen: list[list[str]] = []  # xms_cc of each token issued, oldest first
        self._browser_sessions: dict[str, BrowserSession] = {}
        self.cae = CaeState()

    # -- bookkeeping -------------------------------------------------------
    def count(self, *names: str) -> None:
        with self.lock:
            for name in names:
                self.counters[name] += 1

    def _purge(self, now: float) -> None:
        for table in (self._pending, self._codes):
            for key in [k for k, v in table.items() if v.expires_at < now - 3600]:
                del table[key]
        for key in [k for k, v in self._refresh.items() if v.expires_at < now - 3600]:
            del self._refresh[key]

    # -- pending sign-ins -----------------------------------------------------
    def add_pending(self, pending: PendingSignIn) -> str:
        request_id = secrets.token_urlsafe(32)
        with self.lock:
            self._purge(time.time())
            self._pending[request_id] = pending
        return request_id

    def get_pending(self, request_id: str) -> PendingSignIn | None:
        with self.lock:
            pending = self._pending.get(request_id)
            if pending is not None and pending.expires_at < time.time():
                del self._pending[request_id]
                return None
            return pending

    def drop_pending(self, request_id: str) -> PendingSignIn | None:
        with self.lock:
            return self._pending.pop(request_id, None)

    # -- authorization codes --------------------------------------------------
    def add_code(self, code: AuthCode) -> str:
        value = secrets.token_urlsafe(48)
        with self.lock:
            self._purge(time.time())
            self._codes[value] = code
        return value

    def redeem_code(self, value: str) -> tuple[AuthCode | None, bool]:
        """Return ``(code, was_already_redeemed)`` and mark the code used, in one step."""
        with self.lock:
            code = self._codes.get(value)
            if code is None:
                return None, False
            already = code.redeemed
            code.redeemed = True
            return code, already

    # -- refresh tokens -------------------------------------------------------
    def add_refresh(self, grant: RefreshGrant) -> str:
        value = "1.local." + secrets.token_urlsafe(64)
        with self.lock:
            self._refresh[value] = grant
        return value

    def take_refresh(self, value: str, client_id: str) -> RefreshGrant | None:
        """Remove and return a refresh grant: refresh tokens rotate on every use.

        A token presented by a different client is left alone (and not returned).
        """
        with self.lock:
            grant = self._refresh.get(value)
            if grant is None or grant.client_id != client_id:
                return None
            return self._refresh.pop(value)

    def restore_refresh(self, value: str, grant: RefreshGrant) -> None:
        with self.lock:
            self._refresh[value] = grant

    def revoke_refresh(self, username: str | None = None) -> None:
        with self.lock:
            wanted = username.lower() if username else None
            for key in [k for k, v in self._refresh.items() if wanted in (None, v.username.lower())]:
                del self._refresh[key]

    # -- browser sessions (SSO) ------------------------------------------------
    def add_browser_session(self, session: BrowserSession) -> str:
        value = secrets.token_urlsafe(32)
        with self.lock:
            self._browser_sessions[value] = session
            while len(self._browser_sessions) > MAX_BROWSER_SESSIONS:  # the oldest go first
                del self._browser_sessions[next(iter(self._browser_sessions))]
        return value

    def browser_session(self, value: str | None) -> BrowserSession | None:
        with self.lock:
            return self._browser_sessions.get(value or "")

    def end_browser_sessions(self, value: str | None = None, username: str | None = None) -> None:
        """End one browser's session (sign-out), or every one of a user's (revocation)."""
        with self.lock:
            if value:
                self._browser_sessions.pop(value, None)
            if username:
                for key in [k for k, v in self._browser_sessions.items() if v.username.lower() == username.lower()]:
                    del self._browser_sessions[key]

    def age_browser_sessions(self, seconds: float) -> None:
        """Move every browser's last sign-in ``seconds`` into the past (``max_age`` tests)."""
        with self.lock:
            for session in self._browser_sessions.values():
                session.auth_time -= seconds

    # -- test hooks -----------------------------------------------------------
    def fail_next(self, count: int, status: int) -> None:
        with self.lock:
            self._failures.extend([status] * count)

    def take_failure(self) -> int | None:
        with self.lock:
            return self._failures.pop(0) if self._failures else None

    def set_refresh_failure(self, failure: RefreshFailure | None) -> None:
        with self.lock:
            self._refresh_failure = failure

    def take_refresh_failure(self) -> RefreshFailure | None:
        with self.lock:
            failure, self._refresh_failure = self._refresh_failure, None
            return failure

    def record_client_assertion(self, claims: dict) -> None:
        with self.lock:
            self.client_assertions.append(dict(claims))

    def record_capabilities(self, capabilities: list[str]) -> None:
        with self.lock:
            self.capabilities_seen.append(list(capabilities))

    def counter(self, name: str) -> int:
        with self.lock:
            return self.counters[name]

    def set_id_token_transform(self, fn: IdTokenTransform | None) -> None:
        with self.lock:
            self._id_token_transform = fn

    def take_id_token_transform(self) -> IdTokenTransform | None:
        with self.lock:
            fn, self._id_token_transform = self._id_token_transform, None
            return fn
