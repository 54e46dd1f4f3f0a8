"""The web layer, thin over the core: the app factory, the request context, CSRF, the
dependencies routers use, rendering and the error pages."""
