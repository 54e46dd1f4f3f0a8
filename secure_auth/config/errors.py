"""The one exception a configuration problem raises."""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration problem, phrased as one line: the variable, what is wrong, the fix."""
