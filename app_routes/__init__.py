"""Feature routers. Add yours to ROUTERS; `require_user` / `CurrentUser` gives sign-in,
`CsrfProtected` guards unsafe methods."""

from app_routes.calculator import router as calculator_router

ROUTERS = [calculator_router]
