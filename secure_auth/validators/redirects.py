"""Where a browser may be sent back to after sign-in: same-origin relative paths only."""

from __future__ import annotations

from urllib.parse import urlsplit

from secure_auth.validators.text import CONTROL_CHARACTERS

MAX_NEXT_LENGTH = 2048


def safe_next_path(value: str | None) -> str:
    """A same-origin relative path to go to after sign-in, or "/".

    Refuses scheme-relative (`//evil`), backslash (`/\\evil`), absolute URLs and
    control characters, which browsers strip before resolving (`/\\t/evil`).
    """
    if not value or len(value) > MAX_NEXT_LENGTH:
        return "/"
    if not value.startswith("/") or value.startswith("//") or "\\" in value or CONTROL_CHARACTERS.search(value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value
