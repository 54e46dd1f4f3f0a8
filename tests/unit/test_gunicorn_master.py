"""What gunicorn's master loads of the app: nothing it would hand on, stale, to the workers
of a reload (it forks them from itself), and the graceful worker class."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What gunicorn's master does with the shipped configuration: run it, then load the worker class.
MASTER = """
import importlib, json, runpy, sys
config = runpy.run_path("deploy/gunicorn.conf.py")
module, _, name = config["worker_class"].rpartition(".")
getattr(importlib.import_module(module), name)
loaded = sorted(m for m in sys.modules if m == "secure_auth" or m.startswith("secure_auth."))
print(json.dumps({"worker_class": config["worker_class"], "loaded": loaded, "workers": config["workers"]}))
"""


def test_the_master_loads_no_app_code_so_a_reload_runs_the_code_on_disk():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENTRA_", "SESSION_", "APP_ENV"))}
    env.update(
        ENTRA_CLIENT_ID="6f1c2a9e-0000-4c1d-9a8b-123456789abc", ENTRA_TENANT_ID="contoso.example", WEB_CONCURRENCY="3"
    )
    done = subprocess.run([sys.executable, "-c", MASTER], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    master = json.loads(done.stdout)
    assert master["worker_class"] == "secure_auth.web.gunicorn_worker.GracefulUvicornWorker"
    assert master["workers"] == 3  # the settings were read (in a child process)
    assert master["loaded"] == ["secure_auth", "secure_auth.web", "secure_auth.web.gunicorn_worker"], master


def test_a_configuration_error_stops_the_master_with_one_line():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENTRA_", "SESSION_", "APP_ENV"))}
    done = subprocess.run([sys.executable, "-c", MASTER], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert "Configuration error: ENTRA_CLIENT_ID" in done.stderr
