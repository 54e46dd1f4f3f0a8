"""One request context per request, over real HTTP: every page, error pages included, knows
who is signed in, and a signed-in page view reads the session once and writes it back only
when "last seen" is over a minute old."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from typing import Any

import pytest

from app import create_app
from secure_auth.stores.memory import MemorySessionStore
from tests.conftest import ADELE, BEN, PUBLIC_CLIENT_ID, AppServer, settings_for
from tests.support.servers import ServerThread, bind_loopback

SIGN_OUT_FORM = re.compile(r'<form method="post" action="/auth/logout"')
SIGN_IN_BUTTON = 'href="/auth/login?next='


def assert_shows_signed_in(html: str, name: str) -> None:
    assert name in html
    assert SIGN_OUT_FORM.search(html), "the page offers no sign-out"
    assert SIGN_IN_BUTTON not in html, "the page offers a signed-in user to sign in"


def signed_in(browsers, server: AppServer, user=ADELE):
    browser = browsers(server.base_url)
    assert browser.sign_in(user.username, user.password).status_code == 303
    return browser


@pytest.mark.parametrize("path", ["/no-such-page", "/static/no-such-file.css", "/auth/no-such-page"])
def test_a_404_page_shows_the_signed_in_user(public_app, browsers, path):
    browser = signed_in(browsers, public_app)
    page = browser.get(path, headers={"accept": "text/html"})
    assert page.status_code == 404
    assert_shows_signed_in(page.text, ADELE.name)


def test_a_refused_form_shows_the_signed_in_user(public_app, browsers):
    browser = signed_in(browsers, public_app)
    page = browser.post(
        "/calculator",
        data={"a": "1", "b": "2", "operator": "add", "csrf_token": "wrong"},
        headers={"accept": "text/html"},
    )
    assert page.status_code == 403
    assert "csrf_rejected" in page.text
    assert_shows_signed_in(page.text, ADELE.name)


def test_a_forbidden_page_shows_the_signed_in_user(public_app, browsers):
    browser = signed_in(browsers, public_app, BEN)  # Ben holds no Admin role
    page = browser.get("/admin", headers={"accept": "text/html"})
    assert page.status_code == 403
    assert_shows_signed_in(page.text, BEN.name)


def test_the_429_page_shows_the_signed_in_user(extra_app, browsers):
    server = extra_app(rate_limit_default="3/minute")
    browser = signed_in(browsers, server)
    statuses = [browser.get("/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    page = browser.get("/calculator")
    assert page.status_code == 429
    assert_shows_signed_in(page.text, ADELE.name)


def test_the_signed_out_error_page_offers_sign_in(public_app, browsers):
    page = browsers(public_app.base_url).get("/no-such-page", headers={"accept": "text/html"})
    assert page.status_code == 404
    assert SIGN_IN_BUTTON in page.text and not SIGN_OUT_FORM.search(page.text)
    assert 'href="/auth/login?next=/no-such-page"' in page.text  # signing in comes back here
    # A "?" that is part of the path (sent as %3F) stays part of it on the way back.
    escaped = browsers(public_app.base_url).get("/docs%3Fv", headers={"accept": "text/html"})
    assert escaped.status_code == 404 and 'href="/auth/login?next=/docs%253Fv"' in escaped.text


class CountingStore(MemorySessionStore):
    """The memory store, counting what each request asks of it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    async def get(self, session_id: str) -> dict[str, Any] | None:
        self.calls["get"] += 1
        return await super().get(session_id)

    async def set(self, session_id: str, record: dict[str, Any], ttl: float) -> None:
        self.calls["set"] += 1
        await super().set(session_id, record, ttl)

    async def replace(self, session_id: str, record: dict[str, Any], ttl: float) -> bool:
        self.calls["replace"] += 1
        return await super().replace(session_id, record, ttl)

    def backdate_last_seen(self, session_id: str, seconds: float) -> None:
        record = asyncio.run(MemorySessionStore.get(self, session_id))
        assert record is not None
        record["last_seen"] = time.time() - seconds
        asyncio.run(MemorySessionStore.set(self, session_id, record, 3600))


@pytest.fixture
def counted_app(entra, client_certificate):
    store = CountingStore()
    sock = bind_loopback()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = settings_for("public", entra, base_url, client_certificate)
    registration = entra.config.client(PUBLIC_CLIENT_ID)
    registration.redirect_uris.append(settings.redirect_uri)
    app = create_app(settings, session_store=store)
    server = ServerThread(app, sock).start()
    yield AppServer("public", settings, app, server), store
    server.stop()
    registration.redirect_uris.remove(settings.redirect_uri)


# (/sessions and /profile read more by design: every session of the user, the token cache.)
@pytest.mark.parametrize("path", ["/", "/calculator", "/no-such-page", "/me", "/debug-info"])
def test_a_signed_in_view_reads_the_session_once_and_writes_nothing(counted_app, browsers, path):
    server, store = counted_app
    browser = signed_in(browsers, server)
    store.calls.clear()
    response = browser.get(path)
    assert response.status_code in (200, 404)
    assert store.calls["get"] == 1, f"{path} read the session {store.calls['get']} times"
    assert store.calls["set"] + store.calls["replace"] == 0, f"{path} wrote the session"


def test_last_seen_is_written_back_once_it_is_over_a_minute_old(counted_app, browsers):
    server, store = counted_app
    browser = signed_in(browsers, server)
    session_id = server.app.state.services.sessions.session_id_from_cookie(browser.session_cookie)
    store.backdate_last_seen(session_id, 30)
    store.calls.clear()
    assert browser.get("/").status_code == 200
    assert store.calls["replace"] == 0, "written back although last seen under a minute ago"
    store.backdate_last_seen(session_id, 61)
    store.calls.clear()
    assert browser.get("/").status_code == 200
    assert store.calls["replace"] == 1
    store.calls.clear()
    assert browser.get("/").status_code == 200
    assert store.calls["replace"] == 0


class FailingStore(MemorySessionStore):
    """A store that answers nothing (say Redis read-only after a failover, or full)."""

    failing = False

    async def get(self, session_id: str) -> dict[str, Any] | None:
        if self.failing:
            raise RuntimeError("the store failed")
        return await super().get(session_id)


@pytest.fixture
def failing_app(entra, client_certificate):
    store = FailingStore()
    sock = bind_loopback()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = settings_for("public", entra, base_url, client_certificate, rate_limit_default="5/minute")
    registration = entra.config.client(PUBLIC_CLIENT_ID)
    registration.redirect_uris.append(settings.redirect_uri)
    server = ServerThread(create_app(settings, session_store=store), sock).start()
    yield AppServer("public", settings, server.server.config.app, server), store
    server.stop()
    registration.redirect_uris.remove(settings.redirect_uri)


def test_a_failing_store_leaves_requests_signed_out_never_a_500(failing_app, browsers):
    server, store = failing_app
    browser = signed_in(browsers, server)
    store.failing = True
    for path in ("/", "/health", "/health/ready", "/static/app.css", "/auth/login", "/no-such-page"):
        assert browser.get(path).status_code < 500, path
    wrong_host = browser.get("/", headers={"host": "elsewhere.example"})
    assert wrong_host.status_code == 400
    statuses = [browser.get("/").status_code for _ in range(6)]
    assert statuses[-1] == 429 and "retry-after" in browser.get("/").headers


def test_liveness_and_static_files_never_read_the_session(counted_app, browsers):
    server, store = counted_app
    browser = signed_in(browsers, server)
    store.calls.clear()
    for path in ("/health", "/health/ready", "/static/app.css"):
        assert browser.get(path).status_code == 200
    assert store.calls["get"] == 0


def test_the_session_cookie_is_found_in_any_cookie_header(public_app, browsers):
    browser = signed_in(browsers, public_app)
    cookie = browser.session_cookie
    raw = browsers(public_app.base_url).client
    page = raw.get(public_app.base_url + "/", headers=[("cookie", "a=1"), ("cookie", f"session={cookie}")])
    assert_shows_signed_in(page.text, ADELE.name)
    assert page.headers["cache-control"] == "no-store"


def test_the_front_channel_logout_page_shows_no_one(public_app, browsers):
    browser = signed_in(browsers, public_app)
    session = asyncio.run(public_app.services.sessions.load(browser.session_cookie))
    page = browser.get("/auth/front-channel-logout", params={"sid": session.user["sid"], "iss": session.user["iss"]})
    assert page.status_code == 200
    assert ADELE.name not in page.text and session.csrf_token not in page.text
    assert browser.get("/me").status_code == 401  # and the session has ended
