"""Pages, errors, CSRF on a feature router, /debug-info and the production profile,
over real HTTP(S) with sign-ins through local_entra."""

from __future__ import annotations

import logging

import pytest

from secure_auth.config import load_settings
from secure_auth.identity.client import IdentityClient
from secure_auth.identity.errors import IdentityProviderUnavailable
from tests.conftest import ADELE, BEN, CLIENT_SECRET

SECURITY_HEADERS = (
    "content-security-policy",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "cross-origin-opener-policy",
    "x-request-id",
)


def test_health_is_cheap_and_says_nothing_secret(public_app, browsers):
    response = browsers(public_app.base_url).get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_me_signed_out_is_401_json(public_app, browsers):
    response = browsers(public_app.base_url).get("/me")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"


@pytest.mark.parametrize(
    "path, status",
    [("/", 200), ("/calculator", 303), ("/me", 401), ("/nowhere", 404), ("/static/app.css", 200), ("/auth/login", 303)],
)
def test_security_headers_on_every_kind_of_response(path, status, public_app, browsers):
    response = browsers(public_app.base_url).get(path)
    assert response.status_code == status
    for header in SECURITY_HEADERS:
        assert header in response.headers, header
    csp = response.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    if path.startswith("/auth/"):
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"


def test_errors_are_pages_or_json_with_a_request_id(public_app, browsers):
    browser = browsers(public_app.base_url)
    page = browser.get("/nowhere")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert page.headers["x-request-id"] in page.text
    as_json = browser.get("/nowhere", headers={"accept": "application/json"})
    assert as_json.status_code == 404
    assert as_json.json()["request_id"] == as_json.headers["x-request-id"]
    assert browser.post("/").status_code == 405
    assert browser.get("/", headers={"host": "evil.example"}).status_code == 400


def test_request_id_is_echoed_when_sane_and_replaced_when_not(public_app, browsers):
    browser = browsers(public_app.base_url)
    assert (
        browser.get("/health", headers={"x-request-id": "proxy-abc-12345"}).headers["x-request-id"] == "proxy-abc-12345"
    )
    replaced = browser.get("/health", headers={"x-request-id": "bad id\twith<junk>"}).headers["x-request-id"]
    assert replaced != "bad id\twith<junk>" and len(replaced) == 16


# ----- calculator: a feature router gets sign-in and CSRF from one dependency -----


@pytest.fixture
def signed_in(public_app, browsers):
    browser = browsers(public_app.base_url)
    browser.sign_in(BEN.username, BEN.password)
    return browser


@pytest.mark.parametrize(
    "a, b, operator, message",
    [
        ("1", "0", "divide", "Division by zero"),
        ("abc", "1", "add", "not a number"),
        ("1e1000000", "1", "add", "too large"),
        ("9" * 41, "1", "add", "too long"),
        ("NaN", "1", "add", "finite"),
        ("1", "1e-999999999", "divide", "too small"),
        ("1", "2", "power", "one of the four"),
        ("", "2", "add", "Enter a number"),
    ],
)
def test_calculator_bad_input_is_a_friendly_400(a, b, operator, message, signed_in):
    csrf = signed_in.csrf_token()
    response = signed_in.post("/calculator", data={"a": a, "b": b, "operator": operator, "csrf_token": csrf})
    assert response.status_code == 400
    assert message in response.text
    assert "Traceback" not in response.text


def test_calculator_csrf(signed_in, public_app, browsers):
    data = {"a": "1", "b": "2", "operator": "add"}
    assert signed_in.post("/calculator", data=data).status_code == 403
    assert signed_in.post("/calculator", data={**data, "csrf_token": "wrong"}).status_code == 403
    other = browsers(public_app.base_url)
    other.sign_in(ADELE.username, ADELE.password)
    assert signed_in.post("/calculator", data={**data, "csrf_token": other.csrf_token()}).status_code == 403

    token = signed_in.csrf_token()
    assert signed_in.post("/calculator", data={**data, "csrf_token": token}).status_code == 200
    assert signed_in.post("/calculator", data=data, headers={"x-csrf-token": token}).status_code == 200
    foreign = signed_in.post(
        "/calculator", data={**data, "csrf_token": token}, headers={"origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    cross_site = signed_in.post(
        "/calculator", data={**data, "csrf_token": token}, headers={"sec-fetch-site": "cross-site"}
    )
    assert cross_site.status_code == 403


def test_calculator_post_signed_out_is_401_not_a_redirect(public_app, browsers):
    response = browsers(public_app.base_url).post("/calculator", data={"a": "1", "b": "2", "operator": "add"})
    assert response.status_code == 401


# ----- /debug-info -----


def test_debug_info_in_development_shows_configuration_but_no_secret(app_servers, browsers):
    server = app_servers["secret"]
    browser = browsers(server.base_url)
    signed_out = browser.get("/debug-info")
    assert signed_out.status_code == 200
    assert server.settings.redirect_uri in signed_out.text
    assert "confidential client (secret)" in signed_out.text
    assert "/oauth2/v2.0/token" in signed_out.text
    assert CLIENT_SECRET not in signed_out.text and "set (redacted)" in signed_out.text

    browser.sign_in(ADELE.username, ADELE.password)
    page = browser.get("/debug-info")
    assert ADELE.oid in page.text
    assert "eyJ" not in page.text  # no JWT of any kind
    assert browser.session_cookie not in page.text
    assert CLIENT_SECRET not in page.text


def test_debug_info_is_404_in_production_unless_enabled(extra_app, browsers, app_tls):
    server = extra_app(tls=True, app_env="production")
    browser = browsers(server.base_url, verify=app_tls.client_context())
    assert browser.get("/debug-info").status_code == 404
    browser.sign_in(ADELE.username, ADELE.password)
    assert browser.get("/me").status_code == 200
    assert browser.get("/debug-info").status_code == 404


def test_debug_info_in_production_needs_the_role(extra_app, browsers, app_tls):
    server = extra_app(tls=True, app_env="production", debug_info_enabled=True, debug_info_role="Admin")
    anonymous = browsers(server.base_url, verify=app_tls.client_context())
    assert anonymous.get("/debug-info").status_code == 404
    ben = browsers(server.base_url, verify=app_tls.client_context())
    ben.sign_in(BEN.username, BEN.password)
    assert ben.get("/debug-info").status_code == 404
    adele = browsers(server.base_url, verify=app_tls.client_context())
    adele.sign_in(ADELE.username, ADELE.password)
    page = adele.get("/debug-info")
    assert page.status_code == 200 and "production" in page.text


def test_production_cookies_are_host_prefixed_and_secure(extra_app, browsers, app_tls):
    server = extra_app(tls=True, app_env="production")
    browser = browsers(server.base_url, verify=app_tls.client_context())
    login = browser.get("/auth/login")
    flow_cookie = login.headers["set-cookie"]
    assert flow_cookie.startswith("__Host-auth_flow=") and "Secure" in flow_cookie and "HttpOnly" in flow_cookie
    assert "Path=/;" in flow_cookie and "Max-Age=600" in flow_cookie and "Domain" not in flow_cookie
    callback = browser.authenticate(login.headers["location"], BEN.username, BEN.password)
    landed = browser.finish(callback)
    session_cookie = landed.headers["set-cookie"]
    assert session_cookie.startswith("__Host-session=")
    for attribute in ("Secure", "HttpOnly", "Path=/", "SameSite=lax"):
        assert attribute in session_cookie
    assert "Domain" not in session_cookie
    assert landed.headers["strict-transport-security"].startswith("max-age=31536000")
    assert browser.get("/me").json()["username"] == BEN.username


# ----- the identity client's trust and logging -----


def test_ca_bundle_is_trusted_even_when_requests_ca_bundle_points_elsewhere(entra, monkeypatch, tmp_path):
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())
    base = {
        "entra_client_id": "any-client",
        "entra_tenant_id": entra.tenant_id,
        "entra_authority_host": entra.authority_host,
        "session_secret_key": "k" * 40,
    }
    monkeypatch.chdir(tmp_path)
    trusted = IdentityClient(load_settings(**base, entra_ca_bundle=entra.ca_bundle_path))
    assert trusted.metadata().token_endpoint.startswith(entra.authority_host)
    untrusted = IdentityClient(load_settings(**base))
    with pytest.raises(IdentityProviderUnavailable):
        untrusted.metadata()


def test_no_token_code_or_secret_reaches_the_logs(app_servers, browsers, caplog):
    caplog.set_level(logging.DEBUG)
    server = app_servers["secret"]
    browser = browsers(server.base_url)
    callback = browser.authenticate(browser.start_login(), BEN.username, BEN.password)
    browser.finish(callback)
    session_cookie = browser.session_cookie
    assert session_cookie
    browser.post("/auth/logout", data={"csrf_token": browser.csrf_token()})
    # The test's own browser (httpx) and local_entra may log URLs; the app, MSAL, requests
    # and uvicorn may not leak anything.
    app_side = "\n".join(
        f"{r.name} {r.getMessage()}"
        for r in caplog.records
        if not r.name.startswith(("httpx", "httpcore", "local_entra"))
    )
    assert "login_succeeded" in app_side
    for secret in (callback.params["code"], CLIENT_SECRET, "eyJ", "code_verifier", session_cookie):
        assert secret not in app_side


def test_unhandled_errors_are_a_500_page_with_the_security_headers(extra_app, browsers):
    from fastapi import APIRouter

    server = extra_app()
    broken = APIRouter()

    @broken.get("/broken")
    async def explode():
        raise RuntimeError("internal detail that must not reach the browser")

    server.app.include_router(broken)
    response = browsers(server.base_url).get("/broken")
    assert response.status_code == 500
    assert "internal detail" not in response.text and "Traceback" not in response.text
    for header in SECURITY_HEADERS:
        assert header in response.headers, header
    assert response.headers["x-request-id"] in response.text
    assert response.headers["cache-control"] == "no-store"


def test_access_log_never_carries_the_code_or_state(extra_app, browsers, caplog):
    """uvicorn's access log writes the query string; on /auth/ it is redacted."""
    from tests.support.servers import ServerThread

    caplog.set_level(logging.INFO, logger="uvicorn.access")
    server = extra_app()
    # The same app served again by a uvicorn that writes an access log, as run.py does.
    logged = ServerThread(server.app, log_level="info", access_log=True).start()
    access_logger = logging.getLogger("uvicorn.access")  # uvicorn's config stops propagation
    access_logger.addHandler(caplog.handler)
    try:
        browser = browsers(server.base_url)
        callback = browser.authenticate(browser.start_login(), BEN.username, BEN.password)
        replay = browsers(f"http://127.0.0.1:{logged.port}")
        replay.get(callback.url.replace(server.base_url, replay.base_url))
    finally:
        access_logger.removeHandler(caplog.handler)
        logged.stop()
    # Only the app's lines: local_entra, in this process too, logs as an IdP would.
    access = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access" and "/auth/" in r.getMessage()]
    assert any("/auth/callback?[redacted]" in line for line in access), access
    assert not any(callback.params["code"] in line or callback.params["state"] in line for line in access), access


def test_a_favicon_at_the_app_and_at_the_stand_in(public_app, entra, browsers):
    """Browsers ask for one on every page; a 404 there is a console error each time."""
    import ssl

    import httpx

    trust = ssl.create_default_context(cafile=str(entra.ca_bundle_path))
    for base in (public_app.base_url, entra.authority_host):
        client = httpx.Client(verify=trust, follow_redirects=True, timeout=10)
        response = client.get(base + "/favicon.ico")
        assert response.status_code == 200, base
        assert response.headers["content-type"].startswith("image/svg+xml")
        assert response.content.startswith(b"<svg")
        client.close()
    page = browsers(public_app.base_url).get("/")
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page.text


def test_messages_read_as_sentences(public_app, browsers):
    browser = browsers(public_app.base_url)
    signed_out_page = browser.get("/")
    assert "Signed in with Microsoft Entra ID" not in signed_out_page.text  # nobody is
    assert browser.sign_in(ADELE.username, ADELE.password).status_code == 303
    assert "Signed in with Microsoft Entra ID" in browser.get("/").text
    token = browser.csrf_token()
    page = browser.post("/calculator", data={"a": "", "b": "2", "operator": "add", "csrf_token": token})
    assert "Enter a number for the first number." in page.text


def test_an_unreachable_idp_is_named_at_start_up_and_the_503_page_points_to_debug_info(extra_app, browsers, caplog):
    import logging

    caplog.set_level(logging.WARNING, logger="secure_auth")
    server = extra_app(entra_authority_host="https://127.0.0.1:9", entra_http_timeout=1)
    assert any("https://127.0.0.1:9/" in record.getMessage() for record in caplog.records), caplog.text
    page = browsers(server.base_url).get("/auth/login")
    assert page.status_code == 503
    assert 'href="/debug-info"' in page.text
