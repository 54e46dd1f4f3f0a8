"""An example page only the Entra app role "Admin" reaches, after a step-up to the
Conditional Access authentication context ADMIN_AUTH_CONTEXT names (none when empty)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from secure_auth.web.dependencies import SettingsDep, require_auth_context, require_roles
from secure_auth.web.rendering import render

# In this order: someone without the role gets 403 at once, not a step-up first.
router = APIRouter(
    prefix="/admin",
    dependencies=[
        Depends(require_roles("Admin")),
        Depends(require_auth_context(lambda settings: settings.admin_auth_context)),
    ],
)


@router.get("")
async def admin_home(request: Request, settings: SettingsDep) -> Response:
    summary = {
        "Client kind": settings.client_kind,
        "Environment": settings.app_env,
        "Session idle timeout": f"{settings.session_idle_timeout} s",
        "Authentication context required": settings.admin_auth_context or "none",
    }
    return render(request, "admin.html", {"settings_summary": summary})
