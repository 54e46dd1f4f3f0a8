"""Entry point.

python run.py                 serve the app as configured by the environment / .env
python run.py --demo          serve it against the bundled local Entra stand-in
python run.py --workers 4     several worker processes (configure shared stores first)
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn

from secure_auth.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Secure Entra ID sign-in for a server-rendered FastAPI app")
    parser.add_argument("--demo", action="store_true", help="run against the local Entra stand-in (no Azure needed)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    return parser.parse_args(argv)


def listen_or_explain(host: str, port: int) -> socket.socket | None:
    """The listening socket, or None after one line saying the port is taken and how to choose
    another (uvicorn's own message is a bare `[Errno 98]`)."""
    try:
        return tcp_listener(host, port)
    except OSError as exc:
        reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
        message = f"error: port {port} on {host} {reason}: stop what uses it, or choose another with --port"
        print(message, file=sys.stderr)
        return None


def serve(app: object, sock: socket.socket, log_level: str = "info") -> None:
    # proxy_headers=False: uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1,
    # and any local client could pick its own address; FORWARDED_ALLOW_IPS decides that.
    config = uvicorn.Config(app, log_level=log_level, proxy_headers=False)  # type: ignore[arg-type]
    uvicorn.Server(config).run(sockets=[sock])


def run_demo(args: argparse.Namespace) -> int:
    from app import create_app
    from local_entra import DEMO_CLIENT_ID, LocalEntra, demo_config

    sock = listen_or_explain("127.0.0.1", args.port)
    if sock is None:
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
        )
        print(_demo_banner(base_url, entra, config.users), flush=True)
        serve(create_app(settings), sock)
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
    lines.append("")
    return "\n".join(lines)


def tcp_listener(host: str, port: int) -> socket.socket:
    """The listening socket, created with proto=IPPROTO_TCP: accepted connections inherit
    it, and asyncio turns on TCP_NODELAY only then. uvicorn's own --workers socket leaves
    proto at 0, which costs ~40 ms per keep-alive request on Linux (uvicorn issue #3149)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve_workers(sock: socket.socket, workers: int) -> None:
    """Several worker processes on one socket, each building its app from the environment."""
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config("app:app", workers=workers, proxy_headers=False)
    Multiprocess(config, sockets=[sock]).run()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The workers read it too: with the memory store, several workers is the classic
    # "state mismatch" trap, and the settings warn about it.
    os.environ["WEB_CONCURRENCY"] = str(args.workers)
    if args.demo:
        return run_demo(args)
    try:
        settings = load_settings()
        if "public_base_url" not in settings.model_fields_set:
            # Not configured: the address this process serves, not another app's port 8000.
            os.environ["PUBLIC_BASE_URL"] = f"http://localhost:{args.port}"
            settings = load_settings()
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
    sock = listen_or_explain(args.host, args.port)
    if sock is None:
        return 2
    if args.workers > 1:
        serve_workers(sock, args.workers)
        return 0
    from app import create_app

    serve(create_app(settings), sock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
