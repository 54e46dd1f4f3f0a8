"""`python -m tests.support.plain_supervisor PORT WORKERS GRACE`: the supervisor, as run.py
builds it, serving tests/support/plain_app.py (no settings, no identity provider)."""

from __future__ import annotations

import logging
import os
import sys

from secure_auth.serving.sockets import listening_sockets
from secure_auth.serving.supervisor import Supervisor
from secure_auth.serving.workers import Launch
from tests.support.processes import ROOT


def main() -> int:
    port, workers, grace = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    worker = ("-P", "-m", "secure_auth.web.worker", "tests.support.plain_app:app", "--no-access-log")
    command = (sys.executable, *worker, "--grace", str(grace))
    launch = Launch(command, {**os.environ, "PYTHONPATH": str(ROOT)}, grace)
    return Supervisor(listening_sockets("127.0.0.1", port, workers), lambda: launch).run()


if __name__ == "__main__":
    sys.exit(main())
