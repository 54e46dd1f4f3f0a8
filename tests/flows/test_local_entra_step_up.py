"""local_entra as Entra behaves for step-up, recent sign-in and continuous access evaluation:
claims requests for `acrs` (a step-up page the user approves), `max_age` against the
browser's last sign-in there, and the Graph stand-in's CAE claims challenges.

Real HTTPS throughout, MSAL as an app uses it; nothing is mocked."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import msal
import pytest
import requests

from local_entra import DEMO_USERS, ClientRegistration, LocalEntra, LocalEntraConfig
from secure_auth.validators.claims import auth_context_claims, claims_challenge
from tests.support.browser import Browser

CLIENT_ID = "9a1d7c0e-5555-4a2b-8c3d-000000000005"
REDIRECT_URI = "http://127.0.0.1:9/auth/callback"  # never contacted: the code is read off the redirect
ADELE = next(u for u in DEMO_USERS if u.username == "adele@contoso.example")
BEN = next(u for u in DEMO_USERS if u.username == "ben@contoso.example")
STEP_UP = auth_context_claims("c1")


class Provider:
    def __init__(self, entra: LocalEntra, http: requests.Session) -> None:
        self.entra = entra
        self.http = http

    def app(self, capabilities: list[str] | None = None) -> msal.PublicClientApplication:
        return msal.PublicClientApplication(
            CLIENT_ID,
            authority=self.entra.authority(),
            instance_discovery=False,
            http_client=self.http,
            client_capabilities=capabilities,
        )

    def graph_me(self, token: str) -> requests.Response:
        return self.http.get(
            self.entra.authority_host + "/v1.0/me", headers={"Authorization": f"Bearer {token}"}, timeout=20
        )


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    work: Path = tmp_path_factory.mktemp("step_up")
    client = ClientRegistration(CLIENT_ID, [REDIRECT_URI], public_client=True)
    config = LocalEntraConfig([client], [u.copy() for u in DEMO_USERS], state_dir=work / "local_entra")
    entra = LocalEntra(config).start()
    http = requests.Session()
    http.trust_env = False
    http.verify = str(entra.ca_bundle_path)
    yield Provider(entra, http)
    http.close()
    entra.stop()


@pytest.fixture
def browser(provider: Provider) -> Iterator[Browser]:
    browser = Browser(provider.entra.front_url)
    yield browser
    browser.close()


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def claims_param(url: str) -> dict:
    return json.loads(parse_qs(urlsplit(url).query)["claims"][0])


def redeem(app: msal.PublicClientApplication, flow: dict, callback) -> dict:
    result = app.acquire_token_by_auth_code_flow(flow, callback.params)
    assert "access_token" in result, result
    return result


# ----- step-up: acrs -----


def test_an_acrs_request_asks_for_approval_and_the_tokens_carry_acrs(provider, browser):
    app = provider.app()
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI, claims_challenge=STEP_UP)
    callback = browser.step_up(flow["auth_uri"], ADELE.username, ADELE.password)
    result = redeem(app, flow, callback)
    assert result["id_token_claims"]["acrs"] == ["c1"]
    assert claims_of(result["access_token"])["acrs"] == ["c1"]
    assert isinstance(result["id_token_claims"]["auth_time"], int)

    # Signed in at this browser already: the next step-up asks only for the approval.
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI, claims_challenge=STEP_UP)
    page = browser.get(flow["auth_uri"])
    assert "Approve this sign-in" in page.text and 'name="password"' not in page.text
    assert "<script" not in page.text and "style=" not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert redeem(app, flow, browser.step_up(flow["auth_uri"]))["id_token_claims"]["acrs"] == ["c1"]


def test_declining_the_step_up_is_access_denied(provider, browser):
    app = provider.app()
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI, claims_challenge=STEP_UP)
    callback = browser.step_up(flow["auth_uri"], BEN.username, BEN.password, approve=False)
    assert callback.params["error"] == "access_denied"
    assert callback.params["error_description"].startswith("AADSTS500121")


def test_client_capabilities_and_the_step_up_survive_msals_merge_together(provider, browser):
    """MSAL merges client capabilities (xms_cc) into the claims parameter; the acrs request
    must still arrive, and be honoured."""
    app = provider.app(capabilities=["cp1"])
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI, claims_challenge=STEP_UP)
    sent = claims_param(flow["auth_uri"])
    assert sent["id_token"] == {"acrs": {"essential": True, "value": "c1"}}
    assert sent["access_token"]["xms_cc"] == {"values": ["cp1"]}
    result = redeem(app, flow, browser.step_up(flow["auth_uri"], ADELE.username, ADELE.password))
    assert result["id_token_claims"]["acrs"] == ["c1"]
    access = claims_of(result["access_token"])
    assert access["acrs"] == ["c1"] and access["xms_cc"] == ["cp1"]
    token_requests = [json.loads(c) for kind, _, c in provider.entra.claims_requests if kind == "token"]
    assert token_requests[-1]["access_token"]["xms_cc"] == {"values": ["cp1"]}


def test_a_refresh_cannot_add_an_authentication_context_and_keeps_the_refresh_token(provider, browser):
    app = provider.app()
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)
    redeem(app, flow, browser.authenticate(flow["auth_uri"], BEN.username, BEN.password))
    account = app.get_accounts()[0]
    wanted = json.dumps({"access_token": {"acrs": {"essential": True, "value": "c1"}}})
    refused = app.acquire_token_silent_with_error(["User.Read"], account, claims_challenge=wanted)
    assert refused["error"] == "interaction_required"
    assert app.acquire_token_silent_with_error(["User.Read"], account, force_refresh=True)["access_token"]


# ----- the browser's sign-in, auth_time and max_age -----


def test_a_later_sign_in_continues_with_the_browsers_sign_in_and_its_auth_time(provider, browser):
    app = provider.app()
    first = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    signed_in = redeem(app, first, browser.authenticate(first["auth_uri"], BEN.username, BEN.password))
    provider.entra.age_sign_ins(600)
    again = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    continued = redeem(app, again, browser.continue_signed_in(again["auth_uri"]))["id_token_claims"]
    assert continued["auth_time"] == signed_in["id_token_claims"]["auth_time"] - 600
    assert continued["sid"] == signed_in["id_token_claims"]["sid"]  # the same session at the IdP

    # max_age shorter than that: the password is asked again, and auth_time is now.
    recent = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI, max_age=300)
    page = browser.get(recent["auth_uri"])
    assert 'value="continue"' not in page.text
    assert "sign in again" in page.text
    result = redeem(app, recent, browser.authenticate(recent["auth_uri"], BEN.username, BEN.password))
    assert time.time() - result["id_token_claims"]["auth_time"] < 60

    # prompt=login: always the password.
    forced = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI, prompt="login")
    assert 'value="continue"' not in browser.get(forced["auth_uri"]).text


def test_signing_out_at_the_idp_ends_the_browsers_sign_in(provider, browser):
    app = provider.app()
    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    redeem(app, flow, browser.authenticate(flow["auth_uri"], BEN.username, BEN.password))
    browser.get(f"{provider.entra.front_url}/{provider.entra.tenant_id}/oauth2/v2.0/logout")
    again = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    assert 'value="continue"' not in browser.get(again["auth_uri"]).text


@pytest.mark.parametrize(
    "params,error",
    [({"claims": "not json"}, "AADSTS70011"), ({"claims": "[1]"}, "AADSTS70011"), ({"max_age": "-1"}, "AADSTS90018")],
)
def test_a_malformed_claims_or_max_age_parameter_is_an_error_redirect(provider, browser, params, error):
    flow = provider.app().initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    response = browser.get(flow["auth_uri"] + "&" + urlencode(params))
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["error"] == ["invalid_request"] and query["error_description"][0].startswith(error)


# ----- continuous access evaluation at the Graph stand-in -----


def sign_in_for_graph(provider: Provider, browser: Browser, user=ADELE) -> tuple[msal.PublicClientApplication, str]:
    app = provider.app(capabilities=["cp1"])
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)
    result = redeem(app, flow, browser.authenticate(flow["auth_uri"], user.username, user.password))
    return app, result["access_token"]


def test_a_cae_event_is_challenged_until_a_token_is_asked_for_with_its_claims(provider, browser):
    app, token = sign_in_for_graph(provider, browser)
    assert provider.graph_me(token).status_code == 200
    provider.entra.cae_event(ADELE.username)
    refused = provider.graph_me(token)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "InvalidAuthenticationToken"
    challenge = claims_challenge([refused.headers["www-authenticate"]])
    assert challenge is not None and json.loads(challenge)["access_token"]["nbf"]["essential"] is True

    account = app.get_accounts()[0]
    plain = app.acquire_token_silent_with_error(["User.Read"], account, force_refresh=True)["access_token"]
    assert provider.graph_me(plain).status_code == 401  # a new token, but not asked for with the claims
    answered = app.acquire_token_silent_with_error(["User.Read"], account, claims_challenge=challenge)
    assert provider.graph_me(answered["access_token"]).status_code == 200
    assert provider.graph_me(plain).status_code == 401  # tokens issued before stay refused
    provider.entra.clear_challenges()


def test_revoking_sessions_ends_the_refresh_token_and_the_browsers_sign_in(provider, browser):
    app, token = sign_in_for_graph(provider, browser, BEN)
    provider.entra.revoke_sessions(BEN.username)
    challenge = claims_challenge([provider.graph_me(token).headers["www-authenticate"]])
    assert challenge is not None
    silent = app.acquire_token_silent_with_error(["User.Read"], app.get_accounts()[0], claims_challenge=challenge)
    assert silent["error"] == "invalid_grant"
    # Interactively, with the claims: the password again, and the new token is accepted.
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI, claims_challenge=challenge)
    assert 'value="continue"' not in browser.get(flow["auth_uri"]).text
    result = redeem(app, flow, browser.authenticate(flow["auth_uri"], BEN.username, BEN.password))
    assert provider.graph_me(result["access_token"]).status_code == 200
    provider.entra.clear_challenges()


def test_challenge_always_never_clears(provider, browser):
    app, token = sign_in_for_graph(provider, browser)
    provider.entra.challenge_always(ADELE.username)
    first = provider.graph_me(token).headers["www-authenticate"]
    challenge = claims_challenge([first])
    answered = app.acquire_token_silent_with_error(["User.Read"], app.get_accounts()[0], claims_challenge=challenge)
    again = provider.graph_me(answered["access_token"])
    assert again.status_code == 401 and claims_challenge([again.headers["www-authenticate"]]) == challenge
    provider.entra.clear_challenges()
    fresh = app.acquire_token_silent_with_error(["User.Read"], app.get_accounts()[0], force_refresh=True)
    assert provider.graph_me(fresh["access_token"]).status_code == 200


def test_an_api_stand_in_gets_the_same_challenge(provider, browser):
    _, token = sign_in_for_graph(provider, browser, BEN)
    assert provider.entra.cae_challenge(claims_of(token)) is None
    provider.entra.cae_event(BEN.username)
    header = provider.entra.cae_challenge(claims_of(token))
    assert header is not None and claims_challenge([header]) is not None
    encoded = header.split('claims="')[1].rstrip('"')
    assert "nbf" in json.loads(base64.b64decode(encoded))["access_token"]
    provider.entra.clear_challenges()


# ----- the demo's "revoke this user's sessions" page -----


def test_the_revocation_page_revokes_from_its_own_form_only(provider, browser):
    _, token = sign_in_for_graph(provider, browser, BEN)
    page = browser.get("/_local_entra/sessions")
    assert page.status_code == 200 and "Revoke the sessions of Ben Walters" in page.text
    assert "<script" not in page.text
    cross_site = browser.post(
        "/_local_entra/sessions/revoke", data={"username": BEN.username}, headers={"sec-fetch-site": "cross-site"}
    )
    assert cross_site.status_code == 403
    assert provider.graph_me(token).status_code == 200
    done = browser.post(
        "/_local_entra/sessions/revoke", data={"username": BEN.username}, headers={"origin": provider.entra.front_url}
    )
    assert done.status_code == 303
    assert "Revoked the sessions of Ben Walters" in browser.get(done.headers["location"]).text
    assert provider.graph_me(token).status_code == 401
    provider.entra.clear_challenges()
