"""Step-up to an authentication context (the admin page with ADMIN_AUTH_CONTEXT) and a
recent sign-in before a sensitive action ("sign out everywhere else"), over real HTTP
against local_entra: it asks the user to approve, issues `acrs`, keeps the browser's
sign-in and honours `max_age`. Nothing is mocked."""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from local_entra import DemoUser
from secure_auth.validators.claims import auth_context_claims
from tests.conftest import ADELE, BEN, AppServer
from tests.support.browser import Browser, hidden_inputs

STEP_UP = auth_context_claims("c1")
JSON = {"accept": "application/json"}


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def to_idp(browser: Browser, response) -> str:
    """Follow the app's redirect to /auth/login, and that to the authorize endpoint."""
    assert response.status_code == 303, response.text
    login = browser.get(response.headers["location"])
    assert login.status_code == 303, login.text
    return login.headers["location"]


def session_of(app, browser: Browser):
    """The browser's session as the app keeps it (the memory store, read directly)."""
    manager = app.services.sessions
    return asyncio.run(manager.get(manager.session_id_from_cookie(browser.session_cookie)))


@pytest.fixture
def at_admin_app(extra_app, browsers):
    """Start the app with the admin page behind authentication context c1 and sign a new
    browser in there as `user`: the app and the browser."""

    def sign_in(user: DemoUser = ADELE) -> tuple[AppServer, Browser]:
        app = extra_app(admin_auth_context="c1")
        browser = browsers(app.base_url)
        browser.sign_in(user.username, user.password)
        return app, browser

    return sign_in


def test_the_admin_page_steps_up_once_and_then_opens(at_admin_app, entra, caplog):
    caplog.set_level(logging.INFO, logger="secure_auth.security")
    _, browser = at_admin_app()
    before = browser.session_cookie

    first = browser.get("/admin")
    assert first.headers["location"] == "/auth/login?" + urlencode({"next": "/admin", "claims": STEP_UP})
    authorize = to_idp(browser, first)
    sent = json.loads(query(authorize)["claims"])
    assert sent["id_token"] == {"acrs": {"essential": True, "value": "c1"}}
    assert sent["access_token"]["xms_cc"] == {"values": ["cp1"]}  # the client capabilities, merged in by MSAL
    # local_entra knows this browser: it asks only for the approval, then issues acrs.
    landed = browser.finish(browser.step_up(authorize))
    assert landed.status_code == 303 and landed.headers["location"] == "/admin"
    page = browser.get("/admin")
    assert page.status_code == 200 and "Administration" in page.text
    assert browser.session_cookie != before  # a new session id, as at every sign-in
    assert browser.get("/me").json()["username"] == ADELE.username

    authorizations = entra.counters["authorize"]
    for _ in range(3):
        assert browser.get("/admin").status_code == 200
    assert entra.counters["authorize"] == authorizations  # opened again without a step-up
    assert any(getattr(r, "event", None) == "step_up_required" for r in caplog.records)


def test_stepping_up_keeps_what_the_app_kept_in_the_session(at_admin_app):
    app, browser = at_admin_app()
    session = session_of(app, browser)
    session.extra["draft"] = "quarterly report"
    asyncio.run(app.services.sessions.save(session))

    browser.finish(browser.step_up(to_idp(browser, browser.get("/admin"))))
    renewed = session_of(app, browser)
    assert renewed.id != session.id and renewed.extra == {"draft": "quarterly report"}
    assert renewed.auth_contexts == ["c1"]
    assert asyncio.run(app.services.sessions.get(session.id)) is None  # the old id no longer works


def test_someone_without_the_role_is_refused_before_any_step_up(at_admin_app):
    _, browser = at_admin_app(BEN)
    assert browser.get("/admin").status_code == 403


def test_a_json_client_gets_401_with_where_to_step_up(at_admin_app):
    _, browser = at_admin_app()
    response = browser.get("/admin", headers=JSON)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "auth_context_required"
    assert query(body["login_url"]) == {"next": "/admin", "claims": STEP_UP}


def test_without_admin_auth_context_the_admin_page_needs_no_step_up(public_app, browsers):
    browser = browsers(public_app.base_url)
    browser.sign_in(ADELE.username, ADELE.password)
    assert browser.get("/admin").status_code == 200


def test_declining_the_step_up_leaves_the_page_closed_but_offers_it_again(at_admin_app):
    _, browser = at_admin_app()
    declined = browser.finish(browser.step_up(to_idp(browser, browser.get("/admin")), approve=False))
    assert declined.status_code == 400 and "Sign-in did not complete" in declined.text
    assert browser.get("/me").status_code == 200  # still signed in
    assert browser.get("/admin").status_code == 303  # asked again: the user may change their mind


def test_an_idp_that_does_not_deliver_the_context_ends_in_an_error_page_not_a_loop(at_admin_app, entra):
    _, browser = at_admin_app()
    authorize = to_idp(browser, browser.get("/admin"))
    entra.transform_next_id_token(lambda claims, sign: sign({k: v for k, v in claims.items() if k != "acrs"}))
    assert browser.finish(browser.step_up(authorize)).headers["location"] == "/admin"
    page = browser.get("/admin", headers={"accept": "text/html"})
    assert page.status_code == 403
    assert "Additional sign-in did not complete" in page.text
    assert "auth_context_not_satisfied" in page.text
    assert browser.get("/admin", headers=JSON).json()["error"] == "auth_context_not_satisfied"


# ----- a recent sign-in before "sign out everywhere else" -----


def test_an_old_sign_in_is_asked_again_before_signing_out_everywhere_else(private_entra_app, browsers):
    entra, app = private_entra_app()
    laptop = browsers(app.base_url)
    laptop.sign_in(BEN.username, BEN.password)
    phone = browsers(app.base_url)
    phone.sign_in(BEN.username, BEN.password)
    # Twenty minutes later the phone opens the app again; local_entra still knows it, so
    # the sign-in continues without a password, with the old auth_time.
    entra.age_sign_ins(20 * 60)
    phone.finish(phone.continue_signed_in(phone.start_login("/sessions")))
    assert session_of(app, phone).auth_time < session_of(app, laptop).auth_time - 1000

    token = phone.csrf_token("/sessions")
    refused = phone.post("/sessions/end-others", data={"csrf_token": token})
    # Back to the page with the form afterwards: the POST itself is not replayed.
    assert query(refused.headers["location"]) == {"next": "/sessions", "max_age": "900"}
    authorize = to_idp(phone, refused)
    assert query(authorize)["max_age"] == "900"
    page = phone.get(authorize)
    assert 'value="continue"' not in page.text and "sign in again" in page.text  # the password, again
    assert phone.finish(phone.authenticate(authorize, BEN.username, BEN.password)).headers["location"] == "/sessions"
    assert laptop.get("/me").status_code == 200  # nothing was ended yet

    done = phone.post(
        "/sessions/end-others", data={"csrf_token": hidden_inputs(phone.get("/sessions").text)["csrf_token"]}
    )
    assert done.status_code == 303 and done.headers["location"] == "/sessions?ended=1"
    assert laptop.get("/me").status_code == 401


def test_a_script_with_an_old_sign_in_gets_401_with_where_to_sign_in(private_entra_app, browsers):
    entra, app = private_entra_app()
    browser = browsers(app.base_url)
    browser.sign_in(BEN.username, BEN.password)
    entra.age_sign_ins(3600)
    browser.finish(browser.continue_signed_in(browser.start_login()))
    token = browser.csrf_token("/sessions")
    response = browser.post(
        "/sessions/end-others",
        headers={"x-csrf-token": token, **JSON, "referer": app.base_url + "/sessions"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "recent_sign_in_required"
    assert query(response.json()["login_url"]) == {"next": "/sessions", "max_age": "900"}


def test_a_fresh_sign_in_signs_out_everywhere_else_at_once(private_entra_app, browsers):
    _, app = private_entra_app()
    first, second = browsers(app.base_url), browsers(app.base_url)
    first.sign_in(BEN.username, BEN.password)
    second.sign_in(BEN.username, BEN.password)
    response = second.post("/sessions/end-others", data={"csrf_token": second.csrf_token("/sessions")})
    assert response.headers["location"] == "/sessions?ended=1"


def test_a_re_authentication_the_idp_did_not_make_recent_is_refused(private_entra_app, browsers, caplog):
    """max_age travels with the pending sign-in (in the flow cookie), and the app itself
    checks the new id_token's auth_time against it."""
    caplog.set_level(logging.INFO, logger="secure_auth.security")
    entra, app = private_entra_app()
    browser = browsers(app.base_url)
    browser.sign_in(BEN.username, BEN.password)
    before = browser.session_cookie
    login = browser.get("/auth/login", params={"next": "/sessions", "max_age": "900"})
    entra.transform_next_id_token(lambda claims, sign: sign({**claims, "auth_time": claims["auth_time"] - 3600}))
    refused = browser.finish(browser.authenticate(login.headers["location"], BEN.username, BEN.password))
    assert refused.status_code == 400 and "Sign-in did not complete" in refused.text
    assert browser.session_cookie == before  # the earlier session goes on, unchanged
    assert any(
        getattr(r, "event", None) == "token_validation_failed" and r.fields.get("detail") == "sign_in_too_old"
        for r in caplog.records
    )
