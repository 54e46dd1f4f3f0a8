"""/profile: the signed-in user's Microsoft Graph profile, fetched with their token on the
server (the browser never sees the token)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from secure_auth.dependencies import require_user
from secure_auth.graph import GraphError, my_profile
from secure_auth.rendering import error_response, render

router = APIRouter(prefix="/profile", dependencies=[Depends(require_user)])

SHOWN_FIELDS = {
    "displayName": "Name",
    "userPrincipalName": "User principal name",
    "mail": "Email",
    "jobTitle": "Job title",
    "officeLocation": "Office",
    "mobilePhone": "Mobile phone",
    "preferredLanguage": "Preferred language",
}


@router.get("")
async def profile(request: Request) -> Response:
    services = request.app.state.services
    try:
        me = await my_profile(services, request.state.session)
    except GraphError as exc:
        return error_response(
            request, 502, "Profile unavailable",
            "Microsoft Graph did not return your profile. Try again in a moment.", reason=f"graph_{exc.status}",
        )
    fields = {label: me.get(key) for key, label in SHOWN_FIELDS.items() if me.get(key)}
    return render(request, "profile.html", {"fields": fields})
