"""Pending sign-ins cannot be exhausted: an abandoned sign-in costs the server nothing it
must keep, so a flood of them never blocks the next person (issue 10, finding 1)."""

from __future__ import annotations

import pytest

from app import create_app
from secure_auth.stores.memory import MemoryStateStore
from tests.conftest import ADELE, BEN, PUBLIC_CLIENT_ID, settings_for
from tests.support.servers import ServerThread, bind_loopback


@pytest.fixture
def small_backup_app(entra, client_certificate):
    """An app whose StateStore backup holds only ten pending sign-ins."""
    sock = bind_loopback()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = settings_for("public", entra, base_url, client_certificate)
    registration = entra.config.client(PUBLIC_CLIENT_ID)
    registration.redirect_uris.append(settings.redirect_uri)
    backup = MemoryStateStore(max_entries=10)
    server = ServerThread(create_app(settings, state_store=backup), sock).start()
    yield base_url, backup
    server.stop()
    registration.redirect_uris.remove(settings.redirect_uri)


def test_sign_in_works_after_more_abandoned_sign_ins_than_the_store_holds(small_backup_app, browsers):
    base_url, backup = small_backup_app
    person = browsers(base_url)
    authorize = person.start_login("/me")  # started before the flood, finished after it
    for _ in range(30):
        assert browsers(base_url).get("/auth/login").status_code == 303
    assert len(backup) <= 10
    late = browsers(base_url)
    assert late.sign_in(BEN.username, BEN.password).status_code == 303
    assert late.get("/me").json()["username"] == BEN.username
    callback = person.authenticate(authorize, ADELE.username, ADELE.password)
    assert person.finish(callback).headers["location"] == "/me"
    assert person.get("/me").json()["username"] == ADELE.username


LONG_NEXT = "/me?" + "x" * 1990  # a return path too long for the cookie: its flow is backed up


def test_four_tabs_in_one_browser_all_finish(public_app, browsers):
    """The cookie carries three flows; the fourth tab's oldest is backed up, and the cookie
    keeps the binding that finds it after the other three have finished."""
    browser = browsers(public_app.base_url)
    tabs = [browser.start_login(f"/calculator?tab={n}") for n in range(4)]
    callbacks = [browser.authenticate(tab, BEN.username, BEN.password) for tab in tabs]
    for n in (3, 2, 1, 0):
        assert browser.finish(callbacks[n]).headers["location"] == f"/calculator?tab={n}"


def test_a_flow_too_big_for_the_cookie_finishes_after_a_normal_one(public_app, browsers):
    browser = browsers(public_app.base_url)
    normal = browser.start_login("/calculator")
    long = browser.start_login(LONG_NEXT)
    callback_normal = browser.authenticate(normal, BEN.username, BEN.password)
    callback_long = browser.authenticate(long, BEN.username, BEN.password)
    assert browser.finish(callback_normal).headers["location"] == "/calculator"
    assert browser.finish(callback_long).headers["location"] == LONG_NEXT


def test_an_anonymous_flood_leaves_backed_up_flows_alone(small_backup_app, browsers):
    """Abandoned sign-ins from fresh browsers fit in their own cookies: they write nothing to
    the StateStore, so they cannot evict a flow that lives only there."""
    base_url, backup = small_backup_app
    person = browsers(base_url)
    authorize = person.start_login(LONG_NEXT)
    assert len(backup) == 1
    for _ in range(30):
        assert browsers(base_url).get("/auth/login").status_code == 303
    assert len(backup) == 1
    callback = person.authenticate(authorize, ADELE.username, ADELE.password)
    assert person.finish(callback).headers["location"] == LONG_NEXT


def test_a_browser_that_keeps_starting_sign_ins_fills_only_the_bounded_backup(small_backup_app, browsers):
    """A client that keeps its cookie full pushes a flow into the backup with every new
    sign-in; the backup stays at its bound, and the newest three flows still finish."""
    base_url, backup = small_backup_app
    greedy = browsers(base_url)
    tabs = [greedy.start_login(f"/calculator?n={n}") for n in range(40)]
    assert len(backup) == 10
    callback = greedy.authenticate(tabs[-1], BEN.username, BEN.password)
    assert greedy.finish(callback).headers["location"] == "/calculator?n=39"
