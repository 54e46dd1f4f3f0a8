"""Calls on the user's behalf: the outbound HTTP clients, Microsoft Graph, and the API proxy's rules."""
