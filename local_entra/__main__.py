"""``python -m local_entra``: run the stand-in in the foreground and print app settings."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .config import DEMO_CLIENT_ID, demo_config
from .runner import LocalEntra


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local_entra", description=__doc__)
    parser.add_argument("--redirect-uri", default="http://localhost:8000/auth/callback")
    parser.add_argument(
        "--post-logout-redirect-uri",
        default=None,
        help="default: the redirect URI's origin + '/'",
    )
    parser.add_argument("--https-port", type=int, default=9443)
    parser.add_argument("--http-port", type=int, default=9080)
    parser.add_argument("--state-dir", type=Path, default=Path(".local_entra"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    post_logout = args.post_logout_redirect_uri or _origin(args.redirect_uri) + "/"
    config = demo_config(args.redirect_uri, post_logout, state_dir=args.state_dir)
    try:
        entra = LocalEntra(config, https_port=args.https_port, http_port=args.http_port).start()
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"local_entra: {exc}", file=sys.stderr)
        return 1

    print("local_entra is running (a demo identity provider; loopback only).\n")
    print("Settings for the app:")
    print(f"  ENTRA_AUTHORITY_HOST={entra.authority_host}")
    print(f"  ENTRA_TENANT_ID={entra.tenant_id}")
    print(f"  ENTRA_CLIENT_ID={DEMO_CLIENT_ID}")
    print(f"  ENTRA_CA_BUNDLE={entra.ca_bundle_path.resolve()}")
    print(f"\nRedirect URI:             {args.redirect_uri}")
    print(f"Post-logout redirect URI: {post_logout}")
    print(f"Sign-in pages (browser):  {entra.front_url}")
    print(f"Graph stand-in (/v1.0/me): GRAPH_BASE_URL={entra.authority_host}")
    print(f"Revoke a user's sessions (CAE): {entra.front_url}/_local_entra/sessions")
    print("\nDemo users:")
    for user in config.users:
        roles = ", ".join(user.roles) or "no roles"
        print(f"  {user.username:<26} password {user.password:<12} {user.name} ({roles}; tenant {user.tid})")
    print("\nPress Ctrl+C to stop.", flush=True)

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        entra.stop()
    return 0


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


if __name__ == "__main__":
    raise SystemExit(main())
