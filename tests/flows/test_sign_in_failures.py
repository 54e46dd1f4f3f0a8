"""Every bad input on the sign-in path gets a 4xx page, no session and no 500.

All against the real local_entra over HTTPS; misbehaviour of the identity provider is
produced by local_entra itself (its in-process test hooks), not by mocking.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest

from tests.conftest import ADELE, BEN, GUEST
from tests.support.browser import Callback, hidden_inputs


def assert_refused(browser, response, status: int = 400, reason: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    assert "Request id" in response.text
    if reason:
        assert reason in response.text
    assert browser.session_cookie is None
    assert browser.get("/me").status_code == 401


def with_state(callback: Callback, state: str | None) -> str:
    params = dict(callback.params)
    if state is None:
        params.pop("state")
    else:
        params["state"] = state
    base = callback.url.split("?")[0]
    return base + "?" + "&".join(f"{k}={v}" for k, v in params.items())


# ----- state -----


def test_wrong_state_is_refused(public_app, browsers):
    browser = browsers(public_app.base_url)
    callback = browser.authenticate(browser.start_login(), BEN.username, BEN.password)
    assert_refused(browser, browser.get(with_state(callback, "not-the-state")), reason="unknown_state")


def test_missing_state_is_refused(public_app, browsers):
    browser = browsers(public_app.base_url)
    callback = browser.authenticate(browser.start_login(), BEN.username, BEN.password)
    assert_refused(browser, browser.get(with_state(callback, None)), reason="missing_state")


def test_replayed_callback_is_refused(public_app, browsers):
    browser = browsers(public_app.base_url)
    callback = browser.authenticate(browser.start_login(), BEN.username, BEN.password)
    flow_cookie = browser.client.cookies["auth_flow"]  # as it was before the callback
    assert browser.finish(callback).status_code == 303
    assert public_app.services.pending.read(browser.client.cookies["auth_flow"]).flows == []  # used: gone
    replay = browsers(public_app.base_url)
    replay.client.cookies.set("auth_flow", flow_cookie)  # the same browser's cookie, copied earlier
    assert_refused(replay, replay.finish(callback), reason="unknown_state")


def test_expired_state_is_refused(public_app, browsers):
    now = [time.time()]
    pending = public_app.services.pending
    original = pending.clock
    pending.clock = lambda: now[0]
    try:
        browser = browsers(public_app.base_url)
        callback = browser.authenticate(browser.start_login(), BEN.username, BEN.password)
        now[0] += 601
        assert_refused(browser, browser.finish(callback), reason="unknown_state")
    finally:
        pending.clock = original


def test_code_and_state_opened_in_another_browser_fail(public_app, browsers):
    """Login CSRF: an attacker's code and state must not sign the victim in as the attacker."""
    attacker = browsers(public_app.base_url)
    callback = attacker.authenticate(attacker.start_login(), BEN.username, BEN.password)
    fresh_victim = browsers(public_app.base_url)
    assert_refused(fresh_victim, fresh_victim.finish(callback), reason="browser_mismatch")
    victim = browsers(public_app.base_url)
    victim.start_login()  # even a victim with a pending sign-in (and binding) of their own
    assert_refused(victim, victim.finish(callback), reason="unknown_state")


def test_another_browser_cannot_cancel_a_pending_sign_in(public_app, browsers):
    """Whoever learns a state (history, logs) cannot burn it: only the binding browser can."""
    browser = browsers(public_app.base_url)
    callback = browser.authenticate(browser.start_login("/me"), BEN.username, BEN.password)
    stranger = browsers(public_app.base_url)
    stranger.client.cookies.set("auth_flow", "A" * 43)
    assert_refused(stranger, stranger.get("/auth/callback", params={"state": callback.params["state"]}))
    assert browser.finish(callback).headers["location"] == "/me"


def test_a_planted_binding_cookie_does_not_sign_the_victim_in(extra_app, browsers, app_tls):
    """Production's __Host- flow cookie cannot be planted by a sibling site; and a binding
    the attacker chose in development still only finishes in a browser holding it."""
    server = extra_app(tls=True, app_env="production")
    attacker = browsers(server.base_url, verify=app_tls.client_context())
    callback = attacker.authenticate(attacker.start_login(), BEN.username, BEN.password)
    assert "__Host-auth_flow" in attacker.client.cookies
    victim = browsers(server.base_url, verify=app_tls.client_context())
    # A sibling domain could only plant a non-prefixed cookie; the app ignores it.
    victim.client.cookies.set("auth_flow", attacker.client.cookies["__Host-auth_flow"])
    assert_refused(victim, victim.finish(callback), reason="browser_mismatch")


def test_two_tabs_can_sign_in_from_one_browser(public_app, browsers):
    browser = browsers(public_app.base_url)
    first = browser.start_login("/calculator")
    second = browser.start_login("/me")
    callback_second = browser.authenticate(second, BEN.username, BEN.password)
    callback_first = browser.authenticate(first, ADELE.username, ADELE.password)
    assert browser.finish(callback_second).headers["location"] == "/me"
    assert browser.finish(callback_first).headers["location"] == "/calculator"
    assert browser.get("/me").json()["username"] == ADELE.username


def test_pending_flow_survives_a_lost_session(public_app, browsers):
    """The callback needs no session: losing the session cookie mid-flow is harmless."""
    browser = browsers(public_app.base_url)
    browser.sign_in(BEN.username, BEN.password)
    authorize = browser.start_login("/calculator")
    browser.client.cookies.delete("session")
    callback = browser.authenticate(authorize, ADELE.username, ADELE.password)
    assert browser.finish(callback).headers["location"] == "/calculator"
    assert browser.get("/me").json()["username"] == ADELE.username


# ----- identity provider errors -----


def test_user_cancelling_at_the_idp_gets_an_explained_error(public_app, browsers):
    browser = browsers(public_app.base_url)
    authorize = browser.start_login()
    page = browser.get(authorize)
    fields = hidden_inputs(page.text)
    fields.update(action="cancel")
    response = browser.client.post(authorize.split("?")[0], data=fields)
    callback = Callback(response.headers["location"])
    assert callback.params["error"] == "access_denied"
    result = browser.finish(callback)
    assert_refused(browser, result, reason="idp_error")
    assert "AADSTS65004" in result.text and "Consent was declined" in result.text
    assert result.text.count("Consent was declined") == 1, "the same words, said more than once"
    assert '<a class="button" href="/auth/login">Try again</a>' in result.text


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("nobody@contoso.example", "whatever", "AADSTS50034: The user account nobody@contoso.example does not exist"),
        ("", "", "AADSTS50034: The user account (empty) does not exist"),
        (BEN.username, BEN.password + "x", "AADSTS50126: Error validating credentials"),
    ],
    ids=["unknown_user", "empty", "wrong_password"],
)
def test_a_wrong_user_or_password_at_the_idp_shows_its_form_again(public_app, browsers, username, password, message):
    browser = browsers(public_app.base_url)
    authorize = browser.start_login()
    fields = hidden_inputs(browser.get(authorize).text)
    fields.update(username=username, password=password, action="sign_in")
    page = browser.client.post(authorize.split("?")[0], data=fields)
    assert page.status_code == 200 and "location" not in page.headers
    assert message in page.text and 'name="password"' in page.text
    assert "local_entra_sso" not in page.headers.get("set-cookie", "")  # no sign-in remembered at the IdP
    callback = browser.authenticate(authorize, BEN.username, BEN.password)  # the same request, answered right
    assert browser.finish(callback).status_code == 303


def test_error_text_on_an_unexpected_callback_is_not_shown(public_app, browsers):
    """Without a matching state, the page must not echo text an attacker put in the URL."""
    browser = browsers(public_app.base_url)
    response = browser.get(
        "/auth/callback", params={"error": "x", "error_description": "Call +1-555 now", "state": "s"}
    )
    assert_refused(browser, response)
    assert "Call +1-555" not in response.text


def test_pkce_mismatch_is_explained(public_app, browsers):
    browser = browsers(public_app.base_url)
    authorize = browser.start_login()
    callback = browser.authenticate(authorize, BEN.username, BEN.password)
    pending = public_app.services.pending
    bundle = pending.read(browser.client.cookies["auth_flow"])
    bundle.flows[0].flow["code_verifier"] = "x" * 43  # sealed again with the server's key
    browser.client.cookies.set("auth_flow", pending.write(bundle)[0])
    result = browser.finish(callback)
    assert_refused(browser, result, reason="idp_error")
    assert "AADSTS501481" in result.text


def test_idp_outage_for_one_user_does_not_fail_the_next(app_server, browsers, entra):
    """MSAL's throttle cache must not answer another user's token request from a 5xx."""
    first = browsers(app_server.base_url)
    callback = first.authenticate(first.start_login(), BEN.username, BEN.password)
    entra.fail_token_requests(1, 503)
    failed = first.finish(callback)
    assert_refused(first, failed, status=502, reason="idp_unavailable")

    second = browsers(app_server.base_url)
    assert second.sign_in(ADELE.username, ADELE.password).status_code == 303
    assert second.get("/me").json()["username"] == ADELE.username


def test_idp_unreachable_at_login_is_a_clear_503(extra_app, browsers):
    # Nothing listens on port 9 of loopback: discovery fails fast.
    server = extra_app(entra_authority_host="https://127.0.0.1:9")
    browser = browsers(server.base_url)
    response = browser.get("/auth/login")
    assert_refused(browser, response, status=503)
    assert "cannot be reached" in response.text


# ----- tampered id_tokens -----


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


TAMPERINGS = {
    "bad_signature": lambda claims, sign: sign(claims)[:-8] + "AAAAAAAA",
    "swapped_payload": lambda claims, sign: ".".join(
        [sign(claims).split(".")[0], _b64({**claims, "oid": "someone-else"}), sign(claims).split(".")[2]]
    ),
    "wrong_audience": lambda claims, sign: sign({**claims, "aud": "another-app"}),
    "wrong_issuer": lambda claims, sign: sign({**claims, "iss": "https://evil.example/v2.0"}),
    "expired": lambda claims, sign: sign({**claims, "exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}),
    "not_yet_valid": lambda claims, sign: sign({**claims, "nbf": int(time.time()) + 3600}),
    "wrong_nonce": lambda claims, sign: sign({**claims, "nonce": "0" * 64}),
    "alg_none": lambda claims, sign: _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(claims) + ".",
    "unknown_kid": lambda claims, sign: sign(claims, {"kid": "not-a-published-kid"}),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_tampered_id_token_leaves_no_session(tampering, public_app, browsers, entra):
    browser = browsers(public_app.base_url)
    callback = browser.authenticate(browser.start_login(), BEN.username, BEN.password)
    entra.transform_next_id_token(TAMPERINGS[tampering])
    result = browser.finish(callback)
    assert result.status_code in (400, 502), result.text
    assert result.status_code < 500 or tampering == "wrong_nonce"
    assert_refused(browser, result, status=result.status_code)
    assert "security checks" in result.text or "nonce_mismatch" in result.text


@pytest.fixture
def own_entra_app(private_entra_app):
    """A private local_entra and app, so rotating keys cannot disturb other tests."""
    return private_entra_app()


def test_signing_key_rollover_is_followed_and_refetches_are_rate_limited(own_entra_app, browsers):
    entra, app = own_entra_app
    browsers(app.base_url).sign_in(BEN.username, BEN.password)  # keys cached
    keys_before = entra.counters["keys"]
    entra.rotate_signing_key(keep_old=True)
    other = browsers(app.base_url)
    assert other.sign_in(ADELE.username, ADELE.password).status_code == 303
    assert other.get("/me").status_code == 200
    assert entra.counters["keys"] == keys_before + 1  # exactly one refetch for the new kid

    # A forged unknown kid right after: refused, and no second refetch within the interval.
    forged = browsers(app.base_url)
    callback = forged.authenticate(forged.start_login(), BEN.username, BEN.password)
    entra.transform_next_id_token(TAMPERINGS["unknown_kid"])
    assert_refused(forged, forged.finish(callback), reason="token_validation_failed")
    assert entra.counters["keys"] == keys_before + 1


# ----- tenants -----


def test_user_of_another_tenant_fails_a_single_tenant_app(public_app, browsers):
    browser = browsers(public_app.base_url)
    callback = browser.authenticate(browser.start_login(), GUEST.username, GUEST.password)
    assert_refused(browser, browser.finish(callback), reason="token_validation_failed")


def test_multi_tenant_issuer_is_checked_per_tenant_and_against_the_allow_list(extra_app, browsers, entra):
    open_app = extra_app(entra_tenant_id="organizations")
    guest = browsers(open_app.base_url)
    assert guest.sign_in(GUEST.username, GUEST.password).status_code == 303
    assert guest.get("/me").json()["tid"] == GUEST.tid

    listed = extra_app(entra_tenant_id="organizations", entra_allowed_tenants=entra.tenant_id.upper())
    member = browsers(listed.base_url)
    assert member.sign_in(BEN.username, BEN.password).status_code == 303
    outsider = browsers(listed.base_url)
    callback = outsider.authenticate(outsider.start_login(), GUEST.username, GUEST.password)
    assert_refused(outsider, outsider.finish(callback), reason="token_validation_failed")


# ----- open redirects -----


@pytest.mark.parametrize(
    "next_path",
    [
        "//evil.example",
        "https://evil.example/x",
        "/\\evil.example",
        "\\\\evil.example",
        "evil.example",
        "/\t/evil.example",
    ],
)
def test_next_outside_the_site_goes_home(next_path, public_app, browsers):
    browser = browsers(public_app.base_url)
    response = browser.sign_in(BEN.username, BEN.password, next_path=next_path)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_next_inside_the_site_is_honoured(public_app, browsers):
    browser = browsers(public_app.base_url)
    response = browser.sign_in(BEN.username, BEN.password, next_path="/calculator?x=1")
    assert response.headers["location"] == "/calculator?x=1"


def test_sign_out_after_the_session_expired_still_ends_the_idp_session(public_app, browsers, entra):
    browser = browsers(public_app.base_url)
    browser.sign_in(BEN.username, BEN.password)
    csrf = browser.csrf_token()
    cookie = browser.session_cookie
    sessions = public_app.services.sessions
    asyncio.run(sessions.store.delete(sessions.session_id_from_cookie(cookie)))  # as if it expired
    response = browser.post("/auth/logout", data={"csrf_token": csrf}, headers={"origin": public_app.base_url})
    assert response.status_code == 303
    assert response.headers["location"].startswith(entra.front_url)
    assert browser.session_cookie is None
    cross_site = browser.post("/auth/logout", headers={"origin": "https://evil.example"})
    assert cross_site.status_code == 403


def test_login_started_on_another_host_name_moves_to_the_public_origin_once(public_app, browsers):
    browser = browsers(public_app.base_url)
    moved = browser.get("/auth/login", params={"next": "/me"}, headers={"host": "localhost:1"})
    assert moved.status_code == 303
    assert moved.headers["location"] == public_app.base_url + "/auth/login?next=%2Fme&moved=1"
    # A proxy that keeps rewriting Host gets the flow rather than a redirect loop.
    again = browser.get("/auth/login", params={"next": "/me", "moved": "1"}, headers={"host": "localhost:1"})
    assert again.status_code == 303 and again.headers["location"].startswith("http://127.0.0.1")
    assert "/oauth2/v2.0/authorize" in again.headers["location"]
