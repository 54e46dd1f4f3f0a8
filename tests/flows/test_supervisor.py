"""The supervisor's own behaviour, with a minimal app (tests/support/plain_app.py) in each
worker: a deploy whose workers cannot start, a crash loop, a request that outlives the
grace, a supervisor that is killed. run.py with the real app: tests/integration/
test_run_py_workers.py."""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.support.processes import ROOT, Served, refused
from tests.support.servers import free_port

CLOSE = {"connection": "close"}


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator:
    started: list[Served] = []

    def start(workers: int = 2, grace: float = 5) -> Served:
        port = free_port()
        env = {**os.environ, "PLAIN_APP_BROKEN": str(tmp_path / "broken"), "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "tests.support.plain_supervisor", str(port), str(workers), str(grace)]
        served = Served(command, env, tmp_path, port)
        started.append(served)
        served.wait_for("workers serving")
        return served

    yield start
    for served in started:
        served.stop()


def answering_pids(served: Served, requests: int = 30) -> set[int]:
    """The worker pids that answer new connections (every request must be answered)."""
    pids = set()
    for _ in range(requests):
        response = httpx.get(served.url, headers=CLOSE, timeout=10)
        assert response.status_code == 200
        pids.add(int(response.text))
    return pids


def test_a_deploy_whose_workers_cannot_start_leaves_the_old_ones_serving(supervisor, tmp_path):
    served = supervisor()
    before = served.worker_pids()
    assert answering_pids(served) == set(before)  # both sockets get connections

    (tmp_path / "broken").touch()  # the new code raises at import
    served.send(signal.SIGHUP)
    failed = served.wait_for("reload failed")
    assert len(failed) == 1 and "the new worker 0 exited with code 1 before it was ready" in failed[0], failed
    assert "the workers keep serving as they were" in failed[0]
    assert answering_pids(served) == set(before)
    assert not served.lines("reloaded")

    (tmp_path / "broken").unlink()
    served.send(signal.SIGHUP)
    served.wait_for("reloaded: 2 workers serving")
    after = served.worker_pids()
    assert not set(after) & set(before)
    deadline = time.monotonic() + 10
    while answering_pids(served, 10) != set(after):  # the old ones finish and leave
        assert time.monotonic() < deadline
    assert served.process.poll() is None


def test_a_crash_loop_backs_off_and_its_connections_go_to_the_other_worker(supervisor, tmp_path):
    served = supervisor()
    first, second = served.worker_pids()
    (tmp_path / "broken").touch()
    os.kill(first, signal.SIGKILL)  # its replacements cannot start: a crash loop
    served.wait_for("worker 0 keeps failing")
    # Out of the rotation: every new connection is served by the other worker, at once.
    assert answering_pids(served, 40) == {second}
    failures = served.wait_for(r"worker 0 .* starting another in", count=4, timeout=60)
    assert [float(re.findall(r"in ([\d.]+) s", line)[0]) for line in failures] == [0.5, 1.0, 2.0, 4.0]
    stamps = [datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f") for line in failures]
    assert (stamps[3] - stamps[2]).total_seconds() >= 2.0  # it did wait before the third attempt

    (tmp_path / "broken").unlink()
    ready = served.wait_for(r"worker 0 ready", count=2, timeout=30)
    back = int(re.search(r"pid (\d+)", ready[-1]).group(1))  # type: ignore[union-attr]
    deadline = time.monotonic() + 10
    while answering_pids(served, 20) != {back, second}:  # back in the rotation
        assert time.monotonic() < deadline


def test_a_request_that_outlives_the_grace_is_cut_and_the_supervisor_still_exits_0(supervisor):
    served = supervisor(grace=1.5)
    outcome: list[object] = []

    def slow_request() -> None:
        try:
            outcome.append(httpx.get(served.url + "/?seconds=30", headers=CLOSE, timeout=30).status_code)
        except httpx.TransportError as exc:
            outcome.append(exc)

    client = threading.Thread(target=slow_request)
    client.start()
    time.sleep(0.5)  # in flight
    sent = time.monotonic()
    served.send(signal.SIGTERM)
    assert served.process.wait(timeout=10) == 0
    assert time.monotonic() - sent < 1.5 + 1.0
    client.join(timeout=5)
    assert outcome and outcome[0] != 200  # cut at the grace, not answered after 30 s
    assert refused(served.port, within=1)


def test_workers_leave_when_their_supervisor_is_killed(supervisor):
    served = supervisor()
    pids = served.worker_pids()
    served.process.kill()
    served.process.wait()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in pids):
        assert time.monotonic() < deadline, "orphaned workers kept running"
        time.sleep(0.1)
    assert refused(served.port, within=2)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"
