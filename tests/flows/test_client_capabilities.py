"""Client capabilities (ENTRA_CLIENT_CAPABILITIES, default cp1) reach Entra as xms_cc in the
claims parameter, and the user's access tokens carry them back; empty sends none.

Real HTTPS against a private local_entra, which reads xms_cc as Entra does; nothing mocked.
"""

from __future__ import annotations

import json

from tests.conftest import ADELE
from tests.support.browser import query_of
from tests.support.federation import TOKEN_FACTS_PATH, token_facts_router

CP1_CLAIMS = {"access_token": {"xms_cc": {"values": ["cp1"]}}}


def test_cp1_is_sent_and_the_users_access_token_carries_it(private_entra_app, browsers):
    entra, app = private_entra_app(routers=[token_facts_router()])
    assert app.settings.client_capabilities == ["cp1"]  # the default
    browser = browsers(app.base_url)
    authorize_url = browser.start_login()
    assert json.loads(query_of(authorize_url)["claims"]) == CP1_CLAIMS
    assert browser.finish(browser.authenticate(authorize_url, ADELE.username, ADELE.password)).status_code == 303

    facts = browser.get(TOKEN_FACTS_PATH)  # a Graph token: a refresh_token grant after sign-in
    assert facts.status_code == 200, facts.text
    assert facts.json()["xms_cc"] == ["cp1"]
    assert facts.json()["scp"].startswith("User.Read")
    # The code redemption and the refresh each asked for cp1, and local_entra echoed it.
    assert entra.client_capabilities_seen == [["cp1"], ["cp1"]]


def test_empty_capabilities_send_none(private_entra_app, browsers):
    entra, app = private_entra_app(routers=[token_facts_router()], entra_client_capabilities="")
    assert app.settings.client_capabilities == []
    browser = browsers(app.base_url)
    authorize_url = browser.start_login()
    assert "claims" not in query_of(authorize_url)
    assert browser.finish(browser.authenticate(authorize_url, ADELE.username, ADELE.password)).status_code == 303

    facts = browser.get(TOKEN_FACTS_PATH)
    assert facts.status_code == 200, facts.text
    assert facts.json()["xms_cc"] is None
    assert entra.client_capabilities_seen == [[], []]
