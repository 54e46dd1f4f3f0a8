"""Production's start-up refusals, met for real: each back end started as its unit starts it,
with one setting wrong, stops at once with one line naming the variable and the fix. The
deployment's own IdP and CA pass only because they look like an organisation's own."""

from __future__ import annotations

import subprocess

import pytest
import trustme

from tests.support.deploy_files import ROOT
from tests.support.deploy_stack import IDP_HOST, Stack

pytestmark = [pytest.mark.deploy]


def stand_in_ca(stack: Stack) -> str:
    """A CA as trustme names it by default (a testing CA): production must refuse it."""
    path = stack.directory / "testing-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


CASES = {
    "a loopback IdP": (
        lambda stack: {"ENTRA_AUTHORITY_HOST": stack.settings["ENTRA_AUTHORITY_HOST"].replace(IDP_HOST, "127.0.0.1")},
        "ENTRA_AUTHORITY_HOST / ENTRA_OIDC_AUTHORITY points at a loopback identity provider in production",
    ),
    "a testing CA": (
        lambda stack: {"ENTRA_CA_BUNDLE": stand_in_ca(stack)},
        "ENTRA_CA_BUNDLE points at the local Entra stand-in's CA",
    ),
    "the example's secret left in": (
        lambda stack: {"SESSION_SECRET_KEY": "REPLACE_WITH_SESSION_SECRET_KEY"},
        "SESSION_SECRET_KEY is shorter than 32 bytes",
    ),
    "no token cache key": (
        lambda stack: {"TOKEN_CACHE_KEY": ""},
        "TOKEN_CACHE_KEY is required in production with a Redis SESSION_STORE_URL",
    ),
}


# Every case under gunicorn (whose master checks before any worker starts); run.py checks
# through the same function, met here once.
@pytest.mark.parametrize(("name", "case"), [*(("gunicorn", case) for case in CASES), ("run.py", "a loopback IdP")])
def test_production_refuses_to_start_with_one_line(stack, name, case):
    change, message = CASES[case]
    back_end = stack.back_end(name, **change(stack))
    result = subprocess.run(back_end.command, cwd=ROOT, env=back_end.env, capture_output=True, text=True, timeout=60)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 2, lines
    assert len(lines) == 1 and lines[0].startswith("Configuration error: ") and message in lines[0], lines
