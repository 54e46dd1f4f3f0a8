"""gunicorn for secure_auth behind nginx: uvicorn workers; SIGHUP replaces every worker
without closing the listening socket, SIGTERM stops within SHUTDOWN_GRACE_SECONDS.

    gunicorn --config deploy/gunicorn.conf.py --bind 127.0.0.1:8001 app:app

The settings are read (and checked) here, in the master, so a configuration error stops
start-up with one line instead of workers failing to boot one after another.
"""

import math
import sys

from secure_auth.config import ConfigError, load_settings

try:
    _settings = load_settings()
except ConfigError as exc:
    print(f"Configuration error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None

# uvicorn_worker's worker, stopped so that a request already sent to it is never reset.
worker_class = "secure_auth.web.gunicorn_worker.GracefulUvicornWorker"
workers = _settings.web_concurrency
bind = ["127.0.0.1:8001"]
# A stopping worker finishes its requests for this long, then is killed.
graceful_timeout = math.ceil(_settings.shutdown_grace_seconds)
# A worker that stops answering gunicorn's heartbeat for this long is replaced.
timeout = 60
# Not preloaded: each worker imports the app itself, so a reload (SIGHUP) loads new code.
preload_app = False
# Reloads and stops come as signals (systemd's ExecReload, KillMode): no control socket.
control_socket_disable = True
# Error log to stderr (the journal). No access log here: nginx keeps one.
errorlog = "-"
accesslog = None
