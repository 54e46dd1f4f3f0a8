"""The secretless credential: a signed JWT from another issuer, in a file the app reads at
each token request, presented as client_assertion; local_entra checks it against the app
registration's federated credential (issuer, subject, audience, the issuer's keys).

A fourth app registration at the session's local_entra, with a federated credential that
trusts an issuer whose key only this test holds. Real HTTPS; nothing mocked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from app import create_app
from local_entra import ClientRegistration, FederatedCredential, LocalEntra
from tests.conftest import ADELE, BEN, AppServer, settings_for
from tests.support.certs import new_rsa_key
from tests.support.federation import TOKEN_FACTS_PATH, TestIssuer, token_facts_router
from tests.support.servers import ServerThread, bind_loopback

FEDERATED_CLIENT_ID = "9a1d7c0e-5555-4a2b-8c3d-000000000005"
ISSUER = "https://oidc.cluster.example/7f3c1d2e/"
SUBJECT = "system:serviceaccount:web:secure-auth"


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer(ISSUER)


@pytest.fixture
def token_file(tmp_path: Path, issuer: TestIssuer) -> Path:
    path = tmp_path / "azure-identity-token"
    issuer.write(path, SUBJECT)
    return path


@pytest.fixture
def federated_app(entra: LocalEntra, client_certificate: Path, issuer: TestIssuer) -> Iterator:
    """`start(**settings)`: an app registered at local_entra as a confidential client whose
    only credential is a federated credential for (ISSUER, SUBJECT, api://AzureADTokenExchange)."""
    started: list[tuple[AppServer, ClientRegistration]] = []

    def start(**overrides) -> AppServer:
        sock = bind_loopback()
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        registration = ClientRegistration(
            FEDERATED_CLIENT_ID,
            [base_url + "/auth/callback"],
            [base_url + "/auth/signed-out"],
            public_client=False,
            federated_credentials=[FederatedCredential(ISSUER, SUBJECT, issuer.jwks)],
        )
        entra.config.clients.append(registration)
        settings = settings_for(
            "public", entra, base_url, client_certificate, entra_client_id=FEDERATED_CLIENT_ID, **overrides
        )
        app = create_app(settings)
        app.include_router(token_facts_router())
        server = AppServer("federated", settings, app, ServerThread(app, sock).start())
        started.append((server, registration))
        return server

    yield start
    for server, registration in started:
        server.server.stop()
        entra.config.clients.remove(registration)


def test_signs_in_with_the_token_file_and_reads_it_again_at_each_token_request(
    federated_app, token_file, issuer, entra, browsers
):
    app = federated_app(entra_client_assertion_file=token_file)
    assert app.settings.client_kind == "confidential client (federated credential)"
    browser = browsers(app.base_url)
    first_jti = jti_of(token_file)
    assert browser.sign_in(ADELE.username, ADELE.password).status_code == 303
    assert browser.get("/me").json()["username"] == ADELE.username
    assert entra.client_assertions[-1]["jti"] == first_jti
    assert entra.client_assertions[-1]["sub"] == SUBJECT

    # The kubelet rotates the token; the next token request (a refresh, for Graph) sends the new one.
    rotated_jti = issuer.write(token_file, SUBJECT)
    facts = browser.get(TOKEN_FACTS_PATH)
    assert facts.status_code == 200, facts.text
    assert facts.json()["azpacr"] == "2"  # the app authenticated with an assertion, not a secret
    assert entra.client_assertions[-1]["jti"] == rotated_jti != first_jti


def test_an_unusable_rotated_file_fails_clearly(federated_app, token_file, issuer, browsers, caplog):
    caplog.set_level(logging.INFO, logger="secure_auth.security")
    app = federated_app(entra_client_assertion_file=token_file)
    browser = browsers(app.base_url)
    assert browser.sign_in(BEN.username, BEN.password).status_code == 303

    token_file.write_text("this is not a JWT\n")
    page = browser.get(TOKEN_FACTS_PATH, headers={"accept": "text/html"})
    assert page.status_code == 503, page.text
    assert "Your access could not be renewed" in page.text and "Traceback" not in page.text
    event = last_event(caplog, "token_refresh_failed")
    assert event.fields["detail"].startswith("client_assertion_unavailable:not_a_jwt:")
    assert event.request_id == page.headers["x-request-id"]

    # A token refused by Entra at refresh: the page names the AADSTS code and what to fix.
    issuer.write(token_file, "system:serviceaccount:web:someone-else")
    page = browser.get(TOKEN_FACTS_PATH, headers={"accept": "text/html"})
    assert page.status_code == 503, page.text
    assert "AADSTS700213" in page.text


def test_a_missing_file_at_sign_in_gives_an_error_page_and_a_logged_reason(federated_app, token_file, browsers, caplog):
    caplog.set_level(logging.INFO, logger="secure_auth.security")
    app = federated_app(entra_client_assertion_file=token_file)
    browser = browsers(app.base_url)
    callback = browser.authenticate(browser.start_login(), ADELE.username, ADELE.password)
    token_file.unlink()
    page = browser.finish(callback)
    assert page.status_code == 503, page.text
    assert "could not read its own credential" in page.text and "Traceback" not in page.text
    assert "client_assertion_unavailable" in page.text  # the reason, beside the request id
    assert browser.session_cookie is None
    event = last_event(caplog, "login_failed")
    assert event.fields["reason"] == "client_assertion_unavailable"
    assert event.fields["detail"] == f"missing:{token_file}"
    assert event.request_id == page.headers["x-request-id"]


WRONG_ASSERTIONS = {
    "issuer": ({"iss": "https://oidc.other-cluster.example/"}, 70021),
    "subject": ({"sub": "system:serviceaccount:web:intruder"}, 700213),
    "audience": ({"aud": "api://AzureADMyOrg"}, 700212),
    "expired": ({"exp": 1_700_000_000, "iat": 1_699_990_000, "nbf": 1_699_990_000}, 700024),
}


@pytest.mark.parametrize("case", list(WRONG_ASSERTIONS))
def test_a_token_that_matches_no_federated_credential_is_refused_with_entras_code(
    case, federated_app, token_file, issuer, entra, browsers
):
    claims, code = WRONG_ASSERTIONS[case]
    token_file.write_text(issuer.mint(str(claims.pop("sub", SUBJECT)), **claims))
    app = federated_app(entra_client_assertion_file=token_file)
    accepted = len(entra.client_assertions)
    browser = browsers(app.base_url)
    page = browser.sign_in(ADELE.username, ADELE.password)
    assert page.status_code == 400, page.text
    assert f"AADSTS{code}" in page.text and "Traceback" not in page.text
    assert browser.session_cookie is None
    assert len(entra.client_assertions) == accepted


def test_a_token_signed_with_another_key_is_refused(federated_app, token_file, browsers):
    impostor = TestIssuer(ISSUER, key=new_rsa_key())  # same issuer name and kid, not its key
    impostor.write(token_file, SUBJECT)
    app = federated_app(entra_client_assertion_file=token_file)
    page = browsers(app.base_url).sign_in(ADELE.username, ADELE.password)
    assert page.status_code == 400 and "AADSTS700027" in page.text


def test_azure_federated_token_file_is_used_when_nothing_else_is_set(
    federated_app, token_file, entra, browsers, caplog
):
    caplog.set_level(logging.INFO, logger="secure_auth.identity")
    app = federated_app(azure_federated_token_file=token_file)
    assert app.settings.client_assertion_file == token_file
    said = [r.getMessage() for r in caplog.records if "AZURE_FEDERATED_TOKEN_FILE" in r.getMessage()]
    assert len(said) == 1 and str(token_file) in said[0]
    browser = browsers(app.base_url)
    assert browser.sign_in(BEN.username, BEN.password).status_code == 303
    assert entra.client_assertions[-1]["jti"] == jti_of(token_file)


def test_debug_info_shows_the_credential_and_its_expiry_never_the_token(federated_app, token_file, browsers):
    app = federated_app(entra_client_assertion_file=token_file)
    page = browsers(app.base_url).get("/debug-info")
    assert page.status_code == 200
    assert "A federated credential" in page.text and SUBJECT in page.text and "It expires at" in page.text
    token = token_file.read_text().strip()
    assert token not in page.text and token.split(".")[1] not in page.text and token.split(".")[2] not in page.text


def jti_of(path: Path) -> str:
    return jwt.decode(path.read_text().strip(), options={"verify_signature": False})["jti"]


def last_event(caplog: pytest.LogCaptureFixture, name: str) -> logging.LogRecord:
    return [r for r in caplog.records if getattr(r, "event", None) == name][-1]
