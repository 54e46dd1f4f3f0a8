"""The whole site used as a person would, for each demo role (an Admin, a user without a role)
at a phone and a desktop width:
every navigation link and page link followed, every form submitted (the calculator with good
and bad input, the sessions page, the sign-out confirmation page, the header's sign-out), a
cancel at the IdP. On every page: no 5xx, no CSRF refusal, no console error, no CSP
violation, no horizontal scrolling, no serious or critical axe-core violation, and the
signed-in state shown as it is. Each page is saved under test-artifacts/."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.browser.test_chromium import ARTIFACTS, chromium, demo  # noqa: F401 - the fixtures

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
ROLES = {
    "admin": ("adele@contoso.example", "demo-adele", "Adele Vance"),
    "no-role": ("ben@contoso.example", "demo-ben", "Ben Walters"),
}
# Pages a person reaches on purpose that answer with an error status.
EXPECTED_ERRORS = {
    "/no-such-page": 404,
    "/admin": 403,  # for the user without the role
    "/auth/callback": 400,  # the cancelled sign-in
    "/calculator": 400,  # the form sent with an empty field
}


@dataclass
class Visit:
    """What one browsing session saw."""

    page: Any
    name: str
    prefix: str
    axe: Any
    statuses: list[tuple[str, int]] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)

    def check(self, label: str, *, signed_in_as: str | None) -> None:
        path = self.page.url.split("?")[0]
        self.pages.append(f"{label} ({path})")
        self.page.screenshot(path=str(ARTIFACTS / f"{self.prefix}-{len(self.pages):02d}-{label}.png"), full_page=True)
        width = self.page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1], f"{label}: scrolls sideways ({width})"
        body = self.page.locator("body").inner_text()
        assert "Request refused" not in body, f"{label}: a CSRF refusal"
        violations = [
            (v["id"], v["impact"]) for v in self.axe.run(self.page).response["violations"]
            if v["impact"] in ("serious", "critical")
        ]  # fmt: skip
        assert violations == [], f"{label}: {violations}"
        if "/_local_entra/" in path or "/oauth2/" in path:
            return  # the stand-in's own pages
        banner = self.page.get_by_role("banner").inner_text()
        if signed_in_as:
            assert signed_in_as in banner and "Sign out" in banner, f"{label}: the banner is not signed in"
        else:
            assert "Sign in" in banner and "Sign out" not in banner, f"{label}: the banner is signed in"


def sign_in_at_the_idp(page: Any, username: str, password: str) -> None:
    page.get_by_label("Email or username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def open_nav(visit: Visit) -> None:
    """On a phone the navigation sits behind the Menu button."""
    button = visit.page.locator("#menu-button")
    if button.is_visible() and button.get_attribute("aria-expanded") != "true":
        button.click()


def follow_nav(visit: Visit, link: str, *, signed_in_as: str) -> None:
    open_nav(visit)
    visit.page.get_by_role("navigation", name="Main").get_by_role("link", name=link).click()
    visit.check(link.lower().replace(" ", "-"), signed_in_as=signed_in_as)


@pytest.mark.parametrize("viewport", list(VIEWPORTS), ids=list(VIEWPORTS))
@pytest.mark.parametrize("role", list(ROLES), ids=list(ROLES))
def test_a_person_uses_the_whole_site(demo, chromium, role, viewport):  # noqa: F811
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    username, password, name = ROLES[role]
    context = chromium.new_context(viewport=VIEWPORTS[viewport])
    page = context.new_page()
    visit = Visit(page=page, name=name, prefix=f"site-{role}-{viewport}", axe=Axe())
    page.on("response", lambda response: visit.statuses.append((response.url, response.status)))
    page.on("console", lambda message: visit.console_errors.append(message.text) if message.type == "error" else None)

    page.goto(demo + "/")
    visit.check("home-signed-out", signed_in_as=None)

    # Cancel at the IdP, then try again from the error page.
    page.get_by_role("main").get_by_role("link", name="Sign in").click()
    visit.check("idp-sign-in", signed_in_as=None)
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("heading", name="Sign-in did not complete")).to_be_visible()
    visit.check("sign-in-cancelled", signed_in_as=None)
    page.get_by_role("link", name="Try again").click()
    sign_in_at_the_idp(page, username, password)
    expect(page.get_by_role("banner")).to_contain_text(name)
    visit.check("home-signed-in", signed_in_as=name)

    # Every navigation link.
    follow_nav(visit, "Calculator", signed_in_as=name)
    page.get_by_label("First number").fill("6")
    page.get_by_label("Second number").fill("7")
    page.get_by_label("Operation").select_option("multiply")
    page.get_by_role("button", name="Calculate").click()
    expect(page.get_by_test_id("calc-result")).to_have_text("42")
    visit.check("calculator-result", signed_in_as=name)
    page.get_by_label("First number").fill("")
    page.get_by_role("button", name="Calculate").click()
    expect(page.get_by_test_id("calc-error")).to_contain_text("Enter a number for the first number")
    visit.check("calculator-error", signed_in_as=name)
    follow_nav(visit, "Profile", signed_in_as=name)
    expect(page.get_by_test_id("profile")).to_contain_text(username)
    follow_nav(visit, "Sessions", signed_in_as=name)
    follow_nav(visit, "Debug info", signed_in_as=name)
    follow_nav(visit, "Home", signed_in_as=name)
    if role == "admin":
        open_nav(visit)  # the demo's admin page steps up to authentication context c1
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
        expect(page.get_by_role("heading", name="Approve this sign-in")).to_be_visible()
        visit.check("idp-step-up", signed_in_as=name)
        page.get_by_role("button", name="Approve").click()
        expect(page.get_by_role("heading", name="Administration")).to_be_visible()
        visit.check("admin", signed_in_as=name)
        follow_nav(visit, "Home", signed_in_as=name)
        follow_nav(visit, "Admin", signed_in_as=name)  # stepped up already: it opens
    else:
        open_nav(visit)
        assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").count() == 0
        page.goto(demo + "/admin")
        expect(page.get_by_role("heading", name="Forbidden")).to_be_visible()
        visit.check("admin-forbidden", signed_in_as=name)
    page.goto(demo + "/no-such-page")
    visit.check("not-found", signed_in_as=name)

    # A second session, ended from the sessions page; then this one, from the sign-out page.
    other = chromium.new_context()
    other_page = other.new_page()
    other_page.goto(demo + "/auth/login")
    sign_in_at_the_idp(other_page, username, password)
    follow_nav(visit, "Sessions", signed_in_as=name)
    page.get_by_role("button", name="Sign out everywhere else").click()
    expect(page.get_by_role("status")).to_contain_text("Signed out 1 other session")
    visit.check("sessions-ended-others", signed_in_as=name)
    other.close()

    follow_nav(visit, "Home", signed_in_as=name)
    page.get_by_role("main").get_by_role("link", name="Sign out").click()
    visit.check("sign-out-confirm", signed_in_as=name)
    page.get_by_role("main").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="You have signed out")).to_be_visible()
    visit.check("signed-out", signed_in_as=None)

    # And the header's sign-out, after signing in again.
    page.get_by_role("main").get_by_role("link", name="Sign in again").click()
    sign_in_at_the_idp(page, username, password)
    expect(page.get_by_role("banner")).to_contain_text(name)
    page.get_by_role("banner").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="You have signed out")).to_be_visible()
    visit.check("signed-out-from-header", signed_in_as=None)

    # And the sessions page's own "Sign out here".
    page.get_by_role("main").get_by_role("link", name="Sign in again").click()
    sign_in_at_the_idp(page, username, password)
    follow_nav(visit, "Sessions", signed_in_as=name)
    page.get_by_role("button", name="Sign out here").click()
    expect(page.get_by_role("heading", name="You have signed out")).to_be_visible()
    visit.check("signed-out-from-sessions", signed_in_as=None)

    failures = [
        (url, status) for url, status in visit.statuses
        if status >= 500 or (status >= 400 and EXPECTED_ERRORS.get("/" + url.split("/", 3)[-1].split("?")[0]) != status)
    ]  # fmt: skip
    assert failures == [], failures
    unexpected = [e for e in visit.console_errors if not any(f"status of {s}" in e for s in EXPECTED_ERRORS.values())]
    assert unexpected == [], unexpected
    (ARTIFACTS / f"site-{role}-{viewport}-pages.txt").write_text("\n".join(visit.pages) + "\n")
    context.close()


def test_a_guest_from_another_tenant_is_told_why_the_app_refuses_them(demo, chromium):  # noqa: F811
    """The demo is a single-tenant app: the Fabrikam guest the banner lists is refused, plainly."""
    from playwright.sync_api import expect

    context = chromium.new_context()
    page = context.new_page()
    page.goto(demo + "/auth/login")
    sign_in_at_the_idp(page, "guest@fabrikam.example", "demo-guest")
    expect(page.get_by_role("heading", name="Sign-in did not complete")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("organisation (tenant) this app does not accept")
    expect(page.get_by_role("banner")).to_contain_text("Sign in")
    context.close()
