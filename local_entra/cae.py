"""Continuous access evaluation, as resources meet it.

After a critical event (an admin revokes a user's sessions, a policy or location
change) Entra tells CAE-aware resources, and they refuse the user's access tokens
issued before it, long before those expire, with a claims challenge:

    401  WWW-Authenticate: Bearer error="insufficient_claims",
         claims="<base64 of {"access_token":{"nbf":{"essential":true,"value":"<epoch>"}}}>"

The client answers by asking for a new token with those claims. Here every access
token issued to the user before the event is refused, and so is every later one until
a token request carries the challenge's claims (or an interactive sign-in does); in
``always`` mode (a test hook) the challenge never clears, to exercise a client's loop
guard. Thread-safe: tests and the server thread share it.
"""

from __future__ import annotations

import base64
import collections
import json
import threading
import time
from dataclasses import dataclass

from .claims import ClaimsRequest

MAX_TRACKED_TOKENS = 10_000
MAX_RECORDED_REQUESTS = 200


@dataclass(frozen=True)
class CaeEvent:
    epoch: int
    always: bool = False

    def claims(self) -> str:
        """The challenge's claims: a token issued after the event (Graph sends the value as a string)."""
        return json.dumps({"access_token": {"nbf": {"essential": True, "value": str(self.epoch)}}})


class CaeState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, CaeEvent] = {}
        self._last_epoch = 0
        # Access tokens (by uti) issued per user, and those refused with the event that refused them.
        self._issued: dict[str, collections.deque[str]] = collections.defaultdict(
            lambda: collections.deque(maxlen=MAX_TRACKED_TOKENS)
        )
        self._refused: collections.OrderedDict[str, CaeEvent] = collections.OrderedDict()
        #: Claims parameters received, in order: (endpoint, username or "", claims JSON).
        self.requests: collections.deque[tuple[str, str, str]] = collections.deque(maxlen=MAX_RECORDED_REQUESTS)

    def event(self, username: str, *, always: bool = False) -> CaeEvent:
        """A critical event for the user now: every access token issued so far is refused."""
        key = username.lower()
        with self._lock:
            # Each event its own moment, so two events never send the same challenge.
            self._last_epoch = max(int(time.time()), self._last_epoch + 1)
            event = CaeEvent(self._last_epoch, always)
            self._events[key] = event
            for uti in self._issued.pop(key, ()):
                self._refuse(uti, event)
            return event

    def clear(self) -> None:
        with self._lock:
            self._events.clear()
            self._refused.clear()
            self._issued.clear()

    def record(self, endpoint: str, username: str, claims: str) -> None:
        with self._lock:
            self.requests.append((endpoint, username.lower(), claims))

    def issued(self, username: str, uti: str, claims: ClaimsRequest) -> None:
        """A new access token: it answers a pending event only when asked for with its claims."""
        key = username.lower()
        with self._lock:
            event = self._events.get(key)
            if event is not None:
                wanted = claims.nbf()
                if not event.always and wanted is not None and wanted >= event.epoch:
                    del self._events[key]
                else:
                    self._refuse(uti, event)
                    return
            self._issued[key].append(uti)

    def challenge(self, token_claims: dict) -> str | None:
        """The claims challenge for a presented access token, or None when it is accepted."""
        with self._lock:
            event = self._refused.get(str(token_claims.get("uti", "")))
        return event.claims() if event is not None else None

    def _refuse(self, uti: str, event: CaeEvent) -> None:
        self._refused[uti] = event
        while len(self._refused) > MAX_TRACKED_TOKENS:
            self._refused.popitem(last=False)


def challenge_header(claims: str, client_id: str, authorization_uri: str) -> str:
    """The WWW-Authenticate value Microsoft Graph sends with a CAE challenge."""
    encoded = base64.b64encode(claims.encode()).decode("ascii")
    return (
        f'Bearer realm="", authorization_uri="{authorization_uri}", client_id="{client_id}", '
        f'error="insufficient_claims", claims="{encoded}"'
    )
