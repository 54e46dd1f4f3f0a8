"""Issue 10: anyone can flood /auth/login, and nobody is blocked from signing in.

20,000 abandoned sign-ins from 2,000 addresses, each in a network of its own (IPv4 /24s and
IPv6 /64s), forwarded through a trusted proxy address and each under the sign-in rate
limit, against the memory store and against Redis. A person who was half-way through a
sign-in when the flood began, and one who starts after it, both sign in in a real Chromium.
What the flood cost the server is written to test-artifacts/flood-<store>.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

from secure_auth.stores.base import MAX_FLOW_BACKUPS
from tests.browser.test_chromium import ARTIFACTS, chromium  # noqa: F401 - the fixture
from tests.conftest import ADELE, BEN
from tests.integration.test_redis_store import PrivateRedis

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
FLOOD_REQUESTS = 20_000
FLOOD_ADDRESSES = 2_000


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def flood(base_url: str) -> dict[str, int]:
    host, port = base_url.removeprefix("http://").split(":")
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.flood", host, port, str(FLOOD_REQUESTS), str(FLOOD_ADDRESSES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(done.stdout)


def sign_in_at_the_idp(page, username: str, password: str) -> None:
    page.get_by_label("Email or username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_a_flood_of_abandoned_sign_ins_blocks_nobody(store, extra_app, chromium):  # noqa: F811
    from playwright.sync_api import expect

    private = PrivateRedis() if store == "redis" else None
    overrides: dict[str, str] = {}
    if private is not None:
        private.start()
        overrides = {"session_store_url": private.url, "redis_key_prefix": f"flood-{uuid.uuid4().hex[:6]}:"}
    try:
        server = extra_app(forwarded_allow_ips="127.0.0.1", rate_limit_auth="20/minute", **overrides)
        redis_client = redis.Redis.from_url(private.url) if private else None
        redis_before = redis_client.info("memory")["used_memory"] if redis_client else 0

        # Adele is at the IdP's sign-in page when the flood begins.
        adele = chromium.new_context()
        adele_page = adele.new_page()
        adele_page.goto(server.base_url + "/auth/login?next=/me")
        expect(adele_page.get_by_label("Email or username")).to_be_visible()

        rss_before = rss_bytes()
        statuses = flood(server.base_url)
        assert statuses == {"303": FLOOD_REQUESTS}, statuses  # every one a real, abandoned sign-in

        report: dict[str, object] = {
            "store": store,
            "abandoned_sign_ins": FLOOD_REQUESTS,
            "addresses": FLOOD_ADDRESSES,
            "process_rss_growth_mib": round((rss_bytes() - rss_before) / 2**20, 1),
        }
        if redis_client is not None:
            prefix = overrides["redis_key_prefix"]
            backups = redis_client.zcard(prefix + "flows")
            growth = redis_client.info("memory")["used_memory"] - redis_before
            report.update(
                redis_used_memory_growth_mib=round(growth / 2**20, 1),
                redis_keys=redis_client.dbsize(),
                backups_kept=backups,
            )
        else:
            backups = len(server.services.state_store)
            report["backups_kept"] = backups
        assert backups <= MAX_FLOW_BACKUPS, report
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"flood-{store}.json").write_text(json.dumps(report, indent=2))
        print(report)

        # Adele finishes the sign-in she began before the flood: her flow was in her cookie.
        sign_in_at_the_idp(adele_page, ADELE.username, ADELE.password)
        expect(adele_page.locator("body")).to_contain_text(ADELE.username)
        adele.close()

        # Ben starts one now, from the home page, and signs in as anyone would.
        ben = chromium.new_context()
        page = ben.new_page()
        page.goto(server.base_url + "/")
        page.get_by_role("main").get_by_role("link", name="Sign in").click()
        sign_in_at_the_idp(page, BEN.username, BEN.password)
        expect(page.get_by_test_id("user-name")).to_have_text(BEN.name)
        ben.close()
        if redis_client is not None:
            redis_client.close()
    finally:
        if private is not None:
            private.stop()
