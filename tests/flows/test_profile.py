"""/profile calls local_entra's Graph stand-in with the user's token (which verifies
signature, audience, scope and expiry); the groups overage is resolved from Graph."""

from __future__ import annotations

import asyncio

from local_entra.config import DEMO_USERS
from tests.conftest import ADELE, BEN

MANY = next(u for u in DEMO_USERS if u.username.startswith("many"))


def test_profile_shows_the_graph_profile(app_server, browsers, entra):
    browser = browsers(app_server.base_url)
    assert browser.get("/profile").headers["location"] == "/auth/login?next=%2Fprofile"
    browser.sign_in(ADELE.username, ADELE.password)
    before = entra.counters["graph_me"]
    page = browser.get("/profile")
    assert page.status_code == 200
    assert ADELE.name in page.text and ADELE.username in page.text
    assert entra.counters["graph_me"] == before + 1
    assert "eyJ" not in page.text


def test_graph_401_gets_one_refresh_and_one_retry(private_entra_app, browsers):
    entra, app = private_entra_app()
    browser = browsers(app.base_url)
    browser.sign_in(BEN.username, BEN.password)
    assert browser.get("/profile").status_code == 200  # a Graph token now sits in the cache
    # Graph stops accepting it (its signing key is withdrawn) while MSAL would still
    # serve it from the cache: the app gets a 401, refreshes once and retries.
    entra.rotate_signing_key(keep_old=False)
    refreshes, calls = entra.counters["token_refresh_token"], entra.counters["graph_me"]
    page = browser.get("/profile")
    assert page.status_code == 200 and BEN.name in page.text
    assert entra.counters["token_refresh_token"] == refreshes + 1
    assert entra.counters["graph_me"] == calls + 2


def test_graph_failure_is_a_friendly_502(extra_app, browsers, entra):
    server = extra_app(graph_base_url="https://127.0.0.1:9")
    browser = browsers(server.base_url)
    browser.sign_in(BEN.username, BEN.password)
    page = browser.get("/profile")
    assert page.status_code == 502 and "Profile unavailable" in page.text and "Traceback" not in page.text


def test_groups_overage_is_fetched_from_graph(public_app, browsers, entra):
    before = entra.counters["graph_member_objects"]
    browser = browsers(public_app.base_url)
    browser.sign_in(MANY.username, MANY.password)
    session = asyncio.run(public_app.services.sessions.load(browser.session_cookie))
    assert len(session.user["groups"]) == 250
    assert set(session.user["groups"]) == set(MANY.groups)
    assert entra.counters["graph_member_objects"] == before + 1

    adele = browsers(public_app.base_url)
    adele.sign_in(ADELE.username, ADELE.password)
    adele_session = asyncio.run(public_app.services.sessions.load(adele.session_cookie))
    assert adele_session.user["groups"] == ADELE.groups  # in the id_token itself
    assert entra.counters["graph_member_objects"] == before + 1
