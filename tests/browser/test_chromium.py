"""A real headless Chromium signs in through local_entra's page, uses the calculator and
signs out, against the demo exactly as `python run.py --demo` serves it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.processes import clean_env
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("Debian's chromium is required in CI: apt-get install chromium")
    pytest.skip("chromium is not installed (./dev test installs it when run as root)")


@pytest.fixture(scope="module")
def demo():
    """`python run.py --demo` in a subprocess, as a newcomer would start it."""
    port = free_port()
    env = clean_env()
    process = subprocess.Popen(
        [sys.executable, "run.py", "--demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base_url = f"http://localhost:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", headers={"host": f"localhost:{port}"}).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the demo did not start:\n" + (process.stdout.read() if process.stdout else ""))
        time.sleep(0.2)
    yield base_url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}], ids=["desktop", "phone"]
)
def test_person_signs_in_computes_and_signs_out(demo, chromium, viewport):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    shot = lambda name: page.screenshot(path=str(ARTIFACTS / f"{viewport['width']}-{name}.png"), full_page=True)  # noqa: E731
    context = chromium.new_context(viewport=viewport)
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    missing: list[str] = []
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)

    page.goto(demo + "/")
    expect(page.get_by_role("heading", name="Sign in with Microsoft Entra ID")).to_be_visible()
    shot("home-signed-out")
    page.get_by_role("main").get_by_role("link", name="Sign in").click()

    # local_entra's sign-in page, as Entra's would be.
    page.get_by_label("Email or username").fill("adele@contoso.example")
    page.get_by_label("Password").fill("demo-adele")
    shot("idp-sign-in")
    page.get_by_role("button", name="Sign in", exact=True).click()

    expect(page.get_by_test_id("user-name")).to_have_text("Adele Vance")
    expect(page.get_by_role("main")).to_contain_text("Admin")
    shot("home-signed-in")
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["session"]["httpOnly"] and cookies["session"]["sameSite"] == "Lax"

    page.get_by_role("main").get_by_role("link", name="Open the calculator").click()
    page.get_by_label("First number").fill("22")
    page.get_by_label("Operation").select_option("divide")
    page.get_by_label("Second number").fill("8")
    page.get_by_role("button", name="Calculate").click()
    expect(page.get_by_test_id("calc-result")).to_have_text("2.75")
    page.get_by_label("Second number").fill("0")
    page.get_by_role("button", name="Calculate").click()
    expect(page.get_by_test_id("calc-error")).to_contain_text("Division by zero")
    shot("calculator")

    # The Graph profile, fetched by the server with Adele's token, and the Admin-only page.
    if page.locator("#menu-button").is_visible():  # a phone: the navigation is behind Menu
        page.locator("#menu-button").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Profile").click()
    expect(page.get_by_test_id("profile")).to_contain_text("adele@contoso.example")
    shot("profile")
    if page.locator("#menu-button").is_visible():
        page.locator("#menu-button").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    # The demo's admin page steps up to authentication context c1: local_entra asks to approve.
    expect(page.get_by_role("heading", name="Approve this sign-in")).to_be_visible()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    if page.locator("#menu-button").is_visible():
        page.locator("#menu-button").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
    expect(page.get_by_test_id("sessions")).to_contain_text("this browser")
    shot("sessions")

    # An error page knows who is signed in, and offers sign-out, not sign-in.
    page.goto(demo + "/no-such-page")
    expect(page.get_by_role("heading", name="Not Found")).to_be_visible()
    expect(page.get_by_role("banner")).to_contain_text("Adele Vance")
    expect(page.get_by_role("banner").get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_role("banner").get_by_role("link", name="Sign in")).to_have_count(0)
    shot("not-found-signed-in")

    page.get_by_role("banner").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="You have signed out")).to_be_visible()
    shot("signed-out")
    page.goto(demo + "/calculator")
    expect(page.get_by_label("Email or username")).to_be_visible()  # sent to sign in again

    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors
    # Nothing the pages load is missing (a favicon included), at the app or at the stand-in.
    assert [url for url in missing if not url.endswith("/no-such-page")] == [], missing
    context.close()


def test_a_user_without_the_role_does_not_reach_the_admin_page(demo, chromium):
    from playwright.sync_api import expect

    context = chromium.new_context()
    page = context.new_page()
    page.goto(demo + "/admin")
    page.get_by_role("button", name="Sign in as Ben Walters").click()
    expect(page.get_by_role("heading", name="Forbidden")).to_be_visible()
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").count() == 0
    context.close()


def test_signing_out_from_the_sign_out_page_works_in_a_real_browser(demo, chromium):
    """/auth/ pages send no Referer, so Chromium posts their forms with `Origin: null`; the
    CSRF guard must take that (with Sec-Fetch-Site: same-origin) for this site's own form."""
    from playwright.sync_api import expect

    context = chromium.new_context()
    page = context.new_page()
    page.goto(demo + "/")
    page.get_by_role("main").get_by_role("link", name="Sign in").click()
    page.get_by_label("Email or username").fill("ben@contoso.example")
    page.get_by_label("Password").fill("demo-ben")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("banner")).to_contain_text("Ben Walters")

    page.get_by_role("main").get_by_role("link", name="Sign out").click()  # GET /auth/logout
    expect(page.get_by_role("heading", name="Sign out?")).to_be_visible()
    page.get_by_role("main").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="You have signed out")).to_be_visible()
    page.goto(demo + "/me")
    expect(page.locator("body")).to_contain_text("unauthenticated")
    context.close()
