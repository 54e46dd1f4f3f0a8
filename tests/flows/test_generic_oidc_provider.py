"""ENTRA_OIDC_AUTHORITY + ENTRA_CA_BUNDLE against another standards-compliant OpenID
Connect provider on loopback: oidc-provider-mock (Authlib-based), served over HTTPS with
a CA made by trustme. Nothing about it is Entra-specific."""

from __future__ import annotations

import ssl
import threading
from pathlib import Path

import pytest
import trustme
from oidc_provider_mock import User
from oidc_provider_mock import app as oidc_app
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server

from tests.conftest import AppServer
from tests.support.browser import hidden_inputs
from tests.support.servers import ServerThread, bind_loopback

SUBJECT = "alice-subject-1"


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory):
    ca = trustme.CA()
    ca_path = Path(tmp_path_factory.mktemp("oidc")) / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    provider = oidc_app(
        require_nonce=True,
        user_claims=[User(sub=SUBJECT, claims={"name": "Alice Example", "preferred_username": "alice@example.org"})],
    )
    # MSAL wants a path in an oidc_authority: serve the provider under /oidc.
    wsgi = DispatcherMiddleware(lambda environ, start: start("404 Not Found", []) or [b""], {"/oidc": provider})
    server = make_server("127.0.0.1", 0, wsgi, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_port}/oidc", ca_path
    server.shutdown()


@pytest.fixture(scope="module")
def oidc_app_server(oidc_provider):
    from app import create_app
    from secure_auth.config import load_settings

    authority, ca_path = oidc_provider
    sock = bind_loopback()
    settings = load_settings(
        entra_client_id="generic-oidc-client",
        entra_oidc_authority=authority,
        entra_client_secret="generic-oidc-secret",  # the provider accepts any secret for unknown clients
        entra_ca_bundle=ca_path,
        public_base_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
        session_secret_key="generic-oidc-test-" + "y" * 32,
        rate_limit_auth="1000/minute",
    )
    app = create_app(settings)
    server = AppServer("oidc", settings, app, ServerThread(app, sock).start())
    yield server, ca_path
    server.server.stop()


def test_signs_in_against_a_generic_oidc_provider(oidc_app_server, browsers):
    oidc_app_server, ca_path = oidc_app_server
    # The provider's pages are https with the test CA: this browser trusts it too.
    browser = browsers(oidc_app_server.base_url, verify=ssl.create_default_context(cafile=str(ca_path)))
    authorize = browser.start_login("/calculator")
    assert "/oidc/" in authorize
    page = browser.get(authorize)
    assert page.status_code == 200
    response = browser.client.post(authorize, data={**hidden_inputs(page.text), "sub": SUBJECT})
    assert response.status_code in (302, 303), response.text
    landed = browser.get(response.headers["location"])
    assert landed.status_code == 303, landed.text
    assert landed.headers["location"] == "/calculator"
    me = browser.get("/me").json()
    assert me["name"] == "Alice Example"
    assert me["username"] == "alice@example.org"

    csrf = browser.csrf_token("/calculator")
    result = browser.post("/calculator", data={"a": "2", "b": "3", "operator": "add", "csrf_token": csrf})
    assert 'data-testid="calc-result">5<' in result.text

    logout = browser.post("/auth/logout", data={"csrf_token": csrf})
    assert logout.status_code == 303
    assert "/oidc/oauth2/end_session" in logout.headers["location"]
    assert browser.get("/me").status_code == 401
