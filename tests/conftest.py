"""Shared fixtures: a real local_entra over HTTPS and real app servers on loopback.

Three app servers run side by side, one per client kind (public, confidential with a
secret, confidential with a certificate); each is registered at local_entra with its
exact redirect URI. Nothing is mocked: MSAL talks HTTPS to local_entra, the tests talk
HTTP to the apps.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from fastapi import FastAPI

from app import create_app
from local_entra import DEMO_USERS, ClientRegistration, LocalEntra, LocalEntraConfig
from secure_auth.config import Settings, load_settings
from tests.support.browser import Browser
from tests.support.certs import cert_pem, key_pem, new_rsa_key, self_signed
from tests.support.servers import ServerThread, bind_loopback

PUBLIC_CLIENT_ID = "9a1d7c0e-1111-4a2b-8c3d-000000000001"
SECRET_CLIENT_ID = "9a1d7c0e-2222-4a2b-8c3d-000000000002"
CERT_CLIENT_ID = "9a1d7c0e-3333-4a2b-8c3d-000000000003"
CLIENT_SECRET = "test-secret-value-4f9c2d1e8b7a"
CLIENT_KINDS = ("public", "secret", "certificate")

ADELE = next(u for u in DEMO_USERS if u.username.startswith("adele"))
BEN = next(u for u in DEMO_USERS if u.username.startswith("ben"))
GUEST = next(u for u in DEMO_USERS if u.username.startswith("guest"))

# Settings from this machine's environment or a developer's .env must not leak into tests.
for _name in list(os.environ):
    if _name.startswith(("ENTRA_", "SESSION_", "DEBUG_INFO_")) or _name in (
        "APP_ENV",
        "PUBLIC_BASE_URL",
        "TRUSTED_HOSTS",
        "AZURE_FEDERATED_TOKEN_FILE",
    ):
        del os.environ[_name]


def _certificate_pem(directory: Path) -> Path:
    key = new_rsa_key()
    path = directory / "client-cert.pem"
    path.write_bytes(key_pem(key) + cert_pem(self_signed(key, "secure-auth-test-client")))
    return path


@dataclass
class AppServer:
    kind: str
    settings: Settings
    app: FastAPI
    server: ServerThread

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    @property
    def services(self):
        return self.app.state.services


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("secure_auth")


@pytest.fixture(scope="session")
def app_sockets():
    sockets = {kind: bind_loopback() for kind in CLIENT_KINDS}
    yield sockets


@pytest.fixture(scope="session")
def client_certificate(work_dir: Path) -> Path:
    return _certificate_pem(work_dir)


def _base_url(sock) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="session")
def entra(work_dir: Path, app_sockets, client_certificate: Path) -> Iterator[LocalEntra]:
    cert_pem = client_certificate.read_bytes()
    cert_only = cert_pem[cert_pem.index(b"-----BEGIN CERTIFICATE-----") :]
    urls = {kind: _base_url(sock) for kind, sock in app_sockets.items()}

    def registration(kind: str, client_id: str, **kwargs) -> ClientRegistration:
        return ClientRegistration(
            client_id=client_id,
            redirect_uris=[urls[kind] + "/auth/callback"],
            post_logout_redirect_uris=[urls[kind] + "/auth/signed-out"],
            **kwargs,
        )

    config = LocalEntraConfig(
        clients=[
            registration("public", PUBLIC_CLIENT_ID, public_client=True),
            registration("secret", SECRET_CLIENT_ID, public_client=False, client_secret=CLIENT_SECRET),
            registration("certificate", CERT_CLIENT_ID, public_client=False, certificate_pem=cert_only),
        ],
        users=list(DEMO_USERS),
        state_dir=work_dir / "local_entra",
    )
    entra = LocalEntra(config).start()
    yield entra
    entra.stop()


def settings_for(kind: str, entra: LocalEntra, base_url: str, client_certificate: Path, **overrides) -> Settings:
    values = {
        "entra_tenant_id": entra.tenant_id,
        "entra_authority_host": entra.authority_host,
        "entra_ca_bundle": entra.ca_bundle_path,
        "public_base_url": base_url,
        "graph_base_url": entra.authority_host,  # local_entra's Graph stand-in
        "session_secret_key": "p0Q9hZt3W8vKc1LmN4rB7yXe2sDf6GjHa5uIoP-Vq_Rw",
        # Tests sign in hundreds of times from 127.0.0.1; the rate-limit tests set their own.
        "rate_limit_default": "100000/minute",
        "rate_limit_auth": "100000/minute",
        "rate_limit_api": "100000/minute",
    }
    if kind == "public":
        values["entra_client_id"] = PUBLIC_CLIENT_ID
    elif kind == "secret":
        values.update(entra_client_id=SECRET_CLIENT_ID, entra_client_secret=CLIENT_SECRET)
    else:
        values.update(entra_client_id=CERT_CLIENT_ID, entra_client_certificate=client_certificate)
    values.update(overrides)
    if values.get("app_env") == "production":
        # Production refuses a loopback IdP and its CA at start-up (tested in
        # tests/unit/test_config.py); to run production's runtime behaviour against
        # local_entra, build the settings without those start-up refusals.
        return Settings(**values)
    return load_settings(**values)


@pytest.fixture(scope="session")
def app_servers(entra: LocalEntra, app_sockets, client_certificate: Path) -> Iterator[dict[str, AppServer]]:
    servers = {}
    for kind, sock in app_sockets.items():
        settings = settings_for(kind, entra, _base_url(sock), client_certificate)
        app = create_app(settings)
        servers[kind] = AppServer(kind, settings, app, ServerThread(app, sock).start())
    yield servers
    for server in servers.values():
        server.server.stop()


@pytest.fixture(params=CLIENT_KINDS)
def app_server(request: pytest.FixtureRequest, app_servers: dict[str, AppServer]) -> AppServer:
    return app_servers[request.param]


@pytest.fixture
def public_app(app_servers: dict[str, AppServer]) -> AppServer:
    return app_servers["public"]


@pytest.fixture
def browsers():
    """A factory of independent browsers (each its own cookie jar)."""
    opened: list[Browser] = []

    def open_browser(base_url: str, **kwargs) -> Browser:
        browser = Browser(base_url, **kwargs)
        opened.append(browser)
        return browser

    yield open_browser
    for browser in opened:
        browser.close()


@dataclass
class AppTls:
    """A CA and a server certificate for serving the app itself over HTTPS."""

    ca_path: Path
    cert_path: Path
    key_path: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_path))


@pytest.fixture(scope="session")
def app_tls(work_dir: Path) -> AppTls:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    tls = AppTls(work_dir / "app-ca.pem", work_dir / "app-cert.pem", work_dir / "app-key.pem")
    ca.cert_pem.write_to_path(str(tls.ca_path))
    cert.cert_chain_pems[0].write_to_path(str(tls.cert_path))
    cert.private_key_pem.write_to_path(str(tls.key_path))
    return tls


@pytest.fixture
def extra_app(entra: LocalEntra, client_certificate: Path, app_tls: AppTls):
    """Start a public-client app with other settings, registered at local_entra for the test;
    `tls=True` serves it over HTTPS (production profile needs an https PUBLIC_BASE_URL)."""
    started: list[tuple[ServerThread, str]] = []
    registration = entra.config.client(PUBLIC_CLIENT_ID)

    def start(tls: bool = False, **overrides) -> AppServer:
        sock = bind_loopback()
        base_url = _base_url(sock).replace("http://", "https://") if tls else _base_url(sock)
        settings = settings_for("public", entra, base_url, client_certificate, **overrides)
        registration.redirect_uris.append(settings.redirect_uri)
        registration.post_logout_redirect_uris.append(settings.post_logout_redirect_uri)
        app = create_app(settings)
        ssl_files = {"ssl_certfile": str(app_tls.cert_path), "ssl_keyfile": str(app_tls.key_path)} if tls else {}
        server = AppServer("public", settings, app, ServerThread(app, sock, **ssl_files).start())
        started.append((server.server, settings.redirect_uri))
        return server

    yield start
    for server, redirect_uri in started:
        server.stop()
        registration.redirect_uris.remove(redirect_uri)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI nothing may be skipped: a skipped browser or integration test fails the run."""
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter:
            reporter.write_line(f"CI=true: {len(skipped)} test(s) skipped, which CI does not allow", red=True)


@pytest.fixture
def private_entra_app(work_dir: Path, client_certificate: Path):
    """A local_entra of the test's own (e.g. short token lifetimes) with one public-client
    app registered at it: `start(entra_options={...}, **settings_overrides)`."""
    started: list[tuple[LocalEntra, AppServer]] = []

    def start(entra_options: dict | None = None, routers=(), **overrides) -> tuple[LocalEntra, AppServer]:
        sock = bind_loopback()
        base_url = _base_url(sock)
        client = ClientRegistration(PUBLIC_CLIENT_ID, [base_url + "/auth/callback"], [base_url + "/auth/signed-out"])
        config = LocalEntraConfig(
            [client], list(DEMO_USERS), state_dir=work_dir / "local_entra", **(entra_options or {})
        )
        private = LocalEntra(config).start()
        settings = settings_for("public", private, base_url, client_certificate, **overrides)
        app = create_app(settings)
        for router in routers:
            app.include_router(router)
        server = AppServer("public", settings, app, ServerThread(app, sock).start())
        started.append((private, server))
        return private, server

    yield start
    for private, server in started:
        server.server.stop()
        private.stop()
