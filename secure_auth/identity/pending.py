"""Pending sign-ins: carried by the browser, sealed, with the StateStore as bounded backup.

Starting a sign-in must cost the server nothing it has to keep, or anyone can exhaust it:
each pending flow (PKCE verifier, nonce, state, where to go next) travels in the flow
cookie, encrypted and authenticated with a server key (AES-GCM), next to a random binding
that ties it to this browser. The cookie carries the newest flows of a browser (several
tabs) that fit its size budget.

A flow the cookie has no room for (a fourth tab, a big claims challenge, a long return
path) goes to the StateStore, under state *and* the binding's hash. The store is bounded:
it evicts its oldest entries and never refuses, so an anonymous flood, which fits in its
cookies, writes nothing there at all; one that fills its cookies on purpose can push out
other people's backed-up flows, who then start their sign-in again.

A callback is matched by state and by the binding its own browser holds, so login CSRF
stays closed: another browser's code and state find nothing. Taking a flow is single use:
a backed-up flow is taken with GETDEL; a flow from the cookie is claimed in the store,
which atomically leaves a "used" marker, so two callbacks racing with copies of one cookie
cannot both redeem it. The marker is bounded like any backup (a flood can evict it early);
the IdP's single-use code and the nonce stop a replay after that.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from secure_auth.crypto.primitives import random_token, sha256_hex
from secure_auth.crypto.sealing import Sealer
from secure_auth.stores.base import FLOW_LIFETIME_SECONDS, Clock, StateStore

PURPOSE = b"secure-auth pending sign-ins v1"
MAX_FLOWS_IN_COOKIE = 3
COOKIE_BUDGET = 3000  # characters of sealed value: under browsers' 4 KiB per cookie, with the name
CLOCK_SKEW_SECONDS = 60  # a flow stamped by a worker whose clock runs ahead


@dataclass
class PendingSignIn:
    state: str
    flow: dict[str, Any]  # MSAL's auth code flow, as it needs it back
    next_path: str
    started_at: float  # wall clock: it travels between workers

    def as_list(self) -> list[Any]:
        return [self.state, self.flow, self.next_path, self.started_at]

    @classmethod
    def from_list(cls, value: Any) -> PendingSignIn | None:
        """From what a cookie or a backup holds; None for anything of another shape."""
        if not isinstance(value, list) or len(value) != 4:
            return None
        state, flow, next_path, started_at = value
        valid = isinstance(state, str) and isinstance(flow, dict) and isinstance(next_path, str)
        if not valid or not isinstance(started_at, int | float) or isinstance(started_at, bool):
            return None
        return cls(state, flow, next_path, float(started_at))

    def live(self, now: float) -> bool:
        return now - FLOW_LIFETIME_SECONDS < self.started_at <= now + CLOCK_SKEW_SECONDS


@dataclass
class Bundle:
    """What the flow cookie holds: the browser's binding and its newest pending flows."""

    binding: str
    flows: list[PendingSignIn] = field(default_factory=list)

    def find(self, state: str) -> PendingSignIn | None:
        return next((flow for flow in self.flows if flow.state == state), None)


def flow_key(state: str, binding: str) -> str:
    """Backups are stored under state *and* the browser's binding: a callback from another
    browser finds nothing, so it can neither finish nor cancel the flow."""
    return f"{state}.{sha256_hex(binding)}"


class PendingSignIns:
    def __init__(self, sealer: Sealer, backup: StateStore, *, context: str, clock: Clock = time.time) -> None:
        """`context` names this app (client id and public URL): a cookie sealed by another
        deployment that shares the secret key does not open here."""
        self.sealer = sealer
        self.backup = backup
        self.context = b"flow-cookie " + context.encode("utf-8")
        self.clock = clock

    def read(self, cookie: str | None) -> Bundle | None:
        """The cookie's bundle, its expired flows dropped; None when it holds none this app sealed."""
        opened = self.sealer.open(cookie, context=self.context) if cookie else None
        if opened is None:
            return None
        try:
            data = json.loads(opened)
            binding = data["b"]
            flows = [PendingSignIn.from_list(item) for item in data["f"]]
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(binding, str) or len(binding) < 32:
            return None
        now = self.clock()
        return Bundle(binding, [f for f in flows if f is not None and f.live(now)])

    def write(self, bundle: Bundle) -> tuple[str, list[PendingSignIn]]:
        """The sealed cookie value, and the flows it had no room for. Newest first, a flow
        that does not fit is skipped, not the ones after it; the binding always fits."""
        kept: list[PendingSignIn] = []
        left_out: list[PendingSignIn] = []
        sealed = self._seal(bundle.binding, kept)
        for flow in bundle.flows:
            if len(kept) < MAX_FLOWS_IN_COOKIE:
                candidate = self._seal(bundle.binding, [*kept, flow])
                if len(candidate) <= COOKIE_BUDGET:
                    kept.append(flow)
                    sealed = candidate
                    continue
            left_out.append(flow)
        return sealed, left_out

    def _seal(self, binding: str, flows: list[PendingSignIn]) -> str:
        payload = json.dumps({"b": binding, "f": [f.as_list() for f in flows]}, separators=(",", ":"))
        return self.sealer.seal(payload, context=self.context)

    async def begin(self, cookie: str | None, flow: dict[str, Any], next_path: str) -> str:
        """Keep a new pending sign-in; returns the flow cookie's new value."""
        bundle = self.read(cookie) or Bundle(random_token(32))
        pending = PendingSignIn(
            flow["state"], {k: v for k, v in flow.items() if k != "auth_uri"}, next_path, self.clock()
        )
        bundle.flows.insert(0, pending)
        sealed, left_out = self.write(bundle)
        for flow_left_out in left_out:  # a fourth tab's oldest, or one too big for the cookie
            await self.backup.put(flow_key(flow_left_out.state, bundle.binding), {"pending": flow_left_out.as_list()})
        return sealed

    async def finish(self, bundle: Bundle, state: str) -> tuple[PendingSignIn | None, str]:
        """Take the pending sign-in for `state` (single use, even when what follows fails).
        Returns it, or None when unknown, used or expired, and the cookie's new value (the
        binding stays: flows kept only in the backup still need it)."""
        key = flow_key(state, bundle.binding)
        found = bundle.find(state)
        if found is not None:
            if await self.backup.claim(key) is not None:  # used already, by a copy of this cookie
                found = None
        else:
            backup = await self.backup.take(key)
            found = PendingSignIn.from_list(backup.get("pending")) if isinstance(backup, dict) else None
        if found is not None and (found.state != state or not found.live(self.clock())):
            found = None
        bundle.flows = [f for f in bundle.flows if f.state != state]
        return found, self.write(bundle)[0]
