"""An example page only the Entra app role "Admin" reaches."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from secure_auth.dependencies import require_roles
from secure_auth.rendering import render

router = APIRouter(prefix="/admin", dependencies=[Depends(require_roles("Admin"))])


@router.get("")
async def admin_home(request: Request) -> Response:
    services = request.app.state.services
    return render(request, "admin.html", {"settings_summary": {
        "Client kind": services.settings.client_kind,
        "Environment": services.settings.app_env,
        "Session idle timeout": f"{services.settings.session_idle_timeout} s",
    }})
