"""Feature routers. Add yours to ROUTERS. Everything a router needs comes from
`secure_auth.web.dependencies` (CurrentUser / require_user for sign-in, require_roles /
require_any_role for app roles, access_token_for, GraphDep, SettingsDep, ...) and
`secure_auth.web.rendering` (render, error_response). CSRF, security headers, the host
check and rate limits apply to every route without a line of code."""

from app_routes.admin import router as admin_router
from app_routes.calculator import router as calculator_router
from app_routes.profile import router as profile_router

ROUTERS = [calculator_router, profile_router, admin_router]
