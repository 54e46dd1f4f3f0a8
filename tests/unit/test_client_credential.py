"""The client credential settings: at most one of secret, certificate and assertion file
(one line naming both), AZURE_FEDERATED_TOKEN_FILE as the fallback, and the assertion
file read afresh at every call."""

from __future__ import annotations

import logging
from pathlib import Path

import jwt
import pytest

from secure_auth.config import ConfigError, load_settings
from secure_auth.identity.credential import (
    ClientAssertionFile,
    ClientAssertionUnavailable,
    assertion_status,
    client_credential,
)
from tests.support.certs import cert_pem, key_pem, new_rsa_key, self_signed
from tests.support.federation import TestIssuer

BASE = {"entra_client_id": "6f1c2a9e-0000-4c1d-9a8b-123456789abc", "entra_tenant_id": "contoso.onmicrosoft.com"}
SUBJECT = "system:serviceaccount:web:secure-auth"


pytestmark = pytest.mark.usefixtures("clean_environment")


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer("https://oidc.cluster.example/1/")


@pytest.fixture
def token_file(tmp_path: Path, issuer: TestIssuer) -> Path:
    path = tmp_path / "token"
    issuer.write(path, SUBJECT)
    return path


@pytest.fixture
def cert_file(tmp_path: Path) -> Path:
    key = new_rsa_key()
    path = tmp_path / "client.pem"
    path.write_bytes(key_pem(key) + cert_pem(self_signed(key)))
    return path


def config_error(**values) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(**values)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "credentials",
    [
        ("entra_client_secret", "entra_client_assertion_file"),
        ("entra_client_certificate", "entra_client_assertion_file"),
        ("entra_client_secret", "entra_client_certificate"),
        ("entra_client_secret", "entra_client_certificate", "entra_client_assertion_file"),
    ],
)
def test_two_credentials_are_one_line_naming_both(credentials, token_file, cert_file):
    values = {"entra_client_secret": "s3cr3t", "entra_client_certificate": cert_file}
    values["entra_client_assertion_file"] = token_file
    message = config_error(**BASE, **{name: values[name] for name in credentials})
    assert all(name.upper() in message for name in credentials)
    assert "keep one client credential" in message and "s3cr3t" not in message


def test_an_assertion_file_makes_a_confidential_client(token_file):
    settings = load_settings(**BASE, entra_client_assertion_file=token_file)
    assert settings.is_confidential and settings.client_assertion_file == token_file
    assert settings.client_kind == "confidential client (federated credential)"


def test_a_missing_assertion_file_names_the_variable(tmp_path):
    message = config_error(**BASE, entra_client_assertion_file=tmp_path / "nope")
    assert message.startswith("ENTRA_CLIENT_ASSERTION_FILE points at") and "nope" in message


def test_azure_federated_token_file_is_the_fallback(monkeypatch, token_file):
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))  # as the workload identity webhook sets it
    settings = load_settings(**BASE)
    assert settings.client_assertion_file == token_file and settings.is_confidential
    # Any credential of the app's own wins; the variable is then ignored.
    assert load_settings(**BASE, entra_client_secret="s3cr3t").client_assertion_file is None
    missing = config_error(**BASE, azure_federated_token_file=token_file.with_name("gone"))
    assert missing.startswith("AZURE_FEDERATED_TOKEN_FILE points at")


def test_the_fallback_is_said_once_at_start_up(token_file, caplog):
    caplog.set_level(logging.INFO, logger="secure_auth.identity")
    client_credential(load_settings(**BASE, azure_federated_token_file=token_file))
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "AZURE_FEDERATED_TOKEN_FILE" in said[0] and str(token_file) in said[0]
    caplog.clear()
    client_credential(load_settings(**BASE, entra_client_assertion_file=token_file))
    assert caplog.records == []


def test_the_assertion_is_read_afresh_at_every_call(token_file, issuer):
    credential = client_credential(load_settings(**BASE, entra_client_assertion_file=token_file))
    assert isinstance(credential, dict)
    read = credential["client_assertion"]
    first = read()
    assert first == token_file.read_text().strip()
    issuer.write(token_file, SUBJECT)
    assert read() != first and read() == token_file.read_text().strip()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "missing"),
        ("", "empty"),
        ("  \n", "empty"),
        ("not a jwt", "not_a_jwt"),
        (b"\xff\xfe", "not_a_jwt"),
        ("a directory", "unreadable"),
    ],
)
def test_an_unusable_file_says_why_and_never_what_it_holds(tmp_path, content, reason):
    path = tmp_path / "token"
    if content == "a directory":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ClientAssertionUnavailable) as caught:
        ClientAssertionFile(path)()
    assert caught.value.reason == reason and caught.value.path == path
    assert "not a jwt" not in str(caught.value)
    assert assertion_status(path).problem == reason


def test_assertion_status_decodes_without_verifying(token_file, issuer):
    status = assertion_status(token_file)
    claims = jwt.decode(token_file.read_text().strip(), options={"verify_signature": False})
    assert status.problem is None and status.expires_at == claims["exp"]
    assert (status.issuer, status.subject, status.audiences) == (
        issuer.issuer,
        SUBJECT,
        ("api://AzureADTokenExchange",),
    )
    # An expired token is still described (the doctor says it expired), not refused.
    token_file.write_text(issuer.mint(SUBJECT, exp=1_700_000_000, aud=["a", "b"]))
    expired = assertion_status(token_file)
    assert expired.problem is None and expired.expires_at == 1_700_000_000 and expired.audiences == ("a", "b")
