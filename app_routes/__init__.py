"""Feature routers. Add yours to ROUTERS; `require_user` / `CurrentUser` gives sign-in,
`require_roles` / `require_any_role` authorization; CSRF is checked on every unsafe method."""

from app_routes.admin import router as admin_router
from app_routes.calculator import router as calculator_router
from app_routes.profile import router as profile_router

ROUTERS = [calculator_router, profile_router, admin_router]
