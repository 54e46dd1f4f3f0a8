"""gunicorn for secure_auth behind nginx: uvicorn workers; SIGHUP replaces every worker
without closing the listening socket, SIGTERM stops within SHUTDOWN_GRACE_SECONDS.

    gunicorn --config deploy/gunicorn.conf.py --bind 127.0.0.1:8001 app:app

The settings are checked here, at start-up and at every reload, so a configuration error
stops with one line instead of workers failing to boot one after another. They are read
in a child process: the master forks every worker from itself, and a module it imported
would be the old version in the workers of every later reload.
"""

import json
import math
import subprocess
import sys

_CHECK = """
import json, sys
from secure_auth.config import ConfigError, load_settings
try:
    s = load_settings()
except ConfigError as exc:
    sys.exit(f"Configuration error: {exc}")
print(json.dumps([s.web_concurrency, s.shutdown_grace_seconds]))
"""
# Its warnings and its one-line error go straight to stderr (the journal).
_checked = subprocess.run([sys.executable, "-c", _CHECK], stdout=subprocess.PIPE, text=True, timeout=60)
if _checked.returncode != 0:
    raise SystemExit(2)
_workers, _grace = json.loads(_checked.stdout)

# uvicorn_worker's worker, stopped so that a request already sent to it is never reset.
worker_class = "secure_auth.web.gunicorn_worker.GracefulUvicornWorker"
workers = _workers
bind = ["127.0.0.1:8001"]
# A stopping worker finishes its requests for this long, then is killed.
graceful_timeout = math.ceil(_grace)
# A worker that stops answering gunicorn's heartbeat for this long is replaced.
timeout = 60
# Not preloaded: each worker imports the app itself, so a reload (SIGHUP) loads new code
# (all of it but secure_auth/web/gunicorn_worker.py, the worker class: restart for that).
preload_app = False
# Reloads and stops come as signals (systemd's ExecReload, KillMode): no control socket.
control_socket_disable = True
# Error log to stderr (the journal). No access log here: nginx keeps one.
errorlog = "-"
accesslog = None
