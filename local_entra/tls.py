"""A local certificate authority and a server certificate for the back channel.

Generated once into ``state_dir`` and reused, so an app can point its HTTP
client at a stable ``ca.pem``. Only the app's own HTTP client trusts this CA;
nothing is installed into a system or browser trust store.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509

SERVER_NAMES = ("127.0.0.1", "localhost")
LEAF_VALIDITY = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=7)


@dataclass(frozen=True)
class TlsFiles:
    ca_path: Path
    cert_path: Path
    key_path: Path


def tls_files(state_dir: Path) -> TlsFiles:
    return TlsFiles(
        ca_path=state_dir / "ca.pem",
        cert_path=state_dir / "server.pem",
        key_path=state_dir / "server-key.pem",
    )


def ensure_tls_files(state_dir: Path) -> TlsFiles:
    """Return usable CA/server files, generating them if missing or about to expire."""
    state_dir = Path(state_dir)
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(state_dir, 0o700)
    files = tls_files(state_dir)
    with _exclusive_lock(state_dir / ".lock"):
        if not _usable(files):
            _generate(files)
    return files


def _usable(files: TlsFiles) -> bool:
    if not (files.ca_path.is_file() and files.cert_path.is_file() and files.key_path.is_file()):
        return False
    try:
        leaf = x509.load_pem_x509_certificates(files.cert_path.read_bytes())[0]
        x509.load_pem_x509_certificate(files.ca_path.read_bytes())
    except ValueError:
        return False
    now = dt.datetime.now(dt.UTC)
    return leaf.not_valid_after_utc - now > RENEW_BEFORE and leaf.not_valid_before_utc <= now


def _generate(files: TlsFiles) -> None:
    ca = trustme.CA(organization_name="local_entra demo CA")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    leaf = ca.issue_cert(
        *SERVER_NAMES,
        organization_name="local_entra",
        not_before=now - dt.timedelta(minutes=5),
        not_after=now + LEAF_VALIDITY,
    )
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    # Key first, CA last: a reader that sees the new CA also sees a matching server cert.
    _atomic_write(files.key_path, leaf.private_key_pem.bytes(), mode=0o600)
    _atomic_write(files.cert_path, chain, mode=0o644)
    _atomic_write(files.ca_path, ca.cert_pem.bytes(), mode=0o644)


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    """Write-then-rename, so a concurrent reader never sees a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode) if hasattr(os, "fchmod") else None
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """Serialise generation across processes (POSIX flock; rename alone elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
