"""The doctor's lines on the app's client: which credential it uses (and when a federated
token expires, never showing it), and what its client capabilities mean."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from secure_auth.config import Settings
from secure_auth.identity.credential import AssertionStatus, assertion_status
from secure_auth.operations.credential_checks import client_capabilities_check, client_credential_check
from secure_auth.operations.verdicts import OK, PROBLEM, WARNING
from tests.support.doctor import settings
from tests.support.federation import TestIssuer

SUBJECT = "system:serviceaccount:web:secure-auth"
NOW = 1_900_000_000.0


pytestmark = pytest.mark.usefixtures("clean_environment")


def federated(path: Path, **status) -> tuple[Settings, AssertionStatus]:
    values = {"issuer": "https://oidc.example/1/", "subject": SUBJECT, "audiences": ("api://AzureADTokenExchange",)}
    return settings(entra_client_assertion_file=path), AssertionStatus(path, **{**values, **status})


def test_the_credential_kind_is_named():
    assert (
        "A client secret (ENTRA_CLIENT_SECRET)"
        in client_credential_check(settings(entra_client_secret=SecretStr("s3cr3t")), None, NOW).finding
    )
    certificate = client_credential_check(settings(entra_client_certificate=Path("/etc/app.pem")), None, NOW)
    assert certificate.verdict == OK and "A certificate (ENTRA_CLIENT_CERTIFICATE=/etc/app.pem)" in certificate.finding
    assert client_credential_check(settings(), None, NOW).finding.startswith("None: a public client")


def test_a_federated_token_shows_its_source_claims_and_expiry(tmp_path):
    s, status = federated(tmp_path / "token", expires_at=NOW + 50 * 60)
    check = client_credential_check(s, status, NOW)
    assert check.verdict == OK and check.fix == ""
    assert f"ENTRA_CLIENT_ASSERTION_FILE={tmp_path / 'token'}" in check.finding
    assert SUBJECT in check.finding and "https://oidc.example/1/" in check.finding
    assert "It expires at 2030-03-17 18:36:40 UTC, in 50 min." in check.finding


def test_the_fallback_names_azure_federated_token_file(tmp_path):
    s = settings(azure_federated_token_file=tmp_path / "token")
    status = AssertionStatus(tmp_path / "token", expires_at=NOW + 3 * 3600, audiences=("api://AzureADTokenExchange",))
    check = client_credential_check(s, status, NOW)
    assert check.verdict == OK and "AZURE_FEDERATED_TOKEN_FILE=" in check.finding and "in 3 h 0 min" in check.finding


def test_an_expired_token_is_a_problem(tmp_path):
    s, status = federated(tmp_path / "token", expires_at=NOW - 600)
    check = client_credential_check(s, status, NOW)
    assert check.verdict == PROBLEM and "expired" in check.finding and "10 min ago" in check.finding
    assert "AADSTS700024" in check.finding and "renewing" in check.fix


def test_another_audience_or_no_expiry_is_a_warning(tmp_path):
    s, status = federated(tmp_path / "token", expires_at=NOW + 600, audiences=("api://AzureADMyOrg",))
    check = client_credential_check(s, status, NOW)
    assert check.verdict == WARNING and "api://AzureADTokenExchange" in check.fix
    s, status = federated(tmp_path / "token")
    assert client_credential_check(s, status, NOW).verdict == WARNING


@pytest.mark.parametrize(
    ("problem", "said"),
    [("missing", "does not exist"), ("unreadable", "cannot be read"), ("empty", "is empty"), ("not_a_jwt", "JWT")],
)
def test_an_unusable_file_is_a_problem_saying_why(tmp_path, problem, said):
    s, status = federated(tmp_path / "token", problem=problem)
    check = client_credential_check(s, status, NOW)
    assert check.verdict == PROBLEM and said in check.finding and check.fix


def test_the_token_itself_is_never_shown(tmp_path):
    issuer = TestIssuer("https://oidc.example/1/")
    path = tmp_path / "token"
    issuer.write(path, SUBJECT)
    token = path.read_text().strip()
    check = client_credential_check(settings(entra_client_assertion_file=path), assertion_status(path), time.time())
    assert check.verdict == OK
    text = check.finding + check.fix
    assert all(part not in text for part in token.split("."))


def test_cp1_is_explained():
    check = client_capabilities_check(settings())
    assert check.verdict == OK and "ENTRA_CLIENT_CAPABILITIES=cp1" in check.finding
    assert "claims challenges" in check.finding and "CAE" in check.finding and "near real time" in check.finding


def test_no_capabilities_says_what_is_lost():
    check = client_capabilities_check(settings(entra_client_capabilities=""))
    assert check.verdict == OK and "until the token expires" in check.finding and "cp1" in check.fix


def test_capabilities_without_cp1_are_a_warning():
    assert client_capabilities_check(settings(entra_client_capabilities="llt")).verdict == WARNING
