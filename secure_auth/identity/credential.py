"""The app's client credential for MSAL: none (a public client), a secret, a certificate,
or a signed JWT in a file (a federated credential, "secretless").

The file is read at every token request, never cached: whatever writes it rotates it
(Kubernetes projects a fresh service-account token well before the old one expires), and
MSAL calls `client_assertion` only when it sends a token request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from secure_auth.config import Settings
from secure_auth.crypto.certificates import certificate_credential

logger = logging.getLogger("secure_auth.identity")

TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"


class ClientAssertionUnavailable(Exception):
    """The client assertion file could not be used. `reason`: missing, unreadable, empty,
    not_a_jwt; safe to log (it never holds the token)."""

    def __init__(self, reason: str, path: Path) -> None:
        super().__init__(f"client assertion file {path}: {reason}")
        self.reason = reason
        self.path = path


class ClientAssertionFile:
    """MSAL's `client_assertion` callable: the JWT in `path`, as it is now."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self) -> str:
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            raise ClientAssertionUnavailable("missing", self.path) from None
        except OSError:
            raise ClientAssertionUnavailable("unreadable", self.path) from None
        except UnicodeDecodeError:
            raise ClientAssertionUnavailable("not_a_jwt", self.path) from None
        if not text:
            raise ClientAssertionUnavailable("empty", self.path)
        if text.count(".") != 2 or any(c.isspace() for c in text):
            raise ClientAssertionUnavailable("not_a_jwt", self.path)
        return text


def client_credential(settings: Settings) -> str | dict[str, Any] | None:
    """MSAL's `client_credential`, or None for a public client."""
    if settings.entra_client_certificate is not None:
        return certificate_credential(settings.entra_client_certificate.read_bytes())
    if settings.entra_client_secret is not None:
        return settings.entra_client_secret.get_secret_value()
    path = settings.client_assertion_file
    if path is None:
        return None
    if settings.entra_client_assertion_file is None:
        logger.info(
            "No client credential is configured but AZURE_FEDERATED_TOKEN_FILE is: signing in as a "
            "confidential client with the federated token in %s (read at each token request)",
            path,
        )
    return {"client_assertion": ClientAssertionFile(path)}


@dataclass(frozen=True)
class AssertionStatus:
    """What the doctor may say about the assertion file: never the token itself."""

    path: Path
    problem: str | None = None  # a ClientAssertionUnavailable reason
    expires_at: float | None = None
    issuer: str = ""
    subject: str = ""
    audiences: tuple[str, ...] = ()


def assertion_status(path: Path) -> AssertionStatus:
    """Read the file and decode its claims WITHOUT verifying the signature: it is the app's
    own credential, and only Entra can judge it; this is for display (expiry, issuer)."""
    try:
        token = ClientAssertionFile(path)()
        claims = jwt.decode(token, options={"verify_signature": False})
    except ClientAssertionUnavailable as exc:
        return AssertionStatus(path, exc.reason)
    except jwt.InvalidTokenError:
        return AssertionStatus(path, "not_a_jwt")
    audience = claims.get("aud")
    audiences = (audience,) if isinstance(audience, str) else tuple(str(a) for a in audience or ())
    exp = claims.get("exp")
    return AssertionStatus(
        path,
        expires_at=float(exp) if isinstance(exp, int | float) else None,
        issuer=str(claims.get("iss") or ""),
        subject=str(claims.get("sub") or ""),
        audiences=audiences,
    )
