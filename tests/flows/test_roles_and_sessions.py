"""Roles gate pages; users see and end their sessions; front-channel logout ends the
sessions of an Entra sid. Real sign-ins through local_entra."""

from __future__ import annotations

import asyncio
import re

from fastapi import APIRouter, Depends

from secure_auth.web.dependencies import require_any_role
from tests.conftest import ADELE, BEN
from tests.support.browser import hidden_inputs


def test_admin_page_needs_the_admin_role(public_app, browsers):
    signed_out = browsers(public_app.base_url)
    response = signed_out.get("/admin")
    assert response.status_code == 303 and response.headers["location"] == "/auth/login?next=%2Fadmin"

    ben = browsers(public_app.base_url)
    ben.sign_in(BEN.username, BEN.password)
    forbidden = ben.get("/admin")
    assert forbidden.status_code == 403 and "Forbidden" in forbidden.text
    as_json = ben.get("/admin", headers={"accept": "application/json"})
    assert as_json.status_code == 403 and as_json.json()["error"] == "forbidden"

    adele = browsers(public_app.base_url)
    adele.sign_in(ADELE.username, ADELE.password)
    assert adele.get("/admin").status_code == 200
    assert adele.get("/me").json()["roles"] == ["Admin"]


def test_require_any_role(extra_app, browsers):
    router = APIRouter()

    @router.get("/reports", dependencies=[Depends(require_any_role("Admin", "Reader"))])
    async def reports():
        return {"ok": True}

    server = extra_app()
    server.app.include_router(router)
    ben = browsers(server.base_url)
    ben.sign_in(BEN.username, BEN.password)
    assert ben.get("/reports").status_code == 403
    adele = browsers(server.base_url)
    adele.sign_in(ADELE.username, ADELE.password)
    assert adele.get("/reports").json() == {"ok": True}


def session_handles(browser) -> list[str]:
    page = browser.get("/sessions")
    assert page.status_code == 200
    return re.findall(r'data-handle="([0-9a-f]+)"', page.text)


def test_sessions_page_lists_and_ends_the_users_own_sessions(extra_app, browsers):
    server = extra_app()
    laptop, phone, tablet = (browsers(server.base_url) for _ in range(3))
    for browser in (laptop, phone, tablet):
        browser.sign_in(BEN.username, BEN.password)
    someone_else = browsers(server.base_url)
    someone_else.sign_in(ADELE.username, ADELE.password)

    page = laptop.get("/sessions")
    assert page.text.count("data-handle=") == 3
    assert "this browser" in page.text and "httpx" in page.text and "127.0.0.1" in page.text
    for browser in (laptop, phone, tablet):
        assert browser.session_cookie not in page.text  # ids are secrets: only handles are shown

    # End the phone's session from the laptop.
    phone_handle = own_handle(phone)
    token = laptop.csrf_token("/sessions")
    ended = laptop.post("/sessions/end", data={"handle": phone_handle, "csrf_token": token})
    assert ended.status_code == 303
    assert "Ended that session." in laptop.get(ended.headers["location"]).text  # said, not silent
    assert phone.get("/me").status_code == 401
    assert laptop.get("/me").status_code == 200 and tablet.get("/me").status_code == 200

    # A handle of another user's session is not found.
    adele_handle = session_handles(someone_else)[0]
    assert laptop.post("/sessions/end", data={"handle": adele_handle, "csrf_token": token}).status_code == 404
    assert someone_else.get("/me").status_code == 200

    # Sign out everywhere else.
    others = laptop.post("/sessions/end-others", data={"csrf_token": token})
    assert others.status_code == 303
    assert "Signed out 1 other session." in laptop.get(others.headers["location"]).text
    assert tablet.get("/me").status_code == 401
    assert laptop.get("/me").status_code == 200
    assert len(session_handles(laptop)) == 1
    assert someone_else.get("/me").status_code == 200


def own_handle(browser) -> str:
    """The handle of the session this browser holds, as its own sessions page marks it."""
    page = browser.get("/sessions").text
    return next(h for h in re.findall(r'data-handle="([0-9a-f]+)"', page) if "this browser" in _row(page, h))


def _row(html: str, handle: str) -> str:
    start = html.index(f'data-handle="{handle}"')
    return html[start : html.index("</li>", start)]


def test_ending_the_current_session_signs_out_here(extra_app, browsers):
    server = extra_app()
    browser = browsers(server.base_url)
    browser.sign_in(BEN.username, BEN.password)
    page = browser.get("/sessions")
    fields = hidden_inputs(_row(page.text, own_handle(browser)))
    response = browser.post("/sessions/end", data=fields)
    assert response.status_code == 303 and response.headers["location"] == "/auth/signed-out"
    assert browser.session_cookie is None and browser.get("/me").status_code == 401


def test_sessions_page_needs_csrf_and_sign_in(public_app, browsers):
    anonymous = browsers(public_app.base_url)
    assert anonymous.get("/sessions").status_code == 303
    browser = browsers(public_app.base_url)
    browser.sign_in(BEN.username, BEN.password)
    assert browser.post("/sessions/end-others", data={}).status_code == 403


def test_front_channel_logout_ends_the_sessions_of_that_sid_only(extra_app, browsers):
    server = extra_app()
    first = browsers(server.base_url)
    first.sign_in(BEN.username, BEN.password)
    second = browsers(server.base_url)
    second.sign_in(BEN.username, BEN.password)  # another Entra sign-in: another sid
    sessions = server.services.sessions
    first_session = asyncio.run(sessions.load(first.session_cookie))
    sid, iss = first_session.user["sid"], first_session.user["iss"]

    wrong_issuer = browsers(server.base_url).get("/auth/front-channel-logout", params={"sid": sid, "iss": "https://x"})
    assert wrong_issuer.status_code == 200 and first.get("/me").status_code == 200
    # An sid alone is shared with every app the user signed in to: it ends nothing.
    browsers(server.base_url).get("/auth/front-channel-logout", params={"sid": sid})
    assert first.get("/me").status_code == 200

    # The IdP loads it in an iframe, with no cookie of the user's.
    response = browsers(server.base_url).get("/auth/front-channel-logout", params={"sid": sid, "iss": iss})
    assert response.status_code == 200
    assert "x-frame-options" not in response.headers
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors http://127.0.0.1:" in csp and "frame-ancestors 'none'" not in csp
    assert first.get("/me").status_code == 401
    assert second.get("/me").status_code == 200
    # Every other page stays unframable.
    assert "frame-ancestors 'none'" in second.get("/").headers["content-security-policy"]
