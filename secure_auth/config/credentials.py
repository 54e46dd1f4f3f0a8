"""Checks on the app's client credential (none, a secret, a certificate, or a federated
token file) and its client capabilities: at most one credential, and files that exist."""

from __future__ import annotations

import re
from pathlib import Path

from secure_auth.config.errors import ConfigError
from secure_auth.config.settings import Settings

_CAPABILITY = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


def check_client_credential(s: Settings) -> None:
    given = [
        name
        for name, value in (
            ("ENTRA_CLIENT_SECRET", s.entra_client_secret),
            ("ENTRA_CLIENT_CERTIFICATE", s.entra_client_certificate),
            ("ENTRA_CLIENT_ASSERTION_FILE", s.entra_client_assertion_file),
        )
        if value
    ]
    if len(given) > 1:
        both = "both" if len(given) == 2 else "all"
        raise ConfigError(
            f"{', '.join(given[:-1])} and {given[-1]} are {both} set: keep one client credential and remove "
            "the other (a federated credential or a certificate is the stronger choice)"
        )
    if s.entra_client_certificate is not None:
        require_file("ENTRA_CLIENT_CERTIFICATE", s.entra_client_certificate)
        text = s.entra_client_certificate.read_text(errors="replace")
        if "PRIVATE KEY-----" not in text or "BEGIN CERTIFICATE-----" not in text:
            raise ConfigError(
                "ENTRA_CLIENT_CERTIFICATE must be a PEM file holding both the private key and the "
                "certificate: concatenate them into one file"
            )
    if s.client_assertion_file is not None:
        # Only that it is there: its content rotates, and is read at each token request.
        require_file(assertion_variable(s), s.client_assertion_file)
    bad = [c for c in s.client_capabilities if not _CAPABILITY.match(c)]
    if bad:
        raise ConfigError(
            f"ENTRA_CLIENT_CAPABILITIES has {bad[0]!r}, which is not a capability name: set it to cp1 "
            "(the app handles claims challenges), or leave it empty to send none"
        )


def assertion_variable(s: Settings) -> str:
    """The variable the client assertion file came from, for messages."""
    if s.entra_client_assertion_file is not None:
        return "ENTRA_CLIENT_ASSERTION_FILE"
    return "AZURE_FEDERATED_TOKEN_FILE"


def require_file(name: str, path: Path) -> None:
    if not path.is_file():
        raise ConfigError(f"{name} points at '{path}', which is not a readable file: fix the path")
