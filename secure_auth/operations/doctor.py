"""The checks behind /debug-info: each a verdict (ok / warning / problem) and, when not ok,
the fix in a sentence or two. Pure functions over the settings and the facts gathered."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from secure_auth.config import Settings
from secure_auth.config.checks import MIN_SECRET_KEY_BYTES
from secure_auth.config.origins import normalised_origin
from secure_auth.identity.credential import AssertionStatus
from secure_auth.operations.credential_checks import client_capabilities_check, client_credential_check
from secure_auth.operations.verdicts import OK, PROBLEM, WARNING, Check

COOKIE_HEADER_LIMIT = 4096


@dataclass(frozen=True)
class Facts:
    """What the doctor looks at besides the settings (gathered by the route)."""

    request_origin: str  # scheme://host[:port] the request arrived with (after trusted proxies)
    peer_is_trusted_proxy: bool
    forwarded_proto: str | None  # an X-Forwarded-Proto header, trusted or not
    cookie_header_bytes: int
    session_cookie_bytes: int
    idp_issuer: str | None = None
    idp_date: str | None = None  # the IdP's HTTP Date header
    idp_error: str | None = None
    signing_keys: int | None = None
    now: float = 0.0
    client_assertion: AssertionStatus | None = None  # the federated token file, when one is used


def run_checks(settings: Settings, facts: Facts) -> list[Check]:
    return [
        redirect_uri_check(settings, facts),
        https_check(settings),
        same_site_check(settings),
        clock_check(facts),
        issuer_check(settings, facts),
        jwks_check(facts),
        workers_check(settings),
        secret_check(settings),
        client_kind_check(settings),
        client_credential_check(settings, facts.client_assertion, facts.now),
        client_capabilities_check(settings),
        cookie_size_check(facts),
    ]


def redirect_uri_check(settings: Settings, facts: Facts) -> Check:
    name = "Redirect URI"
    arrived = normalised_origin(facts.request_origin)
    if arrived == settings.base_url:
        return Check(name, OK, f"The app sends {settings.redirect_uri}, matching the address this request used.")
    arrived_scheme, public_scheme = urlsplit(arrived).scheme, urlsplit(settings.base_url).scheme
    if arrived_scheme == "http" and public_scheme == "https":
        if facts.forwarded_proto and not facts.peer_is_trusted_proxy:
            return Check(
                name,
                PROBLEM,
                f"This request came over http from a proxy whose X-Forwarded-Proto is not trusted, while "
                f"the redirect URI is {settings.redirect_uri}.",
                "List the reverse proxy's address in FORWARDED_ALLOW_IPS so the app sees the original "
                "https scheme; PUBLIC_BASE_URL keeps the redirect URI right either way.",
            )
        return Check(
            name,
            WARNING,
            f"This request arrived as {arrived} but the redirect URI is {settings.redirect_uri}.",
            "Behind a TLS-terminating proxy this is expected: set FORWARDED_ALLOW_IPS to the proxy's "
            "address. Otherwise register and use exactly PUBLIC_BASE_URL.",
        )
    return Check(
        name,
        WARNING,
        f"This request arrived as {arrived} but PUBLIC_BASE_URL is {settings.base_url}; Entra will send "
        f"people back to {settings.redirect_uri} (AADSTS50011 if that is not registered).",
        "Set PUBLIC_BASE_URL to the address people use, and register PUBLIC_BASE_URL/auth/callback in the "
        "app registration.",
    )


def https_check(settings: Settings) -> Check:
    name = "HTTPS, Secure cookies and HSTS"
    if settings.uses_https:
        return Check(name, OK, "PUBLIC_BASE_URL is https: cookies are Secure and HSTS is sent.")
    host = settings.public_host
    if host in ("localhost", "127.0.0.1", "[::1]"):
        return Check(name, OK, "Plain http on loopback, for development: cookies are not Secure and no HSTS is sent.")
    return Check(
        name,
        PROBLEM,
        f"PUBLIC_BASE_URL ({settings.base_url}) is http on a network address: cookies travel "
        "unencrypted and cannot be Secure.",
        "Serve the app over https and set PUBLIC_BASE_URL to the https "
        "address (APP_ENV=production refuses anything else).",
    )


def same_site_check(settings: Settings) -> Check:
    idp = urlsplit(settings.entra_oidc_authority or settings.entra_authority_host).hostname or ""
    return Check(
        "SameSite and the IdP",
        OK,
        f"The IdP ({idp}) is another site, so the callback must carry cookies on a cross-site top-level "
        "navigation: it is a GET (response_mode=query) and the cookies are SameSite=Lax, which browsers send "
        "on it.",
    )


def clock_check(facts: Facts) -> Check:
    name = "Clock skew"
    if not facts.idp_date:
        return Check(name, WARNING, "The IdP's Date header was not available.", "Check that the IdP is reachable.")
    try:
        skew = facts.now - parsedate_to_datetime(facts.idp_date).timestamp()
    except (TypeError, ValueError):
        return Check(name, WARNING, "The IdP's Date header could not be read.")
    seconds = abs(round(skew))
    if seconds <= 60:
        return Check(name, OK, f"This server's clock is within {seconds} s of the IdP's.")
    verdict = PROBLEM if seconds > 110 else WARNING
    return Check(
        name,
        verdict,
        f"This server's clock is {seconds} s off the IdP's; tokens are checked with a 120 s "
        "leeway, so sign-ins fail as 'not yet valid' or 'expired' beyond it.",
        "Synchronise the clock (NTP / chrony / systemd-timesyncd).",
    )


def issuer_check(settings: Settings, facts: Facts) -> Check:
    name = "Issuer"
    if facts.idp_issuer is None:
        return Check(
            name,
            PROBLEM,
            f"Discovery failed ({facts.idp_error or 'unreachable'}) at {settings.discovery_url}.",
            "Check ENTRA_AUTHORITY_HOST / ENTRA_TENANT_ID (or ENTRA_OIDC_AUTHORITY), the network, and "
            "ENTRA_CA_BUNDLE for a private CA.",
        )
    issuer_host = urlsplit(facts.idp_issuer).hostname
    authority_host = urlsplit(settings.authority).hostname
    if issuer_host != authority_host and not settings.instance_discovery:
        return Check(
            name,
            WARNING,
            f"The discovery issuer {facts.idp_issuer} is on another host than the "
            f"configured authority {settings.authority}.",
            "Use the issuer's host as the authority.",
        )
    if "{tenantid}" in facts.idp_issuer:
        allowed = ", ".join(sorted(settings.allowed_tenants)) or "any tenant"
        verdict = OK if settings.allowed_tenants else WARNING
        return Check(
            name,
            verdict,
            f"Multi-tenant issuer {facts.idp_issuer}: each token's iss is checked against "
            f"its own tid; allowed: {allowed}.",
            "" if verdict == OK else "Set ENTRA_ALLOWED_TENANTS unless any organisation may sign in.",
        )
    return Check(name, OK, f"Tokens must come from {facts.idp_issuer}.")


def jwks_check(facts: Facts) -> Check:
    if facts.signing_keys:
        return Check("Signing keys (JWKS)", OK, f"{facts.signing_keys} signing key(s) published and cached.")
    return Check(
        "Signing keys (JWKS)",
        PROBLEM,
        "No signing keys could be fetched: every sign-in would fail.",
        "Check that the discovery document's jwks_uri is reachable from this server.",
    )


def workers_check(settings: Settings) -> Check:
    name = "Store and workers"
    if settings.uses_redis:
        return Check(name, OK, "Sessions, sign-ins and limits are shared through Redis.")
    if settings.web_concurrency > 1:
        return Check(
            name,
            PROBLEM,
            f"{settings.web_concurrency} workers each keep their own memory store: a "
            "callback that reaches another worker fails ('state mismatch') and sessions appear lost.",
            "Set SESSION_STORE_URL to a Redis URL, or run one worker.",
        )
    return Check(name, OK, "One worker with the in-memory store (sessions end when it restarts).")


def secret_check(settings: Settings) -> Check:
    name = "Session secret"
    if settings.session_secret_key is None:
        return Check(
            name,
            WARNING,
            "SESSION_SECRET_KEY is not set: a random key is made per process, so sessions "
            "end at every restart and cannot be shared between workers.",
            "Set SESSION_SECRET_KEY to 32+ random bytes (required in production).",
        )
    if len(settings.session_secret_key.get_secret_value().encode()) < MIN_SECRET_KEY_BYTES:
        return Check(name, PROBLEM, "SESSION_SECRET_KEY is shorter than 32 bytes.", "Use 32+ random bytes.")
    return Check(name, OK, "SESSION_SECRET_KEY is set and long enough.")


def client_kind_check(settings: Settings) -> Check:
    if settings.is_confidential:
        return Check(
            "Client type",
            OK,
            f"{settings.client_kind}: register the redirect URI under the Web platform "
            "(a Mobile and desktop platform makes Entra reject the credential with AADSTS700025).",
        )
    return Check(
        "Client type",
        OK,
        "Public client (no secret): the app registration needs 'Allow public client "
        "flows' and the redirect URI under Mobile and desktop applications; under Web Entra answers "
        "AADSTS7000218, under Single-page application AADSTS9002327.",
    )


def cookie_size_check(facts: Facts) -> Check:
    name = "Cookie size"
    finding = (
        f"The session cookie is {facts.session_cookie_bytes} bytes; this request's Cookie header is "
        f"{facts.cookie_header_bytes} bytes."
    )
    if facts.cookie_header_bytes > COOKIE_HEADER_LIMIT:
        return Check(
            name,
            WARNING,
            finding + " Browsers and proxies start refusing headers around 4-8 KB.",
            "Other cookies on this host are large; this app's own cookies hold only a session id and, "
            "during a sign-in, up to 3 KB of sealed pending sign-ins.",
        )
    return Check(name, OK, finding)
