"""Sealing secrets at rest: AES-256-GCM under keys derived (HKDF-SHA256) from configured
secrets. The first key seals; every key opens, so a key is rotated by putting the new one
first and keeping the old one listed until what it sealed has expired.

A sealed value names its key by a short id, and is bound to a context (authenticated, not
encrypted): a value sealed for one session does not open for another.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEALED_PREFIX = "sealed.v1."
_KEY_ID_BYTES = 4
_NONCE_BYTES = 12


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret.encode("utf-8"))


class Sealer:
    def __init__(self, secrets: Sequence[str], *, purpose: bytes) -> None:
        if not secrets:
            raise ValueError("a Sealer needs at least one secret")
        derived = [_derive(secret, purpose) for secret in secrets]
        self._keys = {hashlib.sha256(key).digest()[:_KEY_ID_BYTES]: AESGCM(key) for key in derived}
        self._current_id = hashlib.sha256(derived[0]).digest()[:_KEY_ID_BYTES]

    def seal(self, plaintext: str, *, context: bytes) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self._current_id].encrypt(nonce, plaintext.encode("utf-8"), context)
        # Without padding: a cookie value ending in "=" is sent quoted, which some clients keep.
        return SEALED_PREFIX + base64.urlsafe_b64encode(self._current_id + nonce + sealed).decode("ascii").rstrip("=")

    def open(self, value: str, *, context: bytes) -> str | None:
        """The plaintext, or None when no configured key opens it for this context."""
        if not value.startswith(SEALED_PREFIX):
            return None
        body = value[len(SEALED_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode((body + "=" * (-len(body) % 4)).encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            return None
        head = _KEY_ID_BYTES + _NONCE_BYTES
        key_id, nonce, sealed = raw[:_KEY_ID_BYTES], raw[_KEY_ID_BYTES:head], raw[head:]
        key = self._keys.get(key_id)
        if key is None or len(nonce) != _NONCE_BYTES:
            return None
        try:
            return key.decrypt(nonce, sealed, context).decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            return None
