"""The identity client: MSAL for the protocol, plus what MSAL leaves to the app.

Everything here is synchronous (MSAL has no async API); routes call it through the
threadpool. Design points, each from a known MSAL behaviour:

- MSAL gets our own `requests.Session` (identity/http.py): explicit trust, timeouts,
  cached discovery GETs. MSAL applications are built per call (Microsoft's own web
  pattern), so each keeps MSAL's throttling cache to itself: one user's failed token
  request cannot answer another user's from a shared throttle cache.
- MSAL does not validate the id_token. `complete_sign_in` validates it against the JWKS
  before anything is kept, and throws the attempt's token cache away on any failure.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import msal
import requests

from secure_auth.config import Settings
from secure_auth.config.origins import normalised_origin
from secure_auth.crypto.primitives import sha256_hex
from secure_auth.identity.credential import ClientAssertionUnavailable, client_credential
from secure_auth.identity.errors import (
    IdentityProviderUnavailable,
    SignInError,
    TokenError,
    classify_token_error,
    first_line,
)
from secure_auth.identity.http import IdpHttpSession, trust_bundle
from secure_auth.identity.keys import SigningKeys
from secure_auth.identity.metadata import ProviderMetadata
from secure_auth.operations.logs import install_log_redaction
from secure_auth.validators.claims import claims_digest
from secure_auth.validators.id_token import IssuerPolicy, TokenValidationError, validate_id_token

logger = logging.getLogger("secure_auth.identity")

# query is deliberate (see begin_sign_in); MSAL warns on every flow otherwise.
warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended", category=UserWarning)


@dataclass(frozen=True)
class SignInResult:
    claims: dict[str, Any]
    token_cache: str
    # What the sign-in asked the IdP for (a step-up's or a challenge's claims, a max_age):
    # a session remembers it, so the same request is not sent round again in a loop.
    requested_claims: str | None = None
    max_age: int | None = None

    @property
    def asked(self) -> dict[str, Any]:
        return {"claims": claims_digest(self.requested_claims), "max_age": self.max_age}


class IdentityClient:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        install_log_redaction()  # MSAL's DEBUG records carry codes and verifiers
        self.http = IdpHttpSession(verify=trust_bundle(settings.entra_ca_bundle), timeout=settings.entra_http_timeout)
        self._credential = client_credential(settings)
        self.keys = SigningKeys(self._fetch_jwks)
        self._last_metadata: ProviderMetadata | None = None
        self._browser_origins = frozenset({normalised_origin(settings.authority)})

    # ----- metadata and keys -----

    def metadata(self) -> ProviderMetadata:
        try:
            response = self.http.get(self.settings.discovery_url)
            response.raise_for_status()
            metadata = ProviderMetadata.from_document(response.json())
        except (requests.RequestException, ValueError) as exc:
            raise IdentityProviderUnavailable(f"discovery failed: {type(exc).__name__}") from None
        if metadata != self._last_metadata:
            self._last_metadata = metadata
            endpoints = [
                metadata.authorization_endpoint,
                metadata.end_session_endpoint or metadata.authorization_endpoint,
            ]
            self._browser_origins = frozenset(normalised_origin(url) for url in endpoints)
        return metadata

    def browser_origins(self) -> frozenset[str]:
        """Origins the browser is sent to (authorize, end-session), without any I/O:
        from the last discovery document, else the configured authority."""
        return self._browser_origins

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
            # MSAL merges them into the claims parameter: Entra sees xms_cc (cp1: CAE-capable).
            "client_capabilities": self.settings.client_capabilities or None,
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
        max_age: int | None = None,
    ) -> dict[str, Any]:
        """Start an auth code flow with PKCE (S256), state and nonce; return MSAL's flow dict.
        `claims_challenge`: a claims request (a step-up, a resource's challenge), which MSAL
        merges with the client capabilities; `max_age`: re-authenticate a sign-in older than
        that many seconds. Both are kept in the flow dict for complete_sign_in.

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
                max_age=max_age,
                response_mode="query",
            )
        except (requests.RequestException, ValueError) as exc:
            raise SignInError("idp_unavailable", status_code=503, description=type(exc).__name__) from None

    def complete_sign_in(self, flow: dict[str, Any], auth_response: dict[str, str]) -> SignInResult:
        cache = msal.SerializableTokenCache()  # this attempt's alone: dropped on any failure
        requested_claims = flow.get("claims_challenge")  # MSAL pops it from the flow
        max_age = flow.get("max_age")
        # auth_time against max_age is checked with the other id_token checks below (MSAL's
        # own check would raise a RuntimeError indistinguishable from a nonce mismatch).
        flow = {key: value for key, value in flow.items() if key != "max_age"}
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
        except ClientAssertionUnavailable as exc:
            raise SignInError(_ASSERTION_UNAVAILABLE, status_code=503, description=_assertion_detail(exc)) from None
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
                max_age=max_age if isinstance(max_age, int) else None,
            )
        except TokenValidationError as exc:
            raise SignInError("token_validation_failed", description=exc.reason) from None
        except IdentityProviderUnavailable:
            raise SignInError("idp_unavailable", status_code=502, description="jwks_unavailable") from None
        return SignInResult(
            claims=claims,
            token_cache=cache.serialize(),
            requested_claims=requested_claims if isinstance(requested_claims, str) else None,
            max_age=max_age if isinstance(max_age, int) else None,
        )

    def acquire_token(
        self,
        token_cache: str,
        scopes: list[str],
        *,
        force_refresh: bool = False,
        claims_challenge: str | None = None,
    ) -> tuple[str, str | None]:
        """An access token for `scopes` from a user's serialised MSAL cache (refreshing
        it when it is missing or has under 5 minutes left; always, with the claims a
        resource's challenge asks for). Returns the token and the new serialised cache, or
        None when the cache did not change."""
        cache = msal.SerializableTokenCache()
        try:
            if token_cache:
                cache.deserialize(token_cache)
        except ValueError:  # not MSAL's JSON: tokens are had again by signing in
            raise TokenError("reauthenticate", "the token cache could not be read") from None
        try:
            app = self._msal_app(cache)  # may fetch discovery when its cache has expired
            accounts = app.get_accounts()
            if not accounts:
                raise TokenError("reauthenticate", "no account in the token cache")
            result = app.acquire_token_silent_with_error(
                scopes, accounts[0], force_refresh=force_refresh, claims_challenge=claims_challenge
            )
        except (msal.exceptions.MsalServiceError, requests.RequestException, ValueError) as exc:
            raise TokenError("unavailable", type(exc).__name__) from None
        except ClientAssertionUnavailable as exc:
            raise TokenError("unavailable", f"{_ASSERTION_UNAVAILABLE}:{_assertion_detail(exc)}") from None
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


_ASSERTION_UNAVAILABLE = "client_assertion_unavailable"


def _assertion_detail(exc: ClientAssertionUnavailable) -> str:
    """For the log line (with the request id): why, and which file; never its content."""
    return f"{exc.reason}:{exc.path}"
