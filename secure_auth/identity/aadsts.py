"""Plain-language explanations of the Entra (AADSTS) errors people meet most."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class AadstsHelp:
    code: int
    title: str
    fix: str


_HELP = {
    50011: AadstsHelp(
        50011,
        "The redirect URI does not match the app registration",
        "Add this app's redirect URI (PUBLIC_BASE_URL + /auth/callback, exactly, scheme included) to the "
        "app registration, under the platform that matches the client type. Behind a proxy, check that "
        "PUBLIC_BASE_URL is the https address people use.",
    ),
    50076: AadstsHelp(
        50076,
        "Multi-factor authentication is required",
        "Your organisation requires an extra verification step. Sign in again and complete it.",
    ),
    50079: AadstsHelp(
        50079,
        "Multi-factor authentication registration is required",
        "Register a verification method for your account, then sign in again.",
    ),
    50126: AadstsHelp(50126, "The username or password is wrong", "Check your credentials and sign in again."),
    65001: AadstsHelp(
        65001,
        "Consent is needed",
        "The app asks for permissions nobody has agreed to yet. Sign in again and accept, or ask an "
        "administrator to grant admin consent for the app.",
    ),
    65004: AadstsHelp(65004, "Consent was declined", "You cancelled the sign-in. Sign in again when you are ready."),
    7000215: AadstsHelp(
        7000215,
        "The client secret is wrong",
        "ENTRA_CLIENT_SECRET must hold the secret's value (not its ID) and must not have expired. Create a "
        "new secret in the app registration if needed.",
    ),
    7000218: AadstsHelp(
        7000218,
        "Entra expects a client secret or certificate",
        "The redirect URI is registered under the Web platform, which makes the app confidential: set "
        "ENTRA_CLIENT_SECRET, ENTRA_CLIENT_CERTIFICATE or ENTRA_CLIENT_ASSERTION_FILE, or register the "
        "redirect URI under Mobile and desktop applications and enable 'Allow public client flows'.",
    ),
    700025: AadstsHelp(
        700025,
        "A public client must not send a credential",
        "The app registration is a public client: remove ENTRA_CLIENT_SECRET / ENTRA_CLIENT_CERTIFICATE / "
        "ENTRA_CLIENT_ASSERTION_FILE (and AZURE_FEDERATED_TOKEN_FILE), or register the redirect URI under "
        "the Web platform.",
    ),
    # Federated credentials (a signed JWT from another issuer as the app's credential).
    70021: AadstsHelp(
        70021,
        "No federated credential matches the app's client assertion",
        "In the app registration, Certificates & secrets > Federated credentials must hold one whose issuer, "
        "subject and audience (api://AzureADTokenExchange) are exactly those of the token in "
        "ENTRA_CLIENT_ASSERTION_FILE / AZURE_FEDERATED_TOKEN_FILE (/debug-info shows them). A credential "
        "added minutes ago may still be propagating.",
    ),
    700211: AadstsHelp(
        700211,
        "No federated credential trusts the client assertion's issuer",
        "Add a federated credential whose issuer is exactly the token's iss (the cluster's OIDC issuer URL, "
        "trailing slash included); /debug-info shows it.",
    ),
    700212: AadstsHelp(
        700212,
        "The client assertion's audience matches no federated credential",
        "The token must be issued for audience api://AzureADTokenExchange, the audience of the federated "
        "credential (for Kubernetes, the projected service-account token's audience).",
    ),
    700213: AadstsHelp(
        700213,
        "The client assertion's subject matches no federated credential",
        "The federated credential's subject identifier must equal the token's sub exactly (case-sensitive), "
        "e.g. system:serviceaccount:<namespace>:<service account>; /debug-info shows it.",
    ),
    700024: AadstsHelp(
        700024,
        "The app's client assertion has expired or is not yet valid",
        "Whatever writes the token file (Kubernetes workload identity) has stopped renewing it, or this "
        "server's clock is off; /debug-info shows the token's expiry.",
    ),
    700027: AadstsHelp(
        700027,
        "The app's client assertion failed signature validation",
        "The certificate uploaded to the app registration, or the issuer's published keys, do not match "
        "the key that signed the assertion.",
    ),
    9002327: AadstsHelp(
        9002327,
        "The redirect URI is registered as a single-page application",
        "A server-side app cannot redeem codes issued to the SPA platform: move the redirect URI to the "
        "Web platform (confidential) or Mobile and desktop applications (public client).",
    ),
    501481: AadstsHelp(
        501481,
        "The PKCE code verifier does not match",
        "The sign-in was completed with another attempt's data. Start the sign-in again from this app.",
    ),
    54005: AadstsHelp(
        54005,
        "The sign-in code was already used",
        "Each code works once. Start the sign-in again instead of reloading the callback page.",
    ),
    70008: AadstsHelp(
        70008, "The sign-in code or refresh token has expired", "The sign-in took too long. Start it again."
    ),
    700082: AadstsHelp(700082, "The refresh token has expired", "Your sign-in is too old. Sign in again."),
    700016: AadstsHelp(
        700016,
        "The application was not found in the directory",
        "Check ENTRA_CLIENT_ID and ENTRA_TENANT_ID: the app must be registered in that tenant (or be multi-tenant).",
    ),
    90002: AadstsHelp(90002, "The tenant was not found", "Check ENTRA_TENANT_ID (a tenant ID or verified domain)."),
}

_CODE = re.compile(r"AADSTS(\d{4,7})")


def aadsts_code(description: str | None, error_codes: list[int] | None = None) -> int | None:
    if error_codes:
        return error_codes[0]
    match = _CODE.search(description or "")
    return int(match.group(1)) if match else None


def explain(code: int | None) -> AadstsHelp | None:
    return _HELP.get(code) if code is not None else None
