"""The back channel: ``POST /{tenant}/oauth2/v2.0/token``.

Authorization codes are single use and PKCE (S256) bound; refresh tokens
rotate on every use. Test hooks (injected failures, one-shot refresh errors,
id token transforms) are applied here.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .capabilities import requested_capabilities
from .claims import ClaimsError, ClaimsRequest, parse_claims
from .client_auth import AuthenticatedClient, authenticate_client
from .config import DemoUser
from .context import Context
from .errors import (
    OAuthError,
    error_response,
    injected_failure,
    injected_refresh_failure,
    invalid_grant,
    tenant_not_found,
)
from .store import RefreshGrant
from .tokens import (
    OIDC_SCOPES,
    ScopeError,
    ScopeGrant,
    access_token_claims,
    client_info,
    grant_scopes,
    id_token_claims,
    parse_scopes,
)

COUNTED_GRANTS = ("authorization_code", "refresh_token")


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _required(form, name: str) -> str:
    value = str(form.get(name) or "")
    if not value:
        raise OAuthError(
            "invalid_request",
            900144,
            f"The request body must contain the following parameter: '{name}'.",
        )
    return value


def _claims(form) -> ClaimsRequest:
    try:
        return parse_claims(str(form.get("claims") or ""))
    except ClaimsError as exc:
        raise OAuthError("invalid_request", 70011, str(exc).removeprefix("AADSTS70011: ")) from None


def router(ctx: Context) -> APIRouter:
    api = APIRouter()

    @api.post("/{tenant}/oauth2/v2.0/token", response_model=None)
    async def token(tenant: str, request: Request) -> JSONResponse:
        form = await request.form()
        grant_type = str(form.get("grant_type") or "")
        names = ["token"] + ([f"token_{grant_type}"] if grant_type in COUNTED_GRANTS else [])
        ctx.store.count(*names)
        if ctx.store.token_delay > 0:
            await asyncio.sleep(ctx.store.token_delay)  # a slow IdP, for load tests
        correlation_id = request.headers.get("client-request-id")
        try:
            ref = ctx.resolve_tenant(tenant)
            if ref is None:
                raise tenant_not_found(tenant)
            failure = ctx.store.take_failure()
            if failure is not None:
                raise injected_failure(failure)
            client = authenticate_client(form, request.headers, ctx.config, ref.canonical, ctx.token_audiences(ref))
            if client.assertion_claims is not None:
                ctx.store.record_client_assertion(client.assertion_claims)
            if grant_type == "authorization_code":
                body = redeem_code(form, client)
            elif grant_type == "refresh_token":
                body = redeem_refresh_token(form, client)
            else:
                _required(form, "grant_type")
                raise OAuthError(
                    "unsupported_grant_type",
                    70003,
                    f"The app requested an unsupported grant type '{grant_type}'.",
                )
        except OAuthError as exc:
            return error_response(exc, correlation_id)
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def redeem_code(form, client: AuthenticatedClient) -> dict:
        value = _required(form, "code")
        code, already_redeemed = ctx.store.redeem_code(value)
        if code is None:
            raise invalid_grant(70000, "Provided grant is invalid or malformed. The 'code' parameter is not valid.")
        if already_redeemed:
            raise invalid_grant(
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new "
                "valid code or use an existing refresh token.",
            )
        if time.time() > code.expires_at:
            raise invalid_grant(
                70008,
                "The provided authorization code or refresh token has expired due to "
                "inactivity. Send a new interactive authorization request for this user and "
                "resource.",
            )
        if code.client_id != client.registration.client_id:
            raise invalid_grant(
                70000,
                "Provided grant is invalid or malformed. The code was issued to a different client.",
            )
        redirect_uri = str(form.get("redirect_uri") or "")
        if redirect_uri != code.redirect_uri:
            raise invalid_grant(
                50011,
                f"The redirect URI '{redirect_uri}' specified in the request does not "
                "match the redirect URI used in the authorization request.",
            )
        verifier = str(form.get("code_verifier") or "")
        if not verifier or not hmac.compare_digest(s256(verifier), code.code_challenge):
            raise invalid_grant(
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            )
        user = _user(code.username)
        grant = grant_scopes(code.scopes, ctx.config)
        return issue(
            user,
            client,
            grant,
            nonce=code.nonce,
            sid=code.sid,
            want_client_info=form.get("client_info") == "1",
            capabilities=requested_capabilities(form.get("claims")),
            claims=_claims(form),
            auth_time=code.auth_time,
            acrs=code.acrs,
        )

    def redeem_refresh_token(form, client: AuthenticatedClient) -> dict:
        value = _required(form, "refresh_token")
        failure = ctx.store.take_refresh_failure()
        if failure is not None:
            # Like Entra's MFA / consent errors: the refresh token itself stays usable.
            raise injected_refresh_failure(failure.error, failure.aadsts, failure.suberror)
        stored = ctx.store.take_refresh(value, client.registration.client_id)
        if stored is None:
            raise invalid_grant(
                70000,
                "Provided grant is invalid or malformed. The refresh token is not valid or has been revoked.",
            )
        if time.time() > stored.expires_at:
            raise invalid_grant(
                700082,
                "The refresh token has expired due to inactivity. The token was issued "
                "and was inactive for the configured lifetime.",
            )
        user = _user(stored.username)
        claims = _claims(form)
        if not set(claims.acrs()) <= set(stored.acrs):
            # An authentication context this sign-in never satisfied: only the user can. Like
            # Entra's interaction errors, this leaves the refresh token usable.
            ctx.store.restore_refresh(value, stored)
            raise OAuthError(
                "interaction_required",
                50076,
                "Due to a configuration change made by your administrator, the resource requires an "
                "authentication context this sign-in did not satisfy. Sign in interactively.",
                suberror="additional_action",
            )
        scopes = stored.scopes
        requested = parse_scopes(str(form.get("scope") or ""))
        if requested:
            # A refresh may switch resource; OIDC scopes (incl. offline_access) carry over.
            oidc = [s for s in stored.scopes if s.lower() in OIDC_SCOPES]
            scopes = list(dict.fromkeys([*oidc, *requested]))
        try:
            grant = grant_scopes(scopes, ctx.config)
        except ScopeError as exc:
            raise OAuthError("invalid_scope", 28000, str(exc).removeprefix("AADSTS28000: ")) from None
        return issue(
            user,
            client,
            grant,
            nonce=None,
            sid=stored.sid,
            want_client_info=form.get("client_info") == "1",
            capabilities=requested_capabilities(form.get("claims")),
            claims=claims,
            auth_time=stored.auth_time,
            acrs=stored.acrs,
        )

    def _user(username: str) -> DemoUser:
        user = ctx.config.user(username)
        if user is None:
            raise invalid_grant(70000, "Provided grant is invalid or malformed. User not found.")
        return user

    def issue(
        user: DemoUser,
        client: AuthenticatedClient,
        grant: ScopeGrant,
        *,
        nonce: str | None,
        sid: str,
        want_client_info: bool,
        capabilities: list[str],
        claims: ClaimsRequest,
        auth_time: float,
        acrs: list[str],
    ) -> dict:
        config = ctx.config
        ctx.store.record_capabilities(capabilities)
        client_id = client.registration.client_id
        now = int(time.time())
        issuer = ctx.issuer(user.tid.lower())
        access_claims = access_token_claims(
            user,
            client_id=client_id,
            client_auth=client.azpacr,
            grant=grant,
            issuer=issuer,
            sid=sid,
            now=now,
            lifetime=config.access_token_lifetime,
            own_api=config.client(grant.resource or client_id) is not None,
            capabilities=capabilities,
            acrs=acrs,
        )
        if claims.value:
            ctx.store.cae.record("token", user.username, json.dumps(claims.value))
        ctx.store.cae.issued(user.username, access_claims["uti"], claims)
        id_claims = id_token_claims(
            user,
            client_id=client_id,
            issuer=issuer,
            nonce=nonce,
            sid=sid,
            now=now,
            lifetime=config.id_token_lifetime,
            groups_limit=config.groups_overage_limit,
            auth_time=int(auth_time) if auth_time else now,
            acrs=acrs,
        )
        transform = ctx.store.take_id_token_transform()
        id_token = transform(id_claims, ctx.keys.sign) if transform else ctx.keys.sign(id_claims)
        body: dict = {
            "token_type": "Bearer",
            "scope": grant.response_scope(),
            "expires_in": config.access_token_lifetime,
            "ext_expires_in": config.access_token_lifetime,
            "access_token": ctx.keys.sign(access_claims),
        }
        if grant.offline_access:
            body["refresh_token"] = ctx.store.add_refresh(
                RefreshGrant(
                    client_id=client_id,
                    username=user.username,
                    scopes=[*grant.oidc, *grant.resource_scopes],
                    sid=sid,
                    expires_at=now + config.refresh_token_lifetime,
                    auth_time=auth_time,
                    acrs=list(acrs),
                )
            )
        body["id_token"] = id_token
        if want_client_info:
            body["client_info"] = client_info(user)
        return body

    return api
