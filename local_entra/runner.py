"""``LocalEntra``: run the stand-in on two loopback listeners in a background thread.

Sockets are bound here (so port 0 works and the URLs are known before the app
is built), then two uvicorn servers share one thread with its own event loop.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import uvicorn

from .cae import challenge_header
from .config import LocalEntraConfig, require_loopback
from .context import Context
from .keys import KeySet
from .revocation import revoke_sessions
from .server import create_app
from .store import RefreshFailure, Store
from .tls import TlsFiles, ensure_tls_files, tls_files

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def _url_host(host: str) -> str:
    return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    # proto=IPPROTO_TCP: accepted sockets inherit it, and asyncio sets TCP_NODELAY only then
    # (with proto 0, Nagle and delayed ACKs add ~40 ms to every keep-alive request).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if os.name == "posix" and port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class LocalEntra:
    """A local Entra ID v2.0 stand-in. ``with LocalEntra(cfg) as le: ...`` or start()/stop().

    ``server_name``: a host name that resolves to its loopback address (a hosts entry), used
    in every URL it hands out instead of the address, as a deployment test needs (production
    refuses a loopback identity provider by name). ``tls``: the certificate to serve the back
    channel with, from a CA of the caller's, instead of one generated into ``state_dir``.
    """

    def __init__(
        self,
        config: LocalEntraConfig,
        https_port: int = 0,
        http_port: int = 0,
        *,
        server_name: str | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        require_loopback(config.host)
        self.config = config
        self.tenant_id: str = config.tenant_id
        self._tls = tls
        self._server_name = server_name
        self.ca_bundle_path: Path = tls.ca_path if tls else tls_files(Path(config.state_dir)).ca_path
        self._requested_ports = (https_port, http_port)
        self._store = Store()
        self._keys = KeySet()
        #: Requests served per endpoint name (test hook; read it, or clear() it).
        self.counters: collections.Counter[str] = self._store.counters
        self._authority_host: str | None = None
        self._front_url: str | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[uvicorn.Server] = []
        self._sockets: list[socket.socket] = []
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- addresses ----------------------------------------------------------
    @property
    def authority_host(self) -> str:
        """``https://127.0.0.1:<port>`` (or the server name): discovery, token and keys (the back channel)."""
        if self._authority_host is None:
            raise RuntimeError("LocalEntra is not started")
        return self._authority_host

    @property
    def front_url(self) -> str:
        """``http://127.0.0.1:<port>`` (or the server name): authorize/sign-in and logout (the browser's side)."""
        if self._front_url is None:
            raise RuntimeError("LocalEntra is not started")
        return self._front_url

    def authority(self, tenant: str | None = None) -> str:
        return f"{self.authority_host}/{tenant or self.tenant_id}"

    def issuer(self, tenant_id: str | None = None) -> str:
        """The ``iss`` of tokens for users of ``tenant_id`` (default: the configured tenant)."""
        return f"{self.authority_host}/{tenant_id or self.tenant_id}/v2.0"

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> LocalEntra:
        if os.environ.get("APP_ENV") == "production":
            raise RuntimeError("local_entra refuses to run when APP_ENV=production")
        if self._thread is not None:
            raise RuntimeError("LocalEntra is already started")
        files = self._tls or ensure_tls_files(Path(self.config.state_dir))
        self.ca_bundle_path = files.ca_path
        host = self.config.host
        https_port, http_port = self._requested_ports
        https_sock = _bind(host, https_port)
        try:
            http_sock = _bind(host, http_port)
        except BaseException:
            https_sock.close()
            raise
        self._sockets = [https_sock, http_sock]
        name = self._server_name or _url_host(host)
        self._authority_host = f"https://{name}:{https_sock.getsockname()[1]}"
        self._front_url = f"http://{name}:{http_sock.getsockname()[1]}"

        app = create_app(
            Context(
                config=self.config,
                store=self._store,
                keys=self._keys,
                authority_host=self._authority_host,
                front_url=self._front_url,
            )
        )
        common = dict(
            log_level="warning",
            log_config=None,  # leave the host process's logging configuration alone
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        https = uvicorn.Config(
            app,
            ssl_certfile=str(files.cert_path),
            ssl_keyfile=str(files.key_path),
            **common,  # type: ignore[arg-type]
        )
        http = uvicorn.Config(app, **common)  # type: ignore[arg-type]
        self._servers = [uvicorn.Server(https), uvicorn.Server(http)]
        self._error = None
        self._thread = threading.Thread(target=self._run, name="local-entra", daemon=True)
        self._thread.start()

        deadline = time.monotonic() + START_TIMEOUT
        while not all(server.started for server in self._servers):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                error = self._error
                self.stop()
                raise RuntimeError(f"local_entra failed to start: {error!r}") from error
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        async def serve_all() -> None:
            self._loop = asyncio.get_running_loop()
            await asyncio.gather(
                *(server.serve(sockets=[sock]) for server, sock in zip(self._servers, self._sockets, strict=True))
            )

        try:
            asyncio.run(serve_all())
        except BaseException as exc:  # reported by start()
            self._error = exc

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        for server in self._servers:
            server.should_exit = True
        if thread is not None:
            thread.join(0.3)
            if thread.is_alive() and self._loop is not None:
                # Idle TLS keep-alive connections would otherwise hold shutdown open
                # while waiting for the client's close_notify.
                self._loop.call_soon_threadsafe(self._abort_connections)
            thread.join(STOP_TIMEOUT)
            if thread.is_alive():
                for server in self._servers:
                    server.force_exit = True
                thread.join(STOP_TIMEOUT)
        for sock in self._sockets:
            sock.close()
        self._sockets = []
        self._servers = []
        self._loop = None

    def _abort_connections(self) -> None:
        for server in self._servers:
            for connection in list(getattr(server.server_state, "connections", ())):
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abort()

    def __enter__(self) -> LocalEntra:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- test hooks (in-process only; never exposed over HTTP) ------------------
    @property
    def current_kid(self) -> str:
        return self._keys.current.kid

    def rotate_signing_key(self, keep_old: bool = True) -> str:
        """Make a new key the signer; the old one stays in the JWKS unless ``keep_old=False``."""
        return self._keys.rotate(keep_old=keep_old)

    def fail_token_requests(self, count: int = 1, status: int = 503) -> None:
        """The next ``count`` token requests answer ``status`` with an Entra-shaped error."""
        self._store.fail_next(count, status)

    def slow_token_endpoint(self, seconds: float) -> None:
        """Every token request waits `seconds` before answering (0 turns it off)."""
        self._store.token_delay = max(0.0, seconds)

    def transform_next_id_token(self, fn: Callable[..., str]) -> None:
        """One shot: the next issued id token is ``fn(claims, sign)`` instead of ``sign(claims)``."""
        self._store.set_id_token_transform(fn)

    def revoke_refresh_tokens(self, username: str | None = None) -> None:
        self._store.revoke_refresh(username)

    @property
    def client_assertions(self) -> list[dict]:
        """The claims of each federated-credential assertion accepted, oldest first."""
        with self._store.lock:
            return [dict(claims) for claims in self._store.client_assertions]

    @property
    def client_capabilities_seen(self) -> list[list[str]]:
        """The client capabilities (xms_cc) of each token response, oldest first."""
        with self._store.lock:
            return [list(values) for values in self._store.capabilities_seen]

    @property
    def refresh_token_requests(self) -> int:
        """refresh_token grants received so far (``counters["token_refresh_token"]``)."""
        return self._store.counter("token_refresh_token")

    def fail_next_refresh_with(
        self, error: str = "invalid_grant", aadsts: int = 700082, suberror: str | None = None
    ) -> None:
        """One shot: the next refresh_token grant answers 400 with this Entra-shaped error.

        E.g. ``("interaction_required", 50076)`` for MFA, or ``("invalid_grant", 65001,
        "consent_required")``. The refresh token presented is not consumed.
        """
        self._store.set_refresh_failure(RefreshFailure(error, aadsts, suberror))

    # -- sign-ins, step-up and continuous access evaluation (test hooks) ------------
    def age_sign_ins(self, seconds: float) -> None:
        """Every browser's last sign-in here moves ``seconds`` into the past: a later
        sign-in that continues with it carries that old ``auth_time``, and a ``max_age``
        shorter than its age asks for the password again."""
        self._store.age_browser_sessions(seconds)

    def cae_event(self, username: str) -> None:
        """A critical event (a location or policy change): resources refuse the user's
        access tokens issued so far with a claims challenge; a token asked for with the
        challenge's claims is accepted (the refresh token still works)."""
        self._store.cae.event(username)

    def revoke_sessions(self, username: str) -> None:
        """ "Revoke sessions", as in the admin center: refresh tokens and sign-ins end, and a
        CAE event makes resources challenge the user's access tokens."""
        revoke_sessions(self._store, username)

    def challenge_always(self, username: str) -> None:
        """Resources challenge every access token of the user, whatever claims it was asked
        for with: the same challenge, over and over (a client must not loop on it)."""
        self._store.cae.event(username, always=True)

    def clear_challenges(self) -> None:
        self._store.cae.clear()

    def cae_challenge(self, access_token_claims: dict) -> str | None:
        """For an API stand-in: the WWW-Authenticate value to refuse a token with (a CAE
        claims challenge), or None when the token is accepted."""
        claims = self._store.cae.challenge(access_token_claims)
        if claims is None:
            return None
        return challenge_header(claims, str(access_token_claims.get("aud", "")), f"{self.front_url}/common")

    @property
    def claims_requests(self) -> list[tuple[str, str, str]]:
        """Claims parameters received so far: (``"authorize"`` or ``"token"``, username, JSON)."""
        return list(self._store.cae.requests)
