"""Step-up and continuous access evaluation in a real browser (Debian's Chromium), against
the demo as `python run.py --demo` serves it: its admin page requires authentication
context c1, and local_entra's demo page revokes a user's sessions."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.test_chromium import ARTIFACTS, chromium, demo  # noqa: F401 - the fixtures

pytestmark = pytest.mark.browser


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def sign_in(page: Any, demo_url: str, username: str, password: str, name: str) -> str:
    """Signs in from the home page; returns local_entra's origin (its pages' address)."""
    from playwright.sync_api import expect

    page.goto(demo_url + "/")
    page.get_by_role("main").get_by_role("link", name="Sign in").click()
    idp = origin(page.url)
    page.get_by_label("Email or username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("banner")).to_contain_text(name)
    return idp


def no_serious_axe_violations(page: Any) -> None:
    from axe_playwright_python.sync_playwright import Axe

    violations = [
        (v["id"], v["impact"]) for v in Axe().run(page).response["violations"] if v["impact"] in ("serious", "critical")
    ]
    assert violations == []


def test_the_admin_page_steps_up_once_and_then_opens(demo, chromium):  # noqa: F811
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    context = chromium.new_context()
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    idp = sign_in(page, demo, "adele@contoso.example", "demo-adele", "Adele Vance")
    idp_requests: list[str] = []
    page.on("request", lambda request: idp_requests.append(request.url) if request.url.startswith(idp) else None)

    page.goto(demo + "/admin")
    # local_entra remembers this browser's sign-in: it asks only for the approval.
    expect(page.get_by_role("heading", name="Approve this sign-in")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("c1")
    assert page.get_by_label("Password").count() == 0
    no_serious_axe_violations(page)
    page.screenshot(path=str(ARTIFACTS / "step-up-approve.png"), full_page=True)
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    assert urlsplit(page.url).path == "/admin"
    expect(page.get_by_role("main")).to_contain_text("c1")
    page.screenshot(path=str(ARTIFACTS / "step-up-admin.png"), full_page=True)

    # Elsewhere and back: the admin page opens at once, with no trip to local_entra.
    stepped_up = len(idp_requests)
    page.goto(demo + "/")
    page.goto(demo + "/admin")
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    assert len(idp_requests) == stepped_up

    # Signing in again: local_entra offers to continue with this browser's sign-in.
    page.goto(demo + "/auth/login")
    expect(page.get_by_role("button", name="Continue as Adele Vance")).to_be_visible()
    no_serious_axe_violations(page)
    page.get_by_role("button", name="Continue as Adele Vance").click()
    expect(page.get_by_role("banner")).to_contain_text("Adele Vance")
    assert console_errors == []
    context.close()


def test_revoking_a_users_sessions_sends_them_through_sign_in_again(demo, chromium):  # noqa: F811
    from playwright.sync_api import expect

    context = chromium.new_context()
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    idp = sign_in(page, demo, "ben@contoso.example", "demo-ben", "Ben Walters")
    page.goto(demo + "/profile")
    expect(page.get_by_test_id("profile")).to_contain_text("ben@contoso.example")

    # As an admin would in the Entra admin center: Revoke sessions.
    page.goto(idp + "/_local_entra/sessions")
    no_serious_axe_violations(page)
    page.get_by_role("button", name="Revoke the sessions of Ben Walters").click()
    expect(page.get_by_role("status")).to_contain_text("Revoked the sessions of Ben Walters")

    # Graph now answers the app's call with a claims challenge; the refresh token is gone,
    # so Ben signs in again (the password: his sign-in at local_entra ended too) and is back.
    page.goto(demo + "/profile")
    expect(page.get_by_label("Password")).to_be_visible()
    assert page.get_by_role("button", name="Continue as Ben Walters").count() == 0
    page.get_by_label("Email or username").fill("ben@contoso.example")
    page.get_by_label("Password").fill("demo-ben")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_test_id("profile")).to_contain_text("ben@contoso.example")
    assert urlsplit(page.url).path == "/profile"
    assert console_errors == []
    context.close()
