"""ENTRA_CLIENT_CAPABILITIES (default cp1, empty for none), and how local_entra reads the
capabilities from the claims request parameter, as Entra does."""

from __future__ import annotations

import json

import pytest

from local_entra.capabilities import requested_capabilities
from secure_auth.config import ConfigError, load_settings

BASE = {"entra_client_id": "6f1c2a9e-0000-4c1d-9a8b-123456789abc", "entra_tenant_id": "contoso.onmicrosoft.com"}


pytestmark = pytest.mark.usefixtures("clean_environment")


def test_cp1_by_default_and_empty_turns_it_off(monkeypatch):
    assert load_settings(**BASE).client_capabilities == ["cp1"]
    monkeypatch.setenv("ENTRA_CLIENT_CAPABILITIES", "")
    assert load_settings(**BASE).client_capabilities == []
    assert load_settings(**BASE, entra_client_capabilities="cp1, llt").client_capabilities == ["cp1", "llt"]


def test_a_malformed_capability_is_one_line_naming_the_variable():
    with pytest.raises(ConfigError) as caught:
        load_settings(**BASE, entra_client_capabilities='cp1 {"x"}')
    assert str(caught.value).startswith("ENTRA_CLIENT_CAPABILITIES has") and "cp1" in str(caught.value)


def test_local_entra_reads_xms_cc_where_msal_puts_it():
    msal_claims = json.dumps({"access_token": {"xms_cc": {"values": ["cp1"]}}})
    assert requested_capabilities(msal_claims) == ["cp1"]
    merged = {"access_token": {"nbf": {"essential": True}, "xms_cc": {"values": ["cp1", "cp1", "llt"]}}}
    assert requested_capabilities(json.dumps(merged)) == ["cp1", "llt"]


@pytest.mark.parametrize(
    "claims",
    [
        None,
        "",
        "not json",
        "[]",
        '{"id_token": {"xms_cc": {"values": ["cp1"]}}}',
        '{"access_token": {"xms_cc": 1}}',
        '{"access_token": "x"}',
        '{"access_token": ' * 5000 + "1" + "}" * 5000,
    ],
)
def test_local_entra_ignores_claims_without_capabilities(claims):
    assert requested_capabilities(claims) == []
