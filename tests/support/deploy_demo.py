"""`./dev deploy-demo`: the deployment test's stack, for a person to try by hand.

nginx terminating TLS in front of the gunicorn and the run.py back ends in the production
profile, sharing a Redis of their own, against local_entra with the demo users, all from
deploy/'s files, under a temporary directory. Nothing on the machine is changed: the
browser is told how to find the names and trust the CA.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.deploy_processes import hosts_file_usable
from tests.support.deploy_stack import APP_HOST, IDP_HOST, Stack


def spki_hash(cert_path: Path) -> str:
    """What Chromium's --ignore-certificate-errors-spki-list takes: the key's SHA-256, base64."""
    cert = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
    der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")


def banner(stack: Stack) -> str:
    rules = f"MAP {APP_HOST} 127.0.0.1, MAP {IDP_HOST} 127.0.0.1"
    ca = stack.ca.path
    lines = [
        "",
        "  The deployment as deploy/ ships it: nginx (TLS) in front of a gunicorn and a run.py",
        "  back end in the production profile, sharing Redis, signing in at local_entra.",
        "",
        f"  Open {stack.base_url}/ in a browser that knows the names and trusts the CA.",
        "",
        "  Quickest, a throwaway Chromium profile that trusts this site's key alone:",
        f'    chromium --user-data-dir="$(mktemp -d)" --host-resolver-rules="{rules}" \\',
        f"      --ignore-certificate-errors-spki-list={spki_hash(stack.app_tls.cert_path)} {stack.base_url}/",
        "",
        "  Or your own browser:",
        f"    names: add `127.0.0.1 {APP_HOST} {IDP_HOST}` to /etc/hosts (remove it afterwards);",
        f"    the CA ({ca}):",
        "      Chromium or Chrome on Linux:",
        f'        certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n "Secure Auth demo" -i {ca}',
        '        (afterwards: certutil -d sql:$HOME/.pki/nssdb -D -n "Secure Auth demo"; certutil is in libnss3-tools)',
        "      Firefox: Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import",
        "",
        "  Sign in as:",
    ]
    for user in stack.users:
        roles = f"  roles: {', '.join(user.roles)}" if user.roles else ""
        lines.append(f"    {user.username:<28} password: {user.password}{roles}")
    lines += [
        "",
        f"  Reload a back end: kill -HUP {stack.back_ends['gunicorn'].pid} (gunicorn), "
        f"kill -HUP {stack.back_ends['run.py'].pid} (run.py)",
        f"  Files and logs: {stack.directory} (removed when it stops)",
        "  Ctrl+C stops everything.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev deploy-demo", description=__doc__)
    parser.add_argument("--https-port", type=int, default=8443, help="nginx's TLS port (default 8443)")
    parser.add_argument("--http-port", type=int, default=8080, help="nginx's plain http port (default 8080)")
    args = parser.parse_args(argv)
    directory = Path(tempfile.mkdtemp(prefix="secure-auth-deploy-demo-"))
    (directory / "hosts-probe").write_text(Path("/etc/hosts").read_text())
    if not hosts_file_usable(directory / "hosts-probe"):
        print(
            "error: the back ends need a mount namespace of their own to resolve the IdP's name "
            "(run as root, or enable unprivileged user namespaces)",
            file=sys.stderr,
        )
        return 2
    stack = Stack(directory, https_port=args.https_port, http_port=args.http_port)
    try:
        stack.start()
    except RuntimeError as exc:
        print(f"error: {exc}\n(ports busy? choose others with --https-port and --http-port)", file=sys.stderr)
        print(f"logs: {directory}", file=sys.stderr)
        return 2
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        print(banner(stack), flush=True)
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
