"""The deployment as operators run it (deploy/'s files): nginx terminating TLS in front of a
gunicorn and a run.py back end in the production profile, sharing Redis, against an IdP
under a host name of its own. Everything goes through nginx, as a person's browser would."""

from __future__ import annotations

import re

import pytest

from local_entra import DEMO_USERS
from tests.browser.test_whole_site import sign_in_at_the_idp
from tests.conftest import ADELE
from tests.support.browser import Browser, query_of
from tests.support.deploy_stack import APP_HOST, Stack

pytestmark = [pytest.mark.deploy]

MANY = next(u for u in DEMO_USERS if u.username.startswith("many"))
HSTS = "max-age=31536000"


def until_both_back_ends_answer(stack: Stack, browser: Browser, path: str, limit: int = 12) -> list[tuple[str, int]]:
    """GET `path` until each back end has answered it at least once: (back end, status)."""
    seen: list[tuple[str, int]] = []
    for _ in range(limit):
        response = browser.get(path)
        seen.append((stack.served_by(response), response.status_code))
        if {name for name, _ in seen} == set(stack.back_ends):
            return seen
    raise AssertionError(f"nginx did not use both back ends: {seen}")


def test_plain_http_moves_to_https_on_the_public_name(stack):
    with stack.browser() as browser:
        response = browser.get(f"http://{APP_HOST}:{stack.http_port}/calculator?a=1")
    assert response.status_code == 301
    assert response.headers["location"] == f"{stack.base_url}/calculator?a=1"


def test_a_person_signs_in_through_nginx_with_the_public_https_redirect_uri(stack, chromium):
    from playwright.sync_api import expect

    context = chromium.new_context()
    page = context.new_page()
    responses = []
    page.on("response", lambda r: responses.append(r) if r.url.startswith(stack.base_url) else None)
    authorize: list[str] = []
    page.on("request", lambda r: authorize.append(r.url) if "/oauth2/v2.0/authorize" in r.url else None)

    page.goto(f"http://{APP_HOST}:{stack.http_port}/")  # typed without https
    assert page.url == stack.base_url + "/"
    page.get_by_role("main").get_by_role("link", name="Sign in").click()
    sign_in_at_the_idp(page, ADELE.username, ADELE.password)
    expect(page.get_by_test_id("user-name")).to_have_text(ADELE.name)

    assert query_of(authorize[0])["redirect_uri"] == stack.base_url + "/auth/callback"
    cookies = {c["name"]: c for c in context.cookies() if c["domain"] == APP_HOST}
    session = cookies["__Host-session"]
    assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Lax" and session["path"] == "/"
    assert all(c["secure"] and c["name"].startswith("__Host-") for c in cookies.values()), cookies
    # HSTS on every page and redirect the browser was given (static files: the next test;
    # Chromium does not always report a subresource's raw headers to Playwright).
    documents = [r for r in responses if r.request.resource_type == "document"]
    assert len(documents) >= 4
    assert [r.url for r in documents if r.header_value("strict-transport-security") != HSTS] == []
    assert page.goto(stack.base_url + "/debug-info").status == 404
    context.close()


def test_every_answer_carries_hsts(stack):
    with stack.browser() as browser:
        answers = [browser.get(path) for path in ("/", "/static/app.css", "/favicon.ico", "/me", "/nowhere", "/health")]
    assert [r.status_code for r in answers] == [200, 200, 301, 401, 404, 200]
    assert {r.headers.get("strict-transport-security") for r in answers} == {HSTS}


def test_debug_info_is_hidden_on_both_back_ends(stack):
    with stack.browser() as browser:
        seen = until_both_back_ends_answer(stack, browser, "/debug-info")
    assert {status for _, status in seen} == {404}


def test_a_session_is_served_by_both_back_ends(stack, people):
    for person in people[:2]:
        seen = until_both_back_ends_answer(stack, person, "/me")
        assert {status for _, status in seen} == {200}
    assert people[0].get("/me").json()["username"] == ADELE.username


def test_the_rate_limit_counts_the_real_client_whatever_x_forwarded_for_says(stack):
    # RATE_LIMIT_AUTH as production has it: 10 sign-ins a minute per client address.
    with stack.browser(local_address="127.0.5.1") as client:
        answers = []
        for n in range(11):
            response = client.get("/auth/login", headers={"X-Forwarded-For": f"203.0.113.{n}"})
            answers.append((response.status_code, stack.served_by(response)))
    assert [status for status, _ in answers] == [303] * 10 + [429], answers
    assert {name for _, name in answers} == set(stack.back_ends)  # one count, shared in Redis
    with stack.browser(local_address="127.0.6.1") as someone_else:
        assert someone_else.get("/auth/login").status_code == 303


def test_signing_out_ends_sessions_on_every_back_end(stack, chromium):
    from playwright.sync_api import expect

    elsewhere = stack.browser(local_address="127.0.0.31")
    assert elsewhere.sign_in(MANY.username, MANY.password).status_code == 303
    context = chromium.new_context()
    page = context.new_page()
    page.goto(stack.base_url + "/sessions")
    sign_in_at_the_idp(page, MANY.username, MANY.password)
    expect(page.get_by_role("heading", name="Your sessions")).to_be_visible()
    # The other session is listed with its real address, as nginx saw it.
    expect(page.get_by_test_id("sessions")).to_contain_text("127.0.0.31")

    page.get_by_role("button", name="Sign out everywhere else").click()
    expect(page.get_by_role("status")).to_have_text("Signed out 1 other session.")
    assert {status for _, status in until_both_back_ends_answer(stack, elsewhere, "/me")} == {401}

    cookie = next(c for c in context.cookies() if c["name"] == "__Host-session")
    page.get_by_role("banner").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="You have signed out")).to_be_visible()
    replay = stack.browser()
    replay.client.cookies.set("__Host-session", cookie["value"], domain=APP_HOST)
    assert {status for _, status in until_both_back_ends_answer(stack, replay, "/me")} == {401}
    for browser in (elsewhere, replay):
        browser.close()
    context.close()


def test_nginx_refuses_a_body_over_the_apps_limit(stack, people):
    token = people[1].csrf_token()
    body = {"csrf_token": token, "a": "1" * (1 << 20), "operator": "add", "b": "1"}
    response = people[1].post("/calculator", data=body)
    assert response.status_code == 413
    assert response.headers["strict-transport-security"] == HSTS  # nginx's own answer too
    assert re.search(r"nginx", response.text)
