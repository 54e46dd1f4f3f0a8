"""Operations figures, measured side by side in one run against local_entra:

1. /health latency while 12 sign-ins each wait 1.5 s on a slow token endpoint;
2. signed-in home page rate: two uvicorn workers on Redis against one worker on Redis;
3. the size of a real session record, and the memory of 10,000 sessions in the memory store;
4. 200 concurrent sign-ins of distinct users: identities, 5xx count, cross-overs.

    .venv/bin/python bench/bench_operations.py [--redis redis://127.0.0.1:6379/14]

Page rates use wrk when it is installed (apt-get install wrk), else a Python client.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from local_entra import DEMO_USERS, ClientRegistration, DemoUser, LocalEntra, LocalEntraConfig  # noqa: E402
from secure_auth.sessions.model import Session  # noqa: E402
from secure_auth.stores.memory import MemorySessionStore  # noqa: E402
from tests.support.browser import Browser, hidden_inputs  # noqa: E402
from tests.support.processes import entra_env  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

CLIENT_ID = "b3a7c0de-0000-4000-8000-0000000000b5"
SECRET_KEY = "Wm4pQ8sV1xK7tN3bR9yL2cH6fJ0dG5aZ"
BEN = next(u for u in DEMO_USERS if u.username.startswith("ben"))


def bench_users(count: int, tenant_id: str) -> list[DemoUser]:
    return [
        DemoUser(
            username=f"user{i:03d}@contoso.example",
            password=f"pw-{i:03d}",
            name=f"Bench User {i:03d}",
            oid=str(uuid.uuid5(uuid.NAMESPACE_DNS, f"bench-user-{i}")),
            tid=tenant_id,
        )
        for i in range(count)
    ]


class App:
    """The app in its own uvicorn process(es) on `port` (the public URL the IdP knows)."""

    def __init__(self, env: dict[str, str], workers: int, port: int) -> None:
        self.port = port
        # The production entry point: run.py (several workers share one TCP_NODELAY socket).
        self.process = subprocess.Popen(
            [sys.executable, "run.py", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    time.sleep(0.5 * workers)  # let every worker finish starting
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("app did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def app_env(entra: LocalEntra, public_url: str, **extra: str) -> dict[str, str]:
    return entra_env(
        entra,
        CLIENT_ID,
        PUBLIC_BASE_URL=public_url,
        SESSION_SECRET_KEY=SECRET_KEY,
        RATE_LIMIT_DEFAULT="100000000/minute",
        RATE_LIMIT_AUTH="100000000/minute",
        LOG_LEVEL="WARNING",
        TRUSTED_HOSTS="127.0.0.1,localhost",
        **extra,
    )


def health_under_slow_sign_ins(entra: LocalEntra, app: App) -> dict[str, float]:
    browsers = [Browser(app.url) for _ in range(12)]
    callbacks = [b.authenticate(b.start_login(), BEN.username, BEN.password) for b in browsers]
    entra.slow_token_endpoint(1.5)
    probes: list[float] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=5) as client:
            while not done.is_set():
                started = time.perf_counter()
                assert client.get(app.url + "/health").status_code == 200
                probes.append(time.perf_counter() - started)
                time.sleep(0.02)

    prober = threading.Thread(target=probe)
    prober.start()
    started = time.perf_counter()
    threads = [threading.Thread(target=b.finish, args=(c,)) for b, c in zip(browsers, callbacks, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    done.set()
    prober.join()
    entra.slow_token_endpoint(0)
    signed_in = sum(b.get("/me").status_code == 200 for b in browsers)
    return {
        "sign_ins": signed_in,
        "sign_in_wall_s": elapsed,
        "probes": len(probes),
        "health_max_ms": max(probes) * 1000,
        "health_median_ms": statistics.median(probes) * 1000,
    }


def page_rate(url: str, cookie: str, seconds: int = 10) -> float:
    wrk = shutil.which("wrk")
    if wrk:
        out = subprocess.run(
            [wrk, "-t2", "-c32", f"-d{seconds}s", "-H", f"Cookie: session={cookie}", url + "/"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if non2xx:
            raise RuntimeError(f"{non2xx.group(1)} failed requests:\n{out}")
        return float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))

    async def run() -> float:
        count = 0
        deadline = time.perf_counter() + seconds
        async with httpx.AsyncClient(cookies={"session": cookie}) as client:

            async def worker() -> None:
                nonlocal count
                while time.perf_counter() < deadline:
                    assert (await client.get(url + "/")).status_code == 200
                    count += 1

            await asyncio.gather(*(worker() for _ in range(16)))
        return count / seconds

    return asyncio.run(run())


def session_sizes(app: App) -> dict[str, float]:
    """One real record (from a real sign-in, read back through Redis), and 10,000 copies in
    the memory store."""
    import redis

    browser = Browser(app.url)
    browser.sign_in(BEN.username, BEN.password)
    client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    key = next(k for k in client.scan_iter(match=os.environ["BENCH_PREFIX"] + "session:*"))
    raw = client.get(key)
    # The sealed token cache lies beside the record, under a key of its own.
    tokens = client.get(key.replace(b":session:", b":tokens:")) or b""

    async def fill() -> int:
        store = MemorySessionStore()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for i in range(10_000):
            # Each its own copy, as sessions read from a store are (none shares a string).
            copy = {**json.loads(raw), "token_cache": tokens.decode()}
            session = Session.from_record(f"s{i:05d}" + "x" * 38, copy)
            await store.set(session.id, session.to_record(), 3600)
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        return used

    used = asyncio.run(fill())
    return {
        "record_bytes": len(raw) + len(tokens),
        "page_view_bytes": len(raw),
        "token_cache_bytes": len(tokens),
        "cookie_bytes": len("session=") + len(browser.session_cookie or ""),
        "memory_10k_mb": used / 1e6,
    }


async def concurrent_sign_ins(app: App, users: list[DemoUser]) -> dict[str, int]:
    async def one(user: DemoUser) -> tuple[int, bool]:
        # Idle connections are dropped before uvicorn's 5-second keep-alive ends: on a slow
        # machine a sign-in's steps can be that far apart, and a request sent on a connection
        # the server is closing is lost ("Server disconnected without sending a response").
        limits = httpx.Limits(keepalive_expiry=2)
        async with httpx.AsyncClient(timeout=60, follow_redirects=False, limits=limits) as client:
            login = await client.get(app.url + "/auth/login")
            authorize = login.headers["location"]
            page = await client.get(authorize)
            fields = {**hidden_inputs(page.text), "username": user.username, "password": user.password}
            callback = (await client.post(authorize.split("?")[0], data=fields)).headers["location"]
            landed = await client.get(callback)
            me = await client.get(app.url + "/me")
            statuses = [login.status_code, page.status_code, landed.status_code, me.status_code]
            five_xx = sum(s >= 500 for s in statuses)
            own = me.status_code == 200 and me.json()["username"] == user.username and me.json()["oid"] == user.oid
            return five_xx, own

    results = await asyncio.gather(*(one(u) for u in users))
    return {
        "sign_ins": len(users),
        "own_identity": sum(own for _, own in results),
        "crossed_or_failed": sum(not own for _, own in results),
        "five_xx": sum(f for f, _ in results),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()

    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    state_dir = Path(tempfile.mkdtemp(prefix="bench-ops-"))
    users = bench_users(200, "7d1c4c3e-0f6a-4a4b-9c55-3b1f2f0d5a10")
    client = ClientRegistration(CLIENT_ID, [public_url + "/auth/callback"], [public_url + "/auth/signed-out"])
    entra = LocalEntra(LocalEntraConfig([client], [*DEMO_USERS, *users], state_dir=state_dir)).start()
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    os.environ["BENCH_REDIS_URL"], os.environ["BENCH_PREFIX"] = args.redis, prefix
    redis_env = app_env(entra, public_url, SESSION_STORE_URL=args.redis, REDIS_KEY_PREFIX=prefix)
    results: dict[str, object] = {}
    app: App | None = None
    try:
        app = App(app_env(entra, public_url), 1, port)  # one worker, memory store
        results["health"] = health_under_slow_sign_ins(entra, app)
        results["concurrent"] = asyncio.run(concurrent_sign_ins(app, users))
        app.stop()
        rates: dict[int, list[float]] = {}
        for workers in (1, 2, 1, 2):  # interleaved rounds, medians compared
            app = App(redis_env, workers, port)
            browser = Browser(app.url)
            browser.sign_in(BEN.username, BEN.password)
            if "sizes" not in results:
                results["sizes"] = session_sizes(app)
            rates.setdefault(workers, []).append(page_rate(app.url, browser.session_cookie or "", args.seconds))
            app.stop()
        results["rates"] = {w: statistics.median(r) for w, r in rates.items()}
    finally:
        if app is not None and app.process.poll() is None:  # a measurement failed half-way
            app.stop()
        entra.stop()
        import redis

        client_ = redis.Redis.from_url(args.redis)
        keys = list(client_.scan_iter(match=prefix + "*"))
        if keys:
            client_.delete(*keys)

    health = results["health"]
    print(
        f"/health while 12 sign-ins wait 1.5 s each: max {health['health_max_ms']:.1f} ms, median "
        f"{health['health_median_ms']:.1f} ms over {health['probes']} probes; {health['sign_ins']}/12 signed in "
        f"in {health['sign_in_wall_s']:.2f} s"
    )
    rates = results["rates"]
    print(
        f"signed-in home page on Redis: 1 worker {rates[1]:.0f} req/s, 2 workers {rates[2]:.0f} req/s, "
        f"ratio {rates[2] / rates[1]:.2f} ({'wrk' if shutil.which('wrk') else 'python client'}, {os.cpu_count()} cores)"
    )
    sizes = results["sizes"]
    print(
        f"session record {sizes['record_bytes']} bytes (token cache {sizes['token_cache_bytes']}, "
        f"read by a page view {sizes['page_view_bytes']}), cookie "
        f"{sizes['cookie_bytes']} bytes; 10,000 sessions in the memory store: {sizes['memory_10k_mb']:.1f} MB"
    )
    c = results["concurrent"]
    print(
        f"{c['sign_ins']} concurrent sign-ins of distinct users: {c['own_identity']} saw their own identity, "
        f"{c['crossed_or_failed']} crossed or failed, {c['five_xx']} responses were 5xx"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
