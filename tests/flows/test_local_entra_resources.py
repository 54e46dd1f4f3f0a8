"""local_entra as a resource provider: the Graph stand-in, groups and refresh-token hooks.

Real HTTPS throughout: MSAL obtains tokens from a private local_entra (sign-in form
posted by the scripted browser), and the tests call ``/v1.0/...`` with those tokens
as an app's Graph client would. Nothing is mocked.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import msal
import pytest
import requests

from local_entra import DEMO_USERS, GRAPH_RESOURCE_ID, ClientRegistration, DemoUser, LocalEntra, LocalEntraConfig
from tests.support.browser import Browser

CLIENT_ID = "9a1d7c0e-4444-4a2b-8c3d-000000000004"
# Never contacted: the test reads the code off the sign-in's redirect.
REDIRECT_URI = "http://127.0.0.1:9/auth/callback"
API_SCOPE = f"api://{CLIENT_ID}/access_as_user"

ADELE = next(u for u in DEMO_USERS if u.username == "adele@contoso.example")
BEN = next(u for u in DEMO_USERS if u.username == "ben@contoso.example")
GUEST = next(u for u in DEMO_USERS if u.username == "guest@fabrikam.example")
MANY = next(u for u in DEMO_USERS if u.username == "many@contoso.example")


@dataclass
class Provider:
    entra: LocalEntra
    http: requests.Session

    @property
    def graph(self) -> str:
        return self.entra.authority_host  # GRAPH_BASE_URL

    def msal_app(self) -> msal.PublicClientApplication:
        return msal.PublicClientApplication(
            CLIENT_ID,
            authority=self.entra.authority(),
            instance_discovery=False,
            http_client=self.http,
        )

    def sign_in(self, user: DemoUser, scopes: list[str]) -> tuple[msal.PublicClientApplication, dict]:
        app = self.msal_app()
        flow = app.initiate_auth_code_flow(scopes, redirect_uri=REDIRECT_URI, login_hint=user.username)
        browser = Browser(self.entra.front_url)
        try:
            callback = browser.authenticate(flow["auth_uri"], user.username, user.password)
        finally:
            browser.close()
        result = app.acquire_token_by_auth_code_flow(flow, callback.params)
        assert "access_token" in result, result
        return app, result

    def token(self, user: DemoUser, scopes: list[str]) -> str:
        return self.sign_in(user, scopes)[1]["access_token"]

    def get(self, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return self.http.get(self.graph + path, headers=headers, timeout=20, **kwargs)

    def post(self, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return self.http.post(self.graph + path, headers=headers, timeout=20, **kwargs)

    def refresh(self, refresh_token: str, scope: str = "User.Read offline_access") -> requests.Response:
        return self.http.post(
            f"{self.entra.authority()}/oauth2/v2.0/token",
            data={
                "grant_type": "refresh_token",
                "client_id": CLIENT_ID,
                "refresh_token": refresh_token,
                "scope": scope,
            },
            timeout=20,
        )


def _start(work_dir: Path, **config: Any) -> Iterator[Provider]:
    client = ClientRegistration(CLIENT_ID, [REDIRECT_URI], public_client=True)
    users = [user.copy() for user in DEMO_USERS]
    config = LocalEntraConfig([client], users, state_dir=work_dir / "local_entra", **config)
    entra = LocalEntra(config).start()
    http = requests.Session()
    http.trust_env = False
    http.verify = str(entra.ca_bundle_path)
    try:
        yield Provider(entra, http)
    finally:
        http.close()
        entra.stop()


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    yield from _start(tmp_path_factory.mktemp("resources"))


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """Access tokens live one second, for expiry tests."""
    yield from _start(tmp_path_factory.mktemp("short_lived"), access_token_lifetime=1)


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def signer(provider: Provider) -> Callable[[dict], str]:
    """local_entra's own signing function, borrowed through its id-token hook, to forge
    tokens that are correctly signed but wrong in one claim."""
    captured: dict[str, Callable] = {}

    def keep(claims: dict, sign: Callable) -> str:
        captured["sign"] = sign
        return sign(claims)

    provider.entra.transform_next_id_token(keep)
    provider.sign_in(BEN, ["User.Read"])
    return captured["sign"]


def assert_invalid_token(response: requests.Response, message: str | None = None) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert f'client_id="{GRAPH_RESOURCE_ID}"' in response.headers["WWW-Authenticate"]
    error = response.json()["error"]
    assert error["code"] == "InvalidAuthenticationToken"
    if message is not None:
        assert error["message"] == message


# ----- /v1.0/me ----------------------------------------------------------------


def test_me_returns_the_signed_in_users_profile(provider: Provider) -> None:
    token = provider.token(ADELE, ["User.Read"])
    claims = claims_of(token)
    assert claims["aud"] == GRAPH_RESOURCE_ID and "User.Read" in claims["scp"].split()
    before = provider.entra.counters["graph_me"]

    response = provider.get("/v1.0/me", token)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["@odata.context"].endswith("/v1.0/$metadata#users/$entity")
    assert body["id"] == ADELE.oid == claims["oid"]
    assert body["displayName"] == "Adele Vance"
    assert (body["givenName"], body["surname"]) == ("Adele", "Vance")
    assert body["mail"] == body["userPrincipalName"] == ADELE.username
    assert body["jobTitle"] == ADELE.job_title and body["jobTitle"]
    assert body["officeLocation"] == ADELE.office_location
    assert body["businessPhones"] == ADELE.business_phones and isinstance(body["businessPhones"], list)
    assert body["mobilePhone"] == ADELE.mobile_phone
    assert body["preferredLanguage"] == "en-US"
    assert provider.entra.counters["graph_me"] == before + 1


def test_me_serves_each_user_their_own_profile_including_another_tenant(provider: Provider) -> None:
    guest = provider.get("/v1.0/me", provider.token(GUEST, ["https://graph.microsoft.com/User.Read"]))
    assert guest.status_code == 200, guest.text
    assert guest.json()["id"] == GUEST.oid
    assert guest.json()["preferredLanguage"] == "fr-FR"
    assert guest.json()["mobilePhone"] is None  # unset fields are null, as in Graph

    many = provider.get("/v1.0/me", provider.token(MANY, ["user.read"]))  # scope names ignore case
    assert many.status_code == 200, many.text
    assert many.json()["displayName"] == "Morgan Many"
    assert many.json()["businessPhones"] == []


def test_me_without_a_token_is_401(provider: Provider) -> None:
    assert_invalid_token(provider.get("/v1.0/me"), "Access token is empty.")
    assert_invalid_token(
        provider.http.get(provider.graph + "/v1.0/me", headers={"Authorization": "Basic YTpi"}, timeout=20)
    )


def test_me_with_a_garbage_token_is_401(provider: Provider) -> None:
    assert_invalid_token(provider.get("/v1.0/me", "not-a-jwt"))
    assert_invalid_token(provider.get("/v1.0/me", "a.b.c"))


def test_me_with_a_tampered_token_is_401(provider: Provider) -> None:
    token = provider.token(BEN, ["User.Read"])
    header, _payload, signature = token.split(".")
    claims = claims_of(token)
    claims["oid"] = ADELE.oid
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert_invalid_token(
        provider.get("/v1.0/me", f"{header}.{forged_payload}.{signature}"), "Signature validation failed."
    )


def test_me_with_an_app_api_token_is_401_wrong_audience(provider: Provider) -> None:
    token = provider.token(ADELE, [API_SCOPE])
    assert claims_of(token)["aud"] == CLIENT_ID  # a token for the app's own API, not Graph
    assert_invalid_token(provider.get("/v1.0/me", token), "Access token validation failure. Invalid audience.")


def test_me_without_user_read_is_403(provider: Provider) -> None:
    token = provider.token(BEN, ["Mail.Read"])
    assert claims_of(token)["aud"] == GRAPH_RESOURCE_ID
    response = provider.get("/v1.0/me", token)
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "Authorization_RequestDenied"
    assert "WWW-Authenticate" not in response.headers


def test_me_with_an_expired_token_is_401(short_lived: Provider) -> None:
    token = short_lived.token(BEN, ["User.Read"])
    time.sleep(2.2)
    assert_invalid_token(short_lived.get("/v1.0/me", token), "Lifetime validation failed, the token is expired.")


def test_me_refuses_signed_tokens_with_a_wrong_issuer_or_future_nbf(provider: Provider) -> None:
    sign = signer(provider)
    good = claims_of(provider.token(GUEST, ["User.Read"]))
    assert provider.get("/v1.0/me", sign(good)).status_code == 200  # the signer itself is fine

    # Another known tenant's issuer on a Fabrikam token: iss must match the token's tid.
    wrong_iss = {**good, "iss": provider.entra.issuer(ADELE.tid)}
    refused = provider.get("/v1.0/me", sign(wrong_iss))
    assert_invalid_token(refused, "Access token validation failure. Invalid issuer.")
    graph_uri = {**good, "aud": "https://graph.microsoft.com"}  # Graph's URI is a valid audience too
    assert provider.get("/v1.0/me", sign(graph_uri)).status_code == 200
    future = {**good, "nbf": int(time.time()) + 600}
    refused = provider.get("/v1.0/me", sign(future))
    assert_invalid_token(refused, "Lifetime validation failed, the token is not yet valid.")
    no_exp = {k: v for k, v in good.items() if k != "exp"}
    assert_invalid_token(provider.get("/v1.0/me", sign(no_exp)))
    assert_invalid_token(provider.get("/v1.0/me", sign(good, {"alg": "none"})))
    assert_invalid_token(provider.get("/v1.0/me", sign(good, {"kid": "unknown-kid"})))


def test_me_refuses_tokens_signed_by_a_key_that_is_no_longer_published(tmp_path: Path) -> None:
    for provider in _start(tmp_path):
        token = provider.token(BEN, ["User.Read"])
        provider.entra.rotate_signing_key(keep_old=True)
        assert provider.get("/v1.0/me", token).status_code == 200  # old key still published
        provider.entra.rotate_signing_key(keep_old=False)
        assert_invalid_token(provider.get("/v1.0/me", token))


def test_graph_is_not_served_on_the_plain_http_front_channel(provider: Provider) -> None:
    token = provider.token(BEN, ["User.Read"])
    headers = {"Authorization": f"Bearer {token}"}
    response = requests.get(provider.entra.front_url + "/v1.0/me", headers=headers, timeout=20)
    assert response.status_code == 404


# ----- groups --------------------------------------------------------------------


def test_id_token_carries_groups_or_the_overage_indicator(provider: Provider) -> None:
    adele = provider.sign_in(ADELE, ["User.Read"])[1]["id_token_claims"]
    assert adele["groups"] == ADELE.groups and len(ADELE.groups) == 2
    assert "_claim_names" not in adele

    many = provider.sign_in(MANY, ["User.Read"])[1]["id_token_claims"]
    assert len(MANY.groups) == 250 and len(set(MANY.groups)) == 250
    assert "groups" not in many
    assert many["_claim_names"] == {"groups": "src1"}
    assert many["_claim_sources"] == {
        "src1": {"endpoint": f"https://graph.windows.net/{MANY.tid}/users/{MANY.oid}/getMemberObjects"}
    }

    ben = provider.sign_in(BEN, ["User.Read"])[1]["id_token_claims"]
    assert "groups" not in ben and "_claim_names" not in ben


def test_overage_limit_is_configurable(tmp_path: Path) -> None:
    for provider in _start(tmp_path, groups_overage_limit=1):
        claims = provider.sign_in(ADELE, ["User.Read"])[1]["id_token_claims"]
        assert "groups" not in claims and claims["_claim_names"] == {"groups": "src1"}


def test_get_member_objects_returns_all_groups_of_an_overage_user(provider: Provider) -> None:
    token = provider.token(MANY, ["User.Read"])
    before = provider.entra.counters["graph_member_objects"]
    response = provider.post("/v1.0/me/getMemberObjects", token, json={"securityEnabledOnly": True})
    assert response.status_code == 200, response.text
    assert response.json()["value"] == MANY.groups
    assert provider.entra.counters["graph_member_objects"] == before + 1

    member_of = provider.get("/v1.0/me/memberOf", token)
    assert member_of.status_code == 200, member_of.text
    assert member_of.json()["value"] == [{"@odata.type": "#microsoft.graph.group", "id": g} for g in MANY.groups]


def test_get_member_objects_accepts_any_graph_scope_but_checks_the_token(provider: Provider) -> None:
    mail_only = provider.token(ADELE, ["Mail.Read"])
    response = provider.post("/v1.0/me/getMemberObjects", mail_only, json={"securityEnabledOnly": False})
    assert response.status_code == 200, response.text
    assert response.json()["value"] == ADELE.groups

    assert_invalid_token(provider.post("/v1.0/me/getMemberObjects", json={"securityEnabledOnly": False}))
    api_token = provider.token(ADELE, [API_SCOPE])
    assert_invalid_token(provider.post("/v1.0/me/getMemberObjects", api_token, json={"securityEnabledOnly": False}))
    bad_body = provider.post("/v1.0/me/getMemberObjects", mail_only, json={})
    assert bad_body.status_code == 400 and "error" in bad_body.json()


# ----- refresh tokens --------------------------------------------------------------


def test_fail_next_refresh_with_is_returned_by_msal_once(provider: Provider) -> None:
    app, _ = provider.sign_in(ADELE, ["User.Read"])
    account = app.get_accounts(username=ADELE.username)[0]
    start = provider.entra.refresh_token_requests

    provider.entra.fail_next_refresh_with("interaction_required", 50076)
    failed = app.acquire_token_silent_with_error(["User.Read"], account, force_refresh=True)
    assert failed["error"] == "interaction_required", failed
    assert failed["error_codes"] == [50076]
    assert "AADSTS50076" in failed["error_description"]
    assert provider.entra.refresh_token_requests == start + 1

    # MSAL itself replays an HTTP 400 for an identical request for 60 s ("UI required"
    # cache) without calling the token endpoint: apps see the error again.
    replayed = app.acquire_token_silent_with_error(["User.Read"], account, force_refresh=True)
    assert replayed["error"] == "interaction_required"
    assert provider.entra.refresh_token_requests == start + 1

    # Any other request reaches local_entra: the failure was one shot and the refresh
    # token survived it.
    again = app.acquire_token_silent_with_error(["User.Read", "Calendars.Read"], account, force_refresh=True)
    assert "access_token" in again, again
    assert provider.entra.refresh_token_requests == start + 2
    assert provider.entra.counters["token_refresh_token"] == start + 2


def test_fail_next_refresh_with_consent_required_suberror(provider: Provider) -> None:
    app, _ = provider.sign_in(BEN, ["User.Read"])
    account = app.get_accounts(username=BEN.username)[0]
    provider.entra.fail_next_refresh_with("invalid_grant", 65001, suberror="consent_required")
    failed = app.acquire_token_silent_with_error(["User.Read"], account, force_refresh=True)
    assert failed["error"] == "invalid_grant" and failed["error_codes"] == [65001], failed
    assert failed["suberror"] == "consent_required"


def test_fail_next_refresh_with_defaults_to_an_expired_refresh_token(provider: Provider) -> None:
    _, result = provider.sign_in(BEN, ["User.Read"])
    provider.entra.fail_next_refresh_with()
    response = provider.refresh(result["refresh_token"])
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_grant" and body["error_codes"] == [700082]
    assert "suberror" not in body
    assert provider.refresh(result["refresh_token"]).status_code == 200


def test_refresh_honours_access_token_lifetime(short_lived: Provider) -> None:
    _, result = short_lived.sign_in(BEN, ["User.Read"])
    assert result["expires_in"] == 1
    response = short_lived.refresh(result["refresh_token"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expires_in"] == 1
    claims = claims_of(body["access_token"])
    assert claims["exp"] - claims["iat"] == 1

    # A refresh may switch to the app's own API: aud becomes the client id.
    api = short_lived.refresh(body["refresh_token"], scope=f"{API_SCOPE} offline_access")
    assert api.status_code == 200, api.text
    assert claims_of(api.json()["access_token"])["aud"] == CLIENT_ID
    assert api.json()["expires_in"] == 1


def test_a_rotated_refresh_token_cannot_be_used_again(provider: Provider) -> None:
    _, result = provider.sign_in(BEN, ["User.Read"])
    old = result["refresh_token"]
    first = provider.refresh(old)
    assert first.status_code == 200, first.text
    assert first.json()["refresh_token"] != old

    replay = provider.refresh(old)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert provider.refresh(first.json()["refresh_token"]).status_code == 200


def test_concurrent_refreshes_of_one_token_let_exactly_one_win(provider: Provider) -> None:
    _, result = provider.sign_in(ADELE, ["User.Read"])
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def redeem() -> None:
        barrier.wait()
        statuses.append(provider.refresh(result["refresh_token"]).status_code)

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [200] + [400] * 7


def test_concurrent_refreshes_of_distinct_tokens_all_succeed(provider: Provider) -> None:
    users = (ADELE, BEN, GUEST, MANY)
    tokens = [provider.sign_in(user, ["User.Read"])[1]["refresh_token"] for user in users]
    results: dict[str, requests.Response] = {}

    def redeem(value: str) -> None:
        results[value] = provider.refresh(value)

    threads = [threading.Thread(target=redeem, args=(value,)) for value in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [results[value].status_code for value in tokens] == [200] * 4
    fresh = {results[value].json()["refresh_token"] for value in tokens}
    assert len(fresh) == 4
