"""A Microsoft Graph stand-in: ``/v1.0/me``, ``/me/getMemberObjects``, ``/me/memberOf``.

Served on the https back channel, so an app with ``GRAPH_BASE_URL=authority_host``
calls it as it would call https://graph.microsoft.com. Tokens are checked as Graph
checks them (see ``bearer``); errors use Graph's ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .bearer import BearerError, BearerToken, bearer_value, verify_access_token
from .cae import challenge_header
from .config import GRAPH_RESOURCE_ID, DemoUser
from .context import Context
from .tokens import OIDC_SCOPES

#: ``aud`` values Graph accepts: its app id (v2 tokens) and its URI (v1 tokens).
GRAPH_AUDIENCES = [GRAPH_RESOURCE_ID, "https://graph.microsoft.com"]
#: Delegated permissions that allow reading the signed-in user's profile.
PROFILE_SCOPES = frozenset(
    s.lower() for s in ("User.Read", "User.ReadWrite", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All")
)
CAE_MESSAGE = (
    "Continuous access evaluation resulted in challenge with result: InteractionRequired and code: "
    "TokenIssuedBeforeRevocationTimestamp"
)
ODATA_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str, claims: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.claims = claims  # a CAE claims challenge for the WWW-Authenticate header


def router(ctx: Context) -> APIRouter:
    api = APIRouter()

    def respond(request: Request, body: dict[str, Any], status: int = 200, **headers: str) -> JSONResponse:
        request_id = str(uuid.uuid4())
        client_request_id = request.headers.get("client-request-id") or request_id
        if status >= 400:
            body["error"]["innerError"] = {
                "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id,
            }
        return JSONResponse(
            body,
            status_code=status,
            media_type=ODATA_JSON,
            headers={
                "request-id": request_id,
                "client-request-id": client_request_id,
                "Cache-Control": "no-store",
                **headers,
            },
        )

    def error(request: Request, exc: GraphError) -> JSONResponse:
        headers = {}
        authorization_uri = f"{ctx.front_url}/common/oauth2/v2.0/authorize"
        if exc.claims is not None:
            headers["WWW-Authenticate"] = challenge_header(exc.claims, GRAPH_RESOURCE_ID, authorization_uri)
        elif exc.status == 401:
            headers["WWW-Authenticate"] = (
                f'Bearer realm="", authorization_uri="{authorization_uri}", client_id="{GRAPH_RESOURCE_ID}"'
            )
        body = {"error": {"code": exc.code, "message": exc.message}}
        return respond(request, body, exc.status, **headers)

    def signed_in_user(request: Request, allowed_scopes: frozenset[str] | None) -> DemoUser:
        """The token's user; ``allowed_scopes=None`` accepts any Graph permission."""
        if request.url.scheme != "https":
            raise GraphError(
                404,
                "Request_ResourceNotFound",
                f"Microsoft Graph is served on the https back channel ({ctx.authority_host}).",
            )
        try:
            token = verify_access_token(bearer_value(request.headers.get("authorization")), ctx, GRAPH_AUDIENCES)
        except BearerError as exc:
            raise GraphError(401, "InvalidAuthenticationToken", exc.message) from None
        challenge = ctx.store.cae.challenge(token.claims)
        if challenge is not None:
            raise GraphError(401, "InvalidAuthenticationToken", CAE_MESSAGE, claims=challenge)
        if not _permitted(token, allowed_scopes):
            raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        for user in ctx.config.users:
            if user.oid.lower() == token.oid and user.tid.lower() == token.tid:
                return user
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{token.oid}' does not exist or one of its queried reference-property objects are not present.",
        )

    @api.get("/v1.0/me", response_model=None)
    async def me(request: Request) -> JSONResponse:
        ctx.store.count("graph_me")
        try:
            user = signed_in_user(request, PROFILE_SCOPES)
        except GraphError as exc:
            return error(request, exc)
        return respond(request, user_resource(ctx, user))

    @api.post("/v1.0/me/getMemberObjects", response_model=None)
    async def get_member_objects(request: Request) -> JSONResponse:
        ctx.store.count("graph_member_objects")
        try:
            user = signed_in_user(request, None)
            await _security_enabled_only(request)
        except GraphError as exc:
            return error(request, exc)
        # Every demo group is a security group, so the flag changes nothing.
        return respond(
            request,
            {
                "@odata.context": f"{ctx.authority_host}/v1.0/$metadata#Collection(Edm.String)",
                "value": list(user.groups),
            },
        )

    @api.get("/v1.0/me/memberOf", response_model=None)
    async def member_of(request: Request) -> JSONResponse:
        ctx.store.count("graph_member_of")
        try:
            user = signed_in_user(request, None)
        except GraphError as exc:
            return error(request, exc)
        groups = [{"@odata.type": "#microsoft.graph.group", "id": group} for group in user.groups]
        return respond(
            request,
            {"@odata.context": f"{ctx.authority_host}/v1.0/$metadata#directoryObjects", "value": groups},
        )

    return api


def _permitted(token: BearerToken, allowed: frozenset[str] | None) -> bool:
    granted = token.scopes
    if allowed is None:
        return bool(granted - set(OIDC_SCOPES))
    return bool(granted & allowed)


async def _security_enabled_only(request: Request) -> bool:
    """Graph requires the ``securityEnabledOnly`` parameter and a JSON body."""
    try:
        body = json.loads(await request.body() or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from None
    if not isinstance(body, dict) or not isinstance(body.get("securityEnabledOnly"), bool):
        raise GraphError(
            400,
            "Request_BadRequest",
            "The request body must contain the parameter 'securityEnabledOnly' (a boolean).",
        )
    return body["securityEnabledOnly"]


def user_resource(ctx: Context, user: DemoUser) -> dict[str, Any]:
    """The user as Graph's default ``/me`` projection shows it."""
    first, _, last = user.name.partition(" ")
    return {
        "@odata.context": f"{ctx.authority_host}/v1.0/$metadata#users/$entity",
        "businessPhones": list(user.business_phones),
        "displayName": user.name,
        "givenName": user.given_name if user.given_name is not None else first or None,
        "jobTitle": user.job_title,
        "mail": user.email,
        "mobilePhone": user.mobile_phone,
        "officeLocation": user.office_location,
        "preferredLanguage": user.preferred_language,
        "surname": user.surname if user.surname is not None else last or None,
        "userPrincipalName": user.username,
        "id": user.oid,
    }
