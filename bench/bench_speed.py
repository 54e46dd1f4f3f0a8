"""Page rates measured side by side with a compiled load generator (wrk), in one run.

Every server is a uvicorn process with the same flags (`--no-access-log --log-level
warning`, one worker unless said otherwise). Runs are interleaved (bare, page, bare,
page, ..., bare) and each page's rate is divided by the mean of the bare runs just before
and after it, so the machine's drift in speed (this VM's varies by a tenth from one run
to the next) falls out of the ratio; the summary is the median of those ratios. Every round
also checks that wrk is not the bottleneck: a route answering plain text, on the bare
server, must go well above the bare route run just before it.

    ./dev bench                       (installs wrk if missing, then runs this)
    .venv/bin/python bench/bench_speed.py [--rounds 5] [--seconds 4] [--connections 16]
    ./dev bench --workers-only        (only 2 workers against 1, as `run.py --workers N` serves)

Needs Redis on 127.0.0.1:6379 for the Redis figures (database 14 is used and flushed).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from local_entra import DEMO_USERS, ClientRegistration, LocalEntra, LocalEntraConfig  # noqa: E402
from tests.support.browser import Browser  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

CLIENT_ID = "b3a7c0de-0000-4000-8000-00000000bench"
BEN = next(u for u in DEMO_USERS if u.username.startswith("ben"))
REDIS_URL = "redis://127.0.0.1:6379/14"
UVICORN_FLAGS = ["--no-access-log", "--log-level", "warning"]


def start_server(target: str, port: int, env: dict[str, str], workers: int = 0) -> subprocess.Popen[bytes]:
    """uvicorn with the bench's flags; `workers` > 0 serves app:app under run.py's
    supervisor (bench/serve_workers.py), for 1 and 2 alike."""
    if workers:
        command = [sys.executable, "bench/serve_workers.py", str(port), str(workers)]
    else:
        command = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port), *UVICORN_FLAGS]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{target} did not start")


def wrk(url: str, *, seconds: int, connections: int, cookie: str | None = None) -> float:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in output or "Socket errors" in output:
        raise RuntimeError(f"wrk saw failures on {url}:\n{output}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not match:
        raise RuntimeError(f"no rate in wrk's output:\n{output}")
    return float(match.group(1))


@dataclass
class Target:
    label: str
    url: str
    cookie: str | None = None
    rates: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)


def signed_in_cookie(base_url: str) -> str:
    browser = Browser(base_url)
    assert browser.sign_in(BEN.username, BEN.password).status_code == 303
    value = browser.session_cookie
    assert value
    browser.close()
    return f"session={value}"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis and two-worker figures")
    parser.add_argument("--workers-only", action="store_true", help="only the two-worker figure (on Redis)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: `./dev bench` installs it (apt-get install wrk)", file=sys.stderr)
        return 2

    ports = {name: free_port() for name in ("bare", "memory", "redis", "redis1", "redis2")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    callbacks = [url + "/auth/callback" for url in urls.values()]
    clients = [ClientRegistration(CLIENT_ID, callbacks, [url + "/auth/signed-out" for url in urls.values()])]
    entra = LocalEntra(LocalEntraConfig(clients, list(DEMO_USERS), state_dir=Path(tempfile.mkdtemp()))).start()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("ENTRA_", "SESSION_", "RATE_LIMIT_"))}
    base_env.update(
        ENTRA_CLIENT_ID=CLIENT_ID,
        ENTRA_TENANT_ID=entra.tenant_id,
        ENTRA_AUTHORITY_HOST=entra.authority_host,
        ENTRA_CA_BUNDLE=str(entra.ca_bundle_path),
        LOG_LEVEL="WARNING",
        SESSION_SECRET_KEY="bench-" + "k" * 40,
        # Rate limits on, at limits the load never reaches.
        RATE_LIMIT_DEFAULT="1000000000/hour",
        RATE_LIMIT_AUTH="1000000000/hour",
        REDIS_KEY_PREFIX="bench:",
    )

    def env_for(name: str, store: str) -> dict[str, str]:
        return {**base_env, "PUBLIC_BASE_URL": urls[name], "SESSION_STORE_URL": store}

    if args.workers_only:
        try:
            subprocess.run(["redis-cli", "-n", "14", "flushdb"], check=True, capture_output=True)
            print_workers(*measure_workers(args, urls, ports, env_for))
        finally:
            entra.stop()
        return 0
    processes = [
        start_server("bench.bare_app:app", ports["bare"], base_env),
        start_server("app:app", ports["memory"], env_for("memory", "memory://")),
    ]
    targets = [
        Target("bare FastAPI + Jinja route", urls["bare"] + "/"),
        Target("/health", urls["memory"] + "/health"),
        Target("signed-out home page", urls["memory"] + "/"),
        Target("signed-in home page, memory store", urls["memory"] + "/", signed_in_cookie(urls["memory"])),
    ]
    try:
        if not args.no_redis:
            subprocess.run(["redis-cli", "-n", "14", "flushdb"], check=True, capture_output=True)
            processes.append(start_server("app:app", ports["redis"], env_for("redis", REDIS_URL)))
            targets.append(
                Target("signed-in home page, Redis store", urls["redis"] + "/", signed_in_cookie(urls["redis"]))
            )
        ping = Target("plain-text route (load generator check)", urls["bare"] + "/ping")
        for target in targets:  # warm-up
            wrk(target.url, seconds=1, connections=args.connections, cookie=target.cookie)
        bare, pages = targets[0], targets[1:]

        def measure(target: Target) -> float:
            rate = wrk(target.url, seconds=args.seconds, connections=args.connections, cookie=target.cookie)
            target.rates.append(rate)
            return rate

        for _ in range(args.rounds):
            # bare, page, bare, page, ..., bare: each page is compared with the bare runs
            # right before and after it, so the VM's drift in speed cancels out.
            before = measure(bare)
            bare.ratios.append(1.0)
            for target in pages:
                rate = measure(target)
                after = measure(bare)
                target.ratios.append(rate / ((before + after) / 2))
                before = after
            # The load generator must outrun the servers: a route doing next to nothing, on
            # the bare server, against the bare run just before it.
            ping.ratios.append(measure(ping) / before)
        worker_figures = measure_workers(args, urls, ports, env_for) if not args.no_redis else None
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        entra.stop()

    print(
        f"\nwrk -t1 -c{args.connections} -d{args.seconds}s, {args.rounds} rounds, bare and page runs interleaved, "
        f"uvicorn "
        f"{' '.join(UVICORN_FLAGS)}; {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}"
    )
    print(
        f"load generator check: a plain-text route of the bare app at {statistics.median(ping.rates):,.0f} req/s, "
        f"{statistics.median(ping.ratios):.1f}x the bare route run before it (median of {len(ping.ratios)} rounds)"
    )
    print(f"{'page':<40}{'req/s (median)':>16}{'ratio to bare (median)':>26}   ratios per round")
    for target in targets:
        print(
            f"{target.label:<40}{statistics.median(target.rates):>16,.0f}{statistics.median(target.ratios):>26.2f}"
            f"   {' '.join(f'{r:.2f}' for r in target.ratios)}"
        )
    if worker_figures:
        print_workers(*worker_figures)
    return 0


def print_workers(one: list[float], two: list[float]) -> None:
    # Each two-worker run against the mean of the one-worker runs before and after it.
    ratios = [t / ((one[i] + one[i + 1]) / 2) for i, t in enumerate(two)]
    print(
        f"signed-in home page on Redis, wrk -t2 -c32: 1 worker {statistics.median(one):,.0f} req/s, "
        f"2 workers {statistics.median(two):,.0f} req/s, ratio {statistics.median(ratios):.2f} "
        f"(per round: {' '.join(f'{r:.2f}' for r in ratios)})"
    )


def measure_workers(
    args: argparse.Namespace, urls: dict[str, str], ports: dict[str, int], env_for: Callable[[str, str], dict[str, str]]
) -> tuple[list[float], list[float]]:
    """One worker against two, served alike, on Redis, interleaved (one, two, one, ...,
    one); wrk gets two threads and 32 connections so that it can load two workers."""
    servers = [
        start_server("app:app", ports["redis1"], {**env_for("redis1", REDIS_URL), "WEB_CONCURRENCY": "1"}, workers=1),
        start_server("app:app", ports["redis2"], {**env_for("redis2", REDIS_URL), "WEB_CONCURRENCY": "2"}, workers=2),
    ]
    one: list[float] = []
    two: list[float] = []
    try:
        cookies = {name: signed_in_cookie(urls[name]) for name in ("redis1", "redis2")}

        def rate(name: str, seconds: int) -> float:
            command = ["wrk", "-t2", "-c32", f"-d{seconds}s", "-H", f"Cookie: {cookies[name]}", urls[name] + "/"]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            if "Non-2xx or 3xx responses" in output:
                raise RuntimeError(f"wrk saw failures:\n{output}")
            match = re.search(r"Requests/sec:\s+([\d.]+)", output)
            assert match, output
            return float(match.group(1))

        rate("redis1", 1), rate("redis2", 1)  # warm-up
        one.append(rate("redis1", args.seconds))
        for _ in range(args.rounds):  # one, two, one, two, ..., one
            two.append(rate("redis2", args.seconds))
            one.append(rate("redis1", args.seconds))
    finally:
        for process in servers:
            process.terminate()
            process.wait(timeout=10)
    return one, two


if __name__ == "__main__":
    sys.exit(main())
