"""Pending sign-ins: carried by the browser, sealed, with the StateStore as bounded backup.

Starting a sign-in must cost the server nothing it has to keep, or anyone can exhaust it:
each pending flow (PKCE verifier, nonce, state, where to go next) travels in the flow
cookie, encrypted and authenticated with a server key (AES-GCM), next to a random binding
that ties it to this browser. The cookie carries the newest few flows (several tabs) up to
a size budget.

The StateStore keeps a copy under state *and* the binding's hash. It is the backup for a
flow the cookie had no room for (a big claims challenge, more tabs than fit, two tabs that
raced to write the cookie) and it is bounded: it evicts its oldest entries and never refuses,
so a flood only costs the flood's own backups. Either way a callback is matched by state and
by the binding the browser holds, so login CSRF stays closed: another browser's code and
state find nothing.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from secure_auth.crypto.primitives import random_token, sha256_hex
from secure_auth.crypto.sealing import Sealer
from secure_auth.stores.base import FLOW_LIFETIME_SECONDS, Clock, StateStore

PURPOSE = b"secure-auth pending sign-ins v1"
_CONTEXT = b"flow-cookie"
MAX_FLOWS_IN_COOKIE = 3
COOKIE_BUDGET = 3000  # characters of sealed value: under browsers' 4 KiB per cookie, with the name
_BINDING = re.compile(r"^[A-Za-z0-9_-]{43}$")
# What MSAL's acquire_token_by_auth_code_flow reads back; the authorize URL is not needed.
_FLOW_FIELDS = ("state", "redirect_uri", "scope", "code_verifier", "nonce", "claims_challenge", "response_type")


@dataclass
class PendingSignIn:
    state: str
    flow: dict[str, Any]  # MSAL's auth code flow, as it needs it back
    next_path: str
    started_at: float  # wall clock: it travels between workers

    def as_list(self) -> list[Any]:
        return [self.state, self.flow, self.next_path, self.started_at]


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
    def __init__(self, sealer: Sealer, backup: StateStore, *, clock: Clock = time.time) -> None:
        self.sealer = sealer
        self.backup = backup
        self.clock = clock

    def read(self, cookie: str | None) -> Bundle | None:
        """The cookie's bundle, or None when it holds none this server sealed. A bare binding
        (the cookie of releases before sealing) still finds its flows in the backup."""
        if not cookie:
            return None
        if _BINDING.match(cookie):
            return Bundle(cookie)
        opened = self.sealer.open(cookie, context=_CONTEXT)
        if opened is None:
            return None
        try:
            data = json.loads(opened)
            now = self.clock()
            flows = [PendingSignIn(*item) for item in data["f"]]
            return Bundle(data["b"], [f for f in flows if now - f.started_at < FLOW_LIFETIME_SECONDS])
        except (ValueError, KeyError, TypeError):
            return None

    def write(self, bundle: Bundle) -> str:
        """The sealed cookie value: the newest flows that fit the budget, at least the binding."""
        flows = bundle.flows[:MAX_FLOWS_IN_COOKIE]
        while True:
            payload = json.dumps({"b": bundle.binding, "f": [f.as_list() for f in flows]}, separators=(",", ":"))
            sealed = self.sealer.seal(payload, context=_CONTEXT)
            if len(sealed) <= COOKIE_BUDGET or not flows:
                return sealed
            flows = flows[:-1]

    async def begin(self, cookie: str | None, flow: dict[str, Any], next_path: str) -> str:
        """Keep a new pending sign-in; returns the flow cookie's new value."""
        bundle = self.read(cookie) or Bundle(random_token(32))
        pending = PendingSignIn(flow["state"], {k: flow[k] for k in _FLOW_FIELDS if k in flow}, next_path, self.clock())
        bundle.flows.insert(0, pending)
        await self.backup.put(flow_key(pending.state, bundle.binding), {"pending": pending.as_list()})
        return self.write(bundle)

    async def finish(self, bundle: Bundle, state: str) -> tuple[PendingSignIn | None, str | None]:
        """Take the pending sign-in for `state` (single use, even when what follows fails).
        Returns it, or None when unknown, used or expired, and the cookie's new value (None:
        clear the cookie).

        A used flow leaves a marker in the backup, so a copy of the cookie taken before the
        callback cannot be replayed while the marker lasts (the IdP's single-use code and the
        nonce stop it after that)."""
        key = flow_key(state, bundle.binding)
        found = bundle.find(state)
        backup = await self.backup.take(key)
        if backup is not None and backup.get("used"):
            found = None
        elif found is None and backup is not None:
            try:
                found = PendingSignIn(*backup["pending"])
            except (KeyError, TypeError):
                found = None
        if found is not None and self.clock() - found.started_at >= FLOW_LIFETIME_SECONDS:
            found = None
        if found is not None or (backup is not None and backup.get("used")):
            await self.backup.put(key, {"used": True})
        bundle.flows = [f for f in bundle.flows if f.state != state]
        return found, (self.write(bundle) if bundle.flows else None)
