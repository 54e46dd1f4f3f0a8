"""Readiness, metrics and the /debug-info doctor over real HTTP."""

from __future__ import annotations

import re
import time

from tests.conftest import BEN


def test_readiness_reports_each_check(public_app, browsers):
    ready = browsers(public_app.base_url).get("/health/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ok"
    assert body["checks"]["store"] == {"status": "ok", "backend": "memory"}
    assert body["checks"]["identity_provider"]["status"] == "ok"
    assert body["checks"]["identity_provider"]["signing_keys"] >= 1


def test_readiness_fails_when_the_idp_is_unreachable(extra_app, browsers):
    server = extra_app(entra_authority_host="https://127.0.0.1:9")
    ready = browsers(server.base_url).get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["identity_provider"]["status"] == "fail"
    assert browsers(server.base_url).get("/health").status_code == 200  # liveness stays cheap


def test_metrics_are_off_by_default(public_app, browsers):
    assert browsers(public_app.base_url).get("/metrics").status_code == 404


def test_metrics_count_sign_ins_for_allowed_addresses_only(extra_app, browsers):
    server = extra_app(metrics_enabled=True)
    scraper = browsers(server.base_url)

    def value(text: str, name: str) -> float:
        match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
        return float(match.group(1)) if match else 0.0

    before = scraper.get("/metrics")
    assert before.status_code == 200 and before.headers["content-type"].startswith("text/plain")
    browsers(server.base_url).sign_in(BEN.username, BEN.password)
    after = scraper.get("/metrics").text
    assert (
        value(after, "secure_auth_sign_ins_succeeded_total")
        == value(before.text, "secure_auth_sign_ins_succeeded_total") + 1
    )
    assert value(after, "secure_auth_active_sessions") >= 1
    assert "secure_auth_idp_request_seconds_count" in after
    assert "secure_auth_csrf_rejections_total" in after and "secure_auth_rate_limited_total" in after

    closed = extra_app(metrics_enabled=True, metrics_allow_ips="10.0.0.0/8")
    assert browsers(closed.base_url).get("/metrics").status_code == 404


def test_debug_info_runs_the_checks(extra_app, browsers):
    server = extra_app(web_concurrency=3)
    page = browsers(server.base_url).get("/debug-info")
    assert page.status_code == 200
    verdicts = dict(re.findall(r'data-check="([^"]+)" data-verdict="([a-z]+)"', page.text))
    assert len(verdicts) == 12
    assert verdicts["Client credential"] == "ok" and verdicts["Client capabilities"] == "ok"
    assert verdicts["Store and workers"] == "problem"
    assert verdicts["Signing keys (JWKS)"] == "ok" and verdicts["Clock skew"] == "ok"
    # Reached under another host name than PUBLIC_BASE_URL's.
    other = browsers(server.base_url).get("/debug-info", headers={"host": "localhost:1"})
    verdicts = dict(re.findall(r'data-check="([^"]+)" data-verdict="([a-z]+)"', other.text))
    assert verdicts["Redirect URI"] == "warning"


def test_readiness_says_degraded_when_pending_sign_ins_near_their_bound(entra, client_certificate, browsers):
    from app import create_app
    from secure_auth.stores.memory import MemoryStateStore
    from tests.conftest import PUBLIC_CLIENT_ID, settings_for
    from tests.support.servers import ServerThread, bind_loopback

    sock = bind_loopback()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = settings_for("public", entra, base_url, client_certificate)
    registration = entra.config.client(PUBLIC_CLIENT_ID)
    registration.redirect_uris.append(settings.redirect_uri)
    server = ServerThread(create_app(settings, state_store=MemoryStateStore(max_entries=10)), sock).start()
    try:
        assert browsers(base_url).get("/health/ready").json()["checks"]["store"]["status"] == "ok"
        greedy = browsers(base_url)
        for _ in range(11):  # its cookie carries three; each sign-in after that is backed up
            assert greedy.get("/auth/login").status_code == 303
        time.sleep(1.1)  # readiness answers from a one-second cache
        store = browsers(base_url).get("/health/ready").json()["checks"]["store"]
        assert store["status"] == "degraded" and "pending sign-ins" in store["detail"], store
    finally:
        server.stop()
        registration.redirect_uris.remove(settings.redirect_uri)
