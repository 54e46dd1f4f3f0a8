"""The deployment stack (tests/support/deploy_stack.py) for the whole package, Chromium
trusting its private CA through an NSS database of its own, and signed-in people."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.test_chromium import CHROMIUM_ARGS, chromium_path
from tests.conftest import ADELE, BEN
from tests.support.browser import Browser
from tests.support.deploy_processes import hosts_file_usable
from tests.support.deploy_stack import APP_HOST, IDP_HOST, Stack


def require(condition: bool, why: str) -> None:
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the deployment test needs {why} in CI (./dev test installs it as root)")
    pytest.skip(f"the deployment test needs {why}")


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    for tool, package in (("nginx", "nginx-light"), ("redis-server", "redis-server"), ("unshare", "util-linux")):
        require(shutil.which(tool) is not None or Path(f"/usr/sbin/{tool}").exists(), f"{tool} ({package})")
    directory = tmp_path_factory.mktemp("deploy")
    probe = directory / "hosts-probe"
    probe.write_text(Path("/etc/hosts").read_text())
    require(hosts_file_usable(probe), "a mount namespace (root, or unprivileged user namespaces) for the IdP's name")
    stack = Stack(directory).start()
    yield stack
    stack.stop()


@pytest.fixture(scope="package")
def chromium(stack: Stack, tmp_path_factory: pytest.TempPathFactory):
    """Headless Chromium that trusts the stack's CA as an installed root (certutil into the
    NSS database of a HOME of its own), with the stack's names mapped to 127.0.0.1."""
    from playwright.sync_api import sync_playwright

    require(shutil.which("certutil") is not None, "certutil (libnss3-tools)")
    home = tmp_path_factory.mktemp("chromium-home")
    nssdb = f"sql:{home / '.pki' / 'nssdb'}"
    (home / ".pki" / "nssdb").mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", nssdb, "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", nssdb, "-n", "Secure Auth Deployment", "-t", "C,,", "-i", str(stack.ca.path)],
        check=True,
    )
    rules = f"--host-resolver-rules=MAP {APP_HOST} 127.0.0.1, MAP {IDP_HOST} 127.0.0.1"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            args=[*CHROMIUM_ARGS, rules],
            env={**os.environ, "HOME": str(home)},
        )
        yield browser
        browser.close()


@pytest.fixture(scope="package")
def people(stack: Stack) -> Iterator[list[Browser]]:
    """Four signed-in people through nginx, each from a loopback address of their own."""
    opened = []
    for number, user in enumerate((ADELE, BEN, ADELE, BEN)):
        browser = stack.browser(local_address=f"127.0.0.{21 + number}")
        assert browser.sign_in(user.username, user.password).status_code == 303
        opened.append(browser)
    yield opened
    for browser in opened:
        browser.close()
