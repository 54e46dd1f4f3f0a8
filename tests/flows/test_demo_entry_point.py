"""`python run.py --demo`, started as the README says: it trusts no forwarded header, so a
local client cannot pick its own address (dodging the sign-in limit, writing a false address
into logs and the sessions page) or its own scheme."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.browser.test_chromium import demo  # noqa: F401 - the fixture
from tests.conftest import PUBLIC_CLIENT_ID
from tests.support.processes import clean_env, entra_env
from tests.support.servers import bind_loopback, free_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_trusts_no_forwarded_address_or_scheme(demo):  # noqa: F811
    forged = {"x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https", "x-forwarded-host": "evil.example"}
    page = httpx.get(demo + "/debug-info", headers=forged)
    assert page.status_code == 200
    assert "203.0.113.9" not in page.text
    assert "127.0.0.1" in page.text  # the connection's real peer
    assert "https://localhost" not in page.text  # the scheme is the connection's own too


def start_run_py(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "run.py", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_a_busy_port_stops_start_up_with_one_line_naming_it():
    holder = bind_loopback()  # something else already listens there
    port = holder.getsockname()[1]
    try:
        process = start_run_py(["--demo", "--port", str(port)], clean_env())
        _, stderr = process.communicate(timeout=60)
    finally:
        holder.close()
    assert process.returncode == 2
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"port {port}" in lines[0] and "--port" in lines[0], stderr
    assert "Traceback" not in stderr


def wait_until_up(process: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", headers={"host": f"localhost:{port}"}, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("run.py did not start")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_without_public_base_url_sign_in_stays_on_the_port_this_app_serves(entra, workers):
    port = free_port()
    process = start_run_py(["--port", str(port), "--workers", workers], entra_env(entra, PUBLIC_CLIENT_ID))
    try:
        wait_until_up(process, port)
        login = httpx.get(f"http://127.0.0.1:{port}/auth/login", headers={"host": f"127.0.0.1:{port}"})
        assert login.status_code == 303
        assert login.headers["location"].startswith(f"http://localhost:{port}/auth/login")
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_a_public_base_url_on_another_port_is_warned_about_at_start_up(entra):
    port = free_port()
    env = entra_env(entra, PUBLIC_CLIENT_ID, PUBLIC_BASE_URL="http://localhost:8000", TRUSTED_HOSTS="localhost")
    process = start_run_py(["--port", str(port)], env)
    try:
        wait_until_up(process, port)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    warnings = [line for line in stderr.splitlines() if "listens on port" in line]
    assert len(warnings) == 1 and "port 8000" in warnings[0] and f"port {port}" in warnings[0], stderr


def test_the_demo_banner_says_where_step_up_and_revocation_are_shown():
    from types import SimpleNamespace

    from local_entra import DEMO_USERS
    from run import _demo_banner

    banner = _demo_banner("http://localhost:8000", SimpleNamespace(front_url="http://127.0.0.1:9080"), DEMO_USERS)
    assert "authentication context c1" in banner
    assert "http://127.0.0.1:9080/_local_entra/sessions" in banner
