"""deploy/'s shipped files, with only their ports, paths and secrets substituted.

The deployment test and `./dev deploy-demo` run exactly these files: each substitution
must find its text, so a change to a shipped file that the stack would no longer follow
fails loudly instead of testing a stale copy.
"""

from __future__ import annotations

import configparser
import re
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NGINX_SITE = DEPLOY / "nginx" / "secure-auth.conf"
REDIS_FRAGMENT = DEPLOY / "redis" / "secure-auth.conf"
ENV_EXAMPLE = DEPLOY / ".env.production.example"
GUNICORN_UNIT = DEPLOY / "systemd" / "secure-auth.service"
RUN_PY_UNIT = DEPLOY / "systemd" / "secure-auth-run.service"

# Where the shipped files expect things on a server.
INSTALL_DIR = "/opt/secure-auth"
ENV_FILE = "/etc/secure-auth/secure-auth.env"
SHIPPED_HOST = "app.example.com"
PLACEHOLDER = "REPLACE_"


def substitute(text: str, replacements: Iterable[tuple[str, str]], source: str) -> str:
    for old, new in replacements:
        if old not in text:
            raise AssertionError(f"{source} no longer contains {old!r}: update tests/support/deploy_files.py")
        text = text.replace(old, new)
    return text


def nginx_site(
    *, host: str, https_port: int, http_port: int, upstreams: tuple[int, int], cert: Path, key: Path, logs: Path
) -> str:
    return substitute(
        NGINX_SITE.read_text(),
        [
            (f"https://{SHIPPED_HOST}$request_uri", f"https://{host}:{https_port}$request_uri"),
            (SHIPPED_HOST, host),
            ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
            ("listen [::]:443 ssl http2;", f"listen [::1]:{https_port} ssl http2;"),
            ("listen 80;", f"listen 127.0.0.1:{http_port};"),
            ("listen [::]:80;", f"listen [::1]:{http_port};"),
            ("server 127.0.0.1:8001 ", f"server 127.0.0.1:{upstreams[0]} "),
            ("server 127.0.0.1:8002 ", f"server 127.0.0.1:{upstreams[1]} "),
            ("/etc/ssl/secure-auth/fullchain.pem", str(cert)),
            ("/etc/ssl/secure-auth/privkey.pem", str(key)),
            ("/var/log/nginx/", f"{logs}/"),
        ],
        "deploy/nginx/secure-auth.conf",
    )


def redis_fragment(password: str) -> str:
    return substitute(
        REDIS_FRAGMENT.read_text(), [(f"{PLACEHOLDER}WITH_REDIS_PASSWORD", password)], "deploy/redis/secure-auth.conf"
    )


def environment(values: dict[str, str], edits: list[tuple[str, str]], extra: dict[str, str]) -> dict[str, str]:
    """deploy/.env.production.example with `values` in place of whole values, `edits` made
    inside values (a placeholder, a port), and the settings this stack needs beyond
    production's (the local IdP's address and CA). No REPLACE_ placeholder may be left."""
    settings: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            settings[name] = value
    unknown = sorted(set(values) - set(settings))
    if unknown:
        raise AssertionError(f"deploy/.env.production.example no longer lists {unknown}")
    settings.update(values)
    for old, new in edits:
        if not any(old in value for value in settings.values()):
            raise AssertionError(f"deploy/.env.production.example no longer contains {old!r}")
        settings = {name: value.replace(old, new) for name, value in settings.items()}
    left = sorted(name for name, value in settings.items() if PLACEHOLDER in value)
    if left:
        raise AssertionError(f"placeholders left unfilled in deploy/.env.production.example: {left}")
    return {**settings, **extra}


def environment_file(settings: dict[str, str]) -> str:
    return "".join(f"{name}={value}\n" for name, value in settings.items())


class Unit:
    """The [Service] of a shipped systemd unit, as systemd would run it from INSTALL_DIR."""

    def __init__(self, path: Path) -> None:
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read(path)
        self.name = path.name
        self.service = parser["Service"]
        if self.service["WorkingDirectory"] != INSTALL_DIR or self.service["EnvironmentFile"] != ENV_FILE:
            raise AssertionError(f"{path.name} must run in {INSTALL_DIR} with {ENV_FILE}")

    def exec_start(self, port_text: str, port: int) -> list[str]:
        """ExecStart with the project's virtualenv and `port` in place of `port_text`'s."""
        venv_bin = f"{Path(sys.executable).parent}/"
        shipped_port = re.search(r"\d+$", port_text)
        assert shipped_port is not None, port_text
        line = substitute(
            self.service["ExecStart"],
            [(f"{INSTALL_DIR}/.venv/bin/", venv_bin), (port_text, port_text[: shipped_port.start()] + str(port))],
            self.name,
        )
        return shlex.split(line)

    def exec_reload(self, main_pid: int) -> list[str]:
        return shlex.split(substitute(self.service["ExecReload"], [("$MAINPID", str(main_pid))], self.name))

    @property
    def stop_timeout(self) -> float:
        return float(self.service["TimeoutStopSec"])

    @property
    def kill_mode(self) -> str:
        return self.service.get("KillMode", "control-group")
