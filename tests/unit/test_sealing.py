"""Sealing token caches at rest: round trip, rotation, tampering, and binding to a context."""

from __future__ import annotations

from secure_auth.crypto.sealing import SEALED_PREFIX, Sealer

OLD = "old-key-" + "o" * 40
NEW = "new-key-" + "n" * 40
PURPOSE = b"test purpose"


def test_a_sealed_value_opens_and_hides_its_plaintext():
    sealer = Sealer([NEW], purpose=PURPOSE)
    sealed = sealer.seal('{"RefreshToken": {"secret": "rt-123"}}', context=b"session-a")
    assert sealed.startswith(SEALED_PREFIX) and "rt-123" not in sealed and "RefreshToken" not in sealed
    assert sealer.open(sealed, context=b"session-a") == '{"RefreshToken": {"secret": "rt-123"}}'
    assert sealer.seal("x", context=b"a") != sealer.seal("x", context=b"a")  # a fresh nonce each time


def test_rotation_the_new_key_seals_and_the_old_still_opens():
    old_value = Sealer([OLD], purpose=PURPOSE).seal("cache", context=b"s")
    rotated = Sealer([NEW, OLD], purpose=PURPOSE)
    assert rotated.open(old_value, context=b"s") == "cache"
    assert Sealer([NEW], purpose=PURPOSE).open(rotated.seal("cache", context=b"s"), context=b"s") == "cache"
    assert Sealer([NEW], purpose=PURPOSE).open(old_value, context=b"s") is None  # the old key retired


def test_another_session_another_purpose_or_a_changed_byte_does_not_open():
    sealer = Sealer([NEW], purpose=PURPOSE)
    sealed = sealer.seal("cache", context=b"session-a")
    assert sealer.open(sealed, context=b"session-b") is None
    assert Sealer([NEW], purpose=b"another purpose").open(sealed, context=b"session-a") is None
    body = sealed[len(SEALED_PREFIX) :]
    flipped = SEALED_PREFIX + body[:-6] + ("A" if body[-6] != "A" else "B") + body[-5:]
    assert sealer.open(flipped, context=b"session-a") is None
    for junk in ("", "plain text", SEALED_PREFIX, SEALED_PREFIX + "!!!", SEALED_PREFIX + "AAAA"):
        assert sealer.open(junk, context=b"session-a") is None
