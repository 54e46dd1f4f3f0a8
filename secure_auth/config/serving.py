"""Checks on how the app is served: the grace a stop or reload gives requests in flight."""

from __future__ import annotations

import math

from secure_auth.config.settings import Settings


def serving_problem(s: Settings) -> str | None:
    """The one-line ConfigError message for a serving setting, or None."""
    grace = s.shutdown_grace_seconds
    if not (math.isfinite(grace) and grace > 0):
        return (
            "SHUTDOWN_GRACE_SECONDS must be a positive number of seconds, such as 20: how long a stop or "
            "reload lets requests in flight finish"
        )
    return None
