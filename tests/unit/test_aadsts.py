"""The error page explains the commonest Entra errors in plain words, with the fix."""

import pytest

from secure_auth.identity.aadsts import aadsts_code, explain

COMMONEST = (50011, 50076, 65001, 7000215, 7000218, 9002327, 501481, 54005, 70008, 700082)


@pytest.mark.parametrize("code", COMMONEST)
def test_each_common_code_has_a_title_and_a_fix(code):
    help_ = explain(code)
    assert help_ is not None and help_.code == code
    assert len(help_.title) > 10 and len(help_.fix) > 20


def test_codes_are_read_from_error_codes_first_then_the_description():
    assert aadsts_code("AADSTS50011: The redirect URI ...") == 50011
    assert aadsts_code("AADSTS50011: ...", [7000218]) == 7000218
    assert aadsts_code("no code here") is None
    assert explain(None) is None and explain(12345) is None


def test_the_redirect_uri_fix_names_the_setting():
    assert "PUBLIC_BASE_URL" in explain(50011).fix
    assert "Allow public client flows" in explain(7000218).fix
