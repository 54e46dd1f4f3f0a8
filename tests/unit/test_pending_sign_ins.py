"""Pending sign-ins in the sealed flow cookie, with the bounded StateStore as backup
(identity/pending.py), driven by a fake clock."""

from __future__ import annotations

import asyncio
import json

import pytest

from secure_auth.crypto.sealing import Sealer
from secure_auth.identity.pending import (
    COOKIE_BUDGET,
    PURPOSE,
    Bundle,
    PendingSignIn,
    PendingSignIns,
    flow_key,
)
from secure_auth.stores.memory import MemoryStateStore

SECRET = "unit-test-secret-key-0123456789abcdef"


def flow(state: str, claims: str | None = None) -> dict:
    return {
        "state": state,
        "redirect_uri": "https://app.example/auth/callback",
        "scope": ["openid", "profile", "offline_access", "User.Read"],
        "code_verifier": "v" * 43,
        "nonce": "n" * 32,
        "claims_challenge": claims,
        "auth_uri": "https://login.example/authorize?" + "x" * 600,
    }


@pytest.fixture
def now():
    return [1_800_000_000.0]


@pytest.fixture
def pending(now):
    sealer = Sealer([SECRET], purpose=PURPOSE)
    return PendingSignIns(
        sealer, MemoryStateStore(clock=lambda: now[0]), context="client https://app", clock=lambda: now[0]
    )


def run(coro):
    return asyncio.run(coro)


def test_a_flow_travels_in_the_cookie_without_its_authorize_url_and_costs_the_store_nothing(pending):
    state = "state-visible-only-to-the-server"
    cookie = run(pending.begin(None, flow(state), "/me"))
    assert len(pending.backup) == 0
    bundle = pending.read(cookie)
    assert [f.state for f in bundle.flows] == [state] and "auth_uri" not in bundle.flows[0].flow
    assert "v" * 43 not in cookie and state not in cookie  # sealed, not merely signed
    found, after = run(pending.finish(bundle, state))
    assert found.next_path == "/me" and found.flow["code_verifier"] == "v" * 43
    assert pending.read(after).binding == bundle.binding and pending.read(after).flows == []


def test_a_fourth_tab_pushes_the_oldest_into_the_backup_and_all_four_finish(pending):
    cookie = None
    for n in range(4):
        cookie = run(pending.begin(cookie, flow(f"s{n}"), f"/t{n}"))
    assert [f.state for f in pending.read(cookie).flows] == ["s3", "s2", "s1"]
    assert len(pending.backup) == 1
    for n in (3, 2, 1, 0):  # the cookie keeps its binding as flows are used
        found, cookie = run(pending.finish(pending.read(cookie), f"s{n}"))
        assert found is not None and found.next_path == f"/t{n}"


def test_a_flow_too_big_for_the_cookie_goes_to_the_backup_and_pushes_out_no_other(pending):
    cookie = run(pending.begin(None, flow("small-1"), "/a"))
    cookie = run(pending.begin(cookie, flow("big", claims="c" * 4000), "/b"))
    assert len(cookie) <= COOKIE_BUDGET
    assert [f.state for f in pending.read(cookie).flows] == ["small-1"]
    assert len(pending.backup) == 1
    cookie = run(pending.begin(cookie, flow("small-2"), "/c"))
    found, cookie = run(pending.finish(pending.read(cookie), "small-1"))
    assert found is not None
    found, cookie = run(pending.finish(pending.read(cookie), "big"))
    assert found is not None and found.flow["claims_challenge"] == "c" * 4000


def test_a_copy_of_the_cookie_cannot_finish_the_same_flow_twice(pending):
    cookie = run(pending.begin(None, flow("s1"), "/"))

    async def race():
        return await asyncio.gather(
            pending.finish(pending.read(cookie), "s1"), pending.finish(pending.read(cookie), "s1")
        )

    results = run(race())
    assert sum(found is not None for found, _ in results) == 1
    assert run(pending.finish(pending.read(cookie), "s1"))[0] is None


def test_expired_and_future_flows_are_dropped(pending, now):
    cookie = run(pending.begin(None, flow("old"), "/"))
    now[0] += 601
    assert pending.read(cookie).flows == []
    now[0] -= 601 + 120  # a flow stamped two minutes in the future
    assert pending.read(cookie).flows == []


def test_a_cookie_sealed_for_another_app_or_tampered_does_not_open(pending, now):
    cookie = run(pending.begin(None, flow("s1"), "/"))
    other = PendingSignIns(pending.sealer, pending.backup, context="client https://other-app", clock=lambda: now[0])
    assert other.read(cookie) is None
    assert pending.read(cookie[:-2] + ("A" if cookie[-2] != "A" else "B") + cookie[-1]) is None
    assert pending.read("A" * 43) is None  # a bare binding of the kind a client could choose
    assert pending.read("") is None and pending.read(None) is None


@pytest.mark.parametrize(
    "stored",
    [{"pending": ["s1", {}, "/", "yesterday"]}, {"pending": "nope"}, ["not", "a", "dict"], {"pending": [1, 2]}],
)
def test_a_backup_of_the_wrong_shape_is_unknown_not_an_error(pending, stored):
    bundle = Bundle("b" * 43)
    run(pending.backup.put(flow_key("s1", bundle.binding), stored))
    found, _ = run(pending.finish(bundle, "s1"))
    assert found is None


def test_a_cookie_of_the_wrong_shape_is_no_bundle(pending):
    payload = json.dumps({"b": "short", "f": []})
    assert pending.read(pending.sealer.seal(payload, context=pending.context)) is None
    payload = json.dumps({"b": "b" * 43, "f": [["s", {}, "/", True], "junk"]})
    assert pending.read(pending.sealer.seal(payload, context=pending.context)).flows == []


def test_from_list_keeps_only_the_expected_shape():
    assert PendingSignIn.from_list(["s", {}, "/", 1.5]) == PendingSignIn("s", {}, "/", 1.5)
    assert PendingSignIn.from_list(["s", {}, "/", "1"]) is None
