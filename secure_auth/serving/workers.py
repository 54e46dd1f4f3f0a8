"""A worker process as the supervisor sees it: started on one listening socket, ready once
it says so on a pipe, asked to stop with a deadline after which it is killed."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Launch:
    """How to start workers, decided at start-up and again at each reload.

    `command` gets `--socket-fd N --ready-fd M` appended: the worker serves on the socket
    with that descriptor and writes one byte to the pipe once it serves (see
    secure_auth.web.worker)."""

    command: tuple[str, ...]
    env: Mapping[str, str]
    grace: float  # seconds a stopping worker gets before it is killed


class Worker:
    def __init__(self, slot: int, sock: socket.socket, launch: Launch) -> None:
        self.slot = slot
        self.launch = launch
        read_end, write_end = os.pipe()
        command = [*launch.command, "--socket-fd", str(sock.fileno()), "--ready-fd", str(write_end)]
        try:
            self.process = subprocess.Popen(command, env=dict(launch.env), pass_fds=(sock.fileno(), write_end))
        except OSError:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        self.ready_fd: int | None = read_end
        self.ready = False
        self.started_at = time.monotonic()
        self.kill_at: float | None = None  # set when asked to stop

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def exit_code(self) -> int | None:
        return self.process.poll()

    @property
    def stopping(self) -> bool:
        return self.kill_at is not None

    def read_ready(self) -> None:
        """Its ready byte arrived, or the pipe closed without one (it is exiting)."""
        if self.ready_fd is None:
            return
        self.ready = os.read(self.ready_fd, 1) == b"1"
        self.close()

    def stop(self) -> None:
        """SIGTERM: it stops accepting and finishes what it has within its grace."""
        if self.kill_at is None:
            self.kill_at = time.monotonic() + self.launch.grace
            self.signal(signal.SIGTERM)

    def overdue(self, now: float) -> bool:
        return self.kill_at is not None and now >= self.kill_at and self.exit_code is None

    def signal(self, sig: int) -> None:
        # Popen.send_signal does nothing once the process has been waited for, so a pid
        # the system has since given to another process is never signalled.
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(sig)

    def close(self) -> None:
        if self.ready_fd is not None:
            os.close(self.ready_fd)
            self.ready_fd = None

    def describe_exit(self) -> str:
        code = self.exit_code
        if code is None:
            return "is still running"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"was killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"
