"""Side-by-side measurements, in one run:

1. requests per second of the signed-in home page with the full stack (middleware,
   session lookup, templates) against the same template rendered by a bare FastAPI route,
   each served by one uvicorn process, in interleaved rounds;
2. the wall time of a full sign-in against local_entra (login redirect, IdP page, form
   post, callback with the token request and id_token validation), and how many
   back-channel requests the IdP saw per sign-in.

    .venv/bin/python bench/bench_pages.py [--requests 3000] [--concurrency 16] [--rounds 3]

Figures are ratios and medians from this one run; they are not asserted anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_speed import start_server  # noqa: E402
from local_entra import DEMO_USERS, ClientRegistration, LocalEntra, LocalEntraConfig  # noqa: E402
from tests.support.browser import Browser  # noqa: E402
from tests.support.processes import entra_env  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

CLIENT_ID = "b3a7c0de-0000-4000-8000-00000000bench"
BEN = next(u for u in DEMO_USERS if u.username.startswith("ben"))


async def load(url: str, cookies: dict[str, str], total: int, concurrency: int) -> float:
    """Requests per second for `total` GETs with `concurrency` connections."""
    remaining = total
    failures = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(cookies=cookies, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal remaining, failures
            while remaining > 0:
                remaining -= 1
                response = await client.get(url)
                if response.status_code != 200:
                    failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{failures} requests to {url} failed")
    return total / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sign-ins", type=int, default=30)
    args = parser.parse_args()

    app_port, bare_port = free_port(), free_port()
    base_url = f"http://127.0.0.1:{app_port}"
    client = ClientRegistration(CLIENT_ID, [base_url + "/auth/callback"], [base_url + "/auth/signed-out"])
    state_dir = Path(tempfile.mkdtemp(prefix="bench-entra-"))
    entra = LocalEntra(LocalEntraConfig([client], list(DEMO_USERS), state_dir=state_dir)).start()
    env = entra_env(
        entra,
        CLIENT_ID,
        PUBLIC_BASE_URL=base_url,
        LOG_LEVEL="WARNING",
        SESSION_SECRET_KEY="bench-" + "k" * 40,
        # Rate limits stay on, with limits high enough not to trip.
        RATE_LIMIT_DEFAULT="100000000/minute",
        RATE_LIMIT_AUTH="100000000/minute",
    )
    processes = [start_server("app:app", app_port, env), start_server("bench.bare_app:app", bare_port, env)]
    try:
        # --- sign-in timing ---
        Browser(base_url).sign_in(BEN.username, BEN.password)  # warm: discovery and keys fetched once
        back_channel = ("discovery", "keys", "token")
        before = {name: entra.counters[name] for name in back_channel}
        durations = []
        for _ in range(args.sign_ins):
            browser = Browser(base_url)
            started = time.perf_counter()
            landed = browser.sign_in(BEN.username, BEN.password)
            durations.append(time.perf_counter() - started)
            assert landed.status_code == 303, landed.text
            browser.close()
        per_sign_in = {name: (entra.counters[name] - before[name]) / args.sign_ins for name in back_channel}

        # --- pages ---
        browser = Browser(base_url)
        browser.sign_in(BEN.username, BEN.password)
        cookies = {"session": browser.session_cookie or ""}
        page_before = {name: entra.counters[name] for name in back_channel}
        full, bare = [], []
        asyncio.run(load(base_url + "/", cookies, 300, args.concurrency))  # warm-up
        asyncio.run(load(f"http://127.0.0.1:{bare_port}/", {}, 300, args.concurrency))
        for _ in range(args.rounds):
            full.append(asyncio.run(load(base_url + "/", cookies, args.requests, args.concurrency)))
            bare.append(asyncio.run(load(f"http://127.0.0.1:{bare_port}/", {}, args.requests, args.concurrency)))
        idp_during_pages = {name: entra.counters[name] - page_before[name] for name in back_channel}
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        entra.stop()

    full_rps, bare_rps = statistics.median(full), statistics.median(bare)
    print(
        f"signed-in home page, full stack : {full_rps:8.0f} req/s (median of {args.rounds} rounds: "
        + ", ".join(f"{r:.0f}" for r in full)
        + ")"
    )
    print(f"same template, bare route       : {bare_rps:8.0f} req/s (" + ", ".join(f"{r:.0f}" for r in bare) + ")")
    print(f"ratio full / bare               : {full_rps / bare_rps:8.2f}")
    print(f"IdP requests during page load   : {idp_during_pages}")
    print(
        f"full sign-in against local_entra: median {statistics.median(durations) * 1000:.1f} ms, "
        f"p90 {sorted(durations)[int(len(durations) * 0.9) - 1] * 1000:.1f} ms over {args.sign_ins}"
    )
    print(f"IdP back-channel requests per warm sign-in: {per_sign_in}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
