"""/profile: the signed-in user's Microsoft Graph profile, fetched with their token on the
server (the browser never sees the token)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from secure_auth.outbound.graph import GraphError
from secure_auth.web.dependencies import CurrentUser, GraphDep
from secure_auth.web.rendering import error_response, render, request_id

router = APIRouter(prefix="/profile")

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
async def profile(request: Request, session: CurrentUser, graph: GraphDep) -> Response:
    try:
        me = await graph.my_profile(session, request_id(request))
    except GraphError as exc:
        return error_response(
            request,
            502,
            "Profile unavailable",
            "Microsoft Graph did not return your profile. Try again in a moment.",
            reason=f"graph_{exc.status}",
        )
    fields = {label: me.get(key) for key, label in SHOWN_FIELDS.items() if me.get(key)}
    return render(request, "profile.html", {"fields": fields})
