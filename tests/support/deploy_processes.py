"""The processes of the deployment stack: Redis, a back end run from its systemd unit, and
nginx under a prefix of its own (never the system service), each from deploy/'s files."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import redis

from tests.support.deploy_files import ROOT, Unit


def wait_for(condition, what: str, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.05)


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def child_pids(parent: int) -> set[int]:
    """The live processes whose parent is `parent` (read from /proc)."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == parent and fields[0] != "Z":
            children.add(int(entry.name))
    return children


def with_hosts_file(command: list[str], hosts_file: Path) -> list[str]:
    """`command` in a mount namespace of its own whose /etc/hosts is `hosts_file`: the
    back ends resolve the IdP's host name, and the machine's /etc/hosts is never touched."""
    unshare = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--mount"]
    return [*unshare, "--", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts_file), *command]


def hosts_file_usable(hosts_file: Path) -> bool:
    command = with_hosts_file(["true"], hosts_file)
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


class Redis:
    """redis-server with deploy/redis/secure-auth.conf included, in a directory of its own."""

    def __init__(self, directory: Path, port: int, fragment: str, url: str) -> None:
        self.directory = directory
        self.port = port
        self.url = url
        self.config = directory / "redis.conf"
        (directory / "secure-auth.conf").write_text(fragment)
        self.config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {directory}\nlogfile {directory}/redis.log\n"
            f"include {directory}/secure-auth.conf\n"
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", str(self.config)], start_new_session=True
        )
        client = redis.Redis.from_url(self.url, socket_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_for(answers, "redis-server", process=self.process)
        client.close()

    def stop(self) -> None:
        stop_process(self.process, signal.SIGTERM, 10)
        self.process = None


class BackEnd:
    """One back end as its systemd unit runs it: ExecStart, ExecReload, SIGTERM to the main
    process (KillMode=mixed) and TimeoutStopSec."""

    def __init__(
        self, name: str, unit: Unit, port_text: str, port: int, env: dict[str, str], hosts_file: Path, log: Path
    ) -> None:
        self.name, self.unit, self.port, self.env, self.log = name, unit, port, env, log
        self.command = with_hosts_file(unit.exec_start(port_text, port), hosts_file)
        self.process: subprocess.Popen | None = None
        self.host = env["TRUSTED_HOSTS"]

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} is not running"
        return self.process.pid

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self) -> None:
        wait_for(self.healthy, f"{self.name} back end (log: {self.log})", timeout=60, process=self.process)
        wait_for(lambda: len(self.workers()) >= 2, f"{self.name} workers", process=self.process)

    def healthy(self) -> bool:
        try:
            response = httpx.get(f"http://127.0.0.1:{self.port}/health", headers={"host": self.host}, timeout=2)
        except httpx.TransportError:
            return False
        return response.status_code == 200

    def workers(self) -> set[int]:
        return child_pids(self.pid)

    def reload(self) -> None:
        subprocess.run(self.unit.exec_reload(self.pid), check=True)

    def stop(self) -> int | None:
        """SIGTERM as systemd sends it; the exit status (None if it had to be killed)."""
        assert self.unit.kill_mode == "mixed", "the units send SIGTERM to the main process alone"
        code = stop_process(self.process, signal.SIGTERM, self.unit.stop_timeout)
        self.process = None
        return code


def stop_process(process: subprocess.Popen | None, sig: int, timeout: float) -> int | None:
    if process is None or process.poll() is not None:
        return None if process is None else process.returncode
    process.send_signal(sig)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        return None


class Nginx:
    """Debian's nginx with the shipped site, under a prefix of its own."""

    def __init__(self, prefix: Path, site: str, https_port: int) -> None:
        self.prefix = prefix
        self.https_port = https_port
        self.logs = prefix / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        (prefix / "secure-auth.conf").write_text(site)
        temp = prefix / "temp"
        temp.mkdir(exist_ok=True)
        # As root, nginx's workers would run as nobody, who cannot enter the test's
        # private temporary directory; the harness keeps them as the user running it.
        user = "user root;\n" if os.geteuid() == 0 else ""
        temp_paths = "".join(f"    {kind}_temp_path {temp}/{kind};\n" for kind in TEMP_KINDS)
        self.config = prefix / "nginx.conf"
        self.config.write_text(
            f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\ndaemon off;\n"
            f"events {{ worker_connections 1024; }}\n"
            f"http {{\n{temp_paths}    include {prefix}/secure-auth.conf;\n}}\n"
        )
        self.process: subprocess.Popen | None = None

    @property
    def access_log(self) -> Path:
        return self.logs / "secure-auth.access.log"

    def command(self, *args: str) -> list[str]:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        return [binary, "-p", str(self.prefix), "-c", str(self.config), "-e", str(self.logs / "error.log"), *args]

    def start(self) -> None:
        check = subprocess.run(self.command("-t", "-q"), capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise RuntimeError(f"nginx refuses the configuration:\n{check.stderr}")
        self.process = subprocess.Popen(self.command(), start_new_session=True)
        wait_for(lambda: accepts(self.https_port), "nginx", process=self.process)

    def stop(self) -> None:
        stop_process(self.process, signal.SIGQUIT, 15)
        self.process = None


TEMP_KINDS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
