"""Pure-ASGI layers for what truly wraps every request: the request context, security
headers, the host check, rate limits and the session. Each stands alone and is given what
it needs, a `refuse` callable for its own error answers included."""
