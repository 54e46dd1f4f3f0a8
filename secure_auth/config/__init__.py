"""Settings: read once at start-up from the environment and `.env`, checked, then passed in.

`load_settings()` returns a checked `Settings` or raises `ConfigError` with one line that
names the variable and the fix.
"""

from secure_auth.config.checks import ConfigError, load_settings
from secure_auth.config.settings import Settings

__all__ = ["ConfigError", "Settings", "load_settings"]
