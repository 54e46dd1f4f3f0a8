"""Reloads and restarts of each back end while people use the site through nginx: a reload
(the units' ExecReload, SIGHUP) loses no request at all, GET or POST; a rolling stop and
start of both back ends (SIGTERM as systemd sends it) signs nobody out and loses no GET."""

from __future__ import annotations

import pytest

from tests.browser.test_whole_site import sign_in_at_the_idp
from tests.conftest import ADELE
from tests.deploy.traffic import Traffic
from tests.support.deploy_processes import wait_for
from tests.support.deploy_stack import Stack

pytestmark = [pytest.mark.deploy]


def reloaded(stack: Stack, name: str, people) -> Traffic:
    back_end = stack.back_ends[name]
    workers = back_end.workers()
    with Traffic(people) as traffic:
        traffic.run_until(40)
        back_end.reload()
        # Every worker replaced, on the same socket (the master keeps it throughout).
        wait_for(
            lambda: workers.isdisjoint(back_end.workers()) and len(back_end.workers()) >= 2,
            f"{name}'s reload",
            process=back_end.process,
        )
        back_end.wait_ready()
        replaced = traffic.count()
        traffic.run_until(replaced + 80)
    assert back_end.process is not None and back_end.process.poll() is None, f"{name}'s master exited"
    return traffic


@pytest.mark.parametrize("name", ["gunicorn", "run.py"])
def test_a_reload_under_traffic_loses_no_get_and_no_post(stack, people, name):
    traffic = reloaded(stack, name, people)
    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.answered("GET") >= 50 and traffic.answered("POST") >= 50
    # The reloaded back end answered its share, before and after the reload.
    answered = stack.upstreams()
    served = [answered.get(o.request_id or "") for o in traffic.outcomes]
    assert served.count(name) >= 20, served


def test_a_rolling_stop_and_start_signs_nobody_out_and_loses_no_get(stack, people, chromium):
    from playwright.sync_api import expect

    context = chromium.new_context()
    page = context.new_page()
    page.goto(stack.base_url + "/auth/login")
    sign_in_at_the_idp(page, ADELE.username, ADELE.password)
    expect(page.get_by_test_id("user-name")).to_have_text(ADELE.name)
    with Traffic(people, posts=False) as traffic, stack.browser() as probe:
        for name in ("gunicorn", "run.py"):
            back_end = stack.back_ends[name]
            traffic.run_until(traffic.count() + 20)
            # SIGTERM, as systemd stops the unit: it finishes what it has and exits by itself.
            assert back_end.stop() == 0, f"{name} did not exit cleanly within TimeoutStopSec"
            traffic.run_until(traffic.count() + 40)  # the other back end carries everyone
            back_end.start()
            # nginx tries a back end it found refusing again after fail_timeout (3 s).
            wait_for(lambda b=back_end: stack.served_by(probe.get("/health")) == b.name, f"nginx using {name} again")
            page.reload()
            expect(page.get_by_test_id("user-name")).to_have_text(ADELE.name)
    assert traffic.failures == [], traffic.failures[:5]
    for person in people:
        assert person.get("/me").status_code == 200
    context.close()
