"""The identity client: MSAL for the protocol, plus what MSAL leaves to the app.

Everything here is synchronous (MSAL has no async API); routes call it through the
threadpool. Design points, each from a known MSAL behaviour:

- MSAL gets our own `requests.Session`: it ignores REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE
  (`trust_env=False`), trusts ENTRA_CA_BUNDLE on top of the public roots, and puts a
  timeout on every call (MSAL ignores its own `timeout` with a custom client).
- That session caches successful discovery GETs, so MSAL applications can be built per
  request (Microsoft's own web pattern) without a metadata request each time, while
  each application keeps MSAL's throttling cache to itself: one user's failed token
  request cannot answer another user's from a shared throttle cache.
- MSAL does not validate the id_token. `complete_sign_in` validates it against the JWKS
  before anything is kept, and throws the attempt's token cache away on any failure.
"""

from __future__ import annotations

import atexit
import logging
import os
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import certifi
import jwt
import msal
import requests

from secure_auth.config import Settings
from secure_auth.crypto import certificate_credential, sha256_hex
from secure_auth.logs import install_log_redaction
from secure_auth.metrics import IDP_LATENCY
from secure_auth.validators import IssuerPolicy, TokenValidationError, UnknownSigningKey, validate_id_token

logger = logging.getLogger("secure_auth.identity")

# query is deliberate (see begin_sign_in); MSAL warns on every flow otherwise.
warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended", category=UserWarning)

METADATA_TTL_SECONDS = 24 * 3600
JWKS_TTL_SECONDS = 24 * 3600
# After an unknown kid forces a JWKS refetch, the next such refetch waits this long:
# forged kids cannot turn the app into a request amplifier against the IdP.
JWKS_REFETCH_INTERVAL_SECONDS = 60
# After a failed scheduled refresh, the known keys are used this long before trying again.
JWKS_RETRY_SECONDS = 60


class SignInError(Exception):
    """A sign-in attempt failed. `reason` is a short code safe to log and show."""

    def __init__(
        self,
        reason: str,
        *,
        status_code: int = 400,
        error: str | None = None,
        description: str | None = None,
        error_codes: list[int] | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.error = error
        self.description = description
        self.error_codes = error_codes or []


class TokenError(Exception):
    """An access token could not be had silently.

    kind: "reauthenticate" (refresh token expired, revoked or missing: sign in again),
    "consent" (more consent or a claims challenge: go through the authorize endpoint for
    these scopes), or "unavailable" (the IdP could not be reached: try later).
    """

    def __init__(
        self, kind: str, detail: str = "", *, scopes: list[str] | None = None, claims: str | None = None,
        aadsts: int | None = None,
    ) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail
        self.scopes = scopes or []
        self.claims = claims
        self.aadsts = aadsts


_CONSENT_CODES = frozenset({65001, 65004})
_CONSENT_SUBERRORS = frozenset({"consent_required"})
# invalid_client is the app's own credential (an expired secret): not the user's fault, so
# it must not end every session; it counts as "unavailable" below.
_REAUTH_ERRORS = frozenset({"invalid_grant", "interaction_required", "login_required"})


def classify_token_error(result: dict[str, Any], scopes: list[str]) -> TokenError:
    codes = [c for c in result.get("error_codes", []) if isinstance(c, int)]
    aadsts = codes[0] if codes else None
    error = str(result.get("error", ""))
    claims = result.get("claims") if isinstance(result.get("claims"), str) else None
    if claims or aadsts in _CONSENT_CODES or result.get("suberror") in _CONSENT_SUBERRORS:
        return TokenError("consent", error, scopes=scopes, claims=claims, aadsts=aadsts)
    if error in _REAUTH_ERRORS:
        return TokenError("reauthenticate", error, aadsts=aadsts)
    return TokenError("unavailable", error, aadsts=aadsts)


class IdentityProviderUnavailable(Exception):
    """The IdP's metadata or keys could not be fetched."""


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> "ProviderMetadata":
        try:
            return cls(
                issuer=str(doc["issuer"]),
                authorization_endpoint=str(doc["authorization_endpoint"]),
                token_endpoint=str(doc["token_endpoint"]),
                jwks_uri=str(doc["jwks_uri"]),
                end_session_endpoint=str(doc["end_session_endpoint"]) if doc.get("end_session_endpoint") else None,
            )
        except KeyError as exc:
            raise IdentityProviderUnavailable(f"discovery document lacks {exc.args[0]}") from None


@dataclass(frozen=True)
class SignInResult:
    claims: dict[str, Any]
    token_cache: str


class IdpHttpSession(requests.Session):
    """The one HTTP client for the IdP: explicit trust, timeouts, cached metadata GETs."""

    def __init__(self, *, verify: str, timeout: float) -> None:
        super().__init__()
        self.trust_env = False  # REQUESTS_CA_BUNDLE and proxies from the environment must not win
        self.verify = verify
        # Sign-ins run in the threadpool (up to 40 at once): keep that many connections.
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.timeout = (min(5.0, timeout), timeout)
        self._cache: dict[tuple[str, str], tuple[float, requests.Response]] = {}
        self._cache_lock = threading.Lock()

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        with IDP_LATENCY.labels(method.upper()).time():
            return super().request(method, url, *args, **kwargs)

    def get(self, url: str, params: Any = None, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """GETs to the IdP are metadata (discovery, instance discovery): cache the 200s."""
        key = (url, repr(sorted((params or {}).items())) if isinstance(params, dict) else repr(params))
        now = time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit and hit[0] > now:
                return hit[1]
        response = super().get(url, params=params, **kwargs)
        if response.status_code == 200 and _is_json_object(response):
            # Only a usable document is cached: a proxy's or portal's 200 page is not.
            with self._cache_lock:
                self._cache[key] = (now + METADATA_TTL_SECONDS, response)
        return response

    def get_fresh(self, url: str) -> requests.Response:
        return super().get(url)


def _is_json_object(response: requests.Response) -> bool:
    try:
        return isinstance(response.json(), dict)
    except ValueError:
        return False


def trust_bundle(extra_ca: Path | None) -> str:
    """The public roots, plus ENTRA_CA_BUNDLE when set, as one PEM file for requests."""
    if extra_ca is None:
        return certifi.where()
    handle, path = tempfile.mkstemp(prefix="secure_auth-ca-", suffix=".pem")
    with os.fdopen(handle, "w") as out:
        out.write(Path(certifi.where()).read_text())
        out.write("\n")
        out.write(extra_ca.read_text())
    atexit.register(_remove_quietly, path)
    return path


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class SigningKeys:
    """The IdP's JWKS, cached; an unknown kid allows one refetch (key rollover),
    and such refetches are rate-limited.

    One thread fetches while the others wait on the lock (single flight). A failed
    refresh keeps the keys already known and is retried after a back-off, so an IdP
    hiccup neither throws good keys away nor makes every callback retry in turn.
    """

    def __init__(self, fetch: Any, *, refetch_interval: float = JWKS_REFETCH_INTERVAL_SECONDS) -> None:
        self._fetch = fetch
        self._refetch_interval = refetch_interval
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._last_forced = float("-inf")
        self._lock = threading.Lock()

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def _refresh(self, now: float) -> None:
        try:
            self._load()
        except IdentityProviderUnavailable:
            if not self._keys:
                raise
            logger.warning("JWKS refresh failed; keeping the %d keys already known", len(self._keys))
            self._fetched_at = now - JWKS_TTL_SECONDS + JWKS_RETRY_SECONDS

    def _load(self) -> None:
        document = self._fetch()
        keys: dict[str, Any] = {}
        for jwk in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
                continue
            kid = jwk.get("kid", "")  # "" holds a single provider key published without a kid
            if not isinstance(kid, str):
                continue
            try:
                keys[kid] = jwt.PyJWK(jwk, algorithm="RS256").key
            except jwt.PyJWTError:
                logger.warning("ignoring a malformed key in the JWKS (kid %s)", kid)
        self._keys = keys
        self._fetched_at = time.monotonic()

    def key_for(self, kid: str | None) -> Any:
        with self._lock:
            now = time.monotonic()
            if now - self._fetched_at > JWKS_TTL_SECONDS:
                self._refresh(now)
            if kid is None:
                # Allowed by OpenID Connect only when the provider publishes a single key.
                if len(self._keys) == 1:
                    return next(iter(self._keys.values()))
                raise UnknownSigningKey(kid)
            if kid in self._keys:
                return self._keys[kid]
            if now - self._last_forced >= self._refetch_interval:
                self._last_forced = now
                logger.info("unknown signing key id: fetching the JWKS again (key rollover?)")
                self._refresh(now)
                if kid in self._keys:
                    return self._keys[kid]
        raise UnknownSigningKey(kid)

    def warm(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._fetched_at > JWKS_TTL_SECONDS:
                self._refresh(now)


class IdentityClient:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        install_log_redaction()  # MSAL's DEBUG records carry codes and verifiers
        self.http = IdpHttpSession(verify=trust_bundle(settings.entra_ca_bundle), timeout=settings.entra_http_timeout)
        self._credential: str | dict[str, str] | None = None
        if settings.entra_client_certificate is not None:
            self._credential = certificate_credential(settings.entra_client_certificate.read_bytes())
        elif settings.entra_client_secret is not None:
            self._credential = settings.entra_client_secret.get_secret_value()
        self.keys = SigningKeys(self._fetch_jwks)
        self._last_metadata: ProviderMetadata | None = None

    # ----- metadata and keys -----

    def metadata(self) -> ProviderMetadata:
        try:
            response = self.http.get(self.settings.discovery_url)
            response.raise_for_status()
            metadata = ProviderMetadata.from_document(response.json())
        except (requests.RequestException, ValueError) as exc:
            raise IdentityProviderUnavailable(f"discovery failed: {type(exc).__name__}") from None
        self._last_metadata = metadata
        return metadata

    def browser_origins(self) -> frozenset[str]:
        """Origins the browser is sent to (authorize, end-session), without any I/O:
        from the last discovery document, else the configured authority."""
        metadata = self._last_metadata
        if metadata is None:
            return frozenset({_origin(self.settings.authority)})
        urls = [metadata.authorization_endpoint, metadata.end_session_endpoint or metadata.authorization_endpoint]
        return frozenset(_origin(url) for url in urls)

    def _fetch_jwks(self) -> dict[str, Any]:
        uri = self.metadata().jwks_uri
        try:
            response = self.http.get_fresh(uri)
            response.raise_for_status()
            return response.json()
        except (requests.RequestException, ValueError) as exc:
            raise IdentityProviderUnavailable(f"JWKS fetch failed: {type(exc).__name__}") from None

    def warm_up(self) -> None:
        """Fetch discovery and keys ahead of the first sign-in."""
        self.metadata()
        self.keys.warm()

    # ----- MSAL -----

    def _msal_app(self, token_cache: msal.TokenCache | None = None) -> msal.ClientApplication:
        kwargs: dict[str, Any] = {
            "client_id": self.settings.entra_client_id,
            "http_client": self.http,
            "token_cache": token_cache,
        }
        if self.settings.uses_oidc_authority:
            kwargs["oidc_authority"] = self.settings.authority
        else:
            kwargs["authority"] = self.settings.authority
            kwargs["instance_discovery"] = self.settings.instance_discovery
        if self._credential is not None:
            return msal.ConfidentialClientApplication(client_credential=self._credential, **kwargs)
        return msal.PublicClientApplication(**kwargs)

    def begin_sign_in(
        self,
        *,
        login_hint: str | None = None,
        prompt: str | None = None,
        extra_scopes: list[str] | None = None,
        claims_challenge: str | None = None,
    ) -> dict[str, Any]:
        """Start an auth code flow with PKCE (S256), state and nonce; return MSAL's flow dict.

        response_mode=query: the callback is then a top-level GET, which carries the
        SameSite=Lax cookie that binds the flow to this browser (a cross-site form_post
        would not).
        """
        try:
            return self._msal_app().initiate_auth_code_flow(
                scopes=list(dict.fromkeys([*self.settings.scopes, *(extra_scopes or [])])),
                redirect_uri=self.settings.redirect_uri,
                login_hint=login_hint,
                prompt=prompt,
                claims_challenge=claims_challenge,
                response_mode="query",
            )
        except (requests.RequestException, ValueError) as exc:
            raise SignInError("idp_unavailable", status_code=503, description=type(exc).__name__) from None

    def complete_sign_in(self, flow: dict[str, Any], auth_response: dict[str, str]) -> SignInResult:
        cache = msal.SerializableTokenCache()  # this attempt's alone: dropped on any failure
        try:
            app = self._msal_app(cache)  # may fetch discovery when its cache has expired
        except (requests.RequestException, ValueError) as exc:
            raise SignInError("idp_unavailable", status_code=502, description=type(exc).__name__) from None
        try:
            result = app.acquire_token_by_auth_code_flow(flow, auth_response)
        except ValueError:
            raise SignInError("state_mismatch") from None
        except RuntimeError:
            raise SignInError("nonce_mismatch") from None
        except (msal.exceptions.MsalServiceError, requests.RequestException) as exc:
            raise SignInError("idp_unavailable", status_code=502, description=type(exc).__name__) from None
        if "error" in result:
            raise SignInError(
                "idp_error",
                error=str(result.get("error")),
                description=first_line(result.get("error_description")),
                error_codes=[c for c in result.get("error_codes", []) if isinstance(c, int)],
            )
        id_token = result.get("id_token")
        if not isinstance(id_token, str):
            raise SignInError("token_validation_failed", description="missing_id_token")
        try:
            metadata = self.metadata()
            claims = validate_id_token(
                id_token,
                key_for=self.keys.key_for,
                client_id=self.settings.entra_client_id,
                issuer_policy=IssuerPolicy(metadata.issuer, self.settings.allowed_tenants),
                expected_nonce=sha256_hex(flow["nonce"]),
            )
        except TokenValidationError as exc:
            raise SignInError("token_validation_failed", description=exc.reason) from None
        except IdentityProviderUnavailable:
            raise SignInError("idp_unavailable", status_code=502, description="jwks_unavailable") from None
        return SignInResult(claims=claims, token_cache=cache.serialize())

    def acquire_token(
        self, token_cache: str, scopes: list[str], *, force_refresh: bool = False
    ) -> tuple[str, str | None]:
        """An access token for `scopes` from a user's serialised MSAL cache (refreshing
        it when it is missing or has under 5 minutes left). Returns the token and the
        new serialised cache, or None when the cache did not change."""
        cache = msal.SerializableTokenCache()
        if token_cache:
            cache.deserialize(token_cache)
        try:
            app = self._msal_app(cache)  # may fetch discovery when its cache has expired
            accounts = app.get_accounts()
            if not accounts:
                raise TokenError("reauthenticate", "no account in the token cache")
            result = app.acquire_token_silent_with_error(scopes, accounts[0], force_refresh=force_refresh)
        except (msal.exceptions.MsalServiceError, requests.RequestException, ValueError) as exc:
            raise TokenError("unavailable", type(exc).__name__) from None
        if result is None:
            raise TokenError("reauthenticate", "no refresh token")
        if "error" in result:
            raise classify_token_error(result, scopes)
        token = result.get("access_token")
        if not isinstance(token, str):
            raise TokenError("reauthenticate", "no access token")
        return token, cache.serialize() if cache.has_state_changed else None

    def end_session_url(self, *, login_hint: str | None) -> str | None:
        """Where to send the browser to end the IdP session too (RP-initiated logout)."""
        try:
            endpoint = self.metadata().end_session_endpoint
        except IdentityProviderUnavailable:
            return None
        if not endpoint:
            return None
        params = {"post_logout_redirect_uri": self.settings.post_logout_redirect_uri}
        if login_hint:
            params["logout_hint"] = login_hint
        separator = "&" if "?" in endpoint else "?"
        return f"{endpoint}{separator}{urlencode(params)}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def first_line(text: Any) -> str | None:
    """Entra's error_description carries trace ids after the first line; keep the message."""
    if not isinstance(text, str):
        return None
    return text.splitlines()[0][:300] if text else None
