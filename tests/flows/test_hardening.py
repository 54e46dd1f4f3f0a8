"""Hardening over real HTTP(S): headers on every kind of response in both profiles, CSRF
on a router the test adds itself, rate limits and forwarded addresses, host poisoning,
CORS, structured security events, and a whole-flow leak test."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import pytest
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from secure_auth.operations.logs import JsonFormatter
from secure_auth.web.dependencies import require_user
from tests.conftest import ADELE, BEN, CLIENT_SECRET

BASE_HEADERS = (
    "content-security-policy",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "permissions-policy",
    "cross-origin-opener-policy",
    "x-request-id",
)


def assert_strict_headers(response, *, https: bool, include_subdomains: bool = False) -> None:
    for header in BASE_HEADERS:
        assert header in response.headers, (header, response.request.url)
    csp = response.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ):
        assert directive in csp, directive
    assert re.search(r"script-src 'self' 'nonce-[A-Za-z0-9_-]{20,}'", csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert "camera=()" in response.headers["permissions-policy"]
    if https:
        expected = "max-age=31536000; includeSubDomains" if include_subdomains else "max-age=31536000"
        assert response.headers["strict-transport-security"] == expected
    else:
        assert "strict-transport-security" not in response.headers


def feature_router() -> APIRouter:
    """A router a team might add: sign-in by one dependency, no CSRF code of its own."""
    router = APIRouter(prefix="/notes", dependencies=[Depends(require_user)])

    @router.post("")
    async def add_note(request: Request):
        return JSONResponse({"saved": True})

    return router


@pytest.fixture(params=["development", "production"])
def profile_app(request, extra_app, browsers, app_tls):
    """A signed-in browser on an app in each profile (production served over HTTPS)."""
    production = request.param == "production"
    overrides = {"app_env": "production", "hsts_include_subdomains": True} if production else {}
    server = extra_app(tls=production, **overrides)
    server.app.include_router(feature_router())

    @server.app.get("/boom")
    async def boom():
        raise RuntimeError("kaboom")

    browser = browsers(server.base_url, verify=app_tls.client_context()) if production else browsers(server.base_url)
    browser.sign_in(BEN.username, BEN.password)
    return server, browser, production


def test_every_kind_of_response_carries_the_headers(profile_app, browsers, app_tls):
    _server, browser, production = profile_app
    responses = {
        "page": browser.get("/"),
        "redirect": browser.get("/auth/login"),
        "json": browser.get("/me"),
        "error": browser.get("/nowhere"),
        "static": browser.get("/static/app.css"),
        "server_error": browser.get("/boom"),
        "host_rejected": browser.get("/", headers={"host": "evil.example"}),
        "csrf_rejected": browser.post("/calculator", data={"a": "1"}),
    }
    expected_status = {
        "page": 200,
        "redirect": 303,
        "json": 200,
        "error": 404,
        "static": 200,
        "server_error": 500,
        "host_rejected": 400,
        "csrf_rejected": 403,
    }
    for kind, response in responses.items():
        assert response.status_code == expected_status[kind], kind
        assert_strict_headers(response, https=production, include_subdomains=production)
    # Session-dependent and /auth/ responses are never cached.
    for kind in ("page", "redirect", "json"):
        assert responses[kind].headers["cache-control"] == "no-store", kind
    assert responses["redirect"].headers["referrer-policy"] == "no-referrer"
    assert responses["page"].headers["referrer-policy"] == "strict-origin-when-cross-origin"
    # A fresh nonce per response.
    nonces = {re.search(r"'nonce-([^']+)'", r.headers["content-security-policy"]).group(1) for r in responses.values()}
    assert len(nonces) == len(responses)


def test_csrf_applies_to_a_router_the_test_adds(profile_app, browsers, app_tls):
    server, browser, production = profile_app
    token = browser.csrf_token()
    assert browser.post("/notes", json={"text": "hi"}).status_code == 403
    assert browser.post("/notes", json={"text": "hi"}, headers={"x-csrf-token": "wrong"}).status_code == 403
    other = browsers(server.base_url, verify=app_tls.client_context()) if production else browsers(server.base_url)
    other.sign_in(ADELE.username, ADELE.password)
    assert browser.post("/notes", json={}, headers={"x-csrf-token": other.csrf_token()}).status_code == 403
    assert browser.post("/notes", data={"csrf_token": token}).status_code == 200
    assert browser.post("/notes", json={"text": "hi"}, headers={"x-csrf-token": token}).status_code == 200
    refused = browser.post("/notes", json={}, headers={"x-csrf-token": "wrong", "accept": "application/json"})
    assert refused.status_code == 403 and refused.json()["error"] == "csrf_rejected"


# ----- rate limits -----


def test_the_request_over_the_limit_gets_429_with_retry_after(extra_app, browsers):
    server = extra_app(rate_limit_default="3/minute")
    browser = browsers(server.base_url)
    assert [browser.get("/").status_code for _ in range(3)] == [200, 200, 200]
    page = browser.get("/")
    assert page.status_code == 429
    assert 1 <= int(page.headers["retry-after"]) <= 60
    assert "Too many requests" in page.text and page.headers["x-request-id"] in page.text
    as_json = browser.get("/me", headers={"accept": "application/json"})
    assert as_json.status_code == 429 and as_json.json()["error"] == "rate_limited"
    assert "retry-after" in as_json.headers
    # Liveness and static files are exempt.
    assert browser.get("/health").status_code == 200
    assert browser.get("/static/app.css").status_code == 200


def test_an_unreachable_rate_limit_storage_gives_way_to_counting_in_this_process(extra_app, browsers, caplog):
    """RATE_LIMIT_STORAGE_URL names a Redis nobody answers on: pages go on, the limits still
    hold (counted in this process), and the log says so once."""
    server = extra_app(rate_limit_default="3/minute", rate_limit_storage_url="redis://127.0.0.1:9/0")
    browser = browsers(server.base_url)
    with caplog.at_level(logging.ERROR, logger="secure_auth.ratelimit"):
        codes = [browser.get("/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    unreachable = [r for r in caplog.records if "rate-limit storage unreachable" in r.getMessage()]
    assert len(unreachable) == 1


def test_auth_endpoints_have_their_own_stricter_bucket(extra_app, browsers):
    server = extra_app(rate_limit_auth="2/minute")
    browser = browsers(server.base_url)
    assert browser.get("/auth/login").status_code == 303
    assert browser.get("/auth/callback").status_code == 400
    assert browser.get("/auth/login").status_code == 429
    assert browser.get("/").status_code == 200  # the default bucket is separate


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_still_counts(extra_app, browsers):
    server = extra_app(rate_limit_default="2/minute")  # FORWARDED_ALLOW_IPS empty: trust nobody
    browser = browsers(server.base_url)
    codes = [browser.get("/", headers={"x-forwarded-for": f"203.0.113.{i}"}).status_code for i in range(3)]
    assert codes == [200, 200, 429]


def test_a_trusted_proxy_forwarded_address_is_used(extra_app, browsers):
    server = extra_app(rate_limit_default="2/minute", forwarded_allow_ips="127.0.0.1")
    browser = browsers(server.base_url)
    first = [browser.get("/", headers={"x-forwarded-for": "198.51.100.7"}).status_code for _ in range(3)]
    assert first == [200, 200, 429]
    # Another client behind the same proxy has its own budget.
    assert browser.get("/", headers={"x-forwarded-for": "198.51.100.8"}).status_code == 200
    # A client forging an extra hop cannot pick its address: the proxy's view (rightmost) wins.
    forged = browser.get("/", headers={"x-forwarded-for": "192.0.2.1, 198.51.100.7"})
    assert forged.status_code == 429


def test_limits_count_per_network_too_so_many_addresses_cannot_dodge_them(extra_app, browsers):
    server = extra_app(rate_limit_auth="2/minute", rate_limit_network_factor=3, forwarded_allow_ips="127.0.0.1")
    browser = browsers(server.base_url)

    def login(address: str) -> int:
        return browser.get("/auth/login", headers={"x-forwarded-for": address}).status_code

    # Six addresses of one IPv4 /24, one sign-in each: the network's budget (2 x 3) runs out.
    assert [login(f"203.0.113.{n}") for n in range(1, 7)] == [303] * 6
    assert login("203.0.113.99") == 429  # an address with no sign-in of its own yet
    assert login("203.0.114.1") == 303  # the next /24 has its own budget
    # One IPv6 /64 is one network, however many addresses it holds.
    assert [login(f"2001:db8:1:2::{n:x}") for n in range(1, 7)] == [303] * 6
    assert login("2001:db8:1:2:ffff::1") == 429
    assert login("2001:db8:1:3::1") == 303


def test_a_trusted_proxy_sets_the_scheme(extra_app, browsers):
    trusting = extra_app(forwarded_allow_ips="127.0.0.1")
    page = browsers(trusting.base_url).get("/debug-info", headers={"x-forwarded-proto": "https"})
    assert 'Arrived as</dt><dd class="mono">https://' in page.text
    distrusting = extra_app()
    page = browsers(distrusting.base_url).get("/debug-info", headers={"x-forwarded-proto": "https"})
    assert 'Arrived as</dt><dd class="mono">http://' in page.text


# ----- hosts and CORS -----


def test_a_poisoned_host_header_gets_400_and_a_security_event(public_app, browsers, caplog):
    caplog.set_level(logging.INFO, logger="secure_auth.security")
    response = browsers(public_app.base_url).get("/auth/login", headers={"host": "evil.example"})
    assert response.status_code == 400
    assert "evil.example" not in response.headers.get("location", "")
    assert response.headers["x-request-id"] in response.text
    assert any(getattr(r, "event", None) == "host_rejected" for r in caplog.records)


def test_cors_preflight_for_an_allowed_and_a_refused_origin(extra_app, browsers):
    server = extra_app(cors_allowed_origins="https://portal.example.com")
    browser = browsers(server.base_url)
    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "x-csrf-token"}
    allowed = browser.client.request(
        "OPTIONS", server.base_url + "/me", headers={"origin": "https://portal.example.com", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://portal.example.com"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    refused = browser.client.request(
        "OPTIONS", server.base_url + "/me", headers={"origin": "https://evil.example", **preflight}
    )
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    simple = browser.get("/health", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_no_cors_headers_without_configured_origins(public_app, browsers):
    response = browsers(public_app.base_url).get("/health", headers={"origin": "https://portal.example.com"})
    assert "access-control-allow-origin" not in response.headers


# ----- security events and leaks -----


def test_security_events_are_one_json_line_each(extra_app, browsers, entra, caplog):
    caplog.set_level(logging.DEBUG)
    server = extra_app(rate_limit_auth="100/minute", rate_limit_default="100/minute", session_idle_timeout=60)
    browser = browsers(server.base_url)
    browser.sign_in(BEN.username, BEN.password)  # login_started, login_succeeded
    browser.post("/calculator", data={"a": "1"})  # csrf_rejected
    browser.get("/", headers={"host": "evil.example"})  # host_rejected
    failed = browsers(server.base_url)
    failed.get("/auth/callback", params={"state": "x"})  # login_failed
    tampered = browsers(server.base_url)
    callback = tampered.authenticate(tampered.start_login(), BEN.username, BEN.password)
    entra.transform_next_id_token(lambda claims, sign: sign({**claims, "aud": "someone-else"}))
    tampered.finish(callback)  # token_validation_failed
    browser.post("/auth/logout", data={"csrf_token": browser.csrf_token()})  # logout
    expiring = browsers(server.base_url)
    expiring.sign_in(ADELE.username, ADELE.password)
    age_session(server, expiring.session_cookie, seconds=3600)
    expiring.get("/")  # session_expired
    limited = extra_app(rate_limit_default="1/minute")
    limiter = browsers(limited.base_url)
    limiter.get("/")
    limiter.get("/")  # rate_limited

    formatter = JsonFormatter()
    events = {}
    for record in caplog.records:
        if record.name == "secure_auth.security":
            line = formatter.format(record)
            assert "\n" not in line
            entry = json.loads(line)
            events.setdefault(entry["event"], entry)
    for name in (
        "login_started",
        "login_succeeded",
        "login_failed",
        "logout",
        "session_expired",
        "csrf_rejected",
        "rate_limited",
        "token_validation_failed",
        "host_rejected",
    ):
        assert name in events, name
        assert events[name]["request_id"], name
    assert events["login_succeeded"]["oid"] == BEN.oid and events["login_succeeded"]["tid"] == BEN.tid
    assert events["login_failed"]["reason"]
    assert events["token_validation_failed"]["detail"] == "wrong_audience"


def age_session(server, cookie: str, seconds: float) -> None:
    """Move a session's last activity into the past, through the store's own interface."""
    store = server.services.sessions.store
    session_id = server.services.sessions.session_id_from_cookie(cookie)

    async def age() -> None:
        record = await store.get(session_id)
        record["last_seen"] -= seconds
        await store.set(session_id, record, 60)

    asyncio.run(age())


def _token_values(server, cookie: str) -> list[str]:
    """The real tokens the server holds for this session (to prove none leaks)."""
    session = asyncio.run(server.services.sessions.load(cookie))
    cache = json.loads(session.token_cache)
    secrets = [
        entry["secret"]
        for section in ("AccessToken", "RefreshToken", "IdToken")
        for entry in cache.get(section, {}).values()
    ]
    assert len(secrets) == 3
    return secrets


def test_whole_flow_leaks_nothing_to_logs_or_pages(app_servers, browsers, caplog):
    caplog.set_level(logging.DEBUG)
    server = app_servers["secret"]
    browser = browsers(server.base_url)
    pages = []
    authorize = browser.start_login("/calculator")
    callback = browser.authenticate(authorize, ADELE.username, ADELE.password)
    landed = browser.finish(callback)
    pages.append(landed.text)
    cookie = browser.session_cookie
    tokens = _token_values(server, cookie)
    for path in ("/", "/me", "/calculator", "/debug-info", "/auth/logout"):
        pages.append(browser.get(path).text)
    token = browser.csrf_token()
    pages.append(browser.post("/calculator", data={"a": "2", "b": "3", "operator": "add", "csrf_token": token}).text)
    pages.append(browser.post("/auth/logout", data={"csrf_token": token}).text)
    pages.append(browser.get("/auth/signed-out").text)

    verifier_values = [v for k, v in re.findall(r'"(code_verifier)": "([^"]+)"', caplog.text)]
    app_logs = "\n".join(
        f"{r.name} {r.getMessage()}"
        for r in caplog.records
        if not r.name.startswith(("httpx", "httpcore", "local_entra"))
    )
    secrets = [*tokens, callback.params["code"], CLIENT_SECRET, cookie, *verifier_values]
    for secret in secrets:
        assert secret not in app_logs
        for page in pages:
            assert secret not in page
    assert "eyJ" not in app_logs and not any("eyJ" in page for page in pages)


def test_the_api_proxy_has_its_own_bucket(extra_app, browsers):
    server = extra_app(
        rate_limit_api="2/minute",
        rate_limit_default="100/minute",
        api_base_url="https://127.0.0.1:9",
        api_scopes="api://x/access_as_user",
    )
    browser = browsers(server.base_url)
    codes = [browser.get("/api/proxy/x", headers={"accept": "application/json"}).status_code for _ in range(3)]
    assert codes == [401, 401, 429]  # signed out: 401 until the API bucket is spent
    assert browser.get("/").status_code == 200
