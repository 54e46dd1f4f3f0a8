"""The whole deployment on one machine, under a temporary directory, from deploy/'s files:
a private CA, Redis, local_entra under a host name of its own, the gunicorn and the run.py
back ends in the production profile, and nginx in front of them.

Host names: the back ends resolve the IdP's name through a hosts file of their own (a
mount namespace, see deploy_processes.with_hosts_file); the test's HTTP clients through
`LoopbackNames`; Chromium through --host-resolver-rules. Nothing on the machine changes.
"""

from __future__ import annotations

import os
import re
import secrets
import ssl
import time
from pathlib import Path

import httpx
import trustme

from local_entra import DEMO_USERS, ClientRegistration, LocalEntra, LocalEntraConfig
from local_entra.tls import TlsFiles
from secure_auth.config import Settings
from tests.support import deploy_files
from tests.support.browser import Browser
from tests.support.certs import cert_pem, key_pem, new_rsa_key, self_signed
from tests.support.deploy_processes import BackEnd, Nginx, Redis
from tests.support.servers import free_port

APP_HOST = "app.secure-auth.test"
IDP_HOST = "login.secure-auth.test"
NAMES = (APP_HOST, IDP_HOST)
CLIENT_ID = "4e0c7b1a-9d2f-4a6e-8b3c-5f1d2e3a4b5c"
# Each back end's unit, and the text of its ExecStart that names its port.
UNITS = {
    "gunicorn": (deploy_files.GUNICORN_UNIT, "127.0.0.1:8001"),
    "run.py": (deploy_files.RUN_PY_UNIT, "--port 8002"),
}
_UPSTREAM = re.compile(r"req=(?P<id>\S+) upstream=(?P<upstream>.*?) upstream_status=")


class PrivateCA:
    """A CA with a neutral name, as an organisation's private CA would have: nothing in it
    marks it as a test CA, so production's refusal of the stand-in's CA stays as it is."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca = trustme.CA(organization_name="Secure Auth Deployment", organization_unit_name="Private CA")
        self.path = directory / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.path))

    def issue(self, name: str) -> TlsFiles:
        leaf = self.ca.issue_cert(name, organization_name="Secure Auth Deployment", organization_unit_name=name)
        files = TlsFiles(self.path, self.directory / f"{name}.pem", self.directory / f"{name}-key.pem")
        files.cert_path.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(files.key_path))
        files.key_path.chmod(0o600)
        return files

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.path))


class LoopbackNames(httpx.BaseTransport):
    """The test's stand-in for a hosts entry: requests for the stack's names go to
    127.0.0.1, with the name kept for Host, TLS (SNI and certificate check) and cookies."""

    def __init__(self, verify: ssl.SSLContext, local_address: str | None = None) -> None:
        self.inner = httpx.HTTPTransport(verify=verify, local_address=local_address)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host not in NAMES:
            return self.inner.handle_request(request)
        # A copy goes on the wire: httpx files cookies under the original request's URL.
        wire = httpx.Request(
            request.method,
            request.url.copy_with(host="127.0.0.1"),
            headers=request.headers,
            stream=request.stream,
            extensions={**request.extensions, "sni_hostname": request.url.host},
        )
        return self.inner.handle_request(wire)

    def close(self) -> None:
        self.inner.close()


class Stack:
    def __init__(self, directory: Path, *, https_port: int = 0, http_port: int = 0, users=DEMO_USERS) -> None:
        self.directory = directory
        self.https_port = https_port or free_port()
        self.http_port = http_port or free_port()
        self.users = list(users)
        self.base_url = f"https://{APP_HOST}:{self.https_port}"
        self.ca = PrivateCA(directory)
        self.app_tls = self.ca.issue(APP_HOST)  # nginx's certificate
        self.hosts_file = directory / "hosts"
        self.hosts_file.write_text(Path("/etc/hosts").read_text() + f"\n127.0.0.1 {' '.join(NAMES)}\n")
        self.entra: LocalEntra | None = None
        self.redis: Redis | None = None
        self.back_ends: dict[str, BackEnd] = {}
        self.nginx: Nginx | None = None
        self.settings: dict[str, str] = {}

    # ----- start and stop -----

    def start(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        password = secrets.token_hex(32)
        redis_port = free_port()
        self.entra = self._start_entra()
        self.settings = deploy_files.environment(
            values={
                "ENTRA_CLIENT_ID": CLIENT_ID,
                "ENTRA_TENANT_ID": self.entra.tenant_id,
                "ENTRA_CLIENT_CERTIFICATE": str(self._client_certificate()),
                "PUBLIC_BASE_URL": self.base_url,
                "TRUSTED_HOSTS": APP_HOST,
                # Hex: no run of letters that the example-value check refuses ("test", "demo").
                "SESSION_SECRET_KEY": secrets.token_hex(32),
                "TOKEN_CACHE_KEY": secrets.token_hex(32),
                # The traffic of the reload tests, from a handful of addresses; sign-ins
                # keep production's limit (RATE_LIMIT_AUTH).
                "RATE_LIMIT_DEFAULT": "100000/hour",
            },
            edits=[("REPLACE_WITH_REDIS_PASSWORD", password), ("127.0.0.1:6379/", f"127.0.0.1:{redis_port}/")],
            extra={
                "ENTRA_AUTHORITY_HOST": self.entra.authority_host,
                "ENTRA_CA_BUNDLE": str(self.ca.path),
                "GRAPH_BASE_URL": self.entra.authority_host,  # local_entra's Graph stand-in
            },
        )
        (self.directory / "secure-auth.env").write_text(deploy_files.environment_file(self.settings))
        redis_dir = self.directory / "redis"
        redis_dir.mkdir()
        self.redis = Redis(
            redis_dir, redis_port, deploy_files.redis_fragment(password), self.settings["SESSION_STORE_URL"]
        )
        self.redis.start()
        for name in UNITS:
            self.back_ends[name] = self.back_end(name)
        for back_end in self.back_ends.values():
            back_end.launch()
        for back_end in self.back_ends.values():
            back_end.wait_ready()
        tls = self.app_tls
        site = deploy_files.nginx_site(
            host=APP_HOST,
            https_port=self.https_port,
            http_port=self.http_port,
            upstreams=(self.back_ends["gunicorn"].port, self.back_ends["run.py"].port),
            cert=tls.cert_path,
            key=tls.key_path,
            logs=self.directory / "nginx" / "logs",
        )
        self.nginx = Nginx(self.directory / "nginx", site, self.https_port)
        self.nginx.start()

    def _start_entra(self) -> LocalEntra:
        self._client_key = new_rsa_key()
        self._client_cert = self_signed(self._client_key, "secure-auth-deployment")
        registration = ClientRegistration(
            CLIENT_ID,
            [self.base_url + "/auth/callback"],
            [self.base_url + "/auth/signed-out"],
            public_client=False,
            certificate_pem=cert_pem(self._client_cert),
        )
        config = LocalEntraConfig([registration], self.users, state_dir=self.directory / "local_entra")
        return LocalEntra(config, server_name=IDP_HOST, tls=self.ca.issue(IDP_HOST)).start()

    def _client_certificate(self) -> Path:
        path = self.directory / "entra-client.pem"
        path.write_bytes(key_pem(self._client_key) + cert_pem(self._client_cert))
        path.chmod(0o600)
        return path

    def back_end(self, name: str, **changes: str) -> BackEnd:
        """The back end `name` as its unit runs it, on a port of its own (not started)."""
        unit, port_text = UNITS[name]
        env = self.process_environment(**changes)
        log = self.directory / f"{name}.log"
        return BackEnd(name, deploy_files.Unit(unit), port_text, free_port(), env, self.hosts_file, log)

    def process_environment(self, **changes: str) -> dict[str, str]:
        """The environment systemd gives a back end: this machine's, less any app setting,
        plus the environment file (and `changes`)."""
        names = {name.upper() for name in Settings.model_fields}
        inherited = {k: v for k, v in os.environ.items() if k.upper() not in names}
        return {**inherited, **self.settings, **changes}

    def stop(self) -> None:
        if self.nginx:
            self.nginx.stop()
        for back_end in self.back_ends.values():
            back_end.stop()
        if self.entra:
            self.entra.stop()
        if self.redis:
            self.redis.stop()

    # ----- clients and logs -----

    def transport(self, local_address: str | None = None) -> LoopbackNames:
        return LoopbackNames(self.ca.client_context(), local_address)

    def browser(self, local_address: str | None = None) -> Browser:
        """A scripted browser through nginx, from `local_address` (a loopback address of
        its own, so that rate limits and session lists see a person of its own)."""
        return Browser(self.base_url, transport=self.transport(local_address))

    def upstreams(self) -> dict[str, str]:
        """Request id to the back end that answered it, from nginx's access log."""
        assert self.nginx is not None
        ports = {str(b.port): name for name, b in self.back_ends.items()}
        answered = {}
        for line in self.nginx.access_log.read_text().splitlines():
            match = _UPSTREAM.search(line)
            if match:
                last = match.group("upstream").split(", ")[-1]
                answered[match.group("id")] = ports.get(last.rpartition(":")[2], last)
        return answered

    def served_by(self, response: httpx.Response) -> str:
        """Which back end answered `response`."""
        request_id = response.headers["x-request-id"]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # nginx logs a request once its answer is sent
            answered = self.upstreams().get(request_id)
            if answered:
                return answered
            time.sleep(0.02)
        raise AssertionError(f"request {request_id} is not in nginx's access log")
