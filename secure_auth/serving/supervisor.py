"""The supervisor: N worker processes, where worker slot i always serves listening socket i.

- SIGHUP reloads, slot by slot: the launch (command, environment, grace) is decided again,
  so a configuration error refuses the reload in one line; then for each slot a new worker
  starts on the slot's socket, and once it reports ready the old one gets SIGTERM and
  finishes its requests within its grace. A new worker that fails to start ends the
  reload, and the workers serving keep serving.
- SIGTERM or SIGINT stops: every worker gets SIGTERM, the supervisor closes its own copies
  of the sockets (the port closes once the workers stop accepting), waits up to the grace,
  kills the stragglers and returns 0. A second SIGINT kills at once.
- A worker that exits on its own is started again: at once after a long life, after a
  backoff growing from 0.5 s to 30 s while its slot's workers keep dying young.

The supervisor holds every socket open, so while a slot's worker is replaced or
restarted, new connections wait in that socket's queue; none is refused. Only a slot
whose workers keep dying young (a crash loop) has its socket closed, so that its share of
new connections goes to the other workers: its next worker gets a socket that is bound
but not listening, and joins the rotation when its app has started.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from types import FrameType

from secure_auth.serving.sockets import is_listening, unlistened_copy
from secure_auth.serving.workers import Launch, Worker

logger = logging.getLogger("secure_auth.serving")

START_TIMEOUT = 60.0  # seconds a new worker has to report ready
STABLE_AFTER = 30.0  # a worker that lived this long was no crash loop
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0
CRASH_LOOP = 2  # young deaths in a row that take a slot out of the rotation
TICK = 0.25


class Supervisor:
    def __init__(self, sockets: Sequence[socket.socket], plan: Callable[[], Launch]) -> None:
        """`sockets`: one per worker slot. `plan`: how to start workers, asked at start-up
        and at each reload; it raises (with a one-line message) to refuse a reload."""
        self.sockets = list(sockets)
        self.plan = plan
        count = len(self.sockets)
        self.slots: list[Worker | None] = [None] * count
        self.others: list[Worker] = []  # not in a slot: starting for a reload, or stopping
        self.restart_at = [0.0] * count
        self.streaks = [0] * count  # workers of the slot that died young, in a row
        self.reload_wanted = self.stop_wanted = self.kill_now = False
        self._wakeup = -1

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; 0 then, 1 if the first workers could not start."""
        self.launch = self.plan()
        with self._signals():
            started = self._start_all()
            while started and not self.stop_wanted:
                self._tick(TICK)
                self._tend()
                if self.reload_wanted and not self.stop_wanted:
                    self.reload_wanted = False
                    self._reload()
            self._stop_all()
        return 0 if started else 1

    # ----- start, reload, stop -----

    def _start_all(self) -> bool:
        workers = [Worker(slot, sock, self.launch) for slot, sock in enumerate(self.sockets)]
        self.slots = list(workers)
        deadline = time.monotonic() + START_TIMEOUT
        while not all(worker.ready for worker in workers):
            for worker in workers:
                problem = None if worker.ready else self._not_starting(worker, deadline)
                if problem is not None:
                    logger.error("worker %d %s: stopping", worker.slot, problem)
                    return False
            if self.stop_wanted:
                return True
            self._tick(TICK)
        logger.info("%d workers serving on %s (pids %s)", len(workers), self._address(), self._pids())
        return True

    def _reload(self) -> None:
        try:
            launch = self.plan()
        except Exception as exc:  # the plan's own one-line reason, such as a ConfigError
            logger.error("reload refused, the workers keep serving as they were: %s", exc)
            return
        logger.info("reloading %d workers", len(self.slots))
        for slot in range(len(self.slots)):
            try:
                new = Worker(slot, self.sockets[slot], launch)
            except OSError as exc:
                logger.error("reload failed: worker %d could not be started (%s)", slot, exc)
                return
            self.others.append(new)
            problem = self._wait_ready(new)
            if problem is not None:
                self._discard(new)
                if not self.stop_wanted:
                    serving = "the workers keep serving as they were"
                    if slot > 0:
                        serving = f"workers 0-{slot - 1} serve the new code and settings, the others the old"
                    logger.error("reload failed: the new worker %d %s; %s", slot, problem, serving)
                return
            self.launch = launch  # a worker ran with it: restarts use it too
            self.others.remove(new)
            old, self.slots[slot] = self.slots[slot], new
            self.streaks[slot] = 0
            if old is not None:
                self._retire(old)
        logger.info("reloaded: %d workers serving (pids %s)", len(self.slots), self._pids())

    def _stop_all(self) -> None:
        self.others += [worker for worker in self.slots if worker is not None]
        self.slots = [None] * len(self.slots)
        grace = max((worker.launch.grace for worker in self.others), default=0)
        logger.info("stopping: %d workers have up to %g s to finish their requests", len(self.others), grace)
        for worker in self.others:
            worker.stop()
        for sock in self.sockets:
            sock.close()  # the workers' copies close as they stop accepting: then the port does
        while self.others:
            if self.kill_now:
                for worker in self.others:
                    worker.signal(signal.SIGKILL)
            self._tick(0.1)
        logger.info("stopped")

    # ----- the workers -----

    def _wait_ready(self, worker: Worker) -> str | None:
        """None once `worker` is ready, else why it is not (while waiting, the other slots
        are tended as usual)."""
        deadline = time.monotonic() + START_TIMEOUT
        while not worker.ready:
            if self.stop_wanted:
                return "was stopped before it was ready"
            problem = self._not_starting(worker, deadline)
            if problem is not None:
                return problem
            self._tick(TICK)
            self._tend()
        return None

    def _not_starting(self, worker: Worker, deadline: float) -> str | None:
        if (worker.ready_fd is None and not worker.ready) or worker.exit_code is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(timeout=5)  # its pipe closed: it is on its way out
            return f"{worker.describe_exit()} before it was ready (its own output says why)"
        if time.monotonic() > deadline:
            return f"was not ready within {START_TIMEOUT:.0f} s"
        return None

    def _retire(self, worker: Worker) -> None:
        worker.stop()
        self.others.append(worker)

    def _discard(self, worker: Worker) -> None:
        worker.signal(signal.SIGKILL)
        worker.process.wait()
        worker.close()
        self.others.remove(worker)

    def _tend(self) -> None:
        """Start again the slots whose worker exited, with a backoff while they die young."""
        now = time.monotonic()
        for slot, worker in enumerate(self.slots):
            if worker is not None and worker.exit_code is not None:
                self.slots[slot] = None
                worker.close()
                young = not worker.ready or now - worker.started_at < STABLE_AFTER
                self.streaks[slot] = self.streaks[slot] + 1 if young else 0
                self.restart_at[slot] = now + backoff(self.streaks[slot])
                logger.error(
                    "worker %d (pid %d) %s: starting another in %.1f s",
                    slot, worker.pid, worker.describe_exit(), self.restart_at[slot] - now,
                )  # fmt: skip
                if self.streaks[slot] >= CRASH_LOOP:
                    self._out_of_rotation(slot)
            if self.slots[slot] is None and now >= self.restart_at[slot] and not self.stop_wanted:
                try:
                    self.slots[slot] = Worker(slot, self.sockets[slot], self.launch)
                except OSError as exc:
                    self.streaks[slot] += 1
                    self.restart_at[slot] = now + backoff(self.streaks[slot])
                    logger.error("worker %d could not be started (%s): trying again later", slot, exc)

    def _out_of_rotation(self, slot: int) -> None:
        sock = self.sockets[slot]
        if self.sockets.count(sock) > 1 or not is_listening(sock):
            return  # one socket shared by every slot (no SO_REUSEPORT), or already out
        try:
            self.sockets[slot] = unlistened_copy(sock)
        except OSError as exc:
            logger.error("worker %d keeps failing, and its socket stays in the rotation (%s)", slot, exc)
            return
        sock.close()
        logger.error(
            "worker %d keeps failing: its share of new connections goes to the other workers until one of "
            "its own is ready",
            slot,
        )

    def _tick(self, timeout: float) -> None:
        """Wait up to `timeout` for a signal or a ready byte; kill stopping workers past
        their grace, and forget those that have exited."""
        everyone = [worker for worker in self.slots if worker is not None] + self.others
        waiting = {worker.ready_fd: worker for worker in everyone if worker.ready_fd is not None}
        readable, _, _ = select.select([self._wakeup, *waiting], [], [], timeout)
        for fd in readable:
            if fd == self._wakeup:
                os.read(fd, 512)  # signal numbers: the handlers have set the flags
                continue
            worker = waiting[fd]
            worker.read_ready()
            if worker.ready:
                logger.info("worker %d ready (pid %d)", worker.slot, worker.pid)
        now = time.monotonic()
        for worker in list(self.others):
            if worker.stopping and worker.exit_code is not None:
                worker.close()
                self.others.remove(worker)
            elif worker.overdue(now):
                logger.warning(
                    "worker %d (pid %d) did not finish within %g s: killed",
                    worker.slot,
                    worker.pid,
                    worker.launch.grace,
                )
                worker.signal(signal.SIGKILL)
                worker.kill_at = math.inf

    def _pids(self) -> str:
        return ", ".join(str(worker.pid) for worker in self.slots if worker is not None)

    def _address(self) -> str:
        host, port = self.sockets[0].getsockname()[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    # ----- signals -----

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """Handlers only set flags; the signal number also lands on a pipe that _tick
        waits on, so a signal ends the wait at once."""
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        os.set_blocking(write_end, False)
        self._wakeup = read_end
        previous_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        handlers = {
            signal.SIGHUP: self._on_hangup,
            signal.SIGTERM: self._on_stop,
            signal.SIGINT: self._on_stop,
            signal.SIGCHLD: self._on_child,
        }
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous_fd)
            os.close(read_end)
            os.close(write_end)

    def _on_hangup(self, sig: int, frame: FrameType | None) -> None:
        self.reload_wanted = True

    def _on_stop(self, sig: int, frame: FrameType | None) -> None:
        if self.stop_wanted and sig == signal.SIGINT:
            self.kill_now = True
        self.stop_wanted = True

    def _on_child(self, sig: int, frame: FrameType | None) -> None:
        """Nothing to do here: the wake-up alone makes the next _tick notice the exit."""


def backoff(streak: int) -> float:
    """Seconds before a slot's next worker starts, after `streak` young deaths in a row."""
    return 0.0 if streak == 0 else min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (streak - 1))
