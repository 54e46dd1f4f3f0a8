"""secure_auth: Entra ID sign-in for server-rendered FastAPI apps (a Backend-for-Frontend)."""
