"""The identity provider's signing keys (JWKS): cached, refetched once for an unknown kid."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import jwt

from secure_auth.identity.errors import IdentityProviderUnavailable
from secure_auth.validators.id_token import UnknownSigningKey

logger = logging.getLogger("secure_auth.identity")

JWKS_TTL_SECONDS = 24 * 3600
# After an unknown kid forces a JWKS refetch, the next such refetch waits this long:
# forged kids cannot turn the app into a request amplifier against the IdP.
JWKS_REFETCH_INTERVAL_SECONDS = 60
# After a failed scheduled refresh, the known keys are used this long before trying again.
JWKS_RETRY_SECONDS = 60


class SigningKeys:
    """The IdP's JWKS, cached; an unknown kid allows one refetch (key rollover),
    and such refetches are rate-limited.

    One thread fetches while the others wait on the lock (single flight). A failed
    refresh keeps the keys already known and is retried after a back-off, so an IdP
    hiccup neither throws good keys away nor makes every callback retry in turn.
    """

    def __init__(self, fetch: Callable[[], Any], *, refetch_interval: float = JWKS_REFETCH_INTERVAL_SECONDS) -> None:
        self._fetch = fetch
        self._refetch_interval = refetch_interval
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._last_forced = float("-inf")
        self._lock = threading.Lock()

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def _refresh(self, now: float) -> None:
        try:
            self._load()
        except IdentityProviderUnavailable:
            if not self._keys:
                raise
            logger.warning("JWKS refresh failed; keeping the %d keys already known", len(self._keys))
            self._fetched_at = now - JWKS_TTL_SECONDS + JWKS_RETRY_SECONDS

    def _load(self) -> None:
        document = self._fetch()
        keys: dict[str, Any] = {}
        for jwk in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
                continue
            kid = jwk.get("kid", "")  # "" holds a single provider key published without a kid
            if not isinstance(kid, str):
                continue
            try:
                keys[kid] = jwt.PyJWK(jwk, algorithm="RS256").key
            except jwt.PyJWTError:
                logger.warning("ignoring a malformed key in the JWKS (kid %s)", kid)
        self._keys = keys
        self._fetched_at = time.monotonic()

    def key_for(self, kid: str | None) -> Any:
        with self._lock:
            now = time.monotonic()
            if now - self._fetched_at > JWKS_TTL_SECONDS:
                self._refresh(now)
            if kid is None:
                # Allowed by OpenID Connect only when the provider publishes a single key.
                if len(self._keys) == 1:
                    return next(iter(self._keys.values()))
                raise UnknownSigningKey(kid)
            if kid in self._keys:
                return self._keys[kid]
            if now - self._last_forced >= self._refetch_interval:
                self._last_forced = now
                logger.info("unknown signing key id: fetching the JWKS again (key rollover?)")
                self._refresh(now)
                if kid in self._keys:
                    return self._keys[kid]
        raise UnknownSigningKey(kid)

    def warm(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._fetched_at > JWKS_TTL_SECONDS:
                self._refresh(now)
