"""Running it: security events, metrics, logging, readiness, and the doctor behind /debug-info."""
