"""An example page only the Entra app role "Admin" reaches."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from secure_auth.web.dependencies import SettingsDep, require_roles
from secure_auth.web.rendering import render

router = APIRouter(prefix="/admin", dependencies=[Depends(require_roles("Admin"))])


@router.get("")
async def admin_home(request: Request, settings: SettingsDep) -> Response:
    summary = {
        "Client kind": settings.client_kind,
        "Environment": settings.app_env,
        "Session idle timeout": f"{settings.session_idle_timeout} s",
    }
    return render(request, "admin.html", {"settings_summary": summary})
