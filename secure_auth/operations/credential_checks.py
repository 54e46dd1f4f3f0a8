"""The doctor's checks on the app's client: which credential it presents to Entra (and,
for a federated token file, when that token expires), and its client capabilities."""

from __future__ import annotations

import datetime

from secure_auth.config import Settings
from secure_auth.config.credentials import assertion_variable
from secure_auth.identity.credential import TOKEN_EXCHANGE_AUDIENCE, AssertionStatus
from secure_auth.operations.verdicts import OK, PROBLEM, WARNING, Check

CREDENTIAL = "Client credential"
CAPABILITIES = "Client capabilities"
_PROBLEMS = {
    "missing": "does not exist",
    "unreadable": "cannot be read by this process",
    "empty": "is empty",
    "not_a_jwt": "does not hold a JWT",
}


def client_credential_check(settings: Settings, status: AssertionStatus | None, now: float) -> Check:
    """Which credential the app presents at the token endpoint; `status`: the token file's."""
    if settings.entra_client_certificate is not None:
        return Check(
            CREDENTIAL,
            OK,
            f"A certificate (ENTRA_CLIENT_CERTIFICATE={settings.entra_client_certificate}): each token "
            "request carries an assertion signed with its key (PS256, x5t#S256).",
        )
    if settings.entra_client_secret:
        return Check(
            CREDENTIAL,
            OK,
            "A client secret (ENTRA_CLIENT_SECRET). Secrets expire (two years at most) and can leak; a "
            "federated credential or a certificate is stronger.",
        )
    if settings.client_assertion_file is None:
        return Check(CREDENTIAL, OK, "None: a public client proves nothing but the redirect URI and PKCE.")
    return _federated_check(f"{assertion_variable(settings)}={settings.client_assertion_file}", status, now)


def _federated_check(source: str, status: AssertionStatus | None, now: float) -> Check:
    if status is None or status.problem is not None:
        reason = _PROBLEMS.get(status.problem or "", "") if status else ""
        return Check(
            CREDENTIAL,
            PROBLEM,
            f"A federated credential from {source}, but the file {reason or 'could not be checked'}: every "
            "sign-in and token renewal fails.",
            "Check the volume that provides the token (Kubernetes workload identity projects it into the pod).",
        )
    finding = (
        f"A federated credential: the signed JWT in {source}, read at each token request. Issuer "
        f"{status.issuer or '(none)'}, subject {status.subject or '(none)'}, audience "
        f"{', '.join(status.audiences) or '(none)'}. "
    )
    if status.expires_at is None:
        return Check(CREDENTIAL, WARNING, finding + "It has no expiry (exp).", "Entra refuses assertions without exp.")
    expiry = datetime.datetime.fromtimestamp(status.expires_at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    left = int(status.expires_at - now)
    if left <= 0:
        return Check(
            CREDENTIAL,
            PROBLEM,
            finding + f"It expired at {expiry}, {_duration(-left)} ago: Entra refuses it (AADSTS700024).",
            "Whatever writes the file has stopped renewing it: check the pod's projected token volume.",
        )
    finding += f"It expires at {expiry}, in {_duration(left)}."
    if not any(audience.startswith(TOKEN_EXCHANGE_AUDIENCE) for audience in status.audiences):
        return Check(
            CREDENTIAL,
            WARNING,
            finding,
            f"Entra expects the audience {TOKEN_EXCHANGE_AUDIENCE} (AADSTS700212 otherwise): issue the token for "
            "it, and give the federated credential the same audience.",
        )
    return Check(CREDENTIAL, OK, finding)


def client_capabilities_check(settings: Settings) -> Check:
    capabilities = settings.client_capabilities
    if not capabilities:
        return Check(
            CAPABILITIES,
            OK,
            "ENTRA_CLIENT_CAPABILITIES is empty: Entra issues ordinary access tokens (about an hour), and a "
            "disabled user or a revoked session keeps API access until the token expires.",
            "Set ENTRA_CLIENT_CAPABILITIES=cp1 to have revocation take effect in near real time (CAE).",
        )
    finding = f"ENTRA_CLIENT_CAPABILITIES={' '.join(capabilities)}, sent to Entra as xms_cc. "
    if "cp1" not in [capability.lower() for capability in capabilities]:
        return Check(
            CAPABILITIES,
            WARNING,
            finding + "cp1 is not among them, so Entra issues no CAE tokens.",
            "Set ENTRA_CLIENT_CAPABILITIES=cp1 (the capability Entra documents) or leave it empty.",
        )
    return Check(
        CAPABILITIES,
        OK,
        finding + "cp1 says the app can handle claims challenges (Continuous Access Evaluation): Entra may then "
        "issue long-lived CAE access tokens (up to 28 hours) for resources such as Microsoft Graph, and revoke "
        "them in near real time (a disabled user, a password reset, revoked sessions, a network location "
        "change); the resource then answers 401 with a claims challenge, and the app takes the user through "
        "sign-in again for it.",
    )


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
