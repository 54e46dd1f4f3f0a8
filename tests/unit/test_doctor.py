"""Each /debug-info check, with a configuration or facts that trigger it."""

from __future__ import annotations

import email.utils
import time

import pytest
from pydantic import SecretStr

from secure_auth.operations import doctor
from secure_auth.operations.doctor import OK, PROBLEM, WARNING, Facts
from tests.support.doctor import settings

pytestmark = pytest.mark.usefixtures("clean_environment")


def facts(**overrides) -> Facts:
    values = dict(
        request_origin="https://app.example.com",
        peer_is_trusted_proxy=False,
        forwarded_proto=None,
        cookie_header_bytes=100,
        session_cookie_bytes=80,
        idp_issuer="https://login.microsoftonline.com/t/v2.0",
        idp_date=email.utils.formatdate(usegmt=True),
        signing_keys=2,
        now=time.time(),
    )
    values.update(overrides)
    return Facts(**values)


PUBLIC = {"public_base_url": "https://app.example.com"}


def test_redirect_uri_matches():
    assert doctor.redirect_uri_check(settings(**PUBLIC), facts()).verdict == OK


def test_redirect_uri_http_behind_an_untrusted_proxy_is_a_problem():
    check = doctor.redirect_uri_check(
        settings(**PUBLIC), facts(request_origin="http://app.example.com", forwarded_proto="https")
    )
    assert check.verdict == PROBLEM and "FORWARDED_ALLOW_IPS" in check.fix


def test_redirect_uri_http_without_forwarded_headers_is_a_warning():
    check = doctor.redirect_uri_check(settings(**PUBLIC), facts(request_origin="http://app.example.com"))
    assert check.verdict == WARNING and "FORWARDED_ALLOW_IPS" in check.fix


def test_redirect_uri_other_host_names_aadsts50011():
    check = doctor.redirect_uri_check(settings(**PUBLIC), facts(request_origin="https://other.example.com"))
    assert check.verdict == WARNING and "AADSTS50011" in check.finding


def test_http_on_a_network_address_is_a_problem_and_loopback_is_fine():
    assert doctor.https_check(settings(public_base_url="http://app.example.com")).verdict == PROBLEM
    assert doctor.https_check(settings(public_base_url="http://localhost:8000")).verdict == OK
    assert doctor.https_check(settings(**PUBLIC)).verdict == OK


def test_same_site_is_explained():
    check = doctor.same_site_check(settings())
    assert check.verdict == OK and "SameSite=Lax" in check.finding


def test_clock_skew():
    assert doctor.clock_check(facts()).verdict == OK
    slow = email.utils.formatdate(time.time() - 90, usegmt=True)
    assert doctor.clock_check(facts(idp_date=slow)).verdict == WARNING
    very_slow = email.utils.formatdate(time.time() - 600, usegmt=True)
    check = doctor.clock_check(facts(idp_date=very_slow))
    assert check.verdict == PROBLEM and "NTP" in check.fix
    assert doctor.clock_check(facts(idp_date=None)).verdict == WARNING


def test_issuer():
    assert doctor.issuer_check(settings(), facts()).verdict == OK
    failed = doctor.issuer_check(settings(), facts(idp_issuer=None, idp_error="ConnectTimeout"))
    assert failed.verdict == PROBLEM and "ConnectTimeout" in failed.finding
    multi = "https://login.microsoftonline.com/{tenantid}/v2.0"
    assert doctor.issuer_check(settings(entra_tenant_id="organizations"), facts(idp_issuer=multi)).verdict == WARNING
    listed = settings(entra_tenant_id="organizations", entra_allowed_tenants="t1")
    assert doctor.issuer_check(listed, facts(idp_issuer=multi)).verdict == OK
    local = settings(entra_authority_host="https://idp.local")
    assert doctor.issuer_check(local, facts(idp_issuer="https://elsewhere.example/t/v2.0")).verdict == WARNING


def test_jwks():
    assert doctor.jwks_check(facts()).verdict == OK
    assert doctor.jwks_check(facts(signing_keys=0)).verdict == PROBLEM


def test_memory_store_with_several_workers_is_a_problem():
    check = doctor.workers_check(settings(web_concurrency=4))
    assert check.verdict == PROBLEM and "SESSION_STORE_URL" in check.fix
    assert doctor.workers_check(settings(web_concurrency=4, session_store_url="redis://r:6379/0")).verdict == OK
    assert doctor.workers_check(settings()).verdict == OK


def test_secret_strength():
    assert doctor.secret_check(settings()).verdict == WARNING
    assert doctor.secret_check(settings(session_secret_key=SecretStr("short"))).verdict == PROBLEM
    assert (
        doctor.secret_check(settings(session_secret_key=SecretStr("Kq3vX9pL2mN7rT4wY8zB1cF6hJ0dG5sA9"))).verdict == OK
    )


def test_client_kind_names_what_entra_needs():
    public = doctor.client_kind_check(settings())
    assert "AADSTS7000218" in public.finding and "AADSTS9002327" in public.finding
    confidential = doctor.client_kind_check(settings(entra_client_secret=SecretStr("s")))
    assert "Web platform" in confidential.finding


def test_cookie_sizes():
    assert doctor.cookie_size_check(facts()).verdict == OK
    assert doctor.cookie_size_check(facts(cookie_header_bytes=6000)).verdict == WARNING


def test_run_checks_gives_one_verdict_each():
    checks = doctor.run_checks(settings(**PUBLIC), facts())
    assert len(checks) == 12 and all(c.verdict in (OK, WARNING, PROBLEM) for c in checks)
    assert len({c.name for c in checks}) == len(checks)
    assert all(c.fix for c in checks if c.verdict != OK)
