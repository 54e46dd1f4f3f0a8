"""Access tokens after sign-in, against a local_entra with short-lived access tokens.

MSAL treats an access token with under 5 minutes left as expired, so a lifetime of
302 s makes the token "expire" about 2 s after it is issued: the tests wait for that
instead of touching any cache.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

import pytest
from fastapi import APIRouter, Depends

from secure_auth.crypto.primitives import sha256_hex
from secure_auth.web.dependencies import access_token_for
from tests.conftest import ADELE, BEN

SHORT_LIVED = {"access_token_lifetime": 302}
SCOPE = "User.Read"


def token_router() -> APIRouter:
    """A feature page that needs a Graph token (it shows only a digest of it)."""
    router = APIRouter()

    @router.get("/needs-token")
    async def needs_token(token: str = Depends(access_token_for(SCOPE))):
        return {"token_digest": sha256_hex(token)[:12]}

    return router


def wait_for_expiry() -> None:
    time.sleep(2.5)


def test_a_page_keeps_working_past_expiry_with_exactly_one_refresh(private_entra_app, browsers):
    entra, app = private_entra_app(SHORT_LIVED, routers=[token_router()])
    browser = browsers(app.base_url)
    browser.sign_in(BEN.username, BEN.password)
    first = browser.get("/needs-token")
    assert first.status_code == 200
    refreshes = entra.counters["token_refresh_token"]
    assert browser.get("/needs-token").json() == first.json()  # cached: no refresh
    assert entra.counters["token_refresh_token"] == refreshes

    wait_for_expiry()
    after = browser.get("/needs-token")
    assert after.status_code == 200
    assert after.json() != first.json()  # a new token
    assert entra.counters["token_refresh_token"] == refreshes + 1
    assert browser.get("/needs-token").json() == after.json()
    assert entra.counters["token_refresh_token"] == refreshes + 1


def test_twenty_concurrent_requests_at_expiry_make_one_refresh(private_entra_app, browsers):
    entra, app = private_entra_app(SHORT_LIVED, routers=[token_router()])
    browser = browsers(app.base_url)
    browser.sign_in(ADELE.username, ADELE.password)
    assert browser.get("/needs-token").status_code == 200
    wait_for_expiry()
    refreshes = entra.counters["token_refresh_token"]
    cookies = dict(browser.client.cookies)
    import httpx

    def fetch(_: int) -> tuple[int, str]:
        with httpx.Client(cookies=cookies, timeout=20) as client:
            response = client.get(app.base_url + "/needs-token")
            return response.status_code, response.json()["token_digest"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(fetch, range(20)))
    assert {status for status, _ in results} == {200}
    assert len({digest for _, digest in results}) == 1  # everyone got the one new token
    assert entra.counters["token_refresh_token"] == refreshes + 1


def test_a_revoked_refresh_token_leads_to_a_clean_sign_in_back_to_the_page(private_entra_app, browsers):
    entra, app = private_entra_app(SHORT_LIVED, routers=[token_router()])
    browser = browsers(app.base_url)
    browser.sign_in(BEN.username, BEN.password)
    old_cookie = browser.session_cookie
    assert browser.get("/needs-token").status_code == 200
    entra.revoke_refresh_tokens(BEN.username)
    wait_for_expiry()

    response = browser.get("/needs-token?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/auth/login?next=%2Fneeds-token%3Fx%3D1"
    assert browser.session_cookie is None  # the cookie is cleared...
    replay = browsers(app.base_url)
    replay.client.cookies.set("session", old_cookie)
    assert replay.get("/me").status_code == 401  # ...and the session is gone on the server

    landed = browser.sign_in(BEN.username, BEN.password, next_path="/needs-token?x=1")
    assert landed.headers["location"] == "/needs-token?x=1"
    assert browser.get("/needs-token?x=1").status_code == 200


def test_a_json_client_gets_401_with_where_to_sign_in(private_entra_app, browsers):
    entra, app = private_entra_app(SHORT_LIVED, routers=[token_router()])
    browser = browsers(app.base_url)
    browser.sign_in(BEN.username, BEN.password)
    entra.revoke_refresh_tokens(BEN.username)
    wait_for_expiry()
    response = browser.get("/needs-token", headers={"accept": "application/json"})
    assert response.status_code == 401
    assert response.json()["error"] == "reauthentication_required"
    assert response.json()["login_url"].startswith("/auth/login?next=")


@pytest.mark.parametrize(
    "error, aadsts, suberror, kind",
    [("invalid_grant", 65001, "consent_required", "consent"), ("interaction_required", 50076, None, "reauthenticate")],
)
def test_consent_goes_through_the_authorize_endpoint_for_the_scopes(
    error, aadsts, suberror, kind, private_entra_app, browsers
):
    entra, app = private_entra_app(SHORT_LIVED, routers=[token_router()])
    browser = browsers(app.base_url)
    browser.sign_in(BEN.username, BEN.password)
    wait_for_expiry()
    entra.fail_next_refresh_with(error=error, aadsts=aadsts, suberror=suberror)
    response = browser.get("/needs-token")
    assert response.status_code == 303
    location = response.headers["location"]
    if kind == "consent":
        assert location == "/auth/login?next=%2Fneeds-token&scope=User.Read"
        authorize = browser.get(location).headers["location"]
        assert "User.Read" in authorize  # asked of the IdP: incremental consent
        assert browser.session_cookie  # the session lives on meanwhile
    else:
        assert location == "/auth/login?next=%2Fneeds-token"
        assert browser.session_cookie is None


def test_login_asks_only_for_scopes_the_app_uses(public_app, browsers):
    browser = browsers(public_app.base_url)
    authorize = browser.get("/auth/login", params={"scope": "User.Read Mail.ReadWrite Directory.ReadWrite.All"})
    location = authorize.headers["location"]
    assert "User.Read" in location
    assert "Mail.ReadWrite" not in location and "Directory" not in location


def test_tokens_never_reach_the_browser(private_entra_app, browsers):
    _entra, app = private_entra_app(routers=[token_router()])
    browser = browsers(app.base_url)
    browser.sign_in(ADELE.username, ADELE.password)
    session = asyncio.run(app.services.sessions.load(browser.session_cookie))
    assert '"AccessToken"' in session.token_cache and '"RefreshToken"' in session.token_cache
    for path in ("/", "/me", "/needs-token", "/sessions", "/debug-info"):
        body = browser.get(path).text
        assert "eyJ" not in body
    assert all(len(c.value) < 200 and "eyJ" not in c.value for c in browser.client.cookies.jar)


def test_signing_out_during_a_refresh_is_not_undone(private_entra_app, browsers):
    """The refresh writes its token cache back after the sign-out ended the session: the
    write must not bring the session back."""
    import threading

    entra, app = private_entra_app(SHORT_LIVED, routers=[token_router()])
    browser = browsers(app.base_url)
    browser.sign_in(BEN.username, BEN.password)
    cookie, csrf = browser.session_cookie, browser.csrf_token()
    wait_for_expiry()
    entra.slow_token_endpoint(1.5)
    outcome = {}
    refreshing = threading.Thread(
        target=lambda: outcome.setdefault(
            "r", browsers(app.base_url).client.get(app.base_url + "/needs-token", cookies={"session": cookie})
        )
    )
    refreshing.start()
    time.sleep(0.5)  # the refresh is now waiting on the IdP
    assert browser.post("/auth/logout", data={"csrf_token": csrf}).status_code == 303
    refreshing.join()
    entra.slow_token_endpoint(0)
    replay = browsers(app.base_url)
    replay.client.cookies.set("session", cookie)
    assert replay.get("/me").status_code == 401


def test_the_apps_own_credential_failing_does_not_end_sessions():
    from secure_auth.identity.errors import classify_token_error

    error = classify_token_error({"error": "invalid_client", "error_codes": [7000215]}, ["User.Read"])
    assert error.kind == "unavailable"
    assert classify_token_error({"error": "invalid_grant", "error_codes": [700082]}, []).kind == "reauthenticate"
    consent = classify_token_error(
        {"error": "invalid_grant", "error_codes": [65001], "suberror": "consent_required"}, ["x"]
    )
    assert consent.kind == "consent" and consent.scopes == ["x"]
    claims = classify_token_error({"error": "interaction_required", "claims": '{"access_token":{}}'}, ["x"])
    assert claims.kind == "consent" and claims.claims
