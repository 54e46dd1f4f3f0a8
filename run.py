"""Entry point.

python run.py                 serve the app as configured by the environment / .env
python run.py --demo          serve it against the bundled local Entra stand-in
python run.py --workers 4     several worker processes (configure shared stores first) under a
                              supervisor: `kill -HUP <pid>` reloads them one by one, `kill -TERM
                              <pid>` stops them, letting requests finish (SHUTDOWN_GRACE_SECONDS)
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from secure_auth.config import ConfigError, Settings, load_settings
from secure_auth.operations.logs import configure_logging
from secure_auth.serving.sockets import listening_sockets
from secure_auth.serving.supervisor import Supervisor
from secure_auth.serving.workers import Launch
from secure_auth.web import worker

ROOT = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Secure Entra ID sign-in for a server-rendered FastAPI app")
    parser.add_argument("--demo", action="store_true", help="run against the local Entra stand-in (no Azure needed)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    return parser.parse_args(argv)


def listen_or_explain(host: str, port: int, count: int = 1) -> list[socket.socket] | None:
    """`count` listening sockets on the port (one per worker), or None after one line saying
    the port is taken and how to choose another (uvicorn's own message is a bare `[Errno 98]`)."""
    try:
        return listening_sockets(host, port, count)
    except OSError as exc:
        reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
        message = f"error: port {port} on {host} {reason}: stop what uses it, or choose another with --port"
        print(message, file=sys.stderr)
        return None


def serve(app: Callable[..., Any], sock: socket.socket, grace: float) -> None:
    """One process: SIGTERM or Ctrl+C lets requests in flight finish within `grace` seconds."""
    worker.run(app, [sock], grace=grace)


def run_demo(args: argparse.Namespace) -> int:
    from app import create_app
    from local_entra import DEMO_CLIENT_ID, LocalEntra, demo_config

    sockets = listen_or_explain("127.0.0.1", args.port)
    if sockets is None:
        return 2
    base_url = f"http://localhost:{args.port}"
    config = demo_config(
        redirect_uri=f"{base_url}/auth/callback",
        post_logout_redirect_uri=f"{base_url}/auth/signed-out",
        state_dir=ROOT / ".local_entra",
    )
    try:
        entra = LocalEntra(config).start()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        settings = load_settings(
            entra_client_id=DEMO_CLIENT_ID,
            entra_tenant_id=entra.tenant_id,
            entra_authority_host=entra.authority_host,
            entra_oidc_authority="",
            entra_client_secret=None,
            entra_client_certificate=None,
            entra_client_assertion_file=None,
            azure_federated_token_file=None,  # a pod's workload identity must not make the demo confidential
            entra_ca_bundle=entra.ca_bundle_path,
            entra_allowed_tenants="",
            public_base_url=base_url,
            graph_base_url=entra.authority_host,  # local_entra serves a Graph /v1.0/me too
            api_base_url="",
            app_env="development",
            # A newcomer clicking around must not meet the production-minded defaults.
            rate_limit_default="5000/hour",
            rate_limit_auth="60/minute",
            # The admin page steps up to this authentication context (local_entra asks to approve).
            admin_auth_context="c1",
        )
        print(_demo_banner(base_url, entra, config.users), flush=True)
        serve(create_app(settings), sockets[0], settings.shutdown_grace_seconds)
    finally:
        entra.stop()
    return 0


def _demo_banner(base_url: str, entra: object, users: list) -> str:
    lines = [
        "",
        "  Demo mode: the app signs in against local_entra, a local Entra ID stand-in.",
        f"  Open {base_url} and sign in as one of:",
    ]
    for user in users:
        roles = f"  roles: {', '.join(user.roles)}" if user.roles else ""
        lines.append(f"    {user.username:<28} password: {user.password}{roles}")
    front_url = getattr(entra, "front_url", "")
    lines += [
        "",
        "  The admin page steps up to authentication context c1: local_entra asks you to approve.",
        f"  Continuous access evaluation: revoke a user's sessions at {front_url}/_local_entra/sessions,",
        "  then open the profile page again.",
        "",
    ]
    return "\n".join(lines)


def settings_for_port(port: int) -> tuple[Settings, dict[str, str]]:
    """The settings, and what the workers' environment needs on top of this process's:
    without PUBLIC_BASE_URL, the app is the address this process serves, not another app's
    port 8000. (Read again at each reload, so a PUBLIC_BASE_URL added to .env counts.)"""
    settings = load_settings()
    if "public_base_url" in settings.model_fields_set:
        return settings, {}
    base_url = f"http://localhost:{port}"
    return load_settings(public_base_url=base_url), {"PUBLIC_BASE_URL": base_url}


def supervise(
    host: str,
    port: int,
    workers: int,
    worker_options: Sequence[str] = (),
    read: tuple[Settings, dict[str, str]] | None = None,
) -> int:
    """Worker processes, each building app:app from the environment, under the supervisor
    (secure_auth/serving/supervisor.py): one listening socket per worker. `read`: the
    settings main() has just read (a reload reads them again)."""
    sockets = listen_or_explain(host, port, workers)
    if sockets is None:
        return 2
    environment = dict(os.environ)
    # The workers import what this process imported, wherever it was started from.
    python_path = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
    first = [read] if read is not None else []

    def plan() -> Launch:
        settings, extra = first.pop() if first else settings_for_port(port)
        configure_logging(settings.log_level, settings.log_format)
        grace = settings.shutdown_grace_seconds
        command = (sys.executable, "-P", "-m", "secure_auth.web.worker", "app:app", "--grace", str(grace))
        env = {**environment, **extra, "PYTHONPATH": python_path}
        return Launch((*command, *worker_options), env, grace)

    try:
        return Supervisor(sockets, plan).run()
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The workers read it too: with the memory store, several workers is the classic
    # "state mismatch" trap, and the settings warn about it.
    os.environ["WEB_CONCURRENCY"] = str(args.workers)
    if args.demo:
        return run_demo(args)
    try:
        settings, extra = settings_for_port(args.port)
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    public_port = urlsplit(settings.base_url).port or (443 if settings.uses_https else 80)
    if public_port != args.port and not settings.forwarded_allow_list:
        logging.getLogger("secure_auth").warning(
            "PUBLIC_BASE_URL is %s (port %d) but this app listens on port %d, with no proxy in front "
            "(FORWARDED_ALLOW_IPS is empty): sign-in would send people to port %d. Set PUBLIC_BASE_URL "
            "to the address people use",
            settings.base_url, public_port, args.port, public_port,
        )  # fmt: skip
    if args.workers > 1:
        return supervise(args.host, args.port, args.workers, read=(settings, extra))
    sockets = listen_or_explain(args.host, args.port)
    if sockets is None:
        return 2
    from app import create_app

    serve(create_app(settings), sockets[0], settings.shutdown_grace_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
