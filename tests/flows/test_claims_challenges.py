"""CAE claims challenges from Microsoft Graph (local_entra's stand-in) on the profile page:
answered silently with a token asked for with the claims; interactively (the user signs in
with them and comes back) when no silent answer exists; and never in a loop. Real HTTP(S)
throughout, nothing mocked."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import ADELE
from tests.support.browser import Browser

JSON = {"accept": "application/json"}


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def outcomes(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.fields["outcome"]
        for r in caplog.records
        if getattr(r, "event", None) == "claims_challenge" and r.fields.get("resource") == "graph"
    ]


@pytest.fixture
def signed_in(private_entra_app, browsers, caplog):
    caplog.set_level(logging.INFO, logger="secure_auth.security")
    entra, app = private_entra_app()
    browser: Browser = browsers(app.base_url)
    browser.sign_in(ADELE.username, ADELE.password)
    assert browser.get("/profile").status_code == 200  # a Graph token in the cache
    return entra, app, browser


def test_a_challenge_is_answered_silently_with_the_claims(signed_in, caplog):
    entra, _, browser = signed_in
    entra.cae_event(ADELE.username)  # a location change, say: the refresh token still works
    authorizations = entra.counters["authorize"]
    page = browser.get("/profile")
    assert page.status_code == 200 and ADELE.username in page.text
    assert entra.counters["authorize"] == authorizations  # no trip to the sign-in page
    asked = [json.loads(c) for kind, _, c in entra.claims_requests if kind == "token"]
    assert asked and "nbf" in asked[-1]["access_token"]  # the refresh carried the challenge's claims
    assert outcomes(caplog) == ["answered"]


def test_when_the_silent_answer_fails_the_user_signs_in_with_the_claims_and_comes_back(signed_in, caplog):
    entra, _, browser = signed_in
    entra.revoke_sessions(ADELE.username)  # refresh tokens and the IdP's sign-in end too
    response = browser.get("/profile")
    assert response.status_code == 303
    login = query(response.headers["location"])
    assert login["next"] == "/profile" and login["scope"] == "User.Read"
    assert json.loads(login["claims"])["access_token"]["nbf"]["essential"] is True
    assert browser.session_cookie  # the session lives on meanwhile

    authorize = browser.get(response.headers["location"]).headers["location"]
    assert (
        json.loads(query(authorize)["claims"])["access_token"]["nbf"]
        == json.loads(login["claims"])["access_token"]["nbf"]
    )
    assert 'value="continue"' not in browser.get(authorize).text  # revoked: the password again
    back = browser.finish(browser.authenticate(authorize, ADELE.username, ADELE.password))
    assert back.headers["location"] == "/profile"
    assert browser.get("/profile").status_code == 200
    assert outcomes(caplog) == ["interactive"]


def test_a_json_client_gets_401_with_a_login_url_that_carries_the_challenge(signed_in):
    entra, _, browser = signed_in
    entra.revoke_sessions(ADELE.username)
    response = browser.get("/profile", headers=JSON)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "claims_challenge"
    assert "nbf" in json.loads(query(body["login_url"])["claims"])["access_token"]


def test_a_challenge_that_persists_after_signing_in_with_it_ends_in_an_error_page(signed_in, caplog):
    entra, _, browser = signed_in
    entra.challenge_always(ADELE.username)
    # The silent answer is challenged again: through the sign-in with the claims, once.
    response = browser.get("/profile")
    assert response.status_code == 303 and "claims" in query(response.headers["location"])
    authorize = browser.get(response.headers["location"]).headers["location"]
    browser.finish(browser.continue_signed_in(authorize))
    # Back on the page, the same challenge again: a clear error, no redirect.
    authorizations = entra.counters["authorize"]
    page = browser.get("/profile", headers={"accept": "text/html"})
    assert page.status_code == 403
    assert "Access still refused" in page.text and "claims_challenge_loop" in page.text
    assert browser.get("/profile", headers=JSON).json()["error"] == "claims_challenge_loop"
    assert entra.counters["authorize"] == authorizations
    assert outcomes(caplog) == ["interactive", "loop", "loop"]

    entra.clear_challenges()
    assert browser.get("/profile").status_code == 200
