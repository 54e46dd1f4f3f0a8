"""The whole sign-in, over real HTTP(S) against local_entra, for every client kind.

No mocked MSAL and no mocked HTTP: the app's MSAL talks HTTPS to local_entra, and the
test's browser talks HTTP to the app and to local_entra's sign-in page.
"""

from __future__ import annotations

from tests.conftest import ADELE, BEN
from tests.support.browser import hidden_inputs, query_of


def test_sign_in_me_calculator_sign_out_and_cookie_replay(app_server, browsers, entra):
    browser = browsers(app_server.base_url)

    # Signed out: the calculator sends the visitor to sign in, and back afterwards.
    response = browser.get("/calculator")
    assert response.status_code == 303
    assert response.headers["location"] == "/auth/login?next=%2Fcalculator"
    assert browser.get("/me").status_code == 401

    authorize_url = browser.start_login("/calculator")
    assert authorize_url.startswith(entra.front_url)
    query = query_of(authorize_url)
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert query["state"] and query["nonce"]
    assert query["redirect_uri"] == app_server.settings.redirect_uri

    callback = browser.authenticate(authorize_url, ADELE.username, ADELE.password)
    assert callback.url.startswith(app_server.settings.redirect_uri + "?")
    landed = browser.finish(callback)
    assert landed.status_code == 303
    assert landed.headers["location"] == "/calculator"

    # The cookie is an opaque signed id: small, HttpOnly, no token or claim in it.
    set_cookie = landed.headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=lax" in set_cookie and "Path=/" in set_cookie
    cookie_value = browser.session_cookie
    assert cookie_value is not None and len(cookie_value) < 200
    assert "eyJ" not in cookie_value and ADELE.oid not in cookie_value

    me = browser.get("/me").json()
    assert me == {
        "name": ADELE.name,
        "username": ADELE.username,
        "oid": ADELE.oid,
        "tid": ADELE.tid,
        "roles": ["Admin"],
    }
    home = browser.get("/")
    assert ADELE.name in home.text and ADELE.tid in home.text and "Admin" in home.text

    csrf = browser.csrf_token("/calculator")
    result = browser.post("/calculator", data={"a": "6", "b": "7", "operator": "multiply", "csrf_token": csrf})
    assert result.status_code == 200
    assert 'data-testid="calc-result">42<' in result.text

    # GET /auth/logout only asks; POST with the token signs out and goes to the IdP.
    confirm = browser.get("/auth/logout")
    assert confirm.status_code == 200 and 'action="/auth/logout"' in confirm.text
    assert browser.get("/me").status_code == 200
    logout = browser.post("/auth/logout", data={"csrf_token": csrf})
    assert logout.status_code == 303
    end_session = logout.headers["location"]
    assert end_session.startswith(entra.front_url) and "/oauth2/v2.0/logout" in end_session
    assert query_of(end_session)["post_logout_redirect_uri"] == app_server.settings.post_logout_redirect_uri
    assert "logout_hint" in query_of(end_session)
    back = browser.get(end_session)
    assert back.status_code in (302, 303)
    assert back.headers["location"] == app_server.settings.post_logout_redirect_uri
    signed_out = browser.get(back.headers["location"])
    assert signed_out.status_code == 200 and "You have signed out" in signed_out.text
    assert browser.get("/me").status_code == 401

    # Replaying the old cookie after sign-out finds no session.
    replay = browsers(app_server.base_url)
    replay.client.cookies.set(app_server.settings.session_cookie_name, cookie_value)
    assert replay.get("/me").status_code == 401
    assert replay.get("/calculator").status_code == 303


def test_each_sign_in_gets_a_new_session_id(public_app, browsers):
    browser = browsers(public_app.base_url)
    browser.sign_in(BEN.username, BEN.password)
    first = browser.session_cookie
    browser.sign_in(ADELE.username, ADELE.password)
    second = browser.session_cookie
    assert first != second
    assert browser.get("/me").json()["username"] == ADELE.username
    # The session the second sign-in replaced is gone.
    old = browsers(public_app.base_url)
    old.client.cookies.set("session", first)
    assert old.get("/me").status_code == 401


def test_logout_get_signs_nobody_out_and_post_needs_the_token(public_app, browsers):
    browser = browsers(public_app.base_url)
    browser.sign_in(BEN.username, BEN.password)
    page = browser.get("/auth/logout")
    assert "csrf_token" in hidden_inputs(page.text)
    assert browser.post("/auth/logout", data={}).status_code == 403
    assert browser.post("/auth/logout", data={"csrf_token": "wrong"}).status_code == 403
    assert browser.get("/me").status_code == 200


def test_idp_is_called_only_to_redeem_the_code_once_warm(public_app, browsers, entra):
    warm = browsers(public_app.base_url)
    warm.sign_in(BEN.username, BEN.password)
    back_channel = ("discovery", "keys", "token")
    before = {name: entra.counters[name] for name in back_channel}

    for path in ("/", "/me", "/calculator", "/health"):
        assert warm.get(path).status_code == 200
    assert {name: entra.counters[name] for name in back_channel} == before

    browsers(public_app.base_url).sign_in(ADELE.username, ADELE.password)
    after = {name: entra.counters[name] for name in back_channel}
    assert after == {**before, "token": before["token"] + 1}
