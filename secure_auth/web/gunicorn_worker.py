"""gunicorn's worker class for this app (deploy/gunicorn.conf.py): uvicorn_worker's worker,
stopped the way run.py's workers stop (secure_auth.web.worker).

gunicorn sends SIGTERM to each old worker on a reload (SIGHUP to the master, which keeps
the listening socket and starts new workers on it) and to every worker on a stop. The
worker then stops accepting, waits a moment for requests already on their way, and lets
requests in flight finish within the grace (gunicorn's graceful_timeout, which
deploy/gunicorn.conf.py sets from SHUTDOWN_GRACE_SECONDS). uvicorn_worker's own worker
closes at once a connection it accepted just before the stop whose request it has not read
yet: nginx has already sent a POST on it, cannot send it again, and answers 502.

gunicorn's master imports this module (and deploy/gunicorn.conf.py) and forks every worker
from itself, so a module the master has imported is the version the master started with,
in every worker of every reload. This module therefore imports none of the app's code at
the top: the workers import it, fresh from disk, when they start.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any, ClassVar

import uvicorn
from gunicorn.arbiter import Arbiter
from uvicorn_worker import UvicornWorker


class GracefulUvicornWorker(UvicornWorker):
    # uvicorn's own X-Forwarded-For handling off (it trusts 127.0.0.1 by default): the app
    # believes forwarded headers from FORWARDED_ALLOW_IPS alone.
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {**UvicornWorker.CONFIG_KWARGS, "proxy_headers": False}

    def run(self) -> None:
        from secure_auth.web.worker import requests_grace  # in the worker: today's code

        grace = float(self.cfg.graceful_timeout)
        self.config.app = self.wsgi
        # uvicorn annotates it int; it is handed to asyncio.wait_for, which takes any number.
        self.config.timeout_graceful_shutdown = requests_grace(grace)
        server = uvicorn.Server(self.config)
        with asyncio.Runner(loop_factory=self.config.get_loop_factory()) as runner:
            runner.run(self._serve_until_stopped(server, grace))
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)

    async def _serve_until_stopped(self, server: uvicorn.Server, grace: float) -> None:
        # SIGQUIT is gunicorn's quick shutdown: stop now, finishing nothing.
        def quit_now() -> None:
            server.should_exit = server.force_exit = True

        from secure_auth.web.worker import Stopping, serve, settle_seconds

        asyncio.get_running_loop().add_signal_handler(signal.SIGQUIT, quit_now)
        await serve(server, self.sockets, Stopping(settle_seconds(grace)))
