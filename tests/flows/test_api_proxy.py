"""The BFF API proxy, /api/proxy/<path>, over real HTTP end to end.

A small API runs on loopback over HTTPS (the app_tls certificate) and checks every bearer
token for real: signature against local_entra's JWKS (fetched over HTTPS), audience the
app's own client id, scope access_as_user. It echoes what it received, streams 20 MB,
sleeps, and answers 401 once for a marker. The app under test trusts that API's CA through
ENTRA_CA_BUNDLE. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import random
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from local_entra import LocalEntra
from secure_auth.outbound.stream_slots import MAX_STREAMS_PER_USER as MAX_STREAMS
from tests.conftest import ADELE, BEN, PUBLIC_CLIENT_ID, AppServer
from tests.support.servers import ServerThread, free_port

API_SCOPE = f"api://{PUBLIC_CLIENT_ID}/access_as_user"
BODY_LIMIT = 4096
STREAM_SIZE = 20 * 1024 * 1024
STREAM_CHUNK = 64 * 1024
STREAM_DELAY = 1.5  # before the last chunk
SLOW_SECONDS = 3.0
JSON = {"accept": "application/json"}


def _challenge(raw: bytes) -> str:
    return f'Bearer error="insufficient_claims", claims="{base64.b64encode(raw).decode()}"'


# Challenges that are not a claims request within bounds: each is a plain 401.
BAD_CHALLENGES = {
    "oversized": _challenge(json.dumps({"access_token": {"nbf": {"value": "1" * 5000}}}).encode()),
    "not-json": _challenge(b"<html>not json</html>"),
    "not-base64": 'Bearer error="insufficient_claims", claims="%%%not base64%%%"',
    "not-an-object": _challenge(b'["access_token"]'),
    "too-deep": _challenge(b"[" * 1500 + b"]" * 1500),
    "not-utf8": _challenge(b"\xff\xfe\xfd"),
}


def stream_data() -> bytes:
    return random.Random(20240611).randbytes(STREAM_SIZE)


@dataclass
class Upstream:
    """The API: its address, what it received, and its CA bundle for the app."""

    entra: LocalEntra
    ca_context: ssl.SSLContext
    base_url: str = ""
    ca_bundle: Path | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    unauthorised_once: set[str] = field(default_factory=set)
    data: bytes = b""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        keys_url = f"{self.entra.authority_host}/{self.entra.tenant_id}/discovery/v2.0/keys"
        self.jwks = jwt.PyJWKClient(keys_url, ssl_context=self.ca_context)

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def since(self, start: int) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.received[start:])

    def validate(self, authorization: str) -> dict[str, Any] | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            key = self.jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=PUBLIC_CLIENT_ID,
                options={"require": ["exp", "iss", "aud", "scp"]},
            )
        except jwt.PyJWTError:
            return None
        if not str(claims["iss"]).startswith(self.entra.authority_host + "/"):
            return None
        if "access_as_user" not in str(claims["scp"]).split():
            return None
        return claims

    async def __call__(self, scope, receive, send) -> None:  # the ASGI app
        await self.app(scope, receive, send)

    @property
    def app(self) -> Starlette:
        if not hasattr(self, "_app"):
            self._app = Starlette(
                routes=[Route("/{rest:path}", self.handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])]
            )
        return self._app

    async def handle(self, request: Request) -> Response:
        raw_path = request.scope["raw_path"].decode("latin-1")
        body = await request.body()
        authorization = request.headers.get("authorization", "")
        claims = await anyio.to_thread.run_sync(self.validate, authorization)
        record = {
            "method": request.method,
            "path": raw_path,
            "query": request.scope["query_string"].decode("latin-1"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.scope["headers"]],
            "body": body.decode("latin-1"),
            "token_digest": hashlib.sha256(authorization.encode()).hexdigest()[:16],
            "user": claims.get("preferred_username") if claims else None,
        }
        with self.lock:
            self.received.append(record)
        if claims is None:
            return JSONResponse(
                {"error": "invalid_token"}, 401, headers={"www-authenticate": 'Bearer error="invalid_token"'}
            )
        if not raw_path.startswith("/v1/"):
            return JSONResponse({"escaped": True})  # never reached through the proxy
        route = raw_path[len("/v1/") :]
        if route.startswith("echo"):
            return self.echo(request, record)
        if route == "stream":
            return StreamingResponse(
                self.stream(),
                media_type="application/octet-stream",
                headers={"content-length": str(len(self.data)), "etag": '"big"'},
            )
        if route == "slow":
            await asyncio.sleep(SLOW_SECONDS)
            return JSONResponse({"slow": True})
        if route.startswith("once-401/"):
            with self.lock:
                first = route not in self.unauthorised_once
                self.unauthorised_once.add(route)
            if first:
                return JSONResponse(
                    {"error": "token_revoked"}, 401, headers={"www-authenticate": 'Bearer error="invalid_token"'}
                )
            return self.echo(request, record)
        if route.startswith("cae/"):
            # A CAE-aware API: it refuses tokens local_entra's events revoked, with a claims challenge.
            challenge = self.entra.cae_challenge(claims)
            if challenge is not None:
                return JSONResponse({"error": "insufficient_claims"}, 401, headers={"www-authenticate": challenge})
            return self.echo(request, record)
        if route.startswith("bad-challenge/"):
            with self.lock:
                first = route not in self.unauthorised_once
                self.unauthorised_once.add(route)
            if first:
                header = BAD_CHALLENGES[route.split("/")[1]]
                return JSONResponse({"error": "insufficient_claims"}, 401, headers={"www-authenticate": header})
            return self.echo(request, record)
        if route == "always-401":
            return JSONResponse(
                {"error": "nope"}, 401, headers={"www-authenticate": 'Bearer error="insufficient_claims"'}
            )
        if route == "gzip":
            payload = json.dumps({"compressed": "yes " * 200}).encode()
            if "gzip" in request.headers.get("accept-encoding", ""):
                return Response(
                    gzip.compress(payload), headers={"content-encoding": "gzip", "content-type": "application/json"}
                )
            return Response(payload, media_type="application/json")
        if route == "utf8-header":
            # A raw UTF-8 byte sequence in a header value: not Latin-1 text.
            response = JSONResponse({"ok": True})
            response.raw_headers.append((b"content-disposition", 'attachment; filename="\u20ac.pdf"'.encode("utf-8")))
            return response
        if route == "html":
            return Response("<script>alert(document.cookie)</script>", media_type="text/html")
        if route == "no-content":
            return Response(status_code=204, headers={"etag": '"gone"'})
        return JSONResponse({"error": "not_found"}, 404)

    def echo(self, request: Request, record: dict[str, Any]) -> Response:
        status = int(request.query_params.get("status", "200"))
        response = JSONResponse(record, status)
        response.headers["etag"] = '"v1"'
        response.headers["x-upstream-secret"] = "internal"
        response.headers["server"] = "upstream/1.0"
        response.headers["connection"] = "keep-alive"
        response.headers.append("set-cookie", "upstream_session=leak; Path=/")
        if "location" in request.query_params:
            response.headers["location"] = request.query_params["location"]
        return response

    async def stream(self) -> AsyncIterator[bytes]:
        last = len(self.data) - STREAM_CHUNK
        for offset in range(0, len(self.data), STREAM_CHUNK):
            if offset == last:
                await asyncio.sleep(STREAM_DELAY)
            yield self.data[offset : offset + STREAM_CHUNK]


@pytest.fixture(scope="module")
def upstream(entra: LocalEntra, app_tls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    bundle = tmp_path_factory.mktemp("api_proxy") / "ca-bundle.pem"
    bundle.write_bytes(Path(entra.ca_bundle_path).read_bytes() + b"\n" + app_tls.ca_path.read_bytes())
    api = Upstream(entra, ssl.create_default_context(cafile=str(bundle)), ca_bundle=bundle, data=stream_data())
    server = ServerThread(api, ssl_certfile=str(app_tls.cert_path), ssl_keyfile=str(app_tls.key_path)).start()
    api.base_url = f"https://127.0.0.1:{server.port}/v1"
    yield api
    server.stop()


@pytest.fixture
def proxy_app(extra_app, upstream: Upstream):
    def start(**overrides) -> AppServer:
        settings = {
            "api_base_url": upstream.base_url,
            "api_scopes": API_SCOPE,
            "entra_ca_bundle": upstream.ca_bundle,
            "proxy_max_body_bytes": BODY_LIMIT,
        }
        settings.update(overrides)
        return extra_app(**settings)

    return start


@pytest.fixture
def signed_in(proxy_app, browsers):
    """A browser signed in to a proxy app (default settings)."""
    app = proxy_app()
    browser = browsers(app.base_url)
    browser.sign_in(ADELE.username, ADELE.password)
    browser.app = app
    return browser


def headers_of(record: dict[str, Any]) -> dict[str, str]:
    return {name: value for name, value in record["headers"]}


# ----- mounted only when configured, and only for signed-in users -----


def test_without_api_base_url_there_is_no_proxy(public_app, browsers):
    assert not public_app.settings.api_base_url
    browser = browsers(public_app.base_url)
    assert browser.get("/api/proxy/echo", headers=JSON).status_code == 404
    browser.sign_in(ADELE.username, ADELE.password)
    assert browser.get("/api/proxy/echo", headers=JSON).status_code == 404
    assert browser.get("/api/proxy/", headers=JSON).status_code == 404


def test_signed_out_requests_get_401_and_reach_nothing(proxy_app, browsers, upstream: Upstream):
    app = proxy_app()
    browser = browsers(app.base_url)
    before = upstream.count()
    response = browser.get("/api/proxy/echo/x?y=1", headers=JSON)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"
    assert browser.post("/api/proxy/echo/x", json={"a": 1}).status_code == 401
    # A page request is sent to sign in, back to the same address.
    page = browser.get("/api/proxy/echo/x?y=1")
    assert page.status_code == 303
    assert page.headers["location"] == "/auth/login?next=%2Fapi%2Fproxy%2Fecho%2Fx%3Fy%3D1"
    assert upstream.count() == before


# ----- what is forwarded, and what is not -----


def test_get_forwards_path_query_and_a_real_bearer_token_but_not_the_browsers_credentials(signed_in, upstream):
    browser = signed_in
    before = upstream.count()
    response = browser.get(
        "/api/proxy/echo/items/a%2Fb?x=1&y=%20z&x=2",
        headers={
            "accept": "application/json",
            "accept-language": "fr-CA",
            "if-none-match": '"v0"',
            "prefer": "return=minimal",
            "origin": browser.app.base_url,
            "referer": browser.app.base_url + "/secret-page",
            "x-csrf-token": "not-for-the-api",
            "authorization": "Bearer forged-by-the-browser",
            "x-forwarded-for": "203.0.113.9",
            "x-forwarded-host": "evil.example",
            "x-custom": "dropped",
            "x-request-id": "client-chosen-id-1234",
        },
    )
    assert response.status_code == 200, response.text
    echoed = response.json()
    assert [r["path"] for r in upstream.since(before)] == ["/v1/echo/items/a%2Fb"]
    assert echoed["method"] == "GET"
    assert echoed["path"] == "/v1/echo/items/a%2Fb"  # the encoded slash stays encoded
    assert echoed["query"] == "x=1&y=%20z&x=2"
    assert echoed["user"] == ADELE.username  # the API validated the bearer token itself
    got = headers_of(echoed)
    assert got["authorization"].startswith("Bearer ey")
    assert "forged" not in got["authorization"]
    assert got["accept"] == "application/json"
    assert got["accept-language"] == "fr-CA"
    assert got["if-none-match"] == '"v0"'
    assert got["prefer"] == "return=minimal"
    assert got["x-request-id"] == response.headers["x-request-id"] == "client-chosen-id-1234"
    assert got["host"] == upstream.base_url.split("/")[2]
    for name in ("cookie", "origin", "referer", "x-csrf-token", "x-forwarded-for", "x-forwarded-host", "x-custom"):
        assert name not in got, name
    assert browser.session_cookie not in json.dumps(echoed)


def test_unsafe_methods_need_the_csrf_token_and_forward_the_body(signed_in, upstream):
    browser = signed_in
    before = upstream.count()
    refused = browser.post("/api/proxy/echo/things", json={"n": 1}, headers=JSON)
    assert refused.status_code == 403
    assert refused.json()["error"] == "csrf_rejected"
    wrong = browser.post("/api/proxy/echo/things", json={"n": 1}, headers={**JSON, "x-csrf-token": "wrong"})
    assert wrong.status_code == 403
    foreign = browser.post(
        "/api/proxy/echo/things",
        json={"n": 1},
        headers={**JSON, "x-csrf-token": browser.csrf_token(), "origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    assert upstream.count() == before  # none of them reached the API

    token = browser.csrf_token()
    sent = browser.post(
        "/api/proxy/echo/things?v=2",
        content=b'{"name": "caf\xc3\xa9"}',
        headers={**JSON, "content-type": "application/json", "x-csrf-token": token, "origin": browser.app.base_url},
    )
    assert sent.status_code == 200, sent.text
    echoed = sent.json()
    assert echoed["method"] == "POST"
    assert echoed["query"] == "v=2"
    assert echoed["body"].encode("latin-1") == b'{"name": "caf\xc3\xa9"}'
    got = headers_of(echoed)
    assert got["content-type"] == "application/json"
    assert got["content-length"] == str(len(b'{"name": "caf\xc3\xa9"}'))
    assert "x-csrf-token" not in got and "origin" not in got and "cookie" not in got

    for method in ("PUT", "PATCH", "DELETE"):
        content = b"" if method == "DELETE" else f"{method} body".encode()
        response = browser.client.request(
            method,
            browser.app.base_url + "/api/proxy/echo/things/7",
            content=content,
            headers={**JSON, "x-csrf-token": token, "if-match": '"v1"', "content-type": "text/plain"},
        )
        assert response.status_code == 200, (method, response.text)
        assert response.json()["method"] == method
        assert response.json()["path"] == "/v1/echo/things/7"
        assert response.json()["body"] == content.decode()
        assert headers_of(response.json())["if-match"] == '"v1"'

    count = upstream.count()
    for method in ("HEAD", "OPTIONS", "TRACE"):
        response = browser.client.request(
            method, browser.app.base_url + "/api/proxy/echo/x", headers={"x-csrf-token": token}
        )
        assert response.status_code == 405, method
    assert upstream.count() == count


def test_a_form_post_that_carries_its_token_in_the_form_is_refused_cleanly(signed_in, upstream):
    browser = signed_in
    before = upstream.count()
    response = browser.post("/api/proxy/echo/form", data={"csrf_token": browser.csrf_token(), "a": "1"}, headers=JSON)
    assert response.status_code == 400  # the guard consumed the body; never a 500
    assert response.json()["error"] == "form_body"
    assert upstream.count() == before


def test_bodies_over_the_limit_get_413(signed_in, upstream):
    browser = signed_in
    headers = {**JSON, "x-csrf-token": browser.csrf_token(), "content-type": "application/octet-stream"}
    before = upstream.count()
    declared = browser.post("/api/proxy/echo/upload", content=b"x" * (BODY_LIMIT + 1), headers=headers)
    assert declared.status_code == 413
    assert declared.json()["error"] == "body_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        for _ in range(3):
            yield b"y" * 2000

    streamed = browser.post("/api/proxy/echo/upload", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert upstream.count() == before

    def small() -> Iterator[bytes]:
        yield b"z" * 2000
        yield b"z" * (BODY_LIMIT - 2000)

    exact = browser.post("/api/proxy/echo/upload", content=small(), headers=headers)
    assert exact.status_code == 200
    assert len(exact.json()["body"]) == BODY_LIMIT
    assert headers_of(exact.json())["content-length"] == str(BODY_LIMIT)


@pytest.mark.parametrize(
    "target",
    [
        b"/api/proxy/echo/../../secret",
        b"/api/proxy/../secret",
        b"/api/proxy/echo/./x",
        b"/api/proxy/echo/%2e%2e/%2E%2E/secret",
        b"/api/proxy/echo/%252e%252e/%252e%252e/secret",
        b"/api/proxy/echo/..%2f..%2fsecret",
        b"/api/proxy//evil.example/x",
        b"/api/proxy/echo//x",
        b"/api/proxy/%2F%2Fevil.example/x",
        b"/api/proxy/https://evil.example/x",
        b"/api/proxy/https:%2F%2Fevil.example/x",
        b"/api/proxy/javascript:alert(1)",
        b"/api/proxy/echo%5C..%5C..%5Csecret",
        b"/api/proxy/echo/%00x",
        b"/api/proxy/echo/%0dX-Injected:%201",
        b"/api/proxy/echo/%1b[31m",
        b"/api/proxy/echo/%7f",
        b"/api/proxy/echo/%zz",
        b"/api/proxy/..;/admin",
        b"/api/proxy/echo/%2e%2e;x/admin",
        b"/api/proxy/echo/.;/x",
    ],
)
def test_paths_that_could_leave_the_api_base_are_refused(signed_in, upstream, target: bytes):
    browser = signed_in
    before = upstream.count()
    # The target is sent exactly as written (httpx would otherwise remove dot segments).
    response = browser.get(browser.app.base_url + "/api/proxy/placeholder", headers=JSON, extensions={"target": target})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "bad_api_path"
    assert upstream.count() == before


# ----- tokens: one forced refresh and one retry on a 401 -----


def test_an_api_401_gets_one_refresh_and_one_retry(signed_in, upstream, entra):
    browser = signed_in
    assert browser.get("/api/proxy/echo/warm-up", headers=JSON).status_code == 200  # the API token is cached
    refreshes = entra.counters["token_refresh_token"]
    before = upstream.count()
    marker = f"once-401/{time.monotonic_ns()}"
    response = browser.get(f"/api/proxy/{marker}", headers=JSON)
    assert response.status_code == 200, response.text
    assert entra.counters["token_refresh_token"] == refreshes + 1
    attempts = upstream.since(before)
    assert [a["path"] for a in attempts] == [f"/v1/{marker}"] * 2
    assert attempts[0]["token_digest"] != attempts[1]["token_digest"]  # the retry carried a new token
    assert attempts[1]["user"] == ADELE.username

    # Still 401 after the retry: passed back as the API said it, after exactly one refresh.
    refreshes = entra.counters["token_refresh_token"]
    before = upstream.count()
    again = browser.get("/api/proxy/always-401", headers=JSON)
    assert again.status_code == 401
    assert again.json() == {"error": "nope"}
    assert again.headers["www-authenticate"] == 'Bearer error="insufficient_claims"'
    assert entra.counters["token_refresh_token"] == refreshes + 1
    assert upstream.count() == before + 2
    # The session survives: the next call works with the refreshed token, no refresh.
    assert browser.get("/api/proxy/echo/after", headers=JSON).status_code == 200
    assert entra.counters["token_refresh_token"] == refreshes + 1


# ----- CAE: claims challenges from the API -----


def test_an_api_claims_challenge_is_answered_silently_with_the_claims(signed_in, upstream, entra):
    browser = signed_in
    assert browser.get("/api/proxy/cae/warm-up", headers=JSON).status_code == 200
    asked_before = len(entra.claims_requests)
    before = upstream.count()
    entra.cae_event(ADELE.username)
    try:
        response = browser.get("/api/proxy/cae/after-event", headers=JSON)
        assert response.status_code == 200, response.text
        attempts = upstream.since(before)
        assert len(attempts) == 2 and attempts[0]["token_digest"] != attempts[1]["token_digest"]
        asked = [json.loads(c) for kind, _, c in entra.claims_requests[asked_before:] if kind == "token"]
        assert len(asked) == 1 and "nbf" in asked[0]["access_token"]
        assert asked[0]["access_token"]["xms_cc"] == {"values": ["cp1"]}  # both, merged by MSAL
    finally:
        entra.clear_challenges()


def test_an_api_claims_challenge_goes_interactive_once_then_never_loops(signed_in, upstream, entra):
    browser = signed_in
    app_url = browser.app.base_url
    assert browser.get("/api/proxy/cae/warm-up", headers=JSON).status_code == 200
    entra.revoke_sessions(ADELE.username)  # no silent answer: the refresh token is gone
    try:
        page = app_url + "/calculator?from=script"
        response = browser.get("/api/proxy/cae/after-revocation", headers={**JSON, "referer": page})
        assert response.status_code == 401
        body = response.json()
        assert body["error"] == "claims_challenge"
        login = {k: v[0] for k, v in parse_qs(urlsplit(body["login_url"]).query).items()}
        assert login["next"] == "/calculator?from=script"  # the page that called, not the API path
        assert login["scope"] == API_SCOPE and "nbf" in json.loads(login["claims"])["access_token"]
        authorize = browser.get(body["login_url"]).headers["location"]
        assert "claims=" in authorize
        back = browser.finish(browser.authenticate(authorize, ADELE.username, ADELE.password))
        assert back.headers["location"] == "/calculator?from=script"
        assert browser.get("/api/proxy/cae/after-revocation", headers=JSON).status_code == 200

        entra.challenge_always(ADELE.username)  # an API that is never satisfied
        again = browser.get("/api/proxy/cae/stuck", headers=JSON)
        assert again.status_code == 401 and again.json()["error"] == "claims_challenge"
        authorize = browser.get(again.json()["login_url"]).headers["location"]
        browser.finish(browser.continue_signed_in(authorize))
        stuck = browser.get("/api/proxy/cae/stuck", headers=JSON)
        assert stuck.status_code == 403 and stuck.json()["error"] == "claims_challenge_loop"
    finally:
        entra.clear_challenges()


@pytest.mark.parametrize("variant", list(BAD_CHALLENGES))
def test_a_malformed_or_oversized_challenge_is_a_plain_401(signed_in, upstream, entra, variant):
    browser = signed_in
    assert browser.get("/api/proxy/echo/warm-up", headers=JSON).status_code == 200
    refreshes = entra.counters["token_refresh_token"]
    asked_before = len(entra.claims_requests)
    response = browser.get(f"/api/proxy/bad-challenge/{variant}/{time.monotonic_ns()}", headers=JSON)
    assert response.status_code == 200, response.text  # one forced refresh, one retry
    assert entra.counters["token_refresh_token"] == refreshes + 1
    # No challenge's claims were asked for (the client capabilities, xms_cc, always are).
    assert [c for _, _, c in entra.claims_requests[asked_before:] if "nbf" in c] == []


# ----- responses -----


def test_a_20_mb_body_streams_through_intact_and_unbuffered(signed_in, upstream):
    browser = signed_in
    assert browser.get("/api/proxy/echo/warm-up", headers=JSON).status_code == 200
    digest = hashlib.sha256()
    size = 0
    started = time.monotonic()
    first_byte_at = None
    with browser.client.stream("GET", browser.app.base_url + "/api/proxy/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["etag"] == '"big"'
        # The upstream's Content-Length is not relayed: the app frames the stream itself.
        assert "content-length" not in response.headers
        for chunk in response.iter_raw():
            if first_byte_at is None and chunk:
                first_byte_at = time.monotonic() - started
            digest.update(chunk)
            size += len(chunk)
    total = time.monotonic() - started
    assert size == STREAM_SIZE
    assert digest.hexdigest() == hashlib.sha256(upstream.data).hexdigest()
    # The API holds its last chunk back for STREAM_DELAY: bytes reached the browser long
    # before the API had finished, so the app did not collect the body first.
    assert first_byte_at is not None and first_byte_at < STREAM_DELAY - 0.5, first_byte_at
    assert total >= STREAM_DELAY


def test_headers_from_the_api_are_filtered_and_set_cookie_never_reaches_the_browser(signed_in, upstream):
    browser = signed_in
    response = browser.get("/api/proxy/echo/h", headers=JSON)
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert "upstream_session" not in {cookie.name for cookie in browser.client.cookies.jar}
    assert "x-upstream-secret" not in response.headers
    assert response.headers.get("server", "") != "upstream/1.0"
    assert response.headers["etag"] == '"v1"'
    assert response.headers["content-type"] == "application/json"
    # The app's own security headers still apply.
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"

    base = upstream.base_url
    cases = {
        base + "/items/9?x=1": "/api/proxy/items/9?x=1",  # under API_BASE_URL: mapped onto the proxy
        "/v1/items/10": "/api/proxy/items/10",  # relative to the API, under its base
        "items/11": "/api/proxy/echo/items/11",  # relative to the requested path
        "https://evil.example/phish": None,  # elsewhere: dropped
        "/other/place": None,  # on the API host but outside its base: dropped
        base.replace("/v1", "/v1x") + "/y": None,
        "//evil.example/x": None,
    }
    for location, expected in cases.items():
        moved = browser.get("/api/proxy/echo/loc", params={"status": "302", "location": location}, headers=JSON)
        if expected is None:  # a redirect out of the API is never handed to the browser
            assert moved.status_code == 502, location
            assert moved.json()["error"] == "upstream_redirect" and "location" not in moved.headers
        else:
            assert moved.status_code == 302
            assert moved.headers.get("location") == expected, location
    created = browser.post(
        "/api/proxy/echo/new",
        params={"status": "201", "location": base + "/new/1"},
        headers={**JSON, "x-csrf-token": browser.csrf_token()},
    )
    assert created.status_code == 201
    assert created.headers["location"] == "/api/proxy/new/1"


def test_status_codes_and_encodings_pass_through(signed_in):
    browser = signed_in
    missing = browser.get("/api/proxy/nothing-here", headers=JSON)
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found"}
    assert "www-authenticate" not in missing.headers

    gone = browser.client.request(
        "DELETE", browser.app.base_url + "/api/proxy/no-content", headers={"x-csrf-token": browser.csrf_token()}
    )
    assert gone.status_code == 204
    assert gone.content == b""
    assert gone.headers["etag"] == '"gone"'

    # The body is relayed as raw bytes, so its content-encoding goes with it...
    compressed = browser.get("/api/proxy/gzip", headers={"accept": "application/json", "accept-encoding": "gzip"})
    assert compressed.status_code == 200
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.json()["compressed"].startswith("yes yes")
    # ...and a client that accepts no encoding gets none.
    plain = browser.get("/api/proxy/gzip", headers={"accept": "application/json", "accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.json()["compressed"].startswith("yes yes")


# ----- an API that is slow or gone -----


def test_an_api_that_does_not_answer_in_time_gives_504(proxy_app, browsers, upstream):
    app = proxy_app(outbound_timeout=1)
    browser = browsers(app.base_url)
    browser.sign_in(ADELE.username, ADELE.password)
    started = time.monotonic()
    response = browser.get("/api/proxy/slow", headers=JSON)
    assert response.status_code == 504
    assert response.json()["error"] == "upstream_timeout"
    assert "Timeout" not in response.text  # no exception name or text
    assert time.monotonic() - started < SLOW_SECONDS
    page = browser.get("/api/proxy/slow")
    assert page.status_code == 504
    assert "text/html" in page.headers["content-type"]
    assert "ReadTimeout" not in page.text


def test_an_api_that_cannot_be_reached_gives_502(proxy_app, browsers):
    port = free_port()  # nothing listens there, and nothing in this run will
    app = proxy_app(api_base_url=f"https://127.0.0.1:{port}/v1")
    browser = browsers(app.base_url)
    browser.sign_in(ADELE.username, ADELE.password)
    response = browser.get("/api/proxy/anything", headers=JSON)
    assert response.status_code == 502
    assert response.json()["error"] == "upstream_unavailable"
    assert "ConnectError" not in response.text


def test_a_header_that_is_not_latin_1_is_dropped_not_a_500(signed_in, upstream):
    browser = signed_in
    for _ in range(3):  # and no pooled connection is left behind each time
        response = browser.get("/api/proxy/utf8-header", headers=JSON)
        assert response.status_code == 200 and response.json() == {"ok": True}
        assert "content-disposition" not in response.headers
    assert browser.get("/api/proxy/echo/after", headers=JSON).status_code == 200


def test_api_responses_may_run_nothing_on_this_origin(signed_in, upstream):
    response = signed_in.get("/api/proxy/html")
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    csp = response.headers["content-security-policy"]
    assert csp.startswith("sandbox") and "default-src 'none'" in csp and "nonce-" not in csp


@pytest.mark.parametrize("location", ["javascript:alert(1)", "data:text/html,<script>x</script>", "http://[::1"])
def test_an_upstream_redirect_to_a_url_httpx_cannot_read_is_a_502_never_a_500(signed_in, upstream, location):
    browser = signed_in
    moved = browser.get("/api/proxy/echo/loc", params={"status": "302", "location": location}, headers=JSON)
    assert moved.status_code == 502
    assert "location" not in moved.headers


# ----- fair use of the outbound pool -----


def stalled_download(base_url: str, cookie: str) -> socket.socket:
    """A client that asks for the 20 MB stream and never reads a byte of it."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    request = f"GET /api/proxy/stream HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: session={cookie}\r\n\r\n"
    sock.sendall(request.encode())
    return sock


def test_streams_are_capped_per_user_and_a_client_that_stops_reading_is_cut(proxy_app, browsers):
    app = proxy_app(proxy_idle_timeout=3)
    first, second = browsers(app.base_url), browsers(app.base_url)
    for browser in (first, second):  # one person, two sessions (say a laptop and a phone)
        assert browser.sign_in(ADELE.username, ADELE.password).status_code == 303
    stalled = [stalled_download(app.base_url, first.session_cookie) for _ in range(MAX_STREAMS)]
    try:
        for sock in stalled:  # each is streaming (and then stalls: nothing more is read)
            assert sock.recv(12) == b"HTTP/1.1 200"
        refused = second.get("/api/proxy/echo/x", headers=JSON)
        assert refused.status_code == 429, "the cap is per session, not per user"
        assert refused.json()["error"] == "too_many_streams"
        time.sleep(4)  # past PROXY_IDLE_TIMEOUT: the stalled clients have been cut
        assert second.get("/api/proxy/echo/x", headers=JSON).status_code == 200
        assert first.get("/api/proxy/echo/x", headers=JSON).status_code == 200
    finally:
        for sock in stalled:
            sock.close()


def test_one_person_cannot_take_the_pool_from_everyone_else(proxy_app, browsers):
    """However many sessions one person opens, part of the API pool stays for others: their
    first stream is served from it, not queued behind the stalled ones until a 504."""
    app = proxy_app(proxy_max_connections=6, proxy_idle_timeout=60, outbound_timeout=5)
    greedy = [browsers(app.base_url) for _ in range(3)]  # one person, three sessions
    for browser in greedy:
        assert browser.sign_in(ADELE.username, ADELE.password).status_code == 303
    stalled: list[socket.socket] = []
    try:
        refusals = 0
        for n in range(MAX_STREAMS):
            sock = stalled_download(app.base_url, greedy[n % 3].session_cookie)
            status = sock.recv(12)
            if status == b"HTTP/1.1 200":
                stalled.append(sock)
            else:
                assert status == b"HTTP/1.1 429", status
                refusals += 1
                sock.close()
        assert len(stalled) < 6 and refusals > 0, "one person held the whole pool"
        other = browsers(app.base_url)
        assert other.sign_in(BEN.username, BEN.password).status_code == 303
        assert other.get("/api/proxy/echo/x", headers=JSON).status_code == 200
        assert other.get("/").status_code == 200
    finally:
        for sock in stalled:
            sock.close()


def test_a_slow_client_that_keeps_reading_is_not_cut(proxy_app, browsers):
    """The idle timeout cuts a client that stopped, not one on a slow line."""
    app = proxy_app(proxy_idle_timeout=2)
    browser = browsers(app.base_url)
    assert browser.sign_in(ADELE.username, ADELE.password).status_code == 303
    sock = stalled_download(app.base_url, browser.session_cookie)
    try:
        received = 0
        deadline = time.monotonic() + 6  # three idle timeouts
        while time.monotonic() < deadline:
            data = sock.recv(2048)
            assert data, f"cut after {received} bytes"
            received += len(data)
            time.sleep(0.2)  # about 10 KB/s: slow, but reading
        assert received > 40_000
    finally:
        sock.close()
