"""`python run.py --demo`, started as the README says: it trusts no forwarded header, so a
local client cannot pick its own address (dodging the sign-in limit, writing a false address
into logs and the sessions page) or its own scheme."""

from __future__ import annotations

import httpx

from tests.browser.test_chromium import demo  # noqa: F401 - the fixture


def test_the_demo_trusts_no_forwarded_address_or_scheme(demo):  # noqa: F811
    forged = {"x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https", "x-forwarded-host": "evil.example"}
    page = httpx.get(demo + "/debug-info", headers=forged)
    assert page.status_code == 200
    assert "203.0.113.9" not in page.text
    assert "127.0.0.1" in page.text  # the connection's real peer
    assert "https://localhost" not in page.text  # the scheme is the connection's own too
