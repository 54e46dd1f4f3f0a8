"""Character rules shared by the validators and the API proxy's path rules."""

from __future__ import annotations

import re

# C0 controls and DEL: browsers and servers strip or split on them, so a value holding
# one may be read differently by each side (`/\t/evil.example` is `//evil.example`).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
